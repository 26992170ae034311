#!/usr/bin/env node
// Benchmark of deploy/local/cluster (docs/BENCHMARKS.md, "Replicas behind nginx"): aggregate generated tok/s of
// 1, 2, 3 ... replicas behind nginx under the same concurrent streaming load, each replica's share, and nginx's
// overhead per request (the same request straight to a replica and through nginx). Loopback only; every loop is
// bounded.
//
//   node deploy/local/bench.mjs --bin build/qwen3 --model MODEL [--replicas 1,2,3] [--cores 2] [--clients 6]
//                               [--requests 2] [--tokens 32] [--rounds 3] [--overhead 400]
//
// Each replica gets -t max(1, cores / replicas) threads (the same cores shared out), --parallel = clients and
// --ctx 1024. A round: every client sends --requests streaming chat requests one after another (distinct prompts
// of ~40 tokens, greedy, thinking off, EOS suppressed so each generates exactly --tokens tokens), each with its
// own X-Session-Id so the consistent hash spreads them. Reported: medians over --rounds rounds (after a warm-up
// request on every replica).
import http from 'node:http';
import { parseArgs } from 'node:util';
import { startCluster, stream, request, metric } from '../../tests/deploy/cluster.js';

const { values: a } = parseArgs({
  options: {
    bin: { type: 'string', default: 'build/qwen3' },
    model: { type: 'string' },
    replicas: { type: 'string', default: '1,2,3' },
    cores: { type: 'string', default: '2' },
    clients: { type: 'string', default: '6' },
    requests: { type: 'string', default: '2' },
    tokens: { type: 'string', default: '32' },
    rounds: { type: 'string', default: '3' },
    overhead: { type: 'string', default: '400' },
  },
});
if (!a.model) throw new Error('--model MODEL is required');
const cores = Number(a.cores), clients = Number(a.clients), nReq = Number(a.requests), nTok = Number(a.tokens);
const rounds = Number(a.rounds), nOverhead = Number(a.overhead);
const median = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

const body = (tag) => ({
  stream: true, stream_options: { include_usage: true }, temperature: 0, max_tokens: nTok,
  logit_bias: { 151645: -100, 151643: -100 }, chat_template_kwargs: { enable_thinking: false },
  messages: [{ role: 'user', content: `Request ${tag}: write a long story about the number ${tag.length * 37}.` }],
});

async function one(base, tag) {
  const t0 = performance.now();
  let ttft = null;
  const r = await stream(base, '/v1/chat/completions', body(tag), {
    headers: { 'X-Session-Id': tag },
    onEvent: (ev) => { if (ttft === null && ev.choices?.[0]?.delta?.content) ttft = (performance.now() - t0) / 1000; },
    timeout: 1800000,
  });
  if (r.status !== 200 || !r.done) throw new Error(`request ${tag}: ${r.status} ${r.error ?? ''}`);
  return { tokens: r.usage.completion_tokens, ttft };
}

// Sequential GET /v1/models on one keep-alive connection: median milliseconds per request.
async function latency(base, n) {
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const ms = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const r = await request(base, '/v1/models', { method: 'GET', agent });
    if (r.status !== 200) throw new Error(`GET /v1/models: ${r.status} ${r.error ?? ''}`);
    ms.push(performance.now() - t0);
  }
  agent.destroy();
  return median(ms);
}

const rows = [];
let overhead = null;
for (const n of a.replicas.split(',').map(Number)) {
  const threads = Math.max(1, Math.floor(cores / n));
  const cluster = await startCluster({
    replicas: n, bin: a.bin, model: a.model, threads, readyTimeout: 600,
    extra: ['--parallel', String(clients), '--ctx', '1024'],
  });
  try {
    for (const [i, r] of cluster.replicas.entries()) await one(r.base, `warm-up-${i}`);
    const agg = [], ttfts = [], perReplica = cluster.replicas.map(() => []);
    for (let round = 0; round < rounds; round++) {
      const before = await Promise.all(cluster.replicas.map((r) => metric(r.base, 'qwen3_generated_tokens_total')));
      const t0 = performance.now();
      const results = (await Promise.all(Array.from({ length: clients }, async (_, c) => {
        const out = [];
        for (let k = 0; k < nReq; k++) out.push(await one(cluster.base, `r${round}-c${c}-k${k}`));
        return out;
      }))).flat();
      const wall = (performance.now() - t0) / 1000;
      const after = await Promise.all(cluster.replicas.map((r) => metric(r.base, 'qwen3_generated_tokens_total')));
      agg.push(results.reduce((s, r) => s + r.tokens, 0) / wall);
      ttfts.push(median(results.map((r) => r.ttft)));
      after.forEach((v, i) => perReplica[i].push((v - before[i]) / wall));
      process.stderr.write(`bench: ${n} replica(s), round ${round + 1}: ${agg.at(-1).toFixed(2)} tok/s\n`);
    }
    rows.push({ replicas: n, threads, tok_s: median(agg), all: agg, ttft: median(ttfts),
      per_replica: perReplica.map(median) });
    if (n === 1 && nOverhead > 0) {
      // Interleaved blocks, so that the machine's load drifts alike for both.
      const direct = [], proxied = [];
      for (let b = 0; b < 4; b++) {
        direct.push(await latency(cluster.replicas[0].base, nOverhead / 4));
        proxied.push(await latency(cluster.base, nOverhead / 4));
      }
      overhead = { direct: median(direct), proxied: median(proxied) };
    }
  } finally {
    await cluster.stop();
    cluster.cleanup();
  }
}

const base = rows[0].tok_s;
console.log('| replicas | threads each | aggregate tok/s (median) | rounds | vs 1 replica | per replica tok/s | TTFT p50 (s) |');
console.log('| ---: | ---: | ---: | --- | ---: | --- | ---: |');
for (const r of rows)
  console.log(`| ${r.replicas} | ${r.threads} | ${r.tok_s.toFixed(2)} | ${r.all.map((x) => x.toFixed(2)).join(', ')} | ` +
    `${(r.tok_s / base).toFixed(2)}× | ${r.per_replica.map((x) => x.toFixed(2)).join(' / ')} | ${r.ttft.toFixed(2)} |`);
if (overhead)
  console.log(`\nGET /v1/models, ${nOverhead} sequential requests on a keep-alive connection, median of 4 interleaved ` +
    `blocks: straight to the replica ${overhead.direct.toFixed(3)} ms, through nginx ${overhead.proxied.toFixed(3)} ms, ` +
    `nginx adds ${(overhead.proxied - overhead.direct).toFixed(3)} ms per request`);
