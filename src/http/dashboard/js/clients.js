// The client list: GET /api/v1/clients?search=&limit=&after= in pages, and a disconnect button
// (DELETE /api/v1/clients/{id}, ?drop_session=true to end the session too) behind a dialog.
import { api } from './api.js';
import { $, el, formatDuration } from './util.js';

const PAGE = 50;

export class Clients {
  constructor(onError) {
    this.onError = onError;
    this.search = '';
    this.after = '';      // the cursor of the page shown
    this.next = null;     // the cursor of the page after it
    this.target = null;   // the client the dialog asks about
    $('clients-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.search = $('clients-search').value.trim();
      this.after = '';
      this.load();
    });
    $('clients-first').addEventListener('click', () => { this.after = ''; this.load(); });
    $('clients-next').addEventListener('click', () => {
      if (this.next) { this.after = this.next; this.load(); }
    });
    $('disconnect-dialog').addEventListener('close', () => this.confirmed($('disconnect-dialog').returnValue));
  }

  async load() {
    const q = new URLSearchParams({ limit: String(PAGE) });
    if (this.search) q.set('search', this.search);
    if (this.after) q.set('after', this.after);
    $('clients-status').textContent = 'Loading…';
    let page;
    try {
      page = await api('GET', `/api/v1/clients?${q}`);
    } catch (e) {
      $('clients-status').textContent = '';
      this.onError(e);
      return;
    }
    this.onError(null);
    this.next = page.next;
    this.render(page.items);
  }

  render(items) {
    const body = $('clients-body');
    body.replaceChildren();
    const now = Date.now();
    for (const c of items) {
      const button = el('button', { type: 'button', class: 'danger small', text: 'Disconnect' });
      button.addEventListener('click', () => this.ask(c.client_id));
      const since = c.connected_since_ms ? formatDuration((now - c.connected_since_ms) / 1000) : '–';
      body.append(el('tr', { 'data-client': c.client_id },
        // data-label: the column's name, shown beside the value where the table becomes cards (phones).
        el('td', { class: 'id', 'data-label': 'Client id', text: c.client_id }),
        el('td', { 'data-label': 'User', text: c.username ?? '' }),
        el('td', { 'data-label': 'Address', text: c.address }),
        el('td', { 'data-label': 'Protocol', text: `${c.protocol} ${c.transport}` }),
        el('td', { 'data-label': 'Connected', text: since }),
        el('td', { 'data-label': 'Subs', text: String(c.subscriptions) }),
        el('td', { 'data-label': 'Queued', text: String(c.queued) }),
        el('td', { class: 'action' }, button)));
    }
    $('clients-empty').hidden = items.length > 0;
    $('clients-next').disabled = !this.next;
    $('clients-first').disabled = !this.after;
    $('clients-status').textContent = `${items.length} client${items.length === 1 ? '' : 's'}${this.search ? ` matching “${this.search}”` : ''}`;
  }

  ask(id) {
    this.target = id;
    $('disconnect-id').textContent = id;
    $('disconnect-drop').checked = false;
    $('disconnect-dialog').showModal();
  }

  async confirmed(answer) {
    const id = this.target;
    this.target = null;
    if (answer !== 'ok' || !id) return;
    const drop = $('disconnect-drop').checked;
    let done = null;
    try {
      await api('DELETE', `/api/v1/clients/${encodeURIComponent(id)}${drop ? '?drop_session=true' : ''}`);
      done = `Disconnected ${id}${drop ? ' and ended its session' : ''}.`;
    } catch (e) {
      this.onError(e);
    }
    await this.load();
    if (done) $('clients-status').textContent = `${done} ${$('clients-status').textContent}`;
  }
}
