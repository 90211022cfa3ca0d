// The console's shell: log-in, the admin check, and a hash router that mounts one page
// at a time. Each page module exports mount(root, params) and returns a function that
// stops its timers when the operator leaves the page.

import { h, replace } from './dom.js';
import * as api from './api.js';
import * as events from './page-events.js';
import * as streams from './page-stream.js';
import * as orders from './page-order.js';
import * as projections from './page-projections.js';
import * as dlq from './page-dlq.js';
import * as consumers from './page-consumers.js';
import * as sales from './page-sales.js';

const pages = { events, streams, orders, projections, dlq, consumers, sales };

const main = document.getElementById('main');
const sidebar = document.getElementById('sidebar');
const who = document.getElementById('who');
let me = null;
let unmount = null;

function route() {
  const hash = location.hash.replace(/^#\/?/, '');
  const [path, query] = hash.split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const name = pages[parts[0]] ? parts[0] : 'events';
  return { name, args: parts.slice(1), query: new URLSearchParams(query || '') };
}

function render() {
  if (unmount) {
    unmount();
    unmount = null;
  }
  if (!me) return;
  const r = route();
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.page === r.name);
  const root = h('div', { class: 'page', dataset: { page: r.name } });
  replace(main, root);
  document.title = `${document.querySelector(`#nav a[data-page="${r.name}"]`).textContent} · Ordo console`;
  unmount = pages[r.name].mount(root, r) || null;
}

function showLogin(message, kind) {
  me = null;
  if (unmount) {
    unmount();
    unmount = null;
  }
  sidebar.hidden = true;
  const err = h('p', { class: ['notice', kind || 'bad'], hidden: !message, text: message || '', id: 'login-error' });
  const email = h('input', { type: 'email', name: 'email', id: 'email', autocomplete: 'username', required: true, placeholder: 'admin@example.com' });
  const password = h('input', { type: 'password', name: 'password', id: 'password', autocomplete: 'current-password', required: true });
  const submit = h('button', { type: 'submit', class: 'primary', id: 'login-submit', text: 'Log in' });
  const form = h('form', {
    onsubmit: async (ev) => {
      ev.preventDefault();
      submit.disabled = true;
      err.hidden = true;
      try {
        await api.login(email.value.trim(), password.value);
        password.value = '';
        await start();
      } catch (e) {
        err.textContent = e.code === 'invalid_credentials' ? 'The e-mail address or the password is wrong.' : e.message;
        err.className = 'notice bad';
        err.hidden = false;
      } finally {
        submit.disabled = false;
      }
    },
  },
  h('label', { class: 'field' }, 'E-mail', email),
  h('label', { class: 'field' }, 'Password', password),
  submit);
  replace(main, h('div', { class: 'login' }, h('div', { class: 'card' },
    h('h1', {}, h('img', { src: 'favicon.svg', alt: '', width: 26, height: 26 }), 'Ordo console'),
    h('p', { class: 'muted', text: 'For operators: log in with an admin account.' }),
    err, form)));
  email.focus();
}

function showNotAdmin(user) {
  sidebar.hidden = true;
  replace(main, h('div', { class: 'login' }, h('div', { class: 'card', id: 'not-admin' },
    h('h1', { text: 'Admins only' }),
    h('p', {}, 'The console is for admins. You are logged in as ', h('strong', { text: user.email }),
      ', whose role is ', h('strong', { text: user.role }), ', so it shows you nothing.'),
    h('p', { class: 'muted', text: 'Ask an operator to run `ordo users add --role admin`, or log in with another account.' }),
    h('button', { class: 'primary', onclick: async () => { await api.logout(); showLogin(); }, text: 'Log out' }))));
}

async function start() {
  let user;
  try {
    user = await api.get('/v1/users/me');
  } catch (e) {
    api.forget();
    showLogin(e.status === 401 ? '' : e.message);
    return;
  }
  if (user.role !== 'admin') {
    me = null;
    showNotAdmin(user);
    return;
  }
  me = user;
  api.resume();
  sidebar.hidden = false;
  replace(who, h('div', { class: 'muted', text: 'Logged in as' }), h('div', { class: 'email', text: user.email }),
    h('button', { class: 'small', id: 'logout', onclick: async () => { await api.logout(); showLogin('You are logged out.', 'info'); }, text: 'Log out' }));
  render();
}

api.onSessionLost(() => showLogin('Your session ended; log in again.', 'warn'));
window.addEventListener('hashchange', render);

if (api.hasSession()) start();
else showLogin();
