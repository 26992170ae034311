// The official `openai` client (v5) against qwen3 serve: chat completions (streamed tool calls in OpenAI's shape,
// one entry per delta), legacy completions echo, enum validation, unsupported routes (501), and the Responses
// API: text, streaming event order, reasoning items, a function-call round trip by previous_response_id and by
// full input, retrieve/delete, and errors.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startServer, forceSequence, OUT, WEATHER_ARGS, WEATHER_TOOL_SCHEMA } from './harness.js';

let server, client;
before(async () => {
  server = await startServer();
  client = new OpenAI({ baseURL: `${server.base}/v1`, apiKey: 'none', maxRetries: 0 });
});
after(async () => assert.equal(await server.stop(), 0));

const chatTool = { type: 'function', function: { name: 'f', parameters: WEATHER_TOOL_SCHEMA } };
const respTool = { type: 'function', name: 'f', parameters: WEATHER_TOOL_SCHEMA, strict: false };

test('chat: streamed tool call arrives as OpenAI streams it', async () => {
  const stream = await client.chat.completions.create({
    model: 'm', messages: [{ role: 'user', content: 'Weather in Paris?' }], tools: [chatTool], stream: true,
    ...forceSequence(OUT.weatherCall),
  });
  const entries = [];
  let finish;
  for await (const c of stream) {
    const tc = c.choices[0]?.delta?.tool_calls;
    if (tc) {
      assert.equal(tc.length, 1, 'one tool_calls entry per delta');
      entries.push(tc[0]);
    }
    finish = c.choices[0]?.finish_reason ?? finish;
  }
  assert.equal(finish, 'tool_calls');
  assert.ok(entries.length >= 3, `head plus argument pieces, got ${entries.length}`);
  const [head, ...rest] = entries;
  assert.equal(head.index, 0);
  assert.match(head.id, /^call_/);
  assert.equal(head.type, 'function');
  assert.equal(head.function.name, 'f');
  assert.equal(head.function.arguments, '');
  for (const e of rest) {
    assert.deepEqual(Object.keys(e).sort(), ['function', 'index']);
    assert.deepEqual(Object.keys(e.function), ['arguments']);
  }
  assert.equal(rest.map((e) => e.function.arguments).join(''), WEATHER_ARGS);
  // The non-streamed answer carries the same call.
  const full = await client.chat.completions.create({
    model: 'm', messages: [{ role: 'user', content: 'Weather in Paris?' }], tools: [chatTool], ...forceSequence(OUT.weatherCall),
  });
  assert.equal(full.choices[0].message.tool_calls[0].function.arguments, WEATHER_ARGS);
});

test('completions: echo returns the prompt before the completion', async () => {
  const r = await client.completions.create({ model: 'm', prompt: 'Hello there', max_tokens: 2, echo: true, ...forceSequence(OUT.hi) });
  assert.equal(r.choices[0].text, 'Hello thereHi');
  const chunks = [];
  for await (const c of await client.completions.create({ model: 'm', prompt: 'Hello there', max_tokens: 2, echo: true, stream: true, ...forceSequence(OUT.hi) }))
    chunks.push(c.choices[0]?.text ?? '');
  assert.equal(chunks[0], 'Hello there');
  assert.equal(chunks.join(''), 'Hello thereHi');
});

test('unknown enum values are a 400 naming the field', async () => {
  const cases = [
    [{ response_format: { type: 'xml' } }, 'response_format.type'],
    [{ reasoning_effort: 'extreme' }, 'reasoning_effort'],
    [{ service_tier: 'gold' }, 'service_tier'],
    [{ modalities: ['text', 'smell'] }, 'modalities'],
  ];
  for (const [extra, param] of cases) {
    await assert.rejects(
      client.chat.completions.create({ model: 'm', messages: [{ role: 'user', content: 'x' }], max_tokens: 1, ...extra }),
      (e) => e.status === 400 && e.param === param && /Invalid value|not supported/.test(e.message),
      JSON.stringify(extra));
  }
});

test('embeddings and other unsupported routes: 501 naming the reason', async () => {
  await assert.rejects(client.embeddings.create({ model: 'm', input: 'x' }),
    (e) => e.status === 501 && /not an embedding model/.test(e.message) && e.type === 'not_supported_error');
  const r = await fetch(`${server.base}/v1/audio/speech`, { method: 'POST', body: '{}' });
  assert.equal(r.status, 501);
  assert.match((await r.json()).error.message, /text-only/);
  assert.equal((await fetch(`${server.base}/v1/nothing`)).status, 404);
});

test('responses: text output, usage, retrieve and delete', async () => {
  const r = await client.responses.create({ model: 'm', input: 'Say hi', instructions: 'Be brief.', ...forceSequence(OUT.hi) });
  assert.equal(r.object, 'response');
  assert.match(r.id, /^resp_/);
  assert.equal(r.status, 'completed');
  assert.equal(r.output_text, 'Hi');
  assert.equal(r.output.length, 1);
  assert.equal(r.output[0].type, 'message');
  assert.equal(r.output[0].content[0].type, 'output_text');
  assert.equal(r.instructions, 'Be brief.');
  assert.equal(r.usage.output_tokens, 1);
  assert.equal(r.usage.total_tokens, r.usage.input_tokens + 1);
  const again = await client.responses.retrieve(r.id);
  assert.equal(again.output_text, 'Hi');
  await client.responses.delete(r.id);
  await assert.rejects(client.responses.retrieve(r.id), (e) => e.status === 404);
  const cut = await client.responses.create({ model: 'm', input: 'x', max_output_tokens: 2, temperature: 0 });
  assert.equal(cut.status, 'incomplete');
  assert.equal(cut.incomplete_details.reason, 'max_output_tokens');
});

