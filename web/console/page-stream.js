// Stream viewer: every event of one stream, decoded, with its envelope (ids, schema
// version, times, actor, correlation and causation), following new ones
// (GET /v1/streams/{stream}/events).

import { h, replace, fmt, typeBadge, streamType, jsonBlock, kv } from './dom.js';
import { get } from './api.js';
import { poll, errorLine } from './poll.js';

const PAGE = 500;

export function mount(root, { args, query }) {
  const stream = args[0] || '';
  const input = h('input', { type: 'text', class: 'wide', id: 'stream-input', placeholder: 'order-0193a1c2-…', value: stream });
  const open = () => { if (input.value.trim()) location.hash = '#/streams/' + encodeURIComponent(input.value.trim()); };
  input.addEventListener('keydown', (e) => { if (e.key === 'Enter') open(); });
  const picker = h('div', { class: 'toolbar' }, input, h('button', { onclick: open, text: 'Open stream' }));
  if (!stream) {
    replace(root, h('div', { class: 'page-head' }, h('div', {}, h('h1', { text: 'Streams' }),
      h('p', { text: 'Open a stream by its id, <type>-<uuid>, or click an event on the event stream page.' }))),
    h('div', { class: 'card' }, picker));
    return null;
  }
  const st = streamType(stream);
  const uuid = stream.slice(st.length + 1);
  const highlight = Number(query.get('v') || 0);
  const tbody = h('tbody', { id: 'stream-body' });
  const count = h('span', { class: 'muted', id: 'stream-count' });
  const [errEl, setErr] = errorLine();
  replace(root,
    h('div', { class: 'page-head' },
      h('div', {}, h('h1', { text: 'Stream' }),
        h('p', {}, typeBadge(st, st), ' ', h('span', { class: 'mono', id: 'stream-title', text: stream }), ' ',
          st === 'order' ? h('a', { href: '#/orders/' + uuid, id: 'open-order', text: '· open the order page →' }) : null)),
      h('span', { class: 'live on', text: 'following' })),
    errEl,
    h('div', { class: 'card' }, picker),
    h('div', { class: 'card flush' },
      h('div', { class: 'toolbar' }),
      h('table', { class: 'data', id: 'stream-table' },
        h('thead', {}, h('tr', {}, h('th', { class: 'num', text: 'Ver.' }), h('th', { text: 'Type' }), h('th', { class: 'num', text: 'Position' }),
          h('th', { text: 'Occurred' }), h('th', { text: 'Recorded' }), h('th', { text: 'Actor' }), h('th', { text: 'Event id' }))),
        tbody),
      h('div', { class: 'toolbar' }, h('span', { class: 'grow' }), count)));

  let next = 1;
  let total = 0;
  function add(e) {
    const details = h('tr', { class: 'details', hidden: e.version !== highlight },
      h('td', { colspan: 7 }, h('div', { class: 'grid' },
        kv([
          ['event id', h('span', { class: 'mono', text: e.id })],
          ['type', `${e.type} (schema v${e.schema_version})`],
          ['stream version', e.version],
          ['global position', h('span', { class: 'mono', text: e.position })],
          ['occurred at', e.occurred_at],
          ['recorded at', e.recorded_at],
          ['actor', e.actor],
          ['correlation id', e.correlation_id && h('span', { class: 'mono', text: e.correlation_id })],
          ['causation id', e.causation_id && h('span', { class: 'mono', text: e.causation_id })],
        ]),
        e.decode_error ? h('p', { class: 'error-text', text: 'Cannot decode: ' + e.decode_error }) : jsonBlock(e.data))));
    const row = h('tr', {
      class: ['click', e.version === highlight && 'hl'],
      dataset: { version: e.version, type: e.type },
      onclick: () => { details.hidden = !details.hidden; },
    },
    h('td', { class: 'num', text: e.version }),
    h('td', {}, typeBadge(e.type, st)),
    h('td', { class: 'num mono', text: e.position }),
    h('td', { class: 'nowrap', text: fmt.dateTime(e.occurred_at) }),
    h('td', { class: 'nowrap', text: fmt.dateTime(e.recorded_at) }),
    h('td', { class: 'mono', text: e.actor || '' }),
    h('td', { class: 'mono', text: fmt.shortId(e.id), title: e.id }));
    tbody.append(row, details);
    if (e.version === highlight) setTimeout(() => row.scrollIntoView({ block: 'center' }), 0);
    total++;
  }

  return poll(async (signal) => {
    for (;;) {
      let page;
      try {
        page = await get(`/v1/streams/${encodeURIComponent(stream)}/events?from_version=${next}&limit=${PAGE}`, { signal });
      } catch (err) {
        if (err.status === 404 && total > 0) break; // no newer events (a stream is never empty once written)
        throw err;
      }
      page.events.forEach(add);
      if (page.events.length > 0) next = page.events[page.events.length - 1].version + 1;
      if (!page.next_from_version) break;
    }
    count.textContent = `${fmt.num(total)} events`;
    return 2000;
  }, 2000, setErr);
}
