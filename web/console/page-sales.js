// Sales: revenue and orders per hour or day, per currency, from ClickHouse
// (GET /v1/analytics/sales). Orders count in the period they were placed; revenue is
// the total of those confirmed now.

import { h, replace, fmt } from './dom.js';
import { get } from './api.js';
import { poll, errorLine } from './poll.js';
import { barChart } from './chart.js';

const RANGES = {
  '24h': { granularity: 'hour', hours: 24, label: 'last 24 hours, by hour' },
  '7d': { granularity: 'hour', hours: 24 * 7, label: 'last 7 days, by hour' },
  '30d': { granularity: 'day', hours: 24 * 30, label: 'last 30 days, by day' },
  '90d': { granularity: 'day', hours: 24 * 90, label: 'last 90 days, by day' },
};

export function mount(root, { query }) {
  const range = RANGES[query.get('range')] ? query.get('range') : '24h';
  const select = h('select', { id: 'sales-range', 'aria-label': 'range' },
    Object.entries(RANGES).map(([k, r]) => h('option', { value: k, selected: k === range, text: r.label })));
  select.addEventListener('change', () => { location.hash = '#/sales?range=' + select.value; });
  const body = h('div', { class: 'stack', id: 'sales' });
  const [errEl, setErr] = errorLine();
  replace(root,
    h('div', { class: 'page-head' },
      h('div', {}, h('h1', { text: 'Sales' }),
        h('p', { text: 'From ClickHouse: orders placed per period and the revenue of those confirmed, per currency.' })),
      h('div', { class: 'toolbar' }, select)),
    errEl, body);

  return poll(async (signal) => {
    const r = RANGES[range];
    const to = new Date();
    const from = new Date(to.getTime() - r.hours * 3600 * 1000);
    const q = new URLSearchParams({ granularity: r.granularity, from: from.toISOString(), to: to.toISOString() });
    const rep = await get('/v1/analytics/sales?' + q, { signal });
    const label = (iso) => {
      const d = new Date(iso);
      const p = (n) => String(n).padStart(2, '0');
      return r.granularity === 'hour' ? `${p(d.getHours())}:00` : `${p(d.getMonth() + 1)}-${p(d.getDate())}`;
    };
    if (rep.series.length === 0) {
      replace(body, h('div', { class: 'card' }, h('p', { class: 'empty', text: 'No orders in this range.' })));
      return 15000;
    }
    replace(body, rep.series.map((ser) => {
      const labels = ser.periods.map((p) => label(p.start));
      const title = (i) => fmt.dateTime(ser.periods[i].start);
      return h('div', { class: 'card', dataset: { currency: ser.currency } },
        h('h2', { text: `${ser.currency}` }),
        h('div', { class: 'stats' },
          stat(fmt.money(ser.totals.revenue_cents, ser.currency), 'revenue (confirmed)'),
          stat(fmt.num(ser.totals.orders_placed), 'orders placed'),
          stat(fmt.num(ser.totals.orders_confirmed), 'confirmed'),
          stat(fmt.num(ser.totals.orders_cancelled), 'cancelled'),
          stat(fmt.num(ser.totals.orders_pending), 'pending')),
        h('h2', { class: 'muted', text: 'Revenue' }),
        barChart({ labels, title, series: [{ name: `revenue (${ser.currency})`, values: ser.periods.map((p) => p.revenue_cents / 100) }],
          format: (v) => fmt.compact(v), height: 220 }),
        h('h2', { class: 'muted', text: 'Orders by outcome' }),
        barChart({ labels, title, stacked: true, height: 200, series: [
          { name: 'confirmed', color: 2, values: ser.periods.map((p) => p.orders_confirmed) },
          { name: 'cancelled', color: 1, values: ser.periods.map((p) => p.orders_cancelled) },
          { name: 'pending', color: 6, values: ser.periods.map((p) => p.orders_pending) },
        ] }));
    }));
    return 15000;
  }, 15000, setErr);
}

function stat(v, label) {
  return h('div', { class: 'stat' }, h('div', { class: 'v', text: v }), h('div', { class: 'l', text: label }));
}
