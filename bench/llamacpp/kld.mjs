#!/usr/bin/env node
// llama.cpp's KL divergence from a base model's logits, like `llama-perplexity --kl-divergence`, through
// node-llama-cpp's prebuilt CPU binaries, to set beside `qwen3 perplexity --kl-divergence` on the same GGUF file:
//
//   node kld.mjs -m MODEL.gguf --kl-divergence-base BASE [-t 2] [--chunks N] [--piece 16] [--kv-type f16] [--json]
//
// BASE is llama.cpp's --kl-divergence-base file (what `qwen3 perplexity --kl-divergence-base BASE` writes without
// --kl-divergence): "_logits_", int32 n_ctx, n_vocab, n_chunk, the n_chunk * n_ctx tokens, then per chunk and scored
// position (n_ctx/2 .. n_ctx-2, each predicting the next token) one row of uint16 words: float scale, float
// min_log_prob, n_vocab uint16 q (padded to even), log p_base(i) = scale * q[i] + min_log_prob.
//
// Each chunk is evaluated from an empty sequence (the file's tokens as they are, no BOS added); the scored
// positions' full next-token distributions come from LlamaContextSequence.controlledEvaluate with
// generateNext.probabilities and temperature 0: node-llama-cpp's sampler chain is then only llama.cpp's greedy
// sampler (top-k/top-p/min-p/temperature/dist are left out of the chain; greedy only sets `selected`), so the
// candidates are the raw logits of every vocabulary id, and the addon (AddonContext.cpp, SampleToken) returns
// expf(logit - max) / sum over all of them, sorted. The sum is float32; it is recomputed here in double and each
// log p = log(prob) - log(sum), so the normalisation is exact up to expf's rounding. Checked per row: the map has
// n_vocab entries (no truncation). KL(base || llama.cpp) and the same-top-token rate exactly as qwen3's kl_row()
// (src/model/perplexity.cpp): base entries with log p <= -16 are left out of the sum.
import fs from 'node:fs';
import { performance } from 'node:perf_hooks';
import { cli, loadModel, log } from './common.mjs';

const USAGE =
  'usage: node kld.mjs -m MODEL.gguf --kl-divergence-base BASE [-t 2] [--chunks N] [--piece 16] ' +
  '[--kv-type f16|f32] [--json]';
const { a, fail, count } = cli(
  {
    model: { type: 'string', short: 'm' },
    'kl-divergence-base': { type: 'string' },
    threads: { type: 'string', short: 't', default: '2' },
    chunks: { type: 'string', default: '0' },
    piece: { type: 'string', default: '16' },
    'kv-type': { type: 'string', default: 'f16' },
    json: { type: 'boolean', default: false },
  },
  USAGE,
);
if (!a.model || !a['kl-divergence-base']) fail('-m MODEL.gguf and --kl-divergence-base BASE are required');
const threads = count('threads', 1), piece = count('piece', 1), maxChunks = count('chunks');
const kvType = a['kv-type'].toUpperCase();
if (kvType !== 'F16' && kvType !== 'F32') fail(`--kv-type ${a['kv-type']}: f16 or f32`);

// The base file's header and tokens.
const basePath = a['kl-divergence-base'];
const fd = fs.openSync(basePath, 'r');
const head = Buffer.alloc(20);
fs.readSync(fd, head, 0, 20, 0);
if (head.toString('latin1', 0, 8) !== '_logits_') fail(`${basePath}: not a KL divergence base file`);
const nCtx = head.readInt32LE(8), nVocab = head.readInt32LE(12), nChunkFile = head.readInt32LE(16);
if (!(nCtx >= 4 && nVocab > 0 && nChunkFile > 0)) fail(`${basePath}: implausible header`);
const tokens = new Int32Array(nCtx * nChunkFile);
fs.readSync(fd, new Uint8Array(tokens.buffer), 0, tokens.byteLength, 20);
const dataOffset = 20 + tokens.byteLength;
const first = Math.floor(nCtx / 2), nScore = nCtx - 1 - first;
const rowWords = 2 * Math.floor((nVocab + 1) / 2) + 4, rowBytes = 2 * rowWords;
if (fs.fstatSync(fd).size !== dataOffset + nChunkFile * nScore * rowBytes)
  fail(`${basePath}: size does not match ${nChunkFile} chunks of ${nCtx} with ${nVocab} logits`);
const nChunk = maxChunks > 0 ? Math.min(maxChunks, nChunkFile) : nChunkFile;

const { model } = await loadModel(a.model, a.verbose);
const context = await model.createContext({
  contextSize: nCtx,
  sequences: 1,
  batchSize: Math.min(512, nCtx),
  flashAttention: false,
  threads: { ideal: threads, min: threads },
  experimentalKvCacheKeyType: kvType,
  experimentalKvCacheValueType: kvType,
});
const seq = context.getSequence();

// One base row, decoded as kl_row() does (float arithmetic for log p_base).
const rowBuf = new ArrayBuffer(rowBytes);
const rowU8 = new Uint8Array(rowBuf), rowF32 = new Float32Array(rowBuf, 0, 2), rowQ = new Uint16Array(rowBuf, 8, nVocab);
const lpBase = new Float64Array(nVocab);
const f = Math.fround;
function readRow(index) {
  const got = fs.readSync(fd, rowU8, 0, rowBytes, dataOffset + index * rowBytes);
  if (got !== rowBytes) fail(`${basePath}: truncated`);
  const scale = rowF32[0], minLogProb = rowF32[1];
  let imax = 0, best = 0;
  for (let i = 0; i < nVocab; ++i) {
    const lp = f(f(scale * rowQ[i]) + minLogProb);
    lpBase[i] = lp;
    if (i === 0 || lp > best) {
      best = lp;
      imax = i;
    }
  }
  return imax;
}

