#!/usr/bin/env node
// The hardening figures of `qwen3 serve` (issue 23), one binary or two side by side: time to answer a body of
// 100,000 keys and one with a whole-vocabulary logit_bias; /health and a 1-token completion latency while 150
// clients trickle a header line every 2 s; peak RSS growth from a 300 MiB chunked body; RSS growth per 1,000
// requests after warm-up; whether an 80,000-deep JSON body or `top_p: 1e-320` leaves the server answering.
// Starts each server itself on 127.0.0.1 (a free port); loopback only, every loop bounded.
//
//   node bench/server/hardening.mjs --model MODEL_DIR --bin build/qwen3 [--bin OLD/qwen3] [--reps 5] [--soak 2000]
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import net from 'node:net';
import fs from 'node:fs';

const { values: a } = parseArgs({
  options: {
    bin: { type: 'string', multiple: true, default: ['build/qwen3'] },
    model: { type: 'string' },
    reps: { type: 'string', default: '5' },
    soak: { type: 'string', default: '2000' },
  },
});
if (!a.model) throw new Error('--model MODEL_DIR is required');
const REPS = Number(a.reps);
const MSGS = [{ role: 'user', content: 'hi' }];

async function start(bin) {
  const proc = spawn(bin, ['serve', '-m', a.model, '--port', '0', '-t', '1', '--parallel', '4'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no start:\n${log}`)), 60000);
    proc.stderr.on('data', (d) => {
      log += d;
      const m = /http:\/\/127\.0\.0\.1:(\d+)\/v1/.exec(log);
      if (m) { clearTimeout(timer); resolve(Number(m[1])); }
    });
    proc.on('exit', (c) => { clearTimeout(timer); reject(new Error(`exited ${c}:\n${log}`)); });
  });
  return { proc, base: `http://127.0.0.1:${port}`, port, alive: () => proc.exitCode === null && proc.signalCode === null };
}

const median = (xs) => { const s = [...xs].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };
const rss = (pid) => Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))[1]) / 1024;

async function timed(fn) { const t0 = performance.now(); await fn(); return performance.now() - t0; }
async function post(base, body, ms = 120000) {
  const r = await fetch(`${base}/v1/chat/completions`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body, signal: AbortSignal.timeout(ms),
  });
  await r.text();
  return r.status;
}
async function normal(base) {
  return post(base, JSON.stringify({ messages: MSGS, max_tokens: 1, temperature: 0 }), 30000);
}
async function health(base) {
  const r = await fetch(`${base}/health`, { signal: AbortSignal.timeout(30000) });
  await r.text();
  return r.status;
}

