// Small DOM helpers: elements are built with h(), never from HTML strings, so that no
// data from the API is ever parsed as markup.

const SVG_NS = 'http://www.w3.org/2000/svg';

function build(el, attrs, children) {
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') el.setAttribute('class', Array.isArray(v) ? v.filter(Boolean).join(' ') : v);
    else if (k === 'text') el.textContent = String(v);
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v);
    else if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k === 'value') el.value = v;
    else if (k === 'checked' || k === 'disabled' || k === 'selected' || k === 'hidden') el[k] = !!v;
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const c of children.flat(Infinity)) {
    if (c === undefined || c === null || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// h('div', {class: 'x', onclick: f}, child, 'text', [more]) → HTMLElement.
export function h(tag, attrs, ...children) {
  return build(document.createElement(tag), attrs, children);
}

// s('path', {d: ...}) → an SVG element.
export function s(tag, attrs, ...children) {
  return build(document.createElementNS(SVG_NS, tag), attrs, children);
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

export function replace(el, ...children) {
  clear(el);
  append(el, children);
  return el;
}

const pad = (n, w = 2) => String(n).padStart(w, '0');

export const fmt = {
  // 14:03:07.123 (local time)
  time(iso) {
    if (!iso) return '';
    const d = new Date(iso);
    return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${pad(d.getMilliseconds(), 3)}`;
  },
  // 2024-06-01 14:03:07 (local time)
  dateTime(iso) {
    if (!iso) return '';
    const d = new Date(iso);
    return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
  },
  num(n) {
    if (n === null || n === undefined || Number.isNaN(n)) return '–';
    return Number(n).toLocaleString('en-US');
  },
  money(cents, currency) {
    if (cents === null || cents === undefined) return '–';
    const v = (Number(cents) / 100).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
    return currency ? `${v} ${currency}` : v;
  },
  compact(n) {
    const a = Math.abs(n);
    if (a >= 1e9) return (n / 1e9).toFixed(a >= 1e10 ? 0 : 1) + 'G';
    if (a >= 1e6) return (n / 1e6).toFixed(a >= 1e7 ? 0 : 1) + 'M';
    if (a >= 1e3) return (n / 1e3).toFixed(a >= 1e4 ? 0 : 1) + 'k';
    return String(Math.round(n * 100) / 100);
  },
  duration(seconds) {
    if (seconds === null || seconds === undefined || seconds < 0 || !Number.isFinite(seconds)) return '?';
    if (seconds < 1) return `${Math.round(seconds * 1000)} ms`;
    if (seconds < 60) return `${seconds.toFixed(seconds < 10 ? 1 : 0)} s`;
    const m = Math.floor(seconds / 60), sec = Math.round(seconds % 60);
    if (m < 60) return `${m} min ${sec} s`;
    return `${Math.floor(m / 60)} h ${m % 60} min`;
  },
  ago(iso) {
    if (!iso) return '';
    const s = (Date.now() - new Date(iso).getTime()) / 1000;
    if (s < 5) return 'just now';
    if (s < 90) return `${Math.round(s)} s ago`;
    if (s < 5400) return `${Math.round(s / 60)} min ago`;
    if (s < 129600) return `${Math.round(s / 3600)} h ago`;
    return `${Math.round(s / 86400)} days ago`;
  },
  // "user:0193a1c2-…" → "user:0193a1c2…"; "saga:order" stays.
  actor(a) {
    const m = /^([a-z_]+):([0-9a-f]{8})-[0-9a-f-]{27}$/i.exec(a || '');
    return m ? `${m[1]}:${m[2]}…` : (a || '');
  },
  shortId(id) {
    return id && id.length > 13 ? id.slice(0, 8) + '…' : (id || '');
  },
};

// The stream type of "order-0193..." is "order".
export function streamType(streamId) {
  const m = /^(.*)-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.exec(streamId || '');
  return m ? m[1] : '';
}

// shortStream shows "order-0193a1c2…2a7090da" for a stream id: enough to tell streams
// apart in a table; the full id goes in a title.
export function shortStream(streamId) {
  const st = streamType(streamId);
  if (!st) return streamId || '';
  const id = streamId.slice(st.length + 1);
  return `${st}-${id.slice(0, 8)}…${id.slice(-8)}`;
}

export function typeBadge(type, streamTypeName) {
  const st = streamTypeName || (type || '').split('.')[0];
  return h('span', { class: ['badge', 't-' + st], text: type });
}

const STATUS = {
  confirmed: 'ok', done: 'ok', active: 'ok', Stable: 'ok', captured: 'ok', committed: 'ok',
  cancelled: 'bad', failed: 'bad', compensation_failed: 'bad', declined: 'bad', fraud: 'bad', Dead: 'bad',
  pending: 'warn', building: 'info', running: 'info', PreparingRebalance: 'warn', CompletingRebalance: 'warn', Empty: 'warn',
};

export function statusBadge(status) {
  return h('span', { class: ['badge', STATUS[status] || ''], text: status || '–' });
}

// A one-line summary of an event's decoded data.
export function summarize(data) {
  if (data === null || data === undefined) return '';
  if (typeof data !== 'object') return String(data);
  const parts = [];
  for (const [k, v] of Object.entries(data)) {
    if (v === null || typeof v === 'object') continue;
    parts.push(`${k}=${v}`);
    if (parts.length >= 6) break;
  }
  return parts.join(' ');
}

export function jsonBlock(v) {
  return h('pre', { class: 'json', text: JSON.stringify(v, null, 2) });
}

export function kv(pairs) {
  const dl = h('dl', { class: 'kv' });
  for (const [k, v] of pairs) {
    if (v === undefined || v === null || v === '') continue;
    dl.append(h('dt', { text: k }), h('dd', {}, v));
  }
  return dl;
}
