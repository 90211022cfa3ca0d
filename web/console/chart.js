// Two small SVG charts (a time-series line chart and a bar chart), drawn with DOM
// calls: no library, nothing inline. Colours come from the classes s0..s7 / sw0..sw7
// in console.css.

import { h, s, fmt } from './dom.js';

const W = 900;
const PAD = { l: 56, r: 16, t: 12, b: 28 };

// niceStep returns a round step (1, 2, 2.5 or 5 × 10^k) that splits max into about n parts.
function niceStep(max, n) {
  if (!(max > 0)) return 1;
  const raw = max / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * mag >= raw) return m * mag;
  return 10 * mag;
}

function yAxis(svg, max, height, format) {
  const step = niceStep(max, 4);
  const top = Math.max(step, Math.ceil(max / step) * step);
  const y = (v) => PAD.t + (height - PAD.t - PAD.b) * (1 - v / top);
  for (let v = 0; v <= top + step / 2; v += step) {
    svg.append(s('line', { class: 'grid-line', x1: PAD.l, x2: W - PAD.r, y1: y(v), y2: y(v) }));
    svg.append(s('text', { x: PAD.l - 8, y: y(v) + 4, 'text-anchor': 'end', text: format(v) }));
  }
  svg.append(s('line', { class: 'axis', x1: PAD.l, x2: W - PAD.r, y1: y(0), y2: y(0) }));
  return y;
}

// colour is a series' colour index: its own, else its place.
const colour = (ser, i) => (ser.color ?? i) % 8;

function legend(series) {
  return h('div', { class: 'legend' }, series.map((ser, i) =>
    h('span', { class: 'key' }, h('span', { class: ['swatch', 'sw' + colour(ser, i)] }), ser.name)));
}

const hhmm = (t, withSeconds) => {
  const d = new Date(t);
  const p = (n) => String(n).padStart(2, '0');
  return `${p(d.getHours())}:${p(d.getMinutes())}${withSeconds ? ':' + p(d.getSeconds()) : ''}`;
};

// lineChart({series: [{name, points: [{t: ms, v}]}], height, format, from, to}) draws one
// line per series against time; points with v < 0 (unknown) break the line.
export function lineChart({ series, height = 260, format = fmt.compact, from, to, empty = 'No samples yet.' }) {
  const all = series.flatMap((x) => x.points);
  if (all.length === 0) return h('div', { class: 'empty', text: empty });
  const t0 = from ?? Math.min(...all.map((p) => p.t));
  let t1 = to ?? Math.max(...all.map((p) => p.t));
  if (t1 <= t0) t1 = t0 + 1000;
  const max = Math.max(1, ...all.map((p) => p.v));
  const svg = s('svg', { class: 'chart', viewBox: `0 0 ${W} ${height}`, role: 'img', 'aria-label': 'line chart' });
  const y = yAxis(svg, max, height, format);
  const x = (t) => PAD.l + (W - PAD.l - PAD.r) * ((t - t0) / (t1 - t0));
  const span = t1 - t0;
  const ticks = 6;
  for (let i = 0; i <= ticks; i++) {
    const t = t0 + (span * i) / ticks;
    svg.append(s('text', { x: x(t), y: height - 8, 'text-anchor': i === 0 ? 'start' : i === ticks ? 'end' : 'middle', text: hhmm(t, span < 10 * 60000) }));
  }
  series.forEach((ser, i) => {
    let d = '';
    let pen = false;
    for (const p of ser.points) {
      if (p.v < 0) {
        pen = false;
        continue;
      }
      d += `${pen ? 'L' : 'M'}${x(p.t).toFixed(1)},${y(p.v).toFixed(1)}`;
      pen = true;
    }
    if (d) svg.append(s('path', { class: ['series', 's' + colour(ser, i)], d }, s('title', { text: ser.name })));
    const last = [...ser.points].reverse().find((p) => p.v >= 0);
    if (last) {
      svg.append(s('circle', { class: 's' + colour(ser, i), cx: x(last.t), cy: y(last.v), r: 3.5 },
        s('title', { text: `${ser.name}: ${fmt.num(last.v)} at ${hhmm(last.t, true)}` })));
    }
  });
  return h('div', {}, svg, legend(series));
}

// barChart({labels, series: [{name, values}], stacked, height, format}) draws grouped (or
// stacked) bars per label.
export function barChart({ labels, series, stacked = false, height = 260, format = fmt.compact, title = (i) => labels[i] }) {
  if (labels.length === 0) return h('div', { class: 'empty', text: 'No periods.' });
  const totals = labels.map((_, i) => (stacked ? series.reduce((a, x) => a + Math.max(0, x.values[i]), 0)
    : Math.max(0, ...series.map((x) => x.values[i]))));
  const max = Math.max(1, ...totals);
  const svg = s('svg', { class: 'chart', viewBox: `0 0 ${W} ${height}`, role: 'img', 'aria-label': 'bar chart' });
  const y = yAxis(svg, max, height, format);
  const slot = (W - PAD.l - PAD.r) / labels.length;
  const gap = Math.min(8, slot * 0.2);
  const every = Math.ceil(labels.length / 12);
  labels.forEach((label, i) => {
    const x0 = PAD.l + slot * i + gap / 2;
    const w = slot - gap;
    if (stacked) {
      let acc = 0;
      series.forEach((ser, k) => {
        const v = Math.max(0, ser.values[i]);
        if (v > 0) {
          svg.append(s('rect', { class: ['bar', 's' + colour(ser, k)], x: x0, y: y(acc + v), width: Math.max(1, w), height: Math.max(0.5, y(acc) - y(acc + v)) },
            s('title', { text: `${title(i)} · ${ser.name}: ${fmt.num(v)}` })));
        }
        acc += v;
      });
    } else {
      const bw = w / series.length;
      series.forEach((ser, k) => {
        const v = Math.max(0, ser.values[i]);
        svg.append(s('rect', { class: ['bar', 's' + colour(ser, k)], x: x0 + bw * k, y: y(v), width: Math.max(1, bw - 1), height: Math.max(v > 0 ? 0.5 : 0, y(0) - y(v)) },
          s('title', { text: `${title(i)} · ${ser.name}: ${format(v)}` })));
      });
    }
    if (i % every === 0) svg.append(s('text', { x: x0 + w / 2, y: height - 8, 'text-anchor': 'middle', text: label }));
  });
  return h('div', {}, svg, legend(series));
}
