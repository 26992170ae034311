#!/usr/bin/env node
// Load benchmark of `qwen3 serve`: aggregate generated tok/s at 1, 4 and 16 concurrent streaming clients, and time
// to first token p50/p99, and each stream's own decode speed (p50 over the requests). Starts its own server on
// 127.0.0.1 (a free port) unless --url is given; traffic goes to loopback only and every loop is bounded.
//
//   node bench/server/load.mjs --bin build/qwen3 --model MODEL_DIR [--clients 1,4,16] [--requests 2] [--tokens 32]
//                              [--threads N] [--schema FILE] [--json]
// Each client sends --requests streaming chat requests one after another (distinct prompts of ~40 tokens, greedy,
// max_tokens --tokens, EOS ignored via logit_bias so every request generates exactly --tokens tokens). --schema
// FILE: each request also carries response_format json_schema with that schema (structured output's cost: the
// same load with and without it; an answer may then end before --tokens when the schema leaves only EOS).
import { spawn } from 'node:child_process';
import { parseArgs } from 'node:util';
import fs from 'node:fs';

const { values: a } = parseArgs({
  options: {
    bin: { type: 'string', default: 'build/qwen3' },
    model: { type: 'string' },
    url: { type: 'string' },
    clients: { type: 'string', default: '1,4,16' },
    requests: { type: 'string', default: '2' },
    tokens: { type: 'string', default: '32' },
    threads: { type: 'string', default: '0' },
    json: { type: 'boolean', default: false },
    schema: { type: 'string' },
  },
});
const levels = a.clients.split(',').map(Number);
const nRequests = Number(a.requests), nTokens = Number(a.tokens);
const schema = a.schema ? JSON.parse(fs.readFileSync(a.schema, 'utf8')) : null;

async function startServer() {
  const args = ['serve', '-m', a.model, '--port', '0', '--parallel', String(Math.max(...levels)), '--ctx', '1024'];
  if (Number(a.threads) > 0) args.push('-t', a.threads);
  const proc = spawn(a.bin, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no server after 300 s:\n${log}`)), 300000);
    proc.stderr.on('data', (d) => {
      log += d;
      const m = /http:\/\/127\.0\.0\.1:(\d+)\/v1/.exec(log);
      if (m) clearTimeout(timer), resolve(Number(m[1]));
    });
    proc.on('exit', (c) => reject(new Error(`server exited ${c}:\n${log}`)));
  });
  return { proc, url: `http://127.0.0.1:${port}` };
}

// One streaming request; returns time to first token and tokens generated.
async function one(url, client, k) {
  const body = {
    model: 'bench', stream: true, stream_options: { include_usage: true }, temperature: 0, max_tokens: nTokens,
    logit_bias: { 151645: -100, 151643: -100 },
    messages: [{ role: 'user', content: `Client ${client}, request ${k}: write a long story about the number ${client * 100 + k}.` }],
    chat_template_kwargs: { enable_thinking: false },
  };
  if (schema) body.response_format = { type: 'json_schema', json_schema: { name: 'bench', schema } };
  const t0 = performance.now();
  const res = await fetch(`${url}/v1/chat/completions`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body),
    signal: AbortSignal.timeout(1800000),
  });
  if (!res.ok) throw new Error(`HTTP ${res.status}: ${await res.text()}`);
  let ttft = null, tokens = 0, buf = '';
  const dec = new TextDecoder();
  for await (const part of res.body) {
    buf += dec.decode(part, { stream: true });
    let i;
    while ((i = buf.indexOf('\n\n')) >= 0) {
      const ev = buf.slice(0, i);
      buf = buf.slice(i + 2);
      if (!ev.startsWith('data: ') || ev === 'data: [DONE]') continue;
      const j = JSON.parse(ev.slice(6));
      if (ttft === null && j.choices.length && (j.choices[0].delta.content || j.choices[0].delta.reasoning_content))
        ttft = (performance.now() - t0) / 1000;
      if (j.usage) tokens = j.usage.completion_tokens;
    }
  }
  // Decode speed of this stream: the tokens after the first over the time after the first (prompt and
  // queueing excluded; an answer that ends early, as a schema may make it, counts what it made).
  const after = (performance.now() - t0) / 1000 - ttft;
  return { ttft, tokens, decode_tok_s: ttft !== null && tokens > 1 && after > 0 ? (tokens - 1) / after : null };
}

const pct = (xs, p) => {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))];
};

const server = a.url ? null : await startServer();
const url = a.url ?? server.url;
try {
  await one(url, 999, 0);  // warm-up
  const rows = [];
  for (const c of levels) {
    const t0 = performance.now();
    const results = (await Promise.all(Array.from({ length: c }, async (_, client) => {
      const out = [];
      for (let k = 0; k < nRequests; ++k) out.push(await one(url, client, k + 1));
      return out;
    }))).flat();
    const wall = (performance.now() - t0) / 1000;
    const tokens = results.reduce((s, r) => s + r.tokens, 0);
    const ttfts = results.map((r) => r.ttft).filter((t) => t !== null);
    const decode = results.map((r) => r.decode_tok_s).filter((t) => t !== null);
    rows.push({ clients: c, requests: results.length, tokens, seconds: wall, tok_s: tokens / wall,
                ttft_p50: pct(ttfts, 50), ttft_p99: pct(ttfts, 99), decode_tok_s_p50: pct(decode, 50) });
  }
  const base = rows.find((r) => r.clients === 1)?.tok_s;
  if (a.json) {
    console.log(JSON.stringify(rows));
  } else {
    console.log('| clients | requests | tokens | seconds | aggregate tok/s | vs 1 client | TTFT p50 (s) | TTFT p99 (s) ' +
                '| decode tok/s per stream (p50) |');
    console.log('| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
    for (const r of rows)
      console.log(`| ${r.clients} | ${r.requests} | ${r.tokens} | ${r.seconds.toFixed(1)} | ${r.tok_s.toFixed(2)} | ` +
                  `${base ? (r.tok_s / base).toFixed(2) + '×' : '-'} | ${r.ttft_p50.toFixed(2)} | ${r.ttft_p99.toFixed(2)} | ` +
                  `${r.decode_tok_s_p50?.toFixed(2) ?? '-'} |`);
  }
} finally {
  if (server) server.proc.kill('SIGTERM');
}
