#!/usr/bin/env node
// llama.cpp on the CPU, timed like llama-bench, through node-llama-cpp's prebuilt binaries (pinned in
// package-lock.json), to run beside `qwen3 bench` on the GGUF file `qwen3 quantize -o X.gguf` writes:
//   pp<P>: P prompt tokens of a fresh sequence evaluated as one batch (chunks of --batch), tok/s
//   tg<N>: N decode steps, one token each (the model's logits, a greedy pick of the next token), tok/s
// each after the cache holds -d DEPTH tokens (filled once, not timed; each repetition starts from there),
// after one untimed warm-up run. The model's own evaluation is timed through LlamaContextSequence:
// no chat wrapper, no detokenising. See README.md.
//
//   node bench.mjs -m model.gguf [-p 512] [-n 128] [-d 0] [-r 5] [-t 2] [--batch 512] [--ctx N] [--json]
//   node bench.mjs -m model.gguf --generate "TEXT" [-n 16]   greedy ids and text, to compare with qwen3
import { performance } from 'node:perf_hooks';
import { cli, loadModel, log } from './common.mjs';

const USAGE =
  'usage: node bench.mjs -m MODEL.gguf [-p 512] [-n 128] [-d DEPTH] [-r REPS] [-t THREADS] [--batch 512] ' +
  '[--ctx N] [--no-warmup] [--json]\n       node bench.mjs -m MODEL.gguf --generate TEXT [-n 16]';
const { a, fail, count } = cli(
  {
    model: { type: 'string', short: 'm' },
    'n-prompt': { type: 'string', short: 'p', default: '512' },
    'n-gen': { type: 'string', short: 'n' },
    depth: { type: 'string', short: 'd', default: '0' },
    reps: { type: 'string', short: 'r', default: '5' },
    threads: { type: 'string', short: 't', default: '2' },
    batch: { type: 'string', default: '512' },
    ctx: { type: 'string' },
    generate: { type: 'string' },
    'no-warmup': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
  USAGE,
);
if (!a.model) fail('-m MODEL.gguf is required');
const nPrompt = count('n-prompt'), depth = count('depth');
const nGen = a['n-gen'] === undefined ? (a.generate === undefined ? 128 : 16) : count('n-gen');
const reps = count('reps', 1), threads = count('threads', 1), batch = count('batch', 1);

const { model } = await loadModel(a.model, a.verbose);

const needed = depth + Math.max(nPrompt, nGen) + 16;
const contextSize = a.ctx ? count('ctx', 1) : Math.max(4096, needed);
const context = await model.createContext({
  contextSize,
  sequences: 1,
  batchSize: batch, // node-llama-cpp sets n_ubatch = n_batch
  flashAttention: false,
  threads: { ideal: threads, min: threads },
});
const seq = context.getSequence();

// Deterministic stand-ins for llama-bench's random tokens: ordinary vocabulary ids (below the first added
// token), so that no control token changes what is computed.
const nOrdinary = Math.min(model.tokens.bos ?? 151643, 151643);
let state = 12345;
function tokens(n) {
  const out = [];
  for (let i = 0; i < n; ++i) {
    state = (state * 1103515245 + 12345) % 2147483648;
    out.push(state % nOrdinary);
  }
  return out;
}

async function resetTo(n) {
  if (seq.nextTokenIndex > n) await seq.eraseContextTokenRanges([{ start: n, end: seq.nextTokenIndex }]);
}

if (a.generate !== undefined) {
  // Greedy continuation of a raw prompt (no chat template, no BOS: Qwen adds none), for comparison with
  //   qwen3 generate -m MODEL --raw -p TEXT --greedy -n N --json   (or qwen3 eval with the same ids)
  const promptIds = model.tokenize(a.generate, false);
  const ids = [];
  for await (const t of seq.evaluate(promptIds, { temperature: 0 })) {
    ids.push(t);
    if (ids.length >= nGen) break;
  }
  console.log(JSON.stringify({ prompt_ids: promptIds, greedy: ids, text: model.detokenize(ids) }));
  await context.dispose();
  await model.dispose();
  process.exit(0);
}

async function timePrompt(n) {
  await resetTo(depth);
  const toks = tokens(n);
  const s = performance.now();
  await seq.evaluateWithoutGeneratingNewTokens(toks);
  return (performance.now() - s) * 1e6;
}

async function timeGen(n) {
  await resetTo(depth);
  const [first] = tokens(1);
  let steps = 0;
  const s = performance.now();
  // Each step of the generator evaluates one token (the previous pick) and picks the next greedily.
  for await (const _ of seq.evaluate([first], { temperature: 0 })) {
    if (++steps >= n) break;
  }
  return (performance.now() - s) * 1e6;
}

const FILE_TYPES = { 0: 'f32', 1: 'f16', 2: 'q4_0', 3: 'q4_1', 7: 'q8_0', 8: 'q5_0', 9: 'q5_1', 15: 'q4_K_M', 17: 'q5_K_M', 18: 'q6_K', 32: 'bf16' };
const fileType = model.fileInfo?.metadata?.general?.file_type;
const type = FILE_TYPES[fileType] ?? `ftype ${fileType}`;
const results = [];
for (const [kind, n] of [['pp', nPrompt], ['tg', nGen]]) {
  if (n === 0) continue;
  await seq.clearHistory();
  if (depth > 0) {
    const s = performance.now();
    await seq.evaluateWithoutGeneratingNewTokens(tokens(depth));
    log(`filled depth ${depth} in ${((performance.now() - s) / 1000).toFixed(1)} s`);
  }
  const run = kind === 'pp' ? timePrompt : timeGen;
  if (!a['no-warmup']) await run(kind === 'pp' ? Math.min(n, batch) : 1);
  const samplesNs = [];
  for (let r = 0; r < reps; ++r) samplesNs.push(await run(n));
  const samplesTs = samplesNs.map((ns) => (n * 1e9) / ns);
  const avg = samplesTs.reduce((x, y) => x + y, 0) / reps;
  const sd = reps > 1 ? Math.sqrt(samplesTs.reduce((x, y) => x + (y - avg) ** 2, 0) / (reps - 1)) : 0;
  const sorted = [...samplesTs].sort((x, y) => x - y);
  const median = reps % 2 ? sorted[(reps - 1) / 2] : (sorted[reps / 2 - 1] + sorted[reps / 2]) / 2;
  const r = {
    build: 'llama.cpp (node-llama-cpp)',
    model_filename: a.model,
    type,
    n_prompt: kind === 'pp' ? n : 0,
    n_gen: kind === 'tg' ? n : 0,
    n_depth: depth,
    n_threads: threads,
    n_batch: batch,
    n_ubatch: batch,
    type_k: 'f16',
    type_v: 'f16',
    flash_attn: false,
    avg_ts: avg,
    stddev_ts: sd,
    median_ts: median,
    samples_ts: samplesTs,
    samples_ns: samplesNs.map(Math.round),
    avg_ns: Math.round(samplesNs.reduce((x, y) => x + y, 0) / reps),
  };
  results.push(r);
  if (!a.json)
    console.log(
      `${kind}${n} @ d${depth}  ${type}  t=${threads}: median ${median.toFixed(2)} tok/s  ` +
        `(mean ${avg.toFixed(2)} ± ${sd.toFixed(2)}; samples ${samplesTs.map((x) => x.toFixed(2)).join(', ')})`,
    );
}
if (a.json) console.log(JSON.stringify(results, null, 2));
await context.dispose();
await model.dispose();
