// @langchain/openai's ChatOpenAI against qwen3 serve: invoke, stream, bindTools with a tool round trip
// (chat completions), and reasoning through the Responses API (useResponsesApi; LangChain reads reasoning
// only from there: chat completions' reasoning_content is not surfaced by this client).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { ChatOpenAI } from '@langchain/openai';
import { HumanMessage, ToolMessage } from '@langchain/core/messages';
import { startServer, forceSequence, OUT, WEATHER_TOOL_SCHEMA } from './harness.js';

let server;
before(async () => (server = await startServer()));
after(async () => assert.equal(await server.stop(), 0));

const llm = (out, extra = {}) => {
  const f = forceSequence(out);
  return new ChatOpenAI({
    model: 'gpt-4o', apiKey: 'none', configuration: { baseURL: `${server.base}/v1` }, maxRetries: 0,
    temperature: 0, presencePenalty: f.presence_penalty, logitBias: f.logit_bias, ...extra,
  });
};
const weatherTool = { type: 'function', function: { name: 'f', description: 'Weather in a city', parameters: WEATHER_TOOL_SCHEMA } };

test('invoke', async () => {
  const r = await llm(OUT.hi).invoke('Say hi');
  assert.equal(r.content, 'Hi');
  assert.equal(r.usage_metadata.output_tokens, 1);
});

test('stream', async () => {
  const parts = [];
  for await (const c of await llm(OUT.sunny).stream('Weather?')) parts.push(c.content);
  assert.ok(parts.length > 1);
  assert.equal(parts.join(''), 'The weather in Paris is sunny.');
});

test('bindTools: a tool call, then the answer from its result', async () => {
  const human = new HumanMessage('Weather in Paris?');
  const ai = await llm(OUT.weatherCall).bindTools([weatherTool]).invoke([human]);
  assert.equal(ai.tool_calls.length, 1);
  assert.equal(ai.tool_calls[0].name, 'f');
  assert.deepEqual(ai.tool_calls[0].args, {});
  const answer = await llm(OUT.sunny).bindTools([weatherTool]).invoke([
    human, ai, new ToolMessage({ tool_call_id: ai.tool_calls[0].id, content: 'sunny, 24 C' }),
  ]);
  assert.equal(answer.content, 'The weather in Paris is sunny.');
  // Streamed: tool_call_chunks reassemble to the same call.
  let acc;
  for await (const c of await llm(OUT.weatherCall).bindTools([weatherTool]).stream([human])) acc = acc ? acc.concat(c) : c;
  assert.equal(acc.tool_calls.length, 1);
  assert.deepEqual(acc.tool_calls[0].args, {});
});

test('reasoning through the Responses API', async () => {
  const f = forceSequence(OUT.thinkThenHi);
  const model = new ChatOpenAI({
    model: 'o4-mini', apiKey: 'none', configuration: { baseURL: `${server.base}/v1` }, maxRetries: 0, useResponsesApi: true,
    reasoning: { effort: 'high', summary: 'auto' }, modelKwargs: { logit_bias: f.logit_bias, presence_penalty: f.presence_penalty },
  });
  const r = await model.invoke('Think, then say hi');
  const text = typeof r.content === 'string' ? r.content : r.content.map((p) => p.text ?? '').join('');
  assert.equal(text, 'Hi');
  assert.equal(r.additional_kwargs.reasoning.summary.map((s) => s.text).join('').trim(), 'hmm');
});
