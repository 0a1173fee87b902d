// A headless browser for tests/integration/test_dashboard.py, driven over JSON lines: Chromium
// through playwright-core, or Firefox through puppeteer-core (WebDriver BiDi). Both run the
// installed executable; nothing is downloaded.
//
//   node dashboard.mjs '{"browser": "chromium"|"firefox", "executablePath": ..., "args": [...]}'
//
// Prints {"ready": true, "version": ...}, then answers one command per line on stdin with
// {"id": N, "ok": true, ...} or {"id": N, "ok": false, "error": ...}:
//   {"cmd": "open", "width": W, "height": H}   a fresh context and page at that viewport
//   {"cmd": "goto", "url": U}
//   {"cmd": "fill", "selector": S, "value": V}  sets an input's value (input and change events)
//   {"cmd": "click", "selector": S}
//   {"cmd": "check", "selector": S, "value": bool}
//   {"cmd": "wait", "selector": S, "text": T, "attr": A, "timeout_ms": N}
//        until the element exists and is visible, and (when given) its textContent (or its
//        attribute A) contains T; answers {"text": ...}
//   {"cmd": "gone", "selector": S, "timeout_ms": N}  until no element matches
//   {"cmd": "text", "selector": S, "attr": A}   answers {"text": ...} (null if no such element)
//   {"cmd": "eval", "expression": E}           answers {"value": the expression's JSON value}
//   {"cmd": "screenshot", "path": P}
//   {"cmd": "requests"}   answers {"requests": [every URL the page asked for], "websockets": [...],
//                          "problems": [script errors and console errors]}
//   {"cmd": "quit"}
// Every wait has a deadline.
import readline from 'node:readline';

const options = JSON.parse(process.argv[2] || '{}');
const print = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');
const firefox = options.browser === 'firefox';

let browser, context, page;
let requests = [], websockets = [], problems = [];

async function launch() {
  if (firefox) {
    const puppeteer = (await import('puppeteer-core')).default;
    browser = await puppeteer.launch({
      browser: 'firefox', executablePath: options.executablePath, headless: true,
      args: options.args || [], timeout: 30000, protocolTimeout: 30000,
      extraPrefsFirefox: { 'browser.shell.checkDefaultBrowser': false, 'network.connectivity-service.enabled': false,
        'network.captive-portal-service.enabled': false, 'app.update.enabled': false, 'browser.safebrowsing.malware.enabled': false,
        'browser.safebrowsing.phishing.enabled': false },
    });
  } else {
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({ executablePath: options.executablePath, headless: true, args: options.args || [], timeout: 25000 });
  }
}

async function open(c) {
  if (context) await context.close();
  requests = [];
  websockets = [];
  problems = [];
  if (firefox) {
    context = await browser.createBrowserContext();
    page = await context.newPage();
    await page.setViewport({ width: c.width, height: c.height });
  } else {
    context = await browser.newContext({ viewport: { width: c.width, height: c.height } });
    page = await context.newPage();
    page.on('websocket', (w) => websockets.push(w.url()));
  }
  page.on('request', (r) => requests.push(r.url()));
  // Script errors and console errors (a CSP violation is one) are the test's business.
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('console', (m) => { if (m.type() === 'error') problems.push(`console: ${m.text()}`); });
  page.setDefaultTimeout(10000);
}

// (selector, text, attr) -> the element's text once it is visible and holds `text`, else null.
function probe([selector, text, attr]) {
  const e = document.querySelector(selector);
  if (!e) return null;
  if (!attr && !(e.offsetWidth || e.offsetHeight || e.getClientRects().length)) return null;
  const value = attr ? e.getAttribute(attr) : e.textContent;
  if (value === null) return null;
  if (text !== undefined && text !== null && !value.includes(text)) return null;
  return { text: value };
}

async function waitFor(fn, arg, timeout) {
  const handle = firefox
    ? await page.waitForFunction(fn, { timeout, polling: 100 }, arg)
    : await page.waitForFunction(fn, arg, { timeout, polling: 100 });
  return handle.jsonValue();
}

const commands = {
  open,
  goto: async (c) => { await page.goto(c.url, { timeout: c.timeout_ms || 10000, waitUntil: 'load' }); },
  fill: async (c) => {
    await page.waitForSelector(c.selector, { timeout: 10000 });
    await page.evaluate(([s, v]) => {
      const e = document.querySelector(s);
      e.value = v;
      e.dispatchEvent(new Event('input', { bubbles: true }));
      e.dispatchEvent(new Event('change', { bubbles: true }));
    }, [c.selector, c.value]);
  },
  check: async (c) => {
    await page.evaluate(([s, v]) => { document.querySelector(s).checked = v; }, [c.selector, c.value]);
  },
  click: async (c) => {
    await page.waitForSelector(c.selector, { timeout: 10000, visible: true });
    await page.click(c.selector);
  },
  wait: async (c) => waitFor(probe, [c.selector, c.text ?? null, c.attr ?? null], c.timeout_ms || 10000),
  gone: async (c) => {
    await waitFor((s) => !document.querySelector(s), c.selector, c.timeout_ms || 10000);
  },
  text: async (c) => page.evaluate(([s, a]) => {
    const e = document.querySelector(s);
    return { text: e ? (a ? e.getAttribute(a) : e.textContent) : null };
  }, [c.selector, c.attr ?? null]),
  eval: async (c) => ({ value: await page.evaluate(c.expression) }),
  screenshot: async (c) => { await page.screenshot({ path: c.path, fullPage: true }); },
  requests: async () => ({ requests, websockets, problems }),
};

try {
  await launch();
} catch (e) {
  print({ ready: false, error: String(e && e.stack || e) });
  process.exit(1);
}
print({ ready: true, version: await browser.version() });

async function quit() {
  try { await browser.close(); } catch { /* already gone */ }
  process.exit(0);
}

const lines = readline.createInterface({ input: process.stdin });
let queue = Promise.resolve();
lines.on('line', (line) => {
  if (!line.trim()) return;
  const c = JSON.parse(line);
  queue = queue.then(async () => {
    if (c.cmd === 'quit') return quit();
    try {
      const f = commands[c.cmd];
      if (!f) throw new Error(`unknown command ${c.cmd}`);
      const result = (await f(c)) || {};
      print({ id: c.id, ok: true, ...result });
    } catch (e) {
      print({ id: c.id, ok: false, error: String(e && e.message || e) });
    }
  });
});
lines.on('close', () => { queue.then(quit); });
