// The reference side of the tokenizer benchmark: the official HF tokenizers npm binding (Rust) on the same text,
// one thread (RAYON_NUM_THREADS=1, set by run.sh), same measurements as bench_tokenizer.cpp. Prints one JSON object.
//   node bench_npm.mjs MODEL_DIR TEXT_FILE [REPS]
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(resolve(here, '../../tools/tokenizer/package.json'));
const { Tokenizer } = require('tokenizers');

const [modelDir, textFile, repsArg] = process.argv.slice(2);
const reps = Number(repsArg ?? 5);
const text = readFileSync(textFile, 'utf8');
const lines = text.match(/[^\n]*\n|[^\n]+$/g);
const bytes = Buffer.byteLength(text);
const median = (v) => [...v].sort((a, b) => a - b)[Math.floor(v.length / 2)];
const now = () => Number(process.hrtime.bigint()) / 1e9;

let t0 = now();
const tok = Tokenizer.fromFile(`${modelDir}/tokenizer.json`);
const loadS = now() - t0;
const opts = { addSpecialTokens: false };
let ids = (await tok.encode(text, null, opts)).getIds();  // warm-up
const doc = [], many = [], batch = [], dec = [];
const cpu = { doc: [], many: [], batch: [], dec: [] };  // process CPU seconds (user + system)
const cpuNow = () => { const u = process.cpuUsage(); return (u.user + u.system) / 1e6; };
async function timed(name, wall, fn) {
  const w = now(), c = cpuNow();
  await fn();
  cpu[name].push(cpuNow() - c);
  wall.push(now() - w);
}
let idsMany = 0;
let roundtrip = false;
for (let r = 0; r < reps; r++) {
  await timed('doc', doc, async () => { ids = (await tok.encode(text, null, opts)).getIds(); });
  await timed('many', many, async () => {
    idsMany = 0;
    for (const l of lines) idsMany += (await tok.encode(l, null, opts)).getIds().length;
  });
  // encodeBatch amortises the per-call cost of the JS binding; with RAYON_NUM_THREADS=1 it is still one thread.
  await timed('batch', batch, async () => {
    const encs = await tok.encodeBatch(lines, opts);
    let n = 0;
    for (const e of encs) n += e.getIds().length;
  });
  let back;
  await timed('dec', dec, async () => { back = await tok.decode(ids, false); });
  roundtrip = back === text;
}
let fnv = 2166136261;
for (const id of ids) fnv = Math.imul(fnv ^ id, 16777619) >>> 0;
const mb = bytes / 1e6;
console.log(JSON.stringify({ impl: 'tokenizers (npm, Rust)', bytes, lines: lines.length, ids: ids.length, ids_many: idsMany, ids_fnv32: fnv, roundtrip,
  load_s: +loadS.toFixed(3), encode_doc_mbs: +(mb / median(doc)).toFixed(2), encode_many_mbs: +(mb / median(many)).toFixed(2),
  encode_many_batch_mbs: +(mb / median(batch)).toFixed(2), decode_mbs: +(mb / median(dec)).toFixed(2),
  cpu_encode_doc_mbs: +(mb / median(cpu.doc)).toFixed(2), cpu_encode_many_mbs: +(mb / median(cpu.many)).toFixed(2),
  cpu_encode_many_batch_mbs: +(mb / median(cpu.batch)).toFixed(2), cpu_decode_mbs: +(mb / median(cpu.dec)).toFixed(2) }));
