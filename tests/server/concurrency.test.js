// Continuous batching end to end: 16 simultaneous streaming requests all complete and each is identical to its solo
// run (batch invariance: own seed, own sampler, rows computed independently of the batch); the server stays healthy;
// a client that disconnects mid-stream has its sequence cancelled and its slot freed (seen in /metrics).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, metric, until } from './harness.js';

let server, client;
before(async () => {
  server = await startServer(['--parallel', '16', '--ctx', '2048']);
  client = server.client();
});
after(async () => assert.equal(await server.stop(), 0));

const N = 16;
function request(i) {
  return {
    model: 'any',
    messages: [{ role: 'user', content: `Request number ${i}: ${'tell me more. '.repeat(i % 5)}` }],
    max_tokens: 12 + (i % 4) * 4, temperature: 0.8, top_k: 40, seed: 1000 + i, stream: true,
    stream_options: { include_usage: true },
  };
}

async function run(i) {
  let text = '', finish = null, usage = null;
  for await (const c of await client.chat.completions.create(request(i))) {
    for (const ch of c.choices) {
      text += (ch.delta.reasoning_content ?? '') + '|' + (ch.delta.content ?? '');
      finish = ch.finish_reason ?? finish;
    }
    usage = c.usage ?? usage;
  }
  return { text, finish, tokens: usage.completion_tokens };
}

test('16 simultaneous streams each equal their solo run', async () => {
  const solo = [];
  for (let i = 0; i < N; ++i) solo.push(await run(i));
  const steps0 = await metric(server.base, 'qwen3_steps_total');
  const together = await Promise.all(Array.from({ length: N }, (_, i) => run(i)));
  const steps = (await metric(server.base, 'qwen3_steps_total')) - steps0;
  for (let i = 0; i < N; ++i) assert.deepEqual(together[i], solo[i], `request ${i}`);
  const tokens = together.reduce((a, r) => a + r.tokens, 0);
  // Batched: far fewer forward steps than tokens (one step decodes a token for every active sequence).
  assert.ok(steps < tokens / 2, `${steps} steps for ${tokens} tokens`);
  const health = await (await fetch(`${server.base}/health`)).json();
  assert.equal(health.status, 'ok');
  assert.equal(health.slots_busy, 0);
});

test('a client that disconnects mid-stream frees its slot', async () => {
  const cancelled0 = await metric(server.base, 'qwen3_sequences_cancelled_total');
  const generated0 = await metric(server.base, 'qwen3_generated_tokens_total');
  const ac = new AbortController();
  const stream = await client.chat.completions.create(
    { model: 'any', messages: [{ role: 'user', content: 'go on forever' }], max_tokens: 2000, temperature: 0, stream: true },
    { signal: ac.signal });
  let n = 0;
  try {
    for await (const c of stream) {
      void c;
      if (++n === 3) ac.abort();
    }
  } catch (e) {
    assert.equal(e.name, 'AbortError', String(e));
  }
  await until(async () => (await metric(server.base, 'qwen3_active_sequences')) === 0, 'the slot to be freed');
  assert.equal(await metric(server.base, 'qwen3_sequences_cancelled_total'), cancelled0 + 1);
  assert.ok((await metric(server.base, 'qwen3_client_disconnects_total')) >= 1);
  const generated = (await metric(server.base, 'qwen3_generated_tokens_total')) - generated0;
  assert.ok(generated < 2000, `cancelled early (${generated} tokens generated)`);
  // Still serving.
  const r = await client.chat.completions.create({ model: 'any', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 });
  assert.equal(r.usage.completion_tokens, 2);
});
