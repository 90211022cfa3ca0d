// Consumer lag: each consumer group's lag (records not yet consumed) over the last hour,
// as sampled by the serve replica that answers (GET /v1/admin/consumers).

import { h, replace, fmt, statusBadge } from './dom.js';
import { get } from './api.js';
import { poll, errorLine } from './poll.js';
import { lineChart } from './chart.js';

export function mount(root) {
  const chart = h('div', { id: 'lag-chart' });
  const note = h('p', { class: 'muted', id: 'lag-note' });
  const tbody = h('tbody', { id: 'groups-body' });
  const [errEl, setErr] = errorLine();
  replace(root,
    h('div', { class: 'page-head' },
      h('div', {}, h('h1', { text: 'Consumer lag' }),
        h('p', { text: 'Records on each group’s partitions that it has not consumed yet (end offset minus committed offset), over time.' })),
      h('span', { class: 'live on', text: 'sampling' })),
    errEl,
    h('div', { class: 'card' }, h('h2', { text: 'Lag per consumer group (records)' }), chart, note),
    h('div', { class: 'card flush' },
      h('table', { class: 'data', id: 'groups-table' },
        h('thead', {}, h('tr', {}, h('th', { text: 'Group' }), h('th', { text: 'State' }), h('th', { class: 'num', text: 'Members' }),
          h('th', { class: 'num', text: 'Lag now' }), h('th', { text: 'By topic' }))),
        tbody)));

  return poll(async (signal) => {
    const res = await get('/v1/admin/consumers', { signal });
    const now = Date.now();
    replace(chart, lineChart({
      series: res.groups.map((g) => ({ name: g.group, points: g.series.map((p) => ({ t: new Date(p.at).getTime(), v: p.lag })) })),
      from: Math.max(new Date(res.since).getTime(), now - res.window_seconds * 1000),
      to: now,
      empty: 'No samples yet: the first arrives within one interval.',
    }));
    note.textContent = `Sampled every ${fmt.duration(res.interval_seconds)} by the serve replica ${res.replica || '(unnamed)'} since ${fmt.dateTime(res.since)}, ` +
      `keeping ${fmt.duration(res.window_seconds)}. Each replica keeps its own samples; a gap is a sample that failed.`;
    replace(tbody, res.groups.map((g) => h('tr', { dataset: { group: g.group } },
      h('td', { class: 'mono', text: g.group }),
      h('td', {}, g.error ? h('span', { class: 'badge bad', title: g.error, text: 'error' }) : statusBadge(g.state || 'unknown')),
      h('td', { class: 'num', text: g.members }),
      h('td', { class: 'num', text: g.lag < 0 ? '–' : fmt.num(g.lag) }),
      h('td', { class: 'mono muted' }, g.error ? h('span', { class: 'error-text', text: g.error })
        : Object.entries(g.topics || {}).sort().map(([t, n]) => h('div', { text: `${t}: ${fmt.num(n)}` }))))));
    return Math.max(1000, res.interval_seconds * 1000);
  }, 5000, setErr);
}
