// Order page: the order (read model), its saga and its timeline of events and saga
// steps, refreshed every second until the order and its saga are final
// (GET /v1/orders/{id}, GET /v1/orders/{id}/timeline). Without an id: the newest sagas.

import { h, replace, fmt, typeBadge, statusBadge, summarize, kv } from './dom.js';
import { get } from './api.js';
import { poll, errorLine } from './poll.js';

const FINAL_SAGA = ['confirmed', 'cancelled', 'compensation_failed'];
// Step outcomes as the saga records them (sagas/steps.go).
const OK_OUTCOME = /^(ok|pass|done|reserved|authorized|captured|already_captured|confirmed|committed|voided|nothing_to_void|refunded|released|restocked)$/i;
const BAD_OUTCOME = /(fail|declin|error|timeout|fraud|refused|out_of_stock)/i;

export function mount(root, { args }) {
  const id = args[0] || '';
  const input = h('input', { type: 'text', class: 'wide', id: 'order-input', placeholder: 'order id (a UUID)', value: id });
  const open = () => { if (input.value.trim()) location.hash = '#/orders/' + encodeURIComponent(input.value.trim()); };
  input.addEventListener('keydown', (e) => { if (e.key === 'Enter') open(); });
  const picker = h('div', { class: 'toolbar' }, input, h('button', { onclick: open, text: 'Open order' }));
  return id ? one(root, id, picker) : list(root, picker);
}

function list(root, picker) {
  const tbody = h('tbody', {});
  const [errEl, setErr] = errorLine();
  replace(root,
    h('div', { class: 'page-head' }, h('div', {}, h('h1', { text: 'Orders' }),
      h('p', { text: 'Open an order by id, or pick one of the newest order sagas.' }))),
    errEl,
    h('div', { class: 'card' }, picker),
    h('div', { class: 'card flush' }, h('h2', { text: 'Newest sagas' }),
      h('table', { class: 'data', id: 'sagas-table' },
        h('thead', {}, h('tr', {}, h('th', { text: 'Order' }), h('th', { text: 'State' }), h('th', { text: 'Step' }),
          h('th', { text: 'Stock' }), h('th', { text: 'Payment' }), h('th', { class: 'num', text: 'Total' }), h('th', { text: 'Started' }))),
        tbody)));
  return poll(async (signal) => {
    const page = await get('/v1/admin/sagas?limit=25', { signal });
    replace(tbody, page.items.length === 0 ? h('tr', {}, h('td', { colspan: 7, class: 'empty', text: 'No orders yet.' })) : page.items.map((sg) =>
      h('tr', { class: 'click', onclick: () => { location.hash = '#/orders/' + sg.order_id; } },
        h('td', { class: 'mono' }, h('a', { href: '#/orders/' + sg.order_id, text: sg.order_id })),
        h('td', {}, statusBadge(sg.state)),
        h('td', { text: sg.step || '' }),
        h('td', { text: sg.stock }),
        h('td', { text: sg.payment }),
        h('td', { class: 'num', text: fmt.money(sg.total_cents, sg.currency) }),
        h('td', { class: 'nowrap', text: fmt.dateTime(sg.created_at) }))));
    return 3000;
  }, 3000, setErr);
}

function one(root, id, picker) {
  const orderCard = h('div', { class: 'card', id: 'order-card' }, h('p', { class: 'muted', text: 'Loading…' }));
  const sagaCard = h('div', { class: 'card', id: 'saga-card' }, h('h2', { text: 'Saga' }), h('p', { class: 'muted', text: 'Loading…' }));
  const timelineCard = h('div', { class: 'card', id: 'timeline-card' }, h('h2', { text: 'Timeline' }));
  const live = h('span', { class: 'live on', id: 'order-live', text: 'updating live' });
  const [errEl, setErr] = errorLine();
  replace(root,
    h('div', { class: 'page-head' },
      h('div', {}, h('h1', { text: 'Order' }), h('p', {}, h('span', { class: 'mono', text: id }), ' · ',
        h('a', { href: '#/streams/order-' + id, text: 'order stream' }))),
      live),
    errEl,
    h('div', { class: 'card' }, picker),
    h('div', { class: 'grid' }, orderCard, sagaCard),
    timelineCard);

  return poll(async (signal) => {
    const [order, timeline] = await Promise.all([
      get('/v1/orders/' + encodeURIComponent(id), { signal }).catch((e) => { if (e.status === 404) return null; throw e; }),
      get(`/v1/orders/${encodeURIComponent(id)}/timeline`, { signal }).catch((e) => { if (e.status === 404) return null; throw e; }),
    ]);
    renderOrder(orderCard, order, timeline);
    renderSaga(sagaCard, timeline && timeline.saga);
    renderTimeline(timelineCard, timeline);
    const status = (order && order.status) || (timeline && timeline.status);
    const saga = timeline && timeline.saga;
    const final = (status === 'confirmed' || status === 'cancelled') && (!saga || FINAL_SAGA.includes(saga.state));
    if (final) {
      live.className = 'live';
      live.textContent = 'final';
      live.id = 'order-final';
      return false;
    }
    return 1000;
  }, 1000, setErr);
}

