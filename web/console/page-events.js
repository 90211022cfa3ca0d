// Live event stream: the newest events of the store, then every new one as it commits
// (GET /v1/admin/events, polled every second from the last position seen). Filter by
// event type and stream id; click an event to open its stream.

import { h, replace, fmt, typeBadge, summarize, shortStream } from './dom.js';
import { get } from './api.js';
import { poll, errorLine } from './poll.js';

const MAX_ROWS = 500;

export function mount(root, { query }) {
  const type = query.get('type') || '';
  const stream = query.get('stream') || '';
  let after = null;
  let paused = false;
  let shown = 0;
  let typesLoaded = false;

  const typeSel = h('select', { id: 'filter-type', 'aria-label': 'event type' }, h('option', { value: '', text: 'All event types' }));
  if (type) typeSel.append(h('option', { value: type, text: type, selected: true }));
  const streamIn = h('input', { type: 'text', id: 'filter-stream', class: 'wide', placeholder: 'stream id, e.g. order-0193…', value: stream });
  const apply = () => {
    const q = new URLSearchParams();
    if (typeSel.value) q.set('type', typeSel.value);
    if (streamIn.value.trim()) q.set('stream', streamIn.value.trim());
    const next = '#/events' + (q.toString() ? '?' + q : '');
    if (location.hash === next) return;
    location.hash = next;
  };
  typeSel.addEventListener('change', apply);
  streamIn.addEventListener('keydown', (e) => { if (e.key === 'Enter') apply(); });
  const live = h('span', { class: 'live on', id: 'live', text: 'following' });
  const pauseBtn = h('button', {
    id: 'pause',
    text: 'Pause',
    onclick: () => {
      paused = !paused;
      pauseBtn.textContent = paused ? 'Resume' : 'Pause';
      live.className = paused ? 'live' : 'live on';
      live.textContent = paused ? 'paused' : 'following';
    },
  });
  const count = h('span', { class: 'muted', id: 'event-count' });
  const headPos = h('span', { class: 'muted mono' });
  const tbody = h('tbody', { id: 'events-body' });
  const emptyRow = h('tr', {}, h('td', { colspan: 7, class: 'empty', text: 'No events yet. New ones appear here as they are stored.' }));
  tbody.append(emptyRow);
  const [errEl, setErr] = errorLine();

  replace(root,
    h('div', { class: 'page-head' },
      h('div', {}, h('h1', { text: 'Event stream' }),
        h('p', { text: 'Every event appended to the store, newest first, as it commits. Click an event to open its stream.' })),
      live),
    errEl,
    h('div', { class: 'card' },
      h('div', { class: 'toolbar' }, typeSel, streamIn, h('button', { onclick: apply, text: 'Filter' }),
        (type || stream) ? h('button', { onclick: () => { location.hash = '#/events'; }, text: 'Clear' }) : null,
        h('span', { class: 'grow' }), count, headPos, pauseBtn),
      h('div', { class: 'table-scroll' },
        h('table', { class: 'data', id: 'events-table' },
          h('thead', {}, h('tr', {}, h('th', { class: 'num', text: 'Position' }), h('th', { text: 'Recorded' }), h('th', { text: 'Type' }),
            h('th', { text: 'Stream' }), h('th', { class: 'num', text: 'Ver.' }), h('th', { text: 'Actor' }), h('th', { text: 'Data' }))),
          tbody))));

  function row(e, fresh) {
    return h('tr', {
      class: ['click', fresh && 'fresh'],
      dataset: { position: e.position, type: e.type, stream: e.stream_id },
      title: 'Open stream ' + e.stream_id,
      onclick: () => { location.hash = `#/streams/${encodeURIComponent(e.stream_id)}?v=${e.version}`; },
    },
    h('td', { class: 'num mono', text: e.position }),
    h('td', { class: 'nowrap', text: fmt.time(e.recorded_at), title: e.recorded_at }),
    h('td', {}, typeBadge(e.type, e.stream_type)),
    h('td', { class: 'mono nowrap' }, h('a', { href: `#/streams/${encodeURIComponent(e.stream_id)}`, text: shortStream(e.stream_id), title: e.stream_id, onclick: (ev) => ev.stopPropagation() })),
    h('td', { class: 'num', text: e.version }),
    h('td', { class: 'mono nowrap', text: fmt.actor(e.actor), title: e.actor || '' }),
    h('td', { class: 'fill' }, e.decode_error ? h('div', { class: 'summary error-text', text: e.decode_error, title: e.decode_error }) : h('div', { class: 'summary', text: summarize(e.data), title: JSON.stringify(e.data) })));
  }

  function params() {
    const q = new URLSearchParams();
    if (after !== null) q.set('after', after);
    q.set('limit', after === null ? '100' : '500');
    if (type) q.set('type', type);
    if (stream) q.set('stream', stream);
    return q;
  }

  const stop = poll(async (signal) => {
    if (paused) return 1000;
    const res = await get('/v1/admin/events?' + params(), { signal });
    if (!typesLoaded) {
      for (const t of res.types) if (t !== type) typeSel.append(h('option', { value: t, text: t }));
      typesLoaded = true;
    }
    const fresh = after !== null;
    after = res.next_after;
    headPos.textContent = `head ${res.head}`;
    if (res.events.length > 0) {
      emptyRow.remove();
      const frag = document.createDocumentFragment();
      for (let i = res.events.length - 1; i >= 0; i--) frag.append(row(res.events[i], fresh));
      tbody.prepend(frag);
      shown += res.events.length;
      while (tbody.rows.length > MAX_ROWS) tbody.lastElementChild.remove();
      count.textContent = `${fmt.num(shown)} events${shown > MAX_ROWS ? ` (newest ${MAX_ROWS} shown)` : ''}`;
    }
    return res.caught_up ? 1000 : 100;
  }, 1000, setErr);
  return stop;
}