test('responses: streaming events in OpenAI order, reasoning as a reasoning item', async () => {
  const stream = await client.responses.create({ model: 'm', input: 'Think, then say hi', stream: true, ...forceSequence(OUT.thinkThenHi) });
  const events = [];
  for await (const e of stream) events.push(e);
  const types = events.map((e) => e.type);
  assert.deepEqual(types, [
    'response.created', 'response.in_progress',
    'response.output_item.added', 'response.content_part.added', 'response.reasoning_text.delta',
    'response.reasoning_text.done', 'response.content_part.done', 'response.output_item.done',
    'response.output_item.added', 'response.content_part.added', 'response.output_text.delta',
    'response.output_text.done', 'response.content_part.done', 'response.output_item.done',
    'response.completed',
  ]);
  events.forEach((e, i) => assert.equal(e.sequence_number, i));
  const done = events.at(-1).response;
  assert.equal(done.output[0].type, 'reasoning');
  assert.equal(done.output[0].content[0].text, ' hmm');
  assert.equal(done.output[1].content[0].text, 'Hi');
  assert.equal(done.usage.output_tokens_details.reasoning_tokens, 3);
  // reasoning.summary asks for the reasoning as summary text (what the AI SDK reads).
  const s = await client.responses.create({ model: 'm', input: 'x', reasoning: { effort: 'high', summary: 'auto' }, ...forceSequence(OUT.thinkThenHi) });
  assert.equal(s.output[0].summary[0].text, ' hmm');
});

test('responses: function-call round trip, by previous_response_id and by full input', async () => {
  const first = await client.responses.create({ model: 'm', input: 'Weather in Paris?', tools: [respTool], ...forceSequence(OUT.weatherCall) });
  const call = first.output.find((o) => o.type === 'function_call');
  assert.ok(call, JSON.stringify(first.output));
  assert.equal(call.name, 'f');
  assert.equal(call.arguments, WEATHER_ARGS);
  assert.match(call.call_id, /^call_/);
  const output = { type: 'function_call_output', call_id: call.call_id, output: 'sunny, 24 C' };
  const second = await client.responses.create({
    model: 'm', previous_response_id: first.id, input: [output], tools: [respTool], ...forceSequence(OUT.sunny),
  });
  assert.equal(second.output_text, 'The weather in Paris is sunny.');
  assert.equal(second.previous_response_id, first.id);
  // The same conversation sent whole (store: false): the same prompt, so the same input token count.
  const whole = await client.responses.create({
    model: 'm', store: false, tools: [respTool], ...forceSequence(OUT.sunny),
    input: [{ role: 'user', content: 'Weather in Paris?' }, { type: 'function_call', call_id: call.call_id, name: call.name, arguments: call.arguments }, output],
  });
  assert.equal(whole.output_text, 'The weather in Paris is sunny.');
  assert.equal(whole.usage.input_tokens, second.usage.input_tokens);
  await assert.rejects(client.responses.retrieve(whole.id), (e) => e.status === 404);  // store: false
  // Streamed: the call's arguments as function_call_arguments.delta events.
  const events = [];
  for await (const e of await client.responses.create({ model: 'm', input: 'Weather?', tools: [respTool], stream: true, ...forceSequence(OUT.weatherCall) }))
    events.push(e);
  const deltas = events.filter((e) => e.type === 'response.function_call_arguments.delta').map((e) => e.delta);
  assert.ok(deltas.length >= 2);
  assert.equal(deltas.join(''), WEATHER_ARGS);
  assert.equal(events.find((e) => e.type === 'response.function_call_arguments.done').arguments, WEATHER_ARGS);
});

test('responses: bad input is a 400 or 404 in OpenAI shape', async () => {
  await assert.rejects(client.responses.create({ model: 'm', previous_response_id: 'resp_gone', input: 'x' }),
    (e) => e.status === 404 && e.code === 'previous_response_not_found');
  await assert.rejects(client.responses.create({ model: 'm', input: [{ type: 'input_image', image_url: 'x' }] }), (e) => e.status === 400);
  await assert.rejects(client.responses.create({ model: 'm', input: 'x', tools: [{ type: 'web_search' }] }),
    (e) => e.status === 400 && /only tools of type 'function'/.test(e.message));
  await assert.rejects(client.responses.create({ model: 'm', input: 'x', reasoning: { effort: 'max' } }),
    (e) => e.status === 400 && e.param === 'reasoning.effort');
  await assert.rejects(client.responses.create({ model: 'm', input: 'x', text: { format: { type: 'yaml' } } }),
    (e) => e.status === 400 && e.param === 'text.format.type');
  await assert.rejects(client.responses.create({ model: 'm' }), (e) => e.status === 400 && e.param === 'input');
});
