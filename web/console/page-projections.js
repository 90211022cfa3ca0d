// Projections: each read model's active version, position and lag, its versions, and a
// rebuild (from the event store into a new version, then an atomic switch) with live
// progress (GET /v1/admin/projections, POST /v1/admin/projections/{name}/rebuild).

import { h, replace, fmt, statusBadge } from './dom.js';
import { get, post } from './api.js';
import { poll, errorLine } from './poll.js';

export function mount(root) {
  const body = h('div', { class: 'stack', id: 'projections' });
  const head = h('span', { class: 'muted mono' });
  const [errEl, setErr] = errorLine();
  const messages = {};
  replace(root,
    h('div', { class: 'page-head' },
      h('div', {}, h('h1', { text: 'Projections' }),
        h('p', { text: 'Read models built from the events. A rebuild reads the whole event store into a new version while the active one serves, then switches over atomically.' })),
      head),
    errEl, body);

  let running = false;
  const stop = poll(async (signal) => {
    const res = await get('/v1/admin/projections', { signal });
    head.textContent = `store head ${res.head}`;
    running = res.projections.some((p) => p.rebuild && p.rebuild.state === 'running');
    replace(body,
      res.kafka_error ? h('p', { class: 'notice warn', text: 'Kafka lag unavailable: ' + res.kafka_error }) : null,
      res.projections.map((p) => card(p)));
    return running ? 1000 : 3000;
  }, 3000, setErr);

  function card(p) {
    const a = p.active;
    const run = p.rebuild;
    const busy = (run && run.state === 'running') || !!p.building;
    const btn = h('button', {
      class: 'primary',
      id: 'rebuild-' + p.name,
      disabled: busy,
      text: busy ? 'Rebuilding…' : 'Rebuild',
      onclick: async () => {
        btn.disabled = true;
        messages[p.name] = null;
        try {
          await post(`/v1/admin/projections/${encodeURIComponent(p.name)}/rebuild`);
        } catch (err) {
          messages[p.name] = err.status === 409 ? 'A rebuild of this projection is already running.' : err.message;
        }
        refresh();
      },
    });
    return h('div', { class: 'card', dataset: { projection: p.name } },
      h('div', { class: 'toolbar' },
        h('h2', { text: p.name }),
        a ? statusBadge('active') : statusBadge('none'),
        h('span', { class: 'muted mono', text: p.group }),
        h('span', { class: 'grow' }), btn),
      messages[p.name] ? h('p', { class: 'notice bad', text: messages[p.name] }) : null,
      h('div', { class: 'stats' },
        stat(a ? 'v' + a.version : '–', 'active version'),
        stat(a ? a.position : '–', 'position', true),
        stat(p.lag_records === null || p.lag_records === undefined ? '–' : fmt.num(p.lag_records), 'Kafka records not applied yet'),
        stat(fmt.num(p.lag_events), 'newer events in the store (all types)'),
        stat(a && a.activated_at ? fmt.ago(a.activated_at) : '–', 'activated')),
      p.building ? h('p', { class: 'notice', text: `Building v${p.building.version}: at position ${p.building.position}, ${fmt.num(p.building.events)} events read (updated ${fmt.ago(p.building.updated_at)}).` }) : null,
      run ? progress(run) : null,
      versions(p.versions));
  }

  function refresh() {
    stop.now();
  }

  return stop;
}

function stat(v, label, mono) {
  return h('div', { class: 'stat' }, h('div', { class: ['v', mono && 'mono'], text: v }), h('div', { class: 'l', text: label }));
}

function progress(run) {
  const pct = run.state === 'done' ? 100 : Math.max(0, Math.min(100, run.percent || 0));
  const bar = h('span', {});
  bar.style.width = pct.toFixed(1) + '%';
  const eta = run.state === 'running' ? `ETA ${fmt.duration(run.eta_seconds)}` : '';
  return h('div', { class: 'rebuild', id: 'rebuild-progress-' + run.projection, dataset: { state: run.state, phase: run.phase } },
    h('div', { class: 'toolbar' },
      h('strong', { text: `Rebuild v${run.version || '?'}` }), statusBadge(run.state), run.state === 'running' ? h('span', { class: 'badge', text: run.phase }) : null,
      h('span', { class: 'muted', text: `started ${fmt.dateTime(run.started_at)}` })),
    h('div', { class: ['progress', run.state === 'done' && 'done', run.state === 'failed' && 'failed'] }, bar),
    h('div', { class: 'progress-line' },
      h('span', { text: `${fmt.num(run.events)} events${run.remaining > 0 ? ` of ~${fmt.num(run.events + run.remaining)}` : ''} (${pct.toFixed(1)}%)` }),
      h('span', { text: `${fmt.num(Math.round(run.rate))} events/s` }),
      h('span', { text: eta || (run.state === 'done' ? `switched over: v${run.version} active (was v${run.previous_version || 0})` : '') }),
      h('span', { class: 'mono', text: `position ${run.position}` })),
    run.error ? h('p', { class: 'error-text', text: run.error }) : null);
}

function versions(vs) {
  return h('details', {},
    h('summary', { class: 'muted', text: `${vs.length} version${vs.length === 1 ? '' : 's'}` }),
    h('table', { class: 'data' },
      h('thead', {}, h('tr', {}, h('th', { text: 'Version' }), h('th', { text: 'State' }), h('th', { text: 'Position' }),
        h('th', { class: 'num', text: 'Events' }), h('th', { text: 'Created' }), h('th', { text: 'Activated' }))),
      h('tbody', {}, vs.map((v) => h('tr', {},
        h('td', { text: 'v' + v.version }), h('td', {}, statusBadge(v.state)), h('td', { class: 'mono', text: v.position }),
        h('td', { class: 'num', text: fmt.num(v.events) }), h('td', { text: fmt.dateTime(v.created_at) }),
        h('td', { text: v.activated_at ? fmt.dateTime(v.activated_at) : '' }))))));
}