function renderOrder(card, o, t) {
  if (!o) {
    replace(card, h('h2', { text: 'Order' }), h('p', { class: 'muted', text: t ? 'Not in the read model yet (the projector is behind); the timeline below is from the event store.' : 'No such order (yet).' }));
    return;
  }
  replace(card,
    h('h2', { text: 'Order' }),
    h('div', { class: ['status-big', o.status], id: 'order-status', text: o.status }),
    o.status_reason ? h('p', {}, statusBadge(o.status_reason), ' ', h('span', { class: 'muted', text: o.status_detail || '' })) : null,
    kv([
      ['total', h('strong', { text: fmt.money(o.total_cents, o.currency) })],
      ['customer', h('span', { class: 'mono', text: o.customer_id })],
      ['placed', fmt.dateTime(o.placed_at)],
      ['confirmed', o.confirmed_at && fmt.dateTime(o.confirmed_at)],
      ['cancelled', o.cancelled_at && fmt.dateTime(o.cancelled_at)],
      ['version', o.version],
    ]),
    h('table', { class: 'data' },
      h('thead', {}, h('tr', {}, h('th', { text: 'SKU' }), h('th', { text: 'Item' }), h('th', { class: 'num', text: 'Qty' }),
        h('th', { class: 'num', text: 'Unit' }), h('th', { class: 'num', text: 'Line' }))),
      h('tbody', {}, o.items.map((it) => h('tr', {},
        h('td', { class: 'mono', text: it.sku }), h('td', { text: it.name }), h('td', { class: 'num', text: it.quantity }),
        h('td', { class: 'num', text: fmt.money(it.unit_price_cents) }), h('td', { class: 'num', text: fmt.money(it.line_total_cents) }))))));
}

function renderSaga(card, sg) {
  if (!sg) {
    replace(card, h('h2', { text: 'Saga' }), h('p', { class: 'muted', text: 'No saga yet: the saga starts when it consumes order.placed.' }));
    return;
  }
  replace(card,
    h('h2', {}, 'Saga ', statusBadge(sg.state)),
    kv([
      ['step', sg.step ? `${sg.step} (attempt ${sg.attempt})` : ''],
      ['stock', sg.stock],
      ['payment', sg.payment],
      ['authorization', sg.authorization_ref && h('span', { class: 'mono', text: sg.authorization_ref })],
      ['capture', sg.capture_ref && h('span', { class: 'mono', text: sg.capture_ref })],
      ['reason', sg.reason],
      ['detail', sg.detail],
      ['deadline', sg.deadline && fmt.dateTime(sg.deadline)],
      ['last error', sg.last_error && h('span', { class: 'error-text', text: sg.last_error })],
      ['worker', sg.owner],
      ['version', sg.version],
      ['started', fmt.dateTime(sg.created_at)],
      ['finished', sg.finished_at && fmt.dateTime(sg.finished_at)],
    ]));
}

function renderTimeline(card, t) {
  if (!t) {
    replace(card, h('h2', { text: 'Timeline' }), h('p', { class: 'muted', text: 'No events yet.' }));
    return;
  }
  const t0 = t.entries.length ? new Date(t.entries[0].at).getTime() : 0;
  replace(card, h('h2', { text: `Timeline (${t.entries.length})` }),
    h('ol', { class: 'timeline', id: 'timeline' }, t.entries.map((e) => {
      const plus = `+${fmt.duration((new Date(e.at).getTime() - t0) / 1000)}`;
      if (e.kind === 'step') {
        const bad = BAD_OUTCOME.test(e.outcome || '');
        const ok = !bad && OK_OUTCOME.test(e.outcome || '');
        return h('li', { class: ['step', ok && 'ok', bad && 'bad'] },
          h('span', { class: 'when', text: fmt.time(e.at), title: plus }),
          h('span', { class: 'dot' }),
          h('div', { class: 'what' }, h('strong', { text: `step ${e.step}` }), ' ',
            h('span', { class: ['badge', ok && 'ok', bad && 'bad', !ok && !bad && 'warn'], text: e.outcome || 'running' }),
            e.duration_ms !== undefined ? h('span', { class: 'muted', text: ` ${e.duration_ms.toFixed(1)} ms` }) : null,
            e.attempt > 1 ? h('span', { class: 'muted', text: ` attempt ${e.attempt}` }) : null,
            e.detail ? h('div', { class: 'detail', text: e.detail }) : null));
      }
      return h('li', { class: 'event' },
        h('span', { class: 'when', text: fmt.time(e.at), title: plus }),
        h('span', { class: 'dot' }),
        h('div', { class: 'what' }, typeBadge(e.type), ' ',
          h('a', { class: 'mono', href: `#/streams/${encodeURIComponent(e.stream)}?v=${e.version}`, text: `${e.stream} v${e.version}` }),
          h('div', { class: 'detail', text: summarize(e.data) })));
    })));
}
