// Starts `qwen3 serve` (tiny synthetic model, real Qwen3 tokenizer) on a free loopback port for the client
// compatibility suite, and forces outputs with logit_bias: the weights are random, so every assertion on text
// rests on a forced token sequence. QWEN3_BIN and QWEN3_MODEL come from CTest (tests/clients.cmake).
import { spawn } from 'node:child_process';

export const BIN = process.env.QWEN3_BIN;
export const MODEL = process.env.QWEN3_MODEL;
export const TIME_SCALE = Number(process.env.QWEN3_TIME_SCALE ?? 1);
if (!process.env.QWEN3_CLIENTS_BASE_URL && (!BIN || !MODEL)) throw new Error('set QWEN3_BIN and QWEN3_MODEL');

// QWEN3_CLIENTS_BASE_URL=http://HOST:PORT runs the suite against a server already running (llama-server, for
// the comparison table in docs/SERVER.md); the tests that start a server with other flags then fail.
export async function startServer(args = []) {
  if (process.env.QWEN3_CLIENTS_BASE_URL && args.length === 0)
    return { base: process.env.QWEN3_CLIENTS_BASE_URL, log: () => '', stop: async () => 0 };
  const proc = spawn(BIN, ['serve', '-m', MODEL, '--port', '0', '-t', '1', '--ctx', '2048', '--parallel', '2', ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  const port = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`server did not start:\n${log}`)), 60000 * TIME_SCALE);
    proc.stderr.on('data', (d) => {
      log += d;
      const m = /http:\/\/127\.0\.0\.1:(\d+)\/v1/.exec(log);
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
  return {
    base: `http://127.0.0.1:${port}`,
    log: () => log,
    async stop() {
      if (proc.exitCode !== null) return proc.exitCode;
      const done = new Promise((r) => proc.on('exit', (code) => r(code)));
      proc.kill('SIGTERM');
      return done;
    },
  };
}

// logit_bias forcing `ids` in order (presence_penalty makes each usable once; each next id `step` less), as
// tests/server/harness.js does.
export function forceSequence(ids, step = 7) {
  const logit_bias = {};
  ids.forEach((id, i) => (logit_bias[String(id)] = 100 - step * i));
  return { logit_bias, presence_penalty: 1000, temperature: 0 };
}

export const TOK = {
  imEnd: 151645,
  toolCallOpen: 151657,
  toolCallClose: 151658,
  thinkOpen: 151667,
  thinkClose: 151668,
  hi: 13048, // "Hi"
  hmm: 87501, // " hmm"
  // {"name":"f","arguments":{}} — nine distinct tokens (a longer call cannot be forced reliably: each forced
  // token's bias is 7 below the one before, and the turn's end must still beat every unbiased token)
  weatherCall: [4913, 606, 3252, 69, 2198, 16370, 788, 90, 3417],
  // The weather in Paris is sunny.
  sunny: [785, 9104, 304, 12095, 374, 39698, 13],
  // {"name":"Ada","age":36}
  ada: [4913, 606, 3252, 95347, 2198, 424, 788, 18, 21, 92],
};

export const TOOL_NAME = 'f';
export const WEATHER_ARGS = '{}';
// Outputs, as token sequences ending the turn.
export const OUT = {
  hi: [TOK.hi, TOK.imEnd],
  thinkThenHi: [TOK.thinkOpen, TOK.hmm, TOK.thinkClose, TOK.hi, TOK.imEnd],
  weatherCall: [TOK.toolCallOpen, ...TOK.weatherCall, TOK.toolCallClose, TOK.imEnd],
  sunny: [...TOK.sunny, TOK.imEnd],
  ada: [...TOK.ada, TOK.imEnd],
};

export const WEATHER_TOOL_SCHEMA = {
  type: 'object',
  properties: { n: { type: 'integer', description: 'days ahead' } },
};

// A fetch that adds fields to every JSON request body (to force outputs through clients that have no
// logit_bias option), and records the bodies and paths it sent.
export function biasedFetch(extra) {
  const sent = [];
  const f = async (url, init = {}) => {
    if (init.body && typeof init.body === 'string') {
      const body = JSON.parse(init.body);
      const add = typeof extra === 'function' ? extra(body, sent.length) : extra;
      init = { ...init, body: JSON.stringify({ ...body, ...add }) };
      sent.push({ url: String(url), body: JSON.parse(init.body) });
    }
    return fetch(url, init);
  };
  f.sent = sent;
  return f;
}
