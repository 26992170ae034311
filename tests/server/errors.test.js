// Every error status, in OpenAI's shape, and the server keeps serving after each: 400 (malformed JSON, wrong types,
// prompt longer than the context, invalid UTF-8), 401 (API key), 404 (unknown route), 413 (oversize body), 429
// (queue full), 503 (model still loading).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startServer, until, metric, BIG_MODEL } from './harness.js';

const KEY = 'test-key';
let server, client;
const auth = { Authorization: `Bearer ${KEY}`, 'Content-Type': 'application/json' };
before(async () => {
  server = await startServer(['--api-key', KEY, '--parallel', '1', '--queue', '1', '--ctx', '512', '--max-body-kib', '64']);
  client = server.client({ apiKey: KEY });
});
after(async () => {
  // Still healthy and serving after everything.
  const r = await client.chat.completions.create({ model: 'any', messages: [{ role: 'user', content: 'ok?' }], max_tokens: 2 });
  assert.equal(r.usage.completion_tokens, 2);
  assert.equal(await server.stop(), 0);
});

async function post(path, body, headers = auth) {
  const res = await fetch(server.base + path, { method: 'POST', headers, body });
  const json = await res.json();
  return { status: res.status, json };
}

function assertErrorShape(json) {
  assert.deepEqual(Object.keys(json), ['error']);
  assert.deepEqual(Object.keys(json.error).sort(), ['code', 'message', 'param', 'type']);
  assert.equal(typeof json.error.message, 'string');
  assert.ok(json.error.message.length > 0);
}

test('wrong or missing API key: 401; /health needs none', async () => {
  const bad = new OpenAI({ baseURL: `${server.base}/v1`, apiKey: 'wrong', maxRetries: 0 });
  await assert.rejects(bad.models.list(), (e) => e instanceof OpenAI.AuthenticationError && e.status === 401);
  const r = await fetch(`${server.base}/v1/models`);
  assert.equal(r.status, 401);
  assertErrorShape(await r.json());
  const h = await fetch(`${server.base}/health`);
  assert.equal(h.status, 200);
  assert.equal((await h.json()).status, 'ok');
});

test('malformed JSON: 400', async () => {
  for (const body of ['{"messages": [', 'not json', '[1, 2]', '']) {
    const { status, json } = await post('/v1/chat/completions', body);
    assert.equal(status, 400, body);
    assertErrorShape(json);
    assert.equal(json.error.type, 'invalid_request_error');
  }
});

test('wrong types and values: 400 naming the parameter', async () => {
  const msgs = [{ role: 'user', content: 'hi' }];
  const cases = [
    [{ messages: 'hi' }, 'messages'],
    [{}, 'messages'],
    [{ messages: [] }, 'messages'],
    [{ messages: [{ role: 'wizard', content: 'x' }] }, 'messages[0].role'],
    [{ messages: [{ role: 'user', content: 5 }] }, 'messages[0].content'],
    [{ messages: msgs, temperature: 'hot' }, 'temperature'],
    [{ messages: msgs, temperature: 3 }, 'temperature'],
    [{ messages: msgs, max_tokens: -1 }, 'max_tokens'],
    [{ messages: msgs, max_tokens: 1.5 }, 'max_tokens'],
    [{ messages: msgs, top_p: 0 }, 'top_p'],
    [{ messages: msgs, n: 0 }, 'n'],
    [{ messages: msgs, n: 2 }, 'n'],  // more than --parallel
    [{ messages: msgs, stop: [1] }, 'stop'],
    [{ messages: msgs, logit_bias: { 'abc': 1 } }, 'logit_bias'],
    [{ messages: msgs, logit_bias: { '99999999': 1 } }, 'logit_bias'],
    [{ messages: msgs, logit_bias: { '5': 101 } }, 'logit_bias'],
    [{ messages: msgs, stream: 'yes' }, 'stream'],
    [{ messages: msgs, tools: {} }, 'tools'],
    [{ messages: msgs, tool_choice: 'required' }, 'tool_choice'],
    [{ messages: msgs, top_logprobs: 2 }, 'top_logprobs'],
    [{ messages: msgs, chat_template_kwargs: { enable_thinking: 'no' } }, 'enable_thinking'],
    [{ messages: msgs, seed: 'x' }, 'seed'],
  ];
  for (const [body, param] of cases) {
    await assert.rejects(client.chat.completions.create({ model: 'any', ...body }), (e) => {
      assert.ok(e instanceof OpenAI.BadRequestError, `${JSON.stringify(body)}: ${e}`);
      assert.equal(e.param, param, JSON.stringify(body));
      return true;
    });
  }
  await assert.rejects(client.completions.create({ model: 'any', prompt: 42 }), OpenAI.BadRequestError);
  await assert.rejects(client.completions.create({ model: 'any', prompt: [1, -2] }), OpenAI.BadRequestError);
});

test('prompt longer than the context: 400 context_length_exceeded', async () => {
  const messages = [{ role: 'user', content: 'word '.repeat(1000) }];
  await assert.rejects(client.chat.completions.create({ model: 'any', messages }), (e) => {
    assert.equal(e.status, 400);
    assert.equal(e.code, 'context_length_exceeded');
    return true;
  });
});