async function measure(bin) {
  const out = { bin };
  let s = await start(bin);
  // 100,000 keys; whole-vocabulary logit_bias.
  const keys = {};
  for (let i = 0; i < 100000; ++i) keys[`k${i}`] = i;
  const bigKeys = JSON.stringify({ ...keys, messages: MSGS, max_tokens: 1 });
  const lb = {};
  for (let i = 0; i < 151643; ++i) lb[String(i)] = 0.5;
  const bigBias = JSON.stringify({ messages: MSGS, max_tokens: 1, logit_bias: lb });
  out.keys_ms = [], out.bias_ms = [];
  for (let i = 0; i < REPS; ++i) {
    out.keys_ms.push(await timed(() => post(s.base, bigKeys)));
    out.bias_ms.push(await timed(() => post(s.base, bigBias)));
  }
  // Latency with 150 slow-header clients.
  const slow = [];
  for (let i = 0; i < 150; ++i) {
    const c = net.connect(s.port, '127.0.0.1');
    c.on('error', () => {});
    c.write('GET /health HTTP/1.1\r\n');
    slow.push(c);
  }
  const drip = setInterval(() => { for (const c of slow) if (!c.destroyed) c.write('X-Slow: 1\r\n'); }, 2000);
  await new Promise((r) => setTimeout(r, 500));
  out.slow_health_ms = [], out.slow_completion_ms = [];
  for (let i = 0; i < REPS; ++i) {
    try {
      out.slow_health_ms.push(await timed(() => health(s.base)));
      out.slow_completion_ms.push(await timed(() => normal(s.base)));
    } catch { out.slow_health_ms.push(Infinity); out.slow_completion_ms.push(Infinity); }
  }
  clearInterval(drip);
  for (const c of slow) c.destroy();
  // A 300 MiB chunked body.
  const rss0 = rss(s.proc.pid);
  let peak = rss0;
  const watch = setInterval(() => { try { peak = Math.max(peak, rss(s.proc.pid)); } catch { /* gone */ } }, 20);
  await new Promise((resolve) => {
    const c = net.connect(s.port, '127.0.0.1');
    let sent = 0;
    const chunk = Buffer.alloc(1 << 20, 'a');
    c.on('error', () => {});
    c.on('close', resolve);
    c.on('data', () => c.destroy());
    c.on('connect', () => {
      c.write('POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n');
      const pump = () => {
        while (sent < 300 << 20 && !c.destroyed) {
          sent += chunk.length;
          if (!c.write(chunk.length.toString(16) + '\r\n' + chunk.toString('latin1') + '\r\n', 'latin1')) return c.once('drain', pump);
        }
        c.end('0\r\n\r\n');
      };
      pump();
    });
    setTimeout(() => c.destroy(), 120000);
  });
  clearInterval(watch);
  out.chunked_peak_mib = peak - rss0;
  // Soak: RSS growth per 1,000 requests after 400 warm-up requests, 4 at a time.
  const soak = Number(a.soak);
  const batch = async (n) => { for (let i = 0; i < n; i += 4) await Promise.all([0, 1, 2, 3].map(() => normal(s.base))); };
  await batch(400);
  const r0 = rss(s.proc.pid);
  await batch(soak);
  out.soak_mib_per_1000 = ((rss(s.proc.pid) - r0) * 1000) / soak;
  // Deep JSON, then underflowing top_p (more than --parallel of them): does the server still answer?
  const deep = '{"a":' + '['.repeat(80000) + ']'.repeat(80000) + ',"b":1}';
  try { await post(s.base, deep, 10000); } catch { /* the connection may die with the process */ }
  await new Promise((r) => setTimeout(r, 200));
  out.deep_json = s.alive() ? 'answered' : 'process died';
  if (!s.alive()) s = await start(bin);
  for (let i = 0; i < 6; ++i) {
    try { await post(s.base, JSON.stringify({ messages: MSGS, max_tokens: 2, top_p: 1e-320 }), 5000); } catch { /* timed out */ }
  }
  try { out.after_tiny_top_p = (await normal(s.base)) === 200 ? 'answered' : 'error'; } catch { out.after_tiny_top_p = 'no answer in 30 s'; }
  s.proc.kill('SIGKILL');
  return out;
}

const rows = [];
for (const bin of a.bin) rows.push(await measure(bin));
const f = (xs) => (xs.some((x) => !Number.isFinite(x)) ? 'timeout' : `${median(xs).toFixed(0)} ms`);
console.log(`| measure | ${rows.map((r) => r.bin).join(' | ')} |`);
console.log(`| --- | ${rows.map(() => '---:').join(' | ')} |`);
const line = (name, fn) => console.log(`| ${name} | ${rows.map(fn).join(' | ')} |`);
line(`100,000-key body, median of ${REPS}`, (r) => f(r.keys_ms));
line(`whole-vocabulary logit_bias, median of ${REPS}`, (r) => f(r.bias_ms));
line('/health with 150 slow-header clients', (r) => f(r.slow_health_ms));
line('1-token completion with 150 slow-header clients', (r) => f(r.slow_completion_ms));
line('RSS peak growth, 300 MiB chunked body', (r) => `${r.chunked_peak_mib.toFixed(0)} MiB`);
line(`RSS growth per 1,000 requests (after 400, over ${a.soak})`, (r) => `${r.soak_mib_per_1000.toFixed(2)} MiB`);
line('80,000-deep JSON body', (r) => r.deep_json);
line('a normal request after 6 × top_p 1e-320', (r) => r.after_tiny_top_p);
