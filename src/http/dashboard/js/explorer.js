// The topic explorer: subscribes over MQTT-over-WebSocket (mqtt.js) and shows every topic it
// receives as a tree of topic levels, with the last value, the message count and rate (over the
// last 10 s) and the retained flag. Each node's row is built once and updated in place, once a
// second or when a message came, so a busy filter does not rebuild the page.
import { MqttClient } from './mqtt.js';
import { $, el, formatNumber } from './util.js';

const RATE_WINDOW_MS = 10000;
const MAX_TOPICS = 5000;
const MAX_SHOWN_VALUE = 200;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

function displayValue(bytes) {
  try {
    return { text: strictUtf8.decode(bytes), binary: false };
  } catch {
    const hex = Array.from(bytes.subarray(0, 64), (b) => b.toString(16).padStart(2, '0')).join(' ');
    return { text: `0x ${hex}${bytes.length > 64 ? ' …' : ''}`, binary: true };
  }
}

class Node {
  constructor(name, path, depth) {
    this.name = name;
    this.path = path;
    this.depth = depth;
    this.children = new Map();
    this.message = null;   // the last message on exactly this topic
    this.count = 0;        // messages on this topic and below
    this.hits = [];        // their arrival times within the rate window
    this.collapsed = false;
    this.dirty = true;
  }

  rate(now) {
    while (this.hits.length && this.hits[0] < now - RATE_WINDOW_MS) this.hits.shift();
    return this.hits.length / (RATE_WINDOW_MS / 1000);
  }
}

