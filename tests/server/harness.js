// Starts `qwen3 serve` on 127.0.0.1 with a free port (--port 0; the server prints the port it bound) and stops it.
// QWEN3_BIN and QWEN3_MODEL come from CTest (tests/server.cmake).
import { spawn } from 'node:child_process';
import OpenAI from 'openai';

export const BIN = process.env.QWEN3_BIN;
export const MODEL = process.env.QWEN3_MODEL;
export const BIG_MODEL = process.env.QWEN3_BIG_MODEL;  // the real 0.6B shape: slow enough to load to be seen loading
// Time bounds are multiplied by this under a sanitizer build (make tsan sets 10): the bounds are about a server
// that answers, not about its speed, which the benchmarks measure.
export const TIME_SCALE = Number(process.env.QWEN3_TIME_SCALE ?? 1);
if (!BIN || !MODEL) throw new Error('set QWEN3_BIN and QWEN3_MODEL');

// The line a started server prints once its model is loaded; with whenListening, the earlier line it prints
// once it has bound its port (from then on it answers 503 until the model is loaded).
const READY = /http:\/\/127\.0\.0\.1:(\d+)\/v1/;
const LISTENING = /listening on 127\.0\.0\.1:(\d+)/;

export async function startServer(args = [], { model = MODEL, whenListening = false } = {}) {
  const proc = spawn(BIN, ['serve', '-m', model, '--port', '0', '-t', '1', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start in ${60 * TIME_SCALE} s:\n${log}`)), 60000 * TIME_SCALE);
    proc.stderr.on('data', (d) => {
      log += d;
      const m = (whenListening ? LISTENING : READY).exec(log);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    });
    proc.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code}:\n${log}`));
    });
  });
  const base = `http://127.0.0.1:${port}`;
  return {
    proc,
    base,
    port,
    log: () => log,
    client: (opts = {}) => new OpenAI({ baseURL: `${base}/v1`, apiKey: 'none', maxRetries: 0, timeout: 60000, ...opts }),
    async stop() {
      if (proc.exitCode !== null) return proc.exitCode;
      const done = new Promise((r) => proc.on('exit', (code) => r(code)));
      proc.kill('SIGTERM');
      return done;
    },
  };
}

// One value of a Prometheus text exposition.
export async function metric(base, name, headers = {}) {
  const text = await (await fetch(`${base}/metrics`, { headers })).text();
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text);
  if (!m) throw new Error(`no metric ${name} in:\n${text}`);
  return Number(m[1]);
}

// Waits (bounded) until pred() is true.
export async function until(pred, what, ms = 10000) {
  ms *= TIME_SCALE;
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (await pred()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out waiting for ${what}`);
}

// logit_bias that forces `ids` in order, with presence_penalty making each token usable once: the first id has the
// largest bias, each next one `step` less, so at every position the first unused id wins over the ones after it
// (raw logits of the synthetic models differ by far less than `step`) and over every unbiased token.
export function forceSequence(ids, step = 7) {
  const logit_bias = {};
  ids.forEach((id, i) => (logit_bias[String(id)] = 100 - step * i));
  return { logit_bias, presence_penalty: 1000, temperature: 0 };
}

export const TOK = {
  imEnd: 151645,
  endOfText: 151643,
  toolCallOpen: 151657,
  toolCallClose: 151658,
  thinkOpen: 151667,
  thinkClose: 151668,
  hi: 13048, // "Hi"
  hmm: 87501, // " hmm"
  // {"name":"f","arguments":{}} — nine distinct tokens
  toolJson: [4913, 606, 3252, 69, 2198, 16370, 788, 90, 3417],
};
