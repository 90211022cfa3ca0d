import { h } from './dom.js';

// poll(fn, intervalMs, onError) runs fn now and then intervalMs after each run ends
// (never two at once); fn may return a number to change the next interval, or false to
// stop. Errors go to onError (null after a success) and polling goes on. It returns
// stop(); stop.now() runs fn again at once (after the run in flight, if any).
export function poll(fn, interval, onError = () => {}) {
  let stopped = false;
  let timer = 0;
  let inFlight = false;
  let again = false;
  const ctl = new AbortController();
  async function tick() {
    if (stopped) return;
    if (inFlight) {
      again = true;
      return;
    }
    inFlight = true;
    clearTimeout(timer);
    let next = interval;
    try {
      const r = await fn(ctl.signal);
      if (r === false) next = -1;
      else if (typeof r === 'number') next = r;
      onError(null);
    } catch (err) {
      if (err && err.name === 'AbortError') return;
      onError(err);
    } finally {
      inFlight = false;
    }
    if (stopped) return;
    if (again) {
      again = false;
      tick();
    } else if (next >= 0) {
      timer = setTimeout(tick, next);
    }
  }
  tick();
  const stop = () => {
    stopped = true;
    clearTimeout(timer);
    ctl.abort();
  };
  stop.now = tick;
  return stop;
}

// errorLine returns an element that shows the last polling error, and its setter.
export function errorLine() {
  const el = h('p', { class: 'notice bad', hidden: true });
  return [el, (err) => {
    el.hidden = !err;
    if (err) el.textContent = `${err.message}${err.status ? ` (HTTP ${err.status}${err.code ? ', ' + err.code : ''})` : ''}`;
  }];
}