export class Explorer {
  constructor(defaultUrl) {
    this.defaultUrl = defaultUrl;  // async () => the ws URL from the overview, or ''
    this.client = null;
    this.topics = 0;
    this.selected = null;
    this.reset();
    $('explorer-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      this.start();
    });
    $('explorer-disconnect').addEventListener('click', () => this.stop('Stopped.'));
    this.ticker = setInterval(() => this.refresh(), 1000);
  }

  reset() {
    this.root = new Node('', '', -1);
    this.root.ul = $('explorer-tree');
    this.root.ul.replaceChildren();
    this.topics = 0;
    this.selected = null;
    $('explorer-detail').hidden = true;
  }

  async shown() {
    if (!$('explorer-url').value) $('explorer-url').value = await this.defaultUrl();
  }

  status(text, error = false) {
    $('explorer-status').textContent = text;
    $('explorer-status').className = error ? 'error' : 'muted';
  }

  async start() {
    this.stop();
    this.reset();
    const url = $('explorer-url').value.trim();
    const filter = $('explorer-filter').value.trim() || '#';
    if (!/^wss?:\/\//.test(url)) return this.status('The URL must start with ws:// or wss://.', true);
    const clientId = `hermod-dashboard-${Math.random().toString(16).slice(2, 10)}`;
    const client = new MqttClient(url, {
      clientId, username: $('explorer-user').value, password: $('explorer-password').value, keepalive: 30,
    });
    this.client = client;
    $('explorer-connect').disabled = true;
    $('explorer-disconnect').disabled = false;
    this.status(`Connecting to ${url}…`);
    client.addEventListener('message', (ev) => this.received(ev.detail));
    client.addEventListener('close', (ev) => {
      if (this.client === client) this.stop(`The broker closed the connection (WebSocket code ${ev.detail.code}).`, true);
    });
    try {
      await client.connect();
      const [granted] = await client.subscribe([filter]);
      if (granted === 0x80) throw new Error(`the broker refused the subscription to ${filter}`);
      this.status(`Subscribed to ${filter} on ${url} as ${clientId}.`);
      $('explorer-status').dataset.state = 'subscribed';
    } catch (e) {
      if (this.client === client) this.stop(`Not subscribed: ${e.message}`, true);
    }
  }

  stop(text, error = false) {
    const client = this.client;
    this.client = null;
    if (client) client.disconnect();
    $('explorer-connect').disabled = false;
    $('explorer-disconnect').disabled = true;
    delete $('explorer-status').dataset.state;
    if (text) this.status(text, error);
  }

  received(m) {
    const levels = m.topic.split('/');
    let node = this.root;
    const now = performance.now();
    const path = [];
    for (const level of levels) {
      path.push(level);
      let child = node.children.get(level);
      if (!child) {
        if (this.topics >= MAX_TOPICS) return;
        child = new Node(level, path.join('/'), node.depth + 1);
        node.children.set(level, child);
        this.topics++;
        this.insert(node, child);
      }
      node = child;
      node.count++;
      node.hits.push(now);
      if (node.hits.length > 5000) node.hits.shift();
      node.dirty = true;
    }
    node.message = { ...m, at: new Date() };
    if (node === this.selected) this.showDetail();
    if (!this.pendingRender) {
      this.pendingRender = true;
      requestAnimationFrame(() => { this.pendingRender = false; this.render(this.root, performance.now(), false); });
    }
  }

  // Builds `child`'s row and puts it among its siblings in name order.
  insert(parent, child) {
    if (!parent.ul) {
      parent.ul = el('ul');
      parent.li.append(parent.ul);
    }
    child.toggle = el('span', { class: 'toggle' });
    child.nameEl = el('span', { class: 'name', text: child.name === '' ? '(empty)' : child.name });
    child.valueEl = el('span', { class: 'value' });
    child.retainedEl = el('span', { class: 'retained', text: 'retained', hidden: true });
    child.metaEl = el('span', { class: 'meta' });
    child.row = el('div', { class: 'node' }, child.toggle, child.nameEl, child.valueEl, child.retainedEl, child.metaEl);
    child.li = el('li', { 'data-topic': child.path }, child.row);
    child.row.addEventListener('click', () => {
      if (child.children.size) {
        child.collapsed = !child.collapsed;
        if (child.ul) child.ul.hidden = child.collapsed;
        child.dirty = true;
      }
      this.select(child);
    });
    const after = [...parent.children.values()].filter((n) => n !== child && n.li && n.name > child.name)
      .sort((a, b) => (a.name < b.name ? -1 : 1))[0];
    parent.ul.insertBefore(child.li, after ? after.li : null);
  }

  // Updates the rows marked dirty (every row when `all`, for the rates that decay with time).
  render(node, now, all) {
    for (const child of node.children.values()) {
      if (all || child.dirty) {
        child.dirty = false;
        child.toggle.textContent = child.children.size ? (child.collapsed ? '▸' : '▾') : '';
        const m = child.message;
        if (m) {
          const v = displayValue(m.payload);
          child.valueEl.textContent = `= ${v.text.length > MAX_SHOWN_VALUE ? `${v.text.slice(0, MAX_SHOWN_VALUE)}…` : v.text}`;
          child.li.dataset.value = v.text;
          child.retainedEl.hidden = !m.retain;
        }
        const rate = child.rate(now);
        const msgs = `${formatNumber(child.count)} msg${child.count === 1 ? '' : 's'}`;
        const own = child.children.size ? `${msgs} below` : msgs;
        child.metaEl.textContent = `${own}${rate ? `, ${formatNumber(rate)}/s` : ''}`;
        child.li.dataset.count = child.count;
      }
      if (child.children.size) this.render(child, now, all);
    }
  }

  refresh() {
    if (!this.root.children.size) return;
    this.render(this.root, performance.now(), true);
    if (this.selected) this.showDetail();
  }

  select(node) {
    if (this.selected) this.selected.row.classList.remove('selected');
    this.selected = node;
    node.row.classList.add('selected');
    this.showDetail();
  }

  showDetail() {
    const n = this.selected;
    $('explorer-detail').hidden = false;
    $('detail-topic').textContent = n.path;
    $('detail-count').textContent = formatNumber(n.count);
    $('detail-rate').textContent = `${formatNumber(n.rate(performance.now()))}/s`;
    const m = n.message;
    $('detail-retained').textContent = m ? (m.retain ? 'yes' : 'no') : '–';
    $('detail-qos').textContent = m ? String(m.qos) : '–';
    $('detail-time').textContent = m ? m.at.toLocaleTimeString() : '–';
    $('detail-value').textContent = m ? displayValue(m.payload).text : '(no message on this exact topic)';
  }
}
