// @llamaindex/openai against qwen3 serve: chat, streamed chat, and a streamed tool call (the client reads only
// delta.tool_calls[0] of each chunk and parses the arguments it gathered: OpenAI's one-entry-per-delta shape).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { OpenAI } from '@llamaindex/openai';
import { startServer, forceSequence, OUT, WEATHER_TOOL_SCHEMA } from './harness.js';

let server;
before(async () => (server = await startServer()));
after(async () => assert.equal(await server.stop(), 0));

const llm = (out) => {
  const f = forceSequence(out);
  return new OpenAI({
    model: 'gpt-4o', apiKey: 'none', baseURL: `${server.base}/v1`, temperature: 0, maxRetries: 0,
    additionalChatOptions: { logit_bias: f.logit_bias, presence_penalty: f.presence_penalty },
  });
};
const weatherTool = {
  metadata: { name: 'f', description: 'Weather in a city', parameters: WEATHER_TOOL_SCHEMA },
  call: async () => 'sunny',
};

test('chat', async () => {
  const r = await llm(OUT.hi).chat({ messages: [{ role: 'user', content: 'Say hi' }] });
  assert.equal(r.message.content, 'Hi');
});

test('streamed chat', async () => {
  const parts = [];
  for await (const c of await llm(OUT.sunny).chat({ messages: [{ role: 'user', content: 'Weather?' }], stream: true })) parts.push(c.delta);
  assert.equal(parts.join(''), 'The weather in Paris is sunny.');
});

test('streamed tool call', async () => {
  let last;
  const stream = await llm(OUT.weatherCall).chat({ messages: [{ role: 'user', content: 'Weather in Paris?' }], tools: [weatherTool], stream: true });
  for await (const c of stream) if (c.options?.toolCall) last = c.options.toolCall;
  assert.equal(last.length, 1);
  assert.equal(last[0].name, 'f');
  assert.deepEqual(last[0].input, {});
  const r = await llm(OUT.weatherCall).chat({ messages: [{ role: 'user', content: 'Weather in Paris?' }], tools: [weatherTool] });
  assert.equal(r.message.options.toolCall[0].name, 'f');
  assert.equal(r.message.options.toolCall[0].input, '{}');
});
