// The console's only way to the server: the /v1 API with the admin's access token.
// Tokens live in sessionStorage (this tab only, gone when it closes); the access token is
// refreshed with the refresh token a minute before it expires, and once more when the
// API says it expired (a laptop that slept).

const KEY = 'ordo.console.session';

export class ApiError extends Error {
  constructor(status, problem) {
    super((problem && (problem.detail || problem.title)) || `HTTP ${status}`);
    this.status = status;
    this.problem = problem || {};
    this.code = this.problem.code || '';
  }
}

let current = load();
let refreshTimer = 0;
let refreshing = null;
let onLost = () => {};

function load() {
  try {
    const v = JSON.parse(sessionStorage.getItem(KEY) || 'null');
    return v && v.access_token ? v : null;
  } catch {
    return null;
  }
}

function store(pair) {
  current = {
    access_token: pair.access_token,
    refresh_token: pair.refresh_token,
    expires_at: Date.now() + (pair.expires_in || 900) * 1000,
  };
  sessionStorage.setItem(KEY, JSON.stringify(current));
  schedule();
}

export function forget() {
  current = null;
  sessionStorage.removeItem(KEY);
  clearTimeout(refreshTimer);
}

export function hasSession() {
  return !!current;
}

// onSessionLost(f): f runs when the session cannot be refreshed (log in again).
export function onSessionLost(f) {
  onLost = f;
}

function schedule() {
  clearTimeout(refreshTimer);
  if (!current) return;
  const wait = Math.max(5000, current.expires_at - Date.now() - 60000);
  refreshTimer = setTimeout(() => refresh().catch(() => {}), wait);
}

// refresh trades the refresh token for a new pair; concurrent callers share one call
// (a refresh token is spent by its first use).
export function refresh() {
  if (refreshing) return refreshing;
  const token = current && current.refresh_token;
  if (!token) return Promise.reject(new ApiError(401, { code: 'authentication_required', detail: 'log in' }));
  refreshing = raw('POST', '/v1/auth/refresh', { refresh_token: token }, false)
    .then((pair) => {
      store(pair);
      return pair;
    })
    .catch((err) => {
      if (err.status === 401) {
        forget();
        onLost(err);
      }
      throw err;
    })
    .finally(() => {
      refreshing = null;
    });
  return refreshing;
}

async function raw(method, path, body, auth, signal) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (auth && current) headers.Authorization = 'Bearer ' + current.access_token;
  let res;
  try {
    res = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: 'omit',
      cache: 'no-store',
      signal,
    });
  } catch (err) {
    if (err.name === 'AbortError') throw err;
    throw new ApiError(0, { code: 'network', detail: 'the server did not answer (' + err.message + ')' });
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = { detail: text.slice(0, 200) };
    }
  }
  if (!res.ok) throw new ApiError(res.status, data);
  return data;
}

// api(method, path, body?) calls the API as the logged-in admin and returns its JSON.
export async function api(method, path, body, { signal } = {}) {
  if (!current) throw new ApiError(401, { code: 'authentication_required', detail: 'log in' });
  if (current.expires_at - Date.now() < 5000) await refresh();
  try {
    return await raw(method, path, body, true, signal);
  } catch (err) {
    if (err.status === 401 && (err.code === 'token_expired' || err.code === 'invalid_token')) {
      await refresh();
      return raw(method, path, body, true, signal);
    }
    throw err;
  }
}

export const get = (path, opts) => api('GET', path, undefined, opts);
export const post = (path, body, opts) => api('POST', path, body === undefined ? {} : body, opts);

export async function login(email, password) {
  const pair = await raw('POST', '/v1/auth/login', { email, password }, false);
  store(pair);
  return pair;
}

export async function logout() {
  try {
    if (current) await raw('POST', '/v1/auth/logout', undefined, true);
  } catch {
    // The session ends here either way.
  }
  forget();
}

// resume re-arms the refresh timer of a session kept in this tab.
export function resume() {
  if (current) schedule();
}
