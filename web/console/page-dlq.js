// Dead letters: the newest records of the dead-letter topic with why they got there,
// decoded where possible, and re-drive (one, or all not yet re-driven) to the topic they
// came from once the cause is fixed (GET /v1/admin/dlq, POST /v1/admin/dlq/redrive).
// Re-drives are recorded by the server, so a second click re-drives nothing.

import { h, replace, fmt, typeBadge, jsonBlock, kv, shortStream } from './dom.js';
import { get, post } from './api.js';
import { poll, errorLine } from './poll.js';

export function mount(root) {
  const tbody = h('tbody', { id: 'dlq-body' });
  const total = h('span', { class: 'muted', id: 'dlq-total' });
  const result = h('p', { class: 'notice', id: 'redrive-result', hidden: true });
  const [errEl, setErr] = errorLine();
  const open = new Set();
  let armed = false;
  let pending = 0;
  const allBtn = h('button', {
    id: 'redrive-all',
    class: 'danger',
    text: 'Re-drive all…',
    onclick: async () => {
      if (!armed) {
        armed = true;
        allBtn.textContent = `Confirm: re-drive ${pending} record${pending === 1 ? '' : 's'}`;
        setTimeout(() => { armed = false; allBtn.textContent = 'Re-drive all…'; }, 5000);
        return;
      }
      armed = false;
      allBtn.disabled = true;
      try {
        report(await post('/v1/admin/dlq/redrive', { all: true }));
      } catch (err) {
        report(null, err);
      } finally {
        allBtn.disabled = false;
        allBtn.textContent = 'Re-drive all…';
        stop.now();
      }
    },
  });

  replace(root,
    h('div', { class: 'page-head' },
      h('div', {}, h('h1', { text: 'Dead letters' }),
        h('p', { text: 'Records a consumer (or the relay) could not handle, newest last. Fix the cause, then re-drive them to the topic they came from; each record is re-driven at most once.' })),
      h('div', { class: 'toolbar' }, total, allBtn)),
    errEl, result,
    h('div', { class: 'card flush' },
      h('div', { class: 'table-scroll' },
        h('table', { class: 'data', id: 'dlq-table' },
          h('thead', {}, h('tr', {}, h('th', { text: 'Dead-lettered' }), h('th', { text: 'Partition@offset' }), h('th', { text: 'Reason' }),
            h('th', { text: 'From' }), h('th', { text: 'Record' }), h('th', { text: 'Re-drive' }))),
          tbody))));

  function report(res, err) {
    result.hidden = false;
    if (err) {
      result.className = 'notice bad';
      result.textContent = 'Re-drive failed: ' + err.message;
      return;
    }
    const parts = [`Re-drove ${res.redriven.length}`];
    if (res.skipped.length) parts.push(`${res.skipped.length} already re-driven before (nothing sent)`);
    if (res.failed.length) parts.push(`${res.failed.length} failed: ${res.failed.map((f) => `${f.partition}@${f.offset}: ${f.error}`).join('; ')}`);
    if (res.remaining) parts.push(`${res.remaining} left for another click`);
    result.className = res.failed.length ? 'notice warn' : 'notice';
    result.textContent = parts.join(', ') + '.';
  }

  async function redriveOne(r, btn) {
    btn.disabled = true;
    try {
      report(await post('/v1/admin/dlq/redrive', { records: [{ partition: r.partition, offset: r.offset }] }));
    } catch (err) {
      report(null, err);
    }
    stop.now();
  }

  function rows(r) {
    const key = `${r.partition}@${r.offset}`;
    const details = h('tr', { class: 'details', hidden: !open.has(key) },
      h('td', { colspan: 6 }, h('div', { class: 'grid' },
        kv([
          ['reason', h('span', { class: 'error-text', text: r.reason })],
          ['consumer group', r.group],
          ['source', r.source],
          ['from', r.source_topic && `${r.source_topic} partition ${r.source_partition} offset ${r.source_offset}`],
          ['dead-lettered at', r.dead_lettered_at || r.timestamp],
          ['key', h('span', { class: 'mono', text: r.key })],
          ['value', `${fmt.num(r.value_bytes)} bytes`],
          ['re-drive target', r.target],
          ...Object.entries(r.headers).map(([k, v]) => ['header ' + k, h('span', { class: 'mono', text: v })]),
        ]),
        r.event ? h('div', {}, kv([
          ['event', `${r.event.type} v${r.event.schema_version}`],
          ['stream', h('a', { class: 'mono', href: `#/streams/${encodeURIComponent(r.event.stream_id)}?v=${r.event.version}`, text: `${r.event.stream_id} v${r.event.version}` })],
          ['position', r.event.position],
        ]), r.event.data ? jsonBlock(r.event.data) : null)
          : h('div', {}, h('p', { class: 'error-text', text: 'Not decodable: ' + r.decode_error }), h('pre', { class: 'json', text: r.value_preview || '' })))));
    let status;
    if (r.redriven) {
      status = h('span', { class: 'badge ok', title: `by ${r.redriven.by} to ${r.redriven.target_topic}`, text: `re-driven ${fmt.time(r.redriven.at)}` });
    } else if (r.redrive_problem) {
      status = h('span', { class: 'badge bad', title: r.redrive_problem, text: 'cannot re-drive' });
    } else {
      const btn = h('button', { class: 'small', dataset: { partition: r.partition, offset: r.offset }, text: 'Re-drive' });
      btn.addEventListener('click', (ev) => { ev.stopPropagation(); redriveOne(r, btn); });
      status = btn;
    }
    const row = h('tr', {
      class: 'click',
      dataset: { partition: r.partition, offset: r.offset, redriven: r.redriven ? 'yes' : 'no', decoded: r.event ? 'yes' : 'no' },
      onclick: () => {
        details.hidden = !details.hidden;
        if (details.hidden) open.delete(key); else open.add(key);
      },
    },
    h('td', { class: 'nowrap', text: fmt.dateTime(r.dead_lettered_at || r.timestamp) }),
    h('td', { class: 'mono', text: key }),
    h('td', { class: 'fill' }, h('div', { class: 'summary error-text', text: r.reason || '(no reason header)', title: r.reason })),
    h('td', {}, r.group ? h('div', { class: 'mono', text: r.group }) : null,
      h('div', { class: 'muted mono', text: r.source_topic ? `${r.source_topic} ${r.source_partition}@${r.source_offset}` : (r.source || '') })),
    h('td', { class: 'nowrap' }, r.event ? [typeBadge(r.event.type, r.event.stream_type), h('div', { class: 'mono muted', text: shortStream(r.event.stream_id), title: r.event.stream_id })]
      : h('span', { class: 'badge bad', text: 'undecodable' })),
    h('td', {}, status));
    return [row, details];
  }

  const stop = poll(async (signal) => {
    const res = await get('/v1/admin/dlq?limit=200', { signal });
    pending = res.records.filter((r) => !r.redriven && !r.redrive_problem).length;
    total.textContent = `${res.topic}: ${fmt.num(res.total)} record${res.total === 1 ? '' : 's'}` +
      (res.total > res.records.length ? ` (newest ${res.records.length} shown)` : '');
    allBtn.hidden = pending === 0;
    replace(tbody, res.records.length === 0 ? h('tr', {}, h('td', { colspan: 6, class: 'empty', text: 'The dead-letter topic is empty.' }))
      : res.records.map(rows));
    return 3000;
  }, 3000, setErr);
  return stop;
}
