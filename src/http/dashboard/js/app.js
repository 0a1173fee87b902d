// The dashboard's entry point: sign-in with an admin token (kept in sessionStorage for this tab
// only), the views behind #overview, #clients, #explorer and #publish, and one error banner. A
// 401 from any call signs out and says why on the sign-in form.
import { api, setUnauthorizedHandler, token } from './api.js';
import { Clients } from './clients.js';
import { Explorer } from './explorer.js';
import { Overview } from './overview.js';
import { Publish } from './publish.js';
import { $ } from './util.js';

const VIEWS = ['overview', 'clients', 'explorer', 'publish'];

function showError(e) {
  const banner = $('banner');
  if (!e) {
    banner.hidden = true;
    return;
  }
  if (e.status === 401) return;  // the sign-in form says it
  banner.textContent = e.status ? `Error ${e.status} (${e.code}): ${e.message}` : `Error: ${e.message}`;
  banner.hidden = false;
}

const overview = new Overview(showError);
const clients = new Clients(showError);
new Publish(showError);
const explorer = new Explorer(async () => {
  let o = overview.latest;
  if (!o) {
    try { o = await api('GET', '/api/v1/overview'); } catch { return ''; }
  }
  // The first WebSocket listener, on the host this page came from (the broker's listener may
  // bind 0.0.0.0, which a browser cannot connect to).
  const secure = location.protocol === 'https:';
  const pick = o.listeners.find((l) => l.transport === (secure ? 'wss' : 'ws'))
    ?? o.listeners.find((l) => l.transport === 'ws' || l.transport === 'wss');
  if (!pick) return '';
  return `${pick.transport}://${location.hostname}:${pick.port}${pick.path ?? '/mqtt'}`;
});

function signedIn() {
  $('login').hidden = true;
  $('app').hidden = false;
  overview.start();
  route();
}

function signOut(message) {
  token.clear();
  overview.stop();
  explorer.stop();
  $('app').hidden = true;
  $('login').hidden = false;
  $('login-error').textContent = message ?? '';
  $('login-error').hidden = !message;
  $('login-token').value = '';
  $('login-token').focus();
}

function route() {
  const name = VIEWS.includes(location.hash.slice(1)) ? location.hash.slice(1) : 'overview';
  for (const v of VIEWS) $(`view-${v}`).hidden = v !== name;
  for (const a of document.querySelectorAll('#nav a')) a.classList.toggle('active', a.dataset.view === name);
  document.body.dataset.view = name;
  if (name === 'overview') overview.redraw();
  if (name === 'clients') clients.load();
  if (name === 'explorer') explorer.shown();
}

setUnauthorizedHandler((e) => signOut(`Signed out: the broker refused the token (401: ${e.message}).`));

$('login-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const given = $('login-token').value.trim();
  $('login-submit').disabled = true;
  try {
    await api('GET', '/api/v1/overview', undefined, given);
    token.set(given);
    $('login-error').hidden = true;
    signedIn();
  } catch (e) {
    $('login-error').textContent = e.status === 401
      ? 'The broker refused this token (401): it is not one of [http.admin_tokens].'
      : `Could not sign in: ${e.message}`;
    $('login-error').hidden = false;
  } finally {
    $('login-submit').disabled = false;
  }
});
$('logout').addEventListener('click', () => signOut());
window.addEventListener('hashchange', route);

if (token.get()) signedIn();
else signOut();
