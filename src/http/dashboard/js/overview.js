// The overview: totals from GET /api/v1/overview once a second, and charts of the last five
// minutes. Rates are computed here from the cumulative counters (difference over the time the
// broker reports between two samples), so a slow poll does not distort them.
import { api } from './api.js';
import { LineChart } from './chart.js';
import { $, formatBytes, formatDuration, formatNumber } from './util.js';

const POLL_MS = 1000;

export class Overview {
  constructor(onError) {
    this.onError = onError;
    this.charts = {
      connections: new LineChart($('chart-connections'), '#2563eb'),
      in: new LineChart($('chart-in'), '#1b7f3b'),
      out: new LineChart($('chart-out'), '#b26a00'),
    };
    this.last = null;
    this.timer = null;
    this.latest = null;  // the last overview, for the explorer's default URL
    window.addEventListener('resize', () => Object.values(this.charts).forEach((c) => c.draw()));
  }

  start() {
    if (this.timer) return;
    const tick = async () => {
      await this.poll();
      if (this.timer !== null) this.timer = setTimeout(tick, POLL_MS);
    };
    this.timer = 0;
    tick();
  }

  stop() {
    clearTimeout(this.timer);
    this.timer = null;
    this.last = null;
  }

  redraw() { Object.values(this.charts).forEach((c) => c.draw()); }

  async poll() {
    let o;
    try {
      o = await api('GET', '/api/v1/overview');
    } catch (e) {
      this.onError(e);
      return;
    }
    this.latest = o;
    this.onError(null);
    let inRate = null, outRate = null;
    if (this.last && o.time_ms > this.last.time_ms) {
      const dt = (o.time_ms - this.last.time_ms) / 1000;
      inRate = Math.max(0, (o.messages_received - this.last.messages_received) / dt);
      outRate = Math.max(0, (o.messages_sent - this.last.messages_sent) / dt);
    }
    this.last = o;
    this.show(o, inRate, outRate);
    const now = Date.now();
    this.charts.connections.add(now, o.connections);
    if (inRate !== null) {
      this.charts.in.add(now, inRate);
      this.charts.out.add(now, outRate);
    }
  }

  show(o, inRate, outRate) {
    $('broker-version').textContent = `hermod ${o.version}`;
    $('stat-connections').textContent = formatNumber(o.connections);
    $('stat-in-rate').textContent = inRate === null ? '–' : formatNumber(inRate);
    $('stat-out-rate').textContent = outRate === null ? '–' : formatNumber(outRate);
    $('stat-received').textContent = formatNumber(o.messages_received);
    $('stat-sent').textContent = formatNumber(o.messages_sent);
    $('stat-sessions').textContent = formatNumber(o.sessions);
    $('stat-subscriptions').textContent = formatNumber(o.subscriptions);
    $('stat-retained').textContent = formatNumber(o.retained);
    $('stat-dropped').textContent = formatNumber(o.messages_dropped);
    $('stat-bytes').textContent = `${formatBytes(o.bytes_received)} / ${formatBytes(o.bytes_sent)}`;
    $('stat-memory').textContent = o.memory_budget
      ? `${formatBytes(o.memory_used)} of ${formatBytes(o.memory_budget)}` : formatBytes(o.memory_used);
    $('stat-uptime').textContent = formatDuration(o.uptime_seconds);
    // Exact counters for scripts and tests (the text above is formatted for people).
    $('stats').dataset.received = o.messages_received;
    $('stats').dataset.sent = o.messages_sent;
    $('stats').dataset.connections = o.connections;
  }
}
