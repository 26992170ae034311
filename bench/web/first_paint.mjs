#!/usr/bin/env node
// First paint of the chat page from a warm `qwen3 serve` (issue 21: under 300 ms on this machine). Starts a server
// on 127.0.0.1 (a free port) with --model, loads the page once to warm it, then --loads times in a fresh browser
// context each (empty cache: the whole page is fetched, parsed, run and painted) and as many reloads in one context
// (its cache revalidated by ETag: a 304). Reports the medians of the browser's own paint timings
// (PerformancePaintTiming first-paint and first-contentful-paint, from navigation start) and of the moment the app
// has rendered over the page's static shell (the performance mark qwen3-app-rendered).
//
//   node bench/web/first_paint.mjs --bin build/qwen3 --model MODEL_DIR [--loads 10] [--chromium /usr/bin/chromium]
// Needs tests/web's node_modules (cd tests/web && npm ci): playwright-core drives Debian's chromium.
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';

const require = createRequire(new URL('../../tests/web/package.json', import.meta.url));
const { chromium } = require('playwright-core');
const { values: a } = parseArgs({
  options: {
    bin: { type: 'string', default: 'build/qwen3' },
    model: { type: 'string' },
    loads: { type: 'string', default: '10' },
    chromium: { type: 'string', default: '/usr/bin/chromium' },
  },
});
if (!a.model) throw new Error('--model MODEL_DIR is required');

const proc = spawn(a.bin, ['serve', '-m', a.model, '--port', '0', '-t', '1', '--no-log-requests'], { stdio: ['ignore', 'ignore', 'pipe'] });
const base = await new Promise((resolve, reject) => {
  let log = '';
  const timer = setTimeout(() => reject(new Error(`no server in 60 s:\n${log}`)), 60000);
  proc.stderr.on('data', (d) => {
    log += d;
    const m = /chat page on (http:\/\/[^/]+)\//.exec(log);
    if (m) (clearTimeout(timer), resolve(m[1]));
  });
  proc.on('exit', (c) => reject(new Error(`server exited ${c}:\n${log}`)));
});

const median = (xs) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
const timings = (page) => page.evaluate(() => {
  const p = Object.fromEntries(performance.getEntriesByType('paint').map((e) => [e.name, e.startTime]));
  const nav = performance.getEntriesByType('navigation')[0];
  const app = performance.getEntriesByName('qwen3-app-rendered')[0];
  return { fp: p['first-paint'], fcp: p['first-contentful-paint'], response: nav.responseEnd, app: app?.startTime ?? NaN };
});

const browser = await chromium.launch({ executablePath: a.chromium, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
try {
  const n = Number(a.loads);
  const cold = [], warm = [];
  const load = async (page) => {
    await page.waitForFunction(() => performance.getEntriesByType('paint').length >= 2 && document.getElementById('prompt'));
    return timings(page);
  };
  { // warm-up: the server's first answer of the page and the browser's first start
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await page.goto(`${base}/`);
    await load(page);
    await ctx.close();
  }
  for (let i = 0; i < n; ++i) {
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await page.goto(`${base}/`);
    cold.push(await load(page));
    await ctx.close();
  }
  const ctx = await browser.newContext();
  const page = await ctx.newPage();
  await page.goto(`${base}/`);
  await load(page);
  for (let i = 0; i < n; ++i) {
    await page.reload();
    warm.push(await load(page));
  }
  await ctx.close();
  const row = (name, xs) => {
    const f = (k) => median(xs.map((x) => x[k])).toFixed(1);
    const fps = xs.map((x) => x.fp);
    console.log(`| ${name} | ${xs.length} | ${f('response')} | ${f('fp')} | ${f('fcp')} | ${Math.min(...fps).toFixed(1)}–${Math.max(...fps).toFixed(1)} | ${f('app')} |`);
  };
  console.log(`chromium ${browser.version()}, ${base}`);
  console.log('| load | n | response end ms | first paint ms (median) | first contentful paint ms | first paint range ms | app rendered ms |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
  row('new context (empty cache, 200)', cold);
  row('reload (cached, revalidated by ETag)', warm);
} finally {
  await browser.close();
  proc.kill('SIGTERM');
}
