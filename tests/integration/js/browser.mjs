// A headless Chromium for tests/integration/test_websocket.py, driven over JSON lines.
//
//   node browser.mjs '{"executablePath": "/usr/bin/chromium", "args": [...]}'
//
// Prints {"ready": true, "version": ...} once the browser runs, then reads one command per line
// on stdin: {"id": N, "url": ..., "screenshot": path, "timeout_ms": ...} opens `url` in a fresh
// browser context, waits until the page sets window.hermodResult (js/page.html), saves a
// screenshot and prints {"id": N, "result": ..., "requests": [...], "websockets": [...],
// "console": [...]} (or {"id": N, "error": ...}). {"quit": true} or the end of stdin closes the
// browser and exits. Every wait has a deadline; the browser downloads nothing (playwright-core
// never fetches a browser of its own: it runs the given executable).
import readline from 'node:readline';
import { chromium } from 'playwright-core';

const options = JSON.parse(process.argv[2] || '{}');
const print = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

let browser;
try {
  browser = await chromium.launch({
    executablePath: options.executablePath,
    headless: true,
    args: options.args || [],
    timeout: 25000,
  });
} catch (e) {
  print({ ready: false, error: String(e && e.stack || e) });
  process.exit(1);
}
print({ ready: true, version: browser.version() });

async function load(command) {
  const context = await browser.newContext({ viewport: { width: 800, height: 600 } });
  const requests = [];
  const websockets = [];
  const consoleLines = [];
  try {
    const page = await context.newPage();
    page.on('request', (r) => requests.push(r.url()));
    page.on('websocket', (w) => websockets.push(w.url()));
    page.on('console', (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
    page.on('pageerror', (e) => consoleLines.push(`pageerror: ${e.message}`));
    const timeout = command.timeout_ms || 10000;
    await page.goto(command.url, { timeout, waitUntil: 'load' });
    let result;
    try {
      await page.waitForFunction(() => window.hermodResult !== undefined, null, { timeout });
      result = await page.evaluate(() => window.hermodResult);
    } catch (e) {
      result = { ok: false, stage: 'driver', error: `no result from the page: ${e.message}` };
    }
    if (command.screenshot) await page.screenshot({ path: command.screenshot, fullPage: true });
    return { id: command.id, result, requests, websockets, console: consoleLines };
  } catch (e) {
    return { id: command.id, error: String(e && e.stack || e), requests, websockets, console: consoleLines };
  } finally {
    await context.close();
  }
}

const lines = readline.createInterface({ input: process.stdin });
let queue = Promise.resolve();
let quitting = false;
async function quit() {
  if (quitting) return;
  quitting = true;
  await queue;
  await browser.close();
  process.exit(0);
}
lines.on('line', (line) => {
  if (!line.trim()) return;
  const command = JSON.parse(line);
  if (command.quit) {
    quit();
    return;
  }
  queue = queue.then(async () => print(await load(command)));
});
lines.on('close', quit);
