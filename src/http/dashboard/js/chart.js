// A small line chart on a <canvas>: a fixed time window, one series, the y axis from 0 to a
// rounded maximum. Redrawn whole on every sample (300 points cost nothing).
const WINDOW_MS = 5 * 60 * 1000;

function niceMax(v) {
  if (v <= 0) return 1;
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function shortNumber(v) {
  if (v >= 1e9) return `${+(v / 1e9).toFixed(1)}G`;
  if (v >= 1e6) return `${+(v / 1e6).toFixed(1)}M`;
  if (v >= 1e3) return `${+(v / 1e3).toFixed(1)}k`;
  return `${+v.toFixed(v < 10 ? 2 : 1)}`;
}

export class LineChart {
  constructor(canvas, color) {
    this.canvas = canvas;
    this.color = color;
    this.points = [];  // [time ms, value]
  }

  add(t, v) {
    this.points.push([t, v]);
    while (this.points.length && this.points[0][0] < t - WINDOW_MS) this.points.shift();
    this.draw(t);
  }

  draw(now = Date.now()) {
    const c = this.canvas;
    const ratio = window.devicePixelRatio || 1;
    const w = c.clientWidth;
    const h = c.clientHeight;
    if (!w || !h) return;  // the view is hidden
    if (c.width !== Math.round(w * ratio) || c.height !== Math.round(h * ratio)) {
      c.width = Math.round(w * ratio);
      c.height = Math.round(h * ratio);
    }
    const g = c.getContext('2d');
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, w, h);
    const style = getComputedStyle(document.body);
    const muted = style.getPropertyValue('--muted') || '#888';
    const line = style.getPropertyValue('--line') || '#ddd';
    const left = 40, right = 6, top = 8, bottom = 18;
    const pw = w - left - right, ph = h - top - bottom;
    const max = niceMax(Math.max(0, ...this.points.map((p) => p[1])));
    g.font = '11px system-ui, sans-serif';
    g.fillStyle = muted;
    g.strokeStyle = line;
    g.lineWidth = 1;
    g.textAlign = 'right';
    g.textBaseline = 'middle';
    for (let i = 0; i <= 4; i++) {
      const y = top + ph - (ph * i) / 4;
      g.beginPath();
      g.moveTo(left, Math.round(y) + 0.5);
      g.lineTo(left + pw, Math.round(y) + 0.5);
      g.stroke();
      g.fillText(shortNumber((max * i) / 4), left - 4, y);
    }
    g.textAlign = 'center';
    g.textBaseline = 'top';
    for (const minutes of [5, 4, 3, 2, 1, 0]) {
      const x = left + pw - (pw * minutes) / 5;
      g.fillText(minutes ? `-${minutes}m` : 'now', Math.min(Math.max(x, left + 10), left + pw - 10), top + ph + 4);
    }
    if (this.points.length < 2) return;
    const x = (t) => left + pw - (pw * (now - t)) / WINDOW_MS;
    const y = (v) => top + ph - (ph * v) / max;
    g.beginPath();
    this.points.forEach(([t, v], i) => (i ? g.lineTo(x(t), y(v)) : g.moveTo(x(t), y(v))));
    g.strokeStyle = this.color;
    g.lineWidth = 2;
    g.stroke();
    g.lineTo(x(this.points[this.points.length - 1][0]), top + ph);
    g.lineTo(x(this.points[0][0]), top + ph);
    g.closePath();
    g.globalAlpha = 0.12;
    g.fillStyle = this.color;
    g.fill();
    g.globalAlpha = 1;
  }
}