test('invalid UTF-8: 400', async () => {
  const bytes = Buffer.concat([Buffer.from('{"messages":[{"role":"user","content":"a'), Buffer.from([0xff, 0xfe]), Buffer.from('"}]}')]);
  const { status, json } = await post('/v1/chat/completions', bytes);
  assert.equal(status, 400);
  assertErrorShape(json);
  const lone = await post('/v1/completions', '{"prompt": "\\ud800"}');  // a lone surrogate escape
  assert.equal(lone.status, 400);
  assertErrorShape(lone.json);
});

test('oversize body: 413', async () => {
  const body = JSON.stringify({ messages: [{ role: 'user', content: 'x'.repeat(100 * 1024) }] });
  const { status, json } = await post('/v1/chat/completions', body);
  assert.equal(status, 413);
  assertErrorShape(json);
});

test('unknown route: 404', async () => {
  const r = await fetch(`${server.base}/v1/nothing`, { headers: auth });
  assert.equal(r.status, 404);
  assertErrorShape(await r.json());
  await assert.rejects(client.models.retrieve('no-such-model'), OpenAI.NotFoundError);
});

test('queue full: 429 with a clear message', async () => {
  // One slot, a queue of one: a long stream holds the slot, a second request waits, a third is refused.
  const ac = new AbortController();
  const long = await client.chat.completions.create(
    { model: 'any', messages: [{ role: 'user', content: 'long' }], max_tokens: 400, stream: true }, { signal: ac.signal });
  const it = long[Symbol.asyncIterator]();
  await it.next();  // the sequence holds the slot
  const waiting = client.chat.completions.create({ model: 'any', messages: [{ role: 'user', content: 'wait' }], max_tokens: 1 });
  await until(async () => (await metric(server.base, 'qwen3_queue_depth', auth)) === 1, 'the second request to queue');
  await assert.rejects(
    client.chat.completions.create({ model: 'any', messages: [{ role: 'user', content: 'refused' }], max_tokens: 1 }),
    (e) => {
      assert.ok(e instanceof OpenAI.RateLimitError, String(e));
      assert.match(e.message, /queue is full/);
      return true;
    });
  ac.abort();
  const r = await waiting;  // the queued request runs once the aborted one frees the slot
  assert.equal(r.usage.completion_tokens, 1);
});

test('model still loading: 503, then served', async () => {
  // The 0.6B-shaped model quantised at load takes a few hundred milliseconds to load: long enough to be asked.
  const loading = await startServer(['--dtype', 'q4_0'], { model: BIG_MODEL, whenListening: true });
  try {
    const health = await fetch(`${loading.base}/health`);
    assert.equal(health.status, 503);
    assert.deepEqual(await health.json(), { status: 'loading' });
    const c = loading.client();
    await assert.rejects(
      c.chat.completions.create({ model: 'any', messages: [{ role: 'user', content: 'hi' }], max_tokens: 1 }),
      (e) => {
        assert.ok(e instanceof OpenAI.InternalServerError, String(e));
        assert.equal(e.status, 503);
        assert.equal(e.code, 'model_loading');
        return true;
      });
    await until(async () => (await fetch(`${loading.base}/health`)).status === 200, 'the model to load', 60000);
    const r = await c.chat.completions.create({ model: 'any', messages: [{ role: 'user', content: 'hi' }], max_tokens: 1 });
    assert.equal(r.usage.completion_tokens, 1);
  } finally {
    assert.equal(await loading.stop(), 0);
  }
});

test('sampling values that are 0 or infinite as 32-bit floats: 400 naming the field, then still serving', async () => {
  // 1e-320 is a double inside (0, 1] but 0 as the float the sampler computes with; such a request used to fail
  // inside the scheduler, never to be answered, and to leak its slot (issue 23). The bodies are sent raw, so
  // the numbers arrive as written.
  const cases = [['top_p', '1e-320'], ['top_p', '1e-46'], ['repetition_penalty', '1e-320'], ['presence_penalty', '1e39']];
  const send = (body) => fetch(`${server.base}/v1/chat/completions`,
    { method: 'POST', headers: auth, body, signal: AbortSignal.timeout(30000) });
  for (const [param, value] of cases) {
    const body = `{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 1, "${param}": ${value}}`;
    const res = await send(body);
    assert.equal(res.status, 400, body);
    const json = await res.json();
    assertErrorShape(json);
    assert.equal(json.error.param, param, body);
  }
  const res = await send('{"messages": [{"role": "user", "content": "hi"}], "logit_bias": {" 5": 1}}');
  assert.equal(res.status, 400);
  assert.equal((await res.json()).error.param, 'logit_bias');
  // --parallel 1: a leaked slot would leave these waiting for ever.
  for (let i = 0; i < 2; ++i) {
    const r = await client.chat.completions.create(
      { model: 'any', messages: [{ role: 'user', content: 'still there?' }], max_tokens: 2 }, { timeout: 60000 });
    assert.equal(r.usage.completion_tokens, 2);
  }
});
