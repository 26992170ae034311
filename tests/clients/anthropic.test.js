// The `@anthropic-ai/sdk` client against qwen3 serve's Messages API: create, stream (events and the SDK's
// accumulated message), a tool_use round trip, thinking with budget_tokens, stop_sequences, x-api-key, and
// errors in Anthropic's shape.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';
import { startServer, forceSequence, OUT, TOK, WEATHER_TOOL_SCHEMA } from './harness.js';

let server, client;
before(async () => {
  server = await startServer(['--api-key', 'sk-test']);
  client = new Anthropic({ baseURL: server.base, apiKey: 'sk-test', maxRetries: 0 });
});
after(async () => assert.equal(await server.stop(), 0));

// Anthropic's API has no logit_bias; qwen3 serve accepts it (and presence_penalty) as extensions.
const force = (out) => forceSequence(out);
const weatherTool = { name: 'f', description: 'Weather in a city', input_schema: WEATHER_TOOL_SCHEMA };

test('messages.create: text, usage, stop reasons', async () => {
  const r = await client.messages.create({ model: 'claude-x', max_tokens: 16, system: 'Be brief.', messages: [{ role: 'user', content: 'Say hi' }], ...force(OUT.hi) });
  assert.equal(r.type, 'message');
  assert.equal(r.role, 'assistant');
  assert.match(r.id, /^msg_/);
  assert.deepEqual(r.content, [{ type: 'text', text: 'Hi' }]);
  assert.equal(r.stop_reason, 'end_turn');
  assert.equal(r.usage.output_tokens, 1);
  assert.ok(r.usage.input_tokens > 0);
  const cut = await client.messages.create({ model: 'c', max_tokens: 3, messages: [{ role: 'user', content: 'Weather?' }], ...force(OUT.sunny) });
  assert.equal(cut.stop_reason, 'max_tokens');
  assert.equal(cut.content[0].text, 'The weather in');
  const stopped = await client.messages.create({ model: 'c', max_tokens: 16, stop_sequences: [' Paris'], messages: [{ role: 'user', content: 'Weather?' }], ...force(OUT.sunny) });
  assert.equal(stopped.stop_reason, 'stop_sequence');
  assert.equal(stopped.stop_sequence, ' Paris');
  assert.equal(stopped.content[0].text, 'The weather in');
});

test('messages.stream: events in order and the accumulated message', async () => {
  const stream = client.messages.stream({ model: 'c', max_tokens: 16, messages: [{ role: 'user', content: 'Weather?' }], ...force(OUT.sunny) });
  const types = [];
  stream.on('streamEvent', (e) => types.push(e.type));
  const msg = await stream.finalMessage();
  assert.equal(msg.content[0].text, 'The weather in Paris is sunny.');
  assert.equal(msg.stop_reason, 'end_turn');
  assert.equal(types[0], 'message_start');
  assert.equal(types[1], 'content_block_start');
  assert.ok(types.filter((t) => t === 'content_block_delta').length > 2);
  assert.deepEqual(types.slice(-3), ['content_block_stop', 'message_delta', 'message_stop']);
});

test('tool_use round trip, streamed input as input_json_delta', async () => {
  const messages = [{ role: 'user', content: 'Weather in Paris?' }];
  const r = await client.messages.create({ model: 'c', max_tokens: 64, tools: [weatherTool], messages, ...force(OUT.weatherCall) });
  assert.equal(r.stop_reason, 'tool_use');
  const use = r.content.find((b) => b.type === 'tool_use');
  assert.equal(use.name, 'f');
  assert.deepEqual(use.input, {});
  const partial = [];
  const stream = client.messages.stream({ model: 'c', max_tokens: 64, tools: [weatherTool], messages, ...force(OUT.weatherCall) });
  stream.on('inputJson', (delta) => partial.push(delta));
  const streamed = await stream.finalMessage();
  assert.ok(partial.length >= 2);
  assert.deepEqual(streamed.content.find((b) => b.type === 'tool_use').input, {});
  const answer = await client.messages.create({
    model: 'c', max_tokens: 64, tools: [weatherTool], ...force(OUT.sunny),
    messages: [...messages, { role: 'assistant', content: r.content }, { role: 'user', content: [{ type: 'tool_result', tool_use_id: use.id, content: 'sunny, 24 C' }] }],
  });
  assert.equal(answer.content[0].text, 'The weather in Paris is sunny.');
  assert.equal(answer.stop_reason, 'end_turn');
});

test('thinking with budget_tokens: thinking blocks, the budget enforced', async () => {
  const r = await client.messages.create({ model: 'c', max_tokens: 64, thinking: { type: 'enabled', budget_tokens: 32 }, messages: [{ role: 'user', content: 'x' }], ...force(OUT.thinkThenHi) });
  assert.equal(r.content[0].type, 'thinking');
  assert.equal(r.content[0].thinking.trim(), 'hmm');
  assert.deepEqual(r.content[1], { type: 'text', text: 'Hi' });
  const kinds = [];
  const stream = client.messages.stream({ model: 'c', max_tokens: 64, thinking: { type: 'enabled', budget_tokens: 32 }, messages: [{ role: 'user', content: 'x' }], ...force(OUT.thinkThenHi) });
  stream.on('streamEvent', (e) => e.type === 'content_block_delta' && kinds.push(e.delta.type));
  const m = await stream.finalMessage();
  assert.equal(m.content[0].thinking.trim(), 'hmm');
  assert.ok(kinds.includes('thinking_delta') && kinds.includes('text_delta'));
  // A long think block is cut at the budget: the forced thought stops, </think> follows.
  const cut = await client.messages.create({ model: 'c', max_tokens: 200, thinking: { type: 'enabled', budget_tokens: 4 }, messages: [{ role: 'user', content: 'x' }], ...force([TOK.thinkOpen, ...OUT.sunny]) });
  assert.equal(cut.content[0].type, 'thinking');
  assert.ok(!cut.content[0].thinking.includes('sunny'), cut.content[0].thinking);
  // Anthropic's rule: max_tokens must exceed the budget.
  await assert.rejects(client.messages.create({ model: 'c', max_tokens: 8, thinking: { type: 'enabled', budget_tokens: 8 }, messages: [{ role: 'user', content: 'x' }] }),
    (e) => e.status === 400 && /budget_tokens/.test(e.message));
});

test('authentication and errors in Anthropic\'s shape', async () => {
  const wrong = new Anthropic({ baseURL: server.base, apiKey: 'nope', maxRetries: 0 });
  await assert.rejects(wrong.messages.create({ model: 'c', max_tokens: 4, messages: [{ role: 'user', content: 'x' }] }),
    (e) => e.status === 401 && e.error?.type === 'error' && e.error.error.type === 'authentication_error');
  await assert.rejects(client.messages.create({ model: 'c', messages: [{ role: 'user', content: 'x' }] }),
    (e) => e.status === 400 && e.error.error.type === 'invalid_request_error' && /max_tokens/.test(e.message));
  await assert.rejects(client.messages.create({ model: 'c', max_tokens: 4, messages: [{ role: 'user', content: [{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AA==' } }] }] }),
    (e) => e.status === 400 && /text only/.test(e.message));
  const count = await client.messages.countTokens({ model: 'c', messages: [{ role: 'user', content: 'Say hi' }] });
  assert.ok(count.input_tokens > 0);
});
