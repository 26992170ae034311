// The `ollama` npm client against qwen3 serve's Ollama API on the same port: chat, generate, streaming (NDJSON),
// tools, think, list/show/ps/version, errors in Ollama's shape, --no-ollama-api.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { Ollama } from 'ollama';
import { startServer, forceSequence, OUT, WEATHER_TOOL_SCHEMA } from './harness.js';

let server, ollama;
before(async () => {
  server = await startServer();
  ollama = new Ollama({ host: server.base });
});
after(async () => assert.equal(await server.stop(), 0));

// Ollama has no logit_bias: qwen3 serve takes it among the options (an extension), as the tests need.
const options = (out) => forceSequence(out);
const weatherTool = { type: 'function', function: { name: 'f', description: 'Weather in a city', parameters: WEATHER_TOOL_SCHEMA } };

test('chat, non-streamed and streamed', async () => {
  const r = await ollama.chat({ model: 'qwen3', messages: [{ role: 'user', content: 'Say hi' }], options: options(OUT.hi) });
  assert.equal(r.message.role, 'assistant');
  assert.equal(r.message.content, 'Hi');
  assert.equal(r.done, true);
  assert.equal(r.done_reason, 'stop');
  assert.equal(r.eval_count, 1);
  assert.ok(r.prompt_eval_count > 0);
  const parts = [];
  let last;
  for await (const c of await ollama.chat({ model: 'qwen3', messages: [{ role: 'user', content: 'Weather?' }], stream: true, options: options(OUT.sunny) })) {
    parts.push(c.message.content);
    last = c;
  }
  assert.ok(parts.length > 2);
  assert.equal(parts.join(''), 'The weather in Paris is sunny.');
  assert.equal(last.done, true);
  const cut = await ollama.chat({ model: 'qwen3', messages: [{ role: 'user', content: 'x' }], options: { num_predict: 2, temperature: 0 } });
  assert.equal(cut.done_reason, 'length');
  assert.equal(cut.eval_count, 2);
});

test('generate, templated and raw, streamed', async () => {
  const r = await ollama.generate({ model: 'qwen3', prompt: 'Say hi', system: 'Be brief.', options: options(OUT.hi) });
  assert.equal(r.response, 'Hi');
  assert.ok(Array.isArray(r.context) && r.context.length > 0);
  const parts = [];
  for await (const c of await ollama.generate({ model: 'qwen3', prompt: 'The weather', raw: true, stream: true, options: { ...options(OUT.sunny), num_predict: 7 } }))
    parts.push(c.response);
  assert.equal(parts.join(''), 'The weather in Paris is sunny.');
});

test('think: thinking in its own field, or none', async () => {
  const r = await ollama.chat({ model: 'qwen3', messages: [{ role: 'user', content: 'Think, then say hi' }], think: true, options: options(OUT.thinkThenHi) });
  assert.equal(r.message.thinking.trim(), 'hmm');
  assert.equal(r.message.content, 'Hi');
  const thinking = [];
  for await (const c of await ollama.chat({ model: 'qwen3', messages: [{ role: 'user', content: 'x' }], think: true, stream: true, options: options(OUT.thinkThenHi) }))
    if (c.message.thinking) thinking.push(c.message.thinking);
  assert.equal(thinking.join('').trim(), 'hmm');
  // think: false renders the prompt with thinking off (Qwen3's template adds an empty think block).
  const on = await fetch(`${server.base}/api/chat`, { method: 'POST', body: JSON.stringify({ model: 'q', stream: false, think: true, messages: [{ role: 'user', content: 'x' }], options: { num_predict: 1 } }) }).then((x) => x.json());
  const off = await fetch(`${server.base}/api/chat`, { method: 'POST', body: JSON.stringify({ model: 'q', stream: false, think: false, messages: [{ role: 'user', content: 'x' }], options: { num_predict: 1 } }) }).then((x) => x.json());
  assert.ok(off.prompt_eval_count > on.prompt_eval_count, `${off.prompt_eval_count} vs ${on.prompt_eval_count}`);
});

test('tools: a call with object arguments, then the answer from its result', async () => {
  const messages = [{ role: 'user', content: 'Weather in Paris?' }];
  const r = await ollama.chat({ model: 'qwen3', messages, tools: [weatherTool], options: options(OUT.weatherCall) });
  assert.equal(r.message.tool_calls.length, 1);
  assert.equal(r.message.tool_calls[0].function.name, 'f');
  assert.deepEqual(r.message.tool_calls[0].function.arguments, {});
  const streamed = [];
  for await (const c of await ollama.chat({ model: 'qwen3', messages, tools: [weatherTool], stream: true, options: options(OUT.weatherCall) }))
    if (c.message.tool_calls) streamed.push(...c.message.tool_calls);
  assert.equal(streamed.length, 1);
  assert.deepEqual(streamed[0].function.arguments, {});
  const answer = await ollama.chat({
    model: 'qwen3', tools: [weatherTool], options: options(OUT.sunny),
    messages: [...messages, r.message, { role: 'tool', content: 'sunny, 24 C', tool_name: 'f' }],
  });
  assert.equal(answer.message.content, 'The weather in Paris is sunny.');
});

test('list, show, ps, version', async () => {
  const tags = await ollama.list();
  assert.equal(tags.models.length, 1);
  assert.equal(tags.models[0].details.family, 'qwen3');
  const show = await ollama.show({ model: tags.models[0].name });
  assert.ok(show.capabilities.includes('tools'));
  assert.match(show.template, /im_start/);
  assert.equal(show.model_info['general.architecture'], 'qwen3');
  const ps = await ollama.ps();
  assert.equal(ps.models[0].name, tags.models[0].name);
  assert.match((await ollama.version()).version, /^\d+\.\d+\.\d+$/);
  assert.equal(await (await fetch(`${server.base}/`)).text(), 'Ollama is running');
});

test('errors in Ollama\'s shape', async () => {
  await assert.rejects(ollama.chat({ model: 'qwen3', messages: [] }), (e) => e.status_code === 400 && /messages/.test(e.error));
  const r = await fetch(`${server.base}/api/chat`, { method: 'POST', body: '{bad' });
  assert.equal(r.status, 400);
  assert.equal(typeof (await r.json()).error, 'string');
  const e = await fetch(`${server.base}/api/embed`, { method: 'POST', body: '{}' });
  assert.equal(e.status, 501);
  assert.match((await e.json()).error, /not an embedding model/);
  await assert.rejects(ollama.pull({ model: 'x' }), (err) => err.status_code === 501);
});

test('--no-ollama-api leaves the routes out', async () => {
  const s = await startServer(['--no-ollama-api']);
  try {
    const r = await fetch(`${s.base}/api/tags`);
    assert.equal(r.status, 404);
    const root = await fetch(`${s.base}/`);  // the chat page (issue 21), not Ollama's "Ollama is running"
    assert.equal(root.status, 200);
    assert.match(root.headers.get('content-type'), /^text\/html/);
    assert.notEqual(await root.text(), 'Ollama is running');
    assert.equal((await fetch(`${s.base}/v1/models`)).status, 200);
  } finally {
    assert.equal(await s.stop(), 0);
  }
  const bare = await startServer(['--no-ollama-api', '--no-webui']);
  try {
    assert.equal((await fetch(`${bare.base}/`)).status, 404);
  } finally {
    assert.equal(await bare.stop(), 0);
  }
});