const kls = [];
let same = 0, nllBase = 0, nll = 0, nll2 = 0, kl1 = 0, kl2 = 0;
let maxSumErr = 0, minEntries = Infinity, zeroProbs = 0;
const sampleOptions = { temperature: 0 };
const item = (t) => [t, { generateNext: { probabilities: true, options: sampleOptions } }];
const tStart = performance.now();
for (let c = 0; c < nChunk; ++c) {
  const chunk = tokens.subarray(c * nCtx, (c + 1) * nCtx);
  await seq.clearHistory();
  await seq.evaluateWithoutGeneratingNewTokens(Array.from(chunk.subarray(0, first)));
  for (let j0 = 0; j0 < nScore; j0 += piece) {
    const n = Math.min(piece, nScore - j0);
    const input = [];
    for (let j = j0; j < j0 + n; ++j) input.push(item(chunk[first + j]));
    const out = await seq.controlledEvaluate(input);
    for (let k = 0; k < n; ++k) {
      const j = j0 + k;
      const probs = out[k]?.next?.probabilities;
      if (!probs) fail(`chunk ${c}, position ${first + j}: no probabilities returned`);
      minEntries = Math.min(minEntries, probs.size);
      if (probs.size !== nVocab) fail(`chunk ${c}, position ${first + j}: ${probs.size} probabilities, not ${nVocab}`);
      const imaxBase = readRow(c * nScore + j);
      const target = chunk[first + j + 1];
      // llama.cpp's top token: the map is sorted by logit, highest first; ties to the lowest id (as kl_row).
      let sum = 0, top = -1, topP = -1;
      for (const [id, p] of probs) {
        if (top < 0) {
          top = id;
          topP = p;
        } else if (p === topP && id < top) top = id;
        sum += p;
      }
      maxSumErr = Math.max(maxSumErr, Math.abs(sum - 1));
      const logSum = Math.log(sum);
      let kl = 0;
      for (const [id, p] of probs) {
        const lb = lpBase[id];
        if (lb > -16) {
          if (p === 0) ++zeroProbs;
          const lq = p > 0 ? Math.log(p) - logSum : Math.log(1e-45);
          kl += Math.exp(lb) * (lb - lq);
        }
      }
      const pt = probs.get(target);
      const v = -(Math.log(pt > 0 ? pt : 1e-45) - logSum);
      nll += v;
      nll2 += v * v;
      nllBase += -lpBase[target];
      kls.push(kl);
      kl1 += kl;
      kl2 += kl * kl;
      if (top === imaxBase) ++same;
    }
  }
  const done = kls.length;
  process.stderr.write(`[${c + 1}]${Math.exp(nll / done).toFixed(4)} KLD ${(kl1 / done).toFixed(6)}, `);
}
process.stderr.write('\n');
const secs = (performance.now() - tStart) / 1000;
await context.dispose();
await model.dispose();
fs.closeSync(fd);

const n = kls.length;
const sorted = Float64Array.from(kls).sort();
const pct = (p) => sorted[Math.round((p / 100) * (n - 1))];
const nllMean = nll / n, nllVar = n > 1 ? nll2 / n - nllMean * nllMean : 0;
const klMean = kl1 / n, klVar = n > 1 ? kl2 / n - klMean * klMean : 0;
const r = {
  ppl: Math.exp(nllMean),
  kld_mean: klMean,
  top1_agree: same / n,
  positions: n,
  ppl_stderr: (nllVar > 0 ? Math.sqrt(nllVar / (n - 1)) : 0) * Math.exp(nllMean),
  n_ctx: nCtx,
  chunks: nChunk,
  ppl_base: Math.exp(nllBase / n),
  kld_p50: pct(50),
  kld_p99: pct(99),
  kld_max: sorted[n - 1],
  kld_stderr: klVar > 0 ? Math.sqrt(klVar / (n - 1)) : 0,
  engine: 'llama.cpp',
  kv_type: kvType.toLowerCase(),
  prob_entries_min: minEntries,
  prob_sum_max_err: maxSumErr,
  zero_probs: zeroProbs,
};
log(`kld: ${nChunk} chunks of ${nCtx} in ${secs.toFixed(1)} s; every row ${minEntries} probabilities (n_vocab ${nVocab}), ` +
    `max |sum - 1| ${maxSumErr.toExponential(2)}, ${zeroProbs} zero probabilities where the base's log p > -16`);
console.log(`Final estimate: PPL = ${r.ppl.toFixed(4)} +/- ${r.ppl_stderr.toFixed(5)} (${n} positions, ${nChunk} chunks of ${nCtx})`);
console.log(`PPL(base)  = ${r.ppl_base.toFixed(4)}`);
console.log(`Mean KLD   = ${klMean.toFixed(6)} +/- ${r.kld_stderr.toFixed(6)}`);
console.log(`Maximum    = ${r.kld_max.toFixed(6)}`);
for (const p of [99.9, 99.0, 95.0, 90.0, 50.0, 10.0, 5.0, 1.0, 0.1])
  console.log(`${p.toFixed(1).padStart(5)}% KLD = ${pct(p).toFixed(6)}`);
console.log(`Minimum    = ${sorted[0].toFixed(6)}`);
console.log(`Same top   = ${(100 * r.top1_agree).toFixed(3)} %`);
if (a.json) console.log(JSON.stringify(r));
