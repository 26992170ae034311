// The Vercel AI SDK (ai v5): the default OpenAI provider (`openai(model)` calls the Responses API) and the
// OpenAI-compatible provider (chat completions): generateText, streamText, a tool round trip (two steps), and
// reasoning parts. Outputs are forced through a fetch that adds logit_bias to each request body.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { generateText, streamText, tool, stepCountIs, jsonSchema } from 'ai';
import { createOpenAI } from '@ai-sdk/openai';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { startServer, forceSequence, biasedFetch, OUT, WEATHER_TOOL_SCHEMA } from './harness.js';

let server;
before(async () => (server = await startServer()));
after(async () => assert.equal(await server.stop(), 0));

const responses = (fetch) => createOpenAI({ baseURL: `${server.base}/v1`, apiKey: 'none', fetch });
const compatible = (fetch) => createOpenAICompatible({ name: 'qwen3', baseURL: `${server.base}/v1`, apiKey: 'none', fetch });
const weather = (calls) => ({
  f: tool({
    description: 'Weather in a city',
    inputSchema: jsonSchema(WEATHER_TOOL_SCHEMA),
    execute: async (input) => {
      calls.push(input);
      return 'sunny, 24 C';
    },
  }),
});
// First request: the tool call; second (after the tool result): the answer.
const toolThenAnswer = (body, n) => forceSequence(n === 0 ? OUT.weatherCall : OUT.sunny);

for (const [name, make, path] of [['responses (default provider)', (f) => responses(f)('gpt-4o'), '/v1/responses'],
  ['openai-compatible', (f) => compatible(f).chatModel('qwen3'), '/v1/chat/completions']]) {
  test(`${name}: generateText`, async () => {
    const f = biasedFetch(forceSequence(OUT.hi));
    const r = await generateText({ model: make(f), prompt: 'Say hi', maxRetries: 0 });
    assert.equal(r.text, 'Hi');
    assert.equal(r.finishReason, 'stop');
    assert.equal(r.usage.outputTokens, 1);
    assert.ok(f.sent[0].url.endsWith(path), f.sent[0].url);
  });

  test(`${name}: streamText`, async () => {
    const f = biasedFetch(forceSequence(OUT.sunny));
    const r = streamText({ model: make(f), prompt: 'Weather?', maxRetries: 0 });
    const parts = [];
    for await (const p of r.textStream) parts.push(p);
    assert.ok(parts.length > 1);
    assert.equal(parts.join(''), 'The weather in Paris is sunny.');
    assert.equal(await r.finishReason, 'stop');
  });

  test(`${name}: tool round trip`, async () => {
    const calls = [];
    const f = biasedFetch(toolThenAnswer);
    const r = await generateText({ model: make(f), prompt: 'Weather in Paris?', tools: weather(calls), stopWhen: stepCountIs(3), maxRetries: 0 });
    assert.deepEqual(calls, [{}]);
    assert.equal(r.steps.length, 2);
    assert.equal(r.steps[0].finishReason, 'tool-calls');
    assert.equal(r.text, 'The weather in Paris is sunny.');
    assert.equal(f.sent.length, 2);
  });

  test(`${name}: streamed tool round trip`, async () => {
    const calls = [];
    const f = biasedFetch(toolThenAnswer);
    const r = streamText({ model: make(f), prompt: 'Weather in Paris?', tools: weather(calls), stopWhen: stepCountIs(3), maxRetries: 0 });
    const types = new Set();
    for await (const p of r.fullStream) types.add(p.type);
    assert.ok(types.has('tool-input-delta'), [...types].join());
    assert.ok(types.has('tool-call') && types.has('tool-result'));
    assert.deepEqual(calls, [{}]);
    assert.equal(await r.text, 'The weather in Paris is sunny.');
  });
}

test('responses (default provider): reasoning parts, and a second turn referring to stored items', async () => {
  const f = biasedFetch(forceSequence(OUT.thinkThenHi));
  // An o-series id: the provider sends reasoning settings only for models it knows reason.
  const model = responses(f)('o4-mini');
  const opts = { providerOptions: { openai: { reasoningSummary: 'auto' } }, maxRetries: 0 };
  const r = await generateText({ model, prompt: 'Think, then say hi', ...opts });
  assert.equal(r.reasoningText?.trim(), 'hmm');
  assert.equal(r.text, 'Hi');
  const s = streamText({ model, prompt: 'Think, then say hi', ...opts });
  const reasoning = [];
  for await (const p of s.fullStream) if (p.type === 'reasoning-delta') reasoning.push(p.text);
  assert.equal(reasoning.join('').trim(), 'hmm');
  // The next turn sends the earlier output as item_reference ids (store defaults to true).
  const next = await generateText({ model, messages: [{ role: 'user', content: 'Think, then say hi' }, ...r.response.messages, { role: 'user', content: 'Again' }], ...opts });
  assert.equal(next.text, 'Hi');
  assert.ok(JSON.stringify(f.sent.at(-1).body.input).includes('item_reference'));
});

test('openai-compatible: reasoning_content becomes reasoning parts', async () => {
  const f = biasedFetch(forceSequence(OUT.thinkThenHi));
  const r = await generateText({ model: compatible(f).chatModel('qwen3'), prompt: 'Think, then say hi', maxRetries: 0 });
  assert.equal(r.reasoningText?.trim(), 'hmm');
  assert.equal(r.text, 'Hi');
});
