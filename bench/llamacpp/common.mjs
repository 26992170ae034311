// What bench.mjs and kld.mjs share: their command line (parseArgs with -h, integer options, one-line errors
// followed by the usage) and llama.cpp loaded the same way (prebuilt CPU binaries only, the file read into
// memory, no GPU layers).
import { getLlama, LlamaLogLevel } from 'node-llama-cpp';
import { parseArgs } from 'node:util';
import { performance } from 'node:perf_hooks';

// The parsed options `a` (after -h, which prints the usage and exits), fail(msg) and count(name, min).
export function cli(options, usage) {
  const { values: a } = parseArgs({
    options: { ...options, verbose: { type: 'boolean', default: false }, help: { type: 'boolean', short: 'h', default: false } },
  });
  if (a.help) {
    console.log(usage);
    process.exit(0);
  }
  const fail = (msg) => {
    console.error(`error: ${msg}\n${usage}`);
    process.exit(1);
  };
  const count = (name, min = 0) => {
    const v = Number(a[name]);
    if (!Number.isInteger(v) || v < min) fail(`--${name} ${a[name]}: expected an integer >= ${min}`);
    return v;
  };
  return { a, fail, count };
}

export const log = (s) => process.stderr.write(s + '\n');

// llama.cpp's CPU build and the model at `path`, with a line on stderr saying how long the load took.
export async function loadModel(path, verbose) {
  const llama = await getLlama({
    gpu: false,
    build: 'never', // the prebuilt CPU binaries only: never compile llama.cpp from source here
    maxThreads: 0, // no pool limit: each context asks for exactly its threads
    logLevel: verbose ? LlamaLogLevel.debug : LlamaLogLevel.error,
  });
  const t0 = performance.now();
  const model = await llama.loadModel({ modelPath: path, gpuLayers: 0, useMmap: false });
  log(`loaded ${path} in ${((performance.now() - t0) / 1000).toFixed(2)} s (llama.cpp ${llama.llamaCppRelease?.release ?? '?'}, ${llama.buildType ?? ''})`);
  return { llama, model };
}
