// The OpenAI surface through the official client: chat, streaming, usage, thinking, tool calls, logprobs, stop, n,
// seed, text completions and prefix reuse. Outputs are made deterministic by greedy decoding, fixed seeds, or
// logit_bias sequences (harness.js forceSequence).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer, forceSequence, TOK } from './harness.js';

let server, client;
before(async () => {
  server = await startServer(['--parallel', '4', '--ctx', '1024']);
  client = server.client();
});
after(async () => assert.equal(await server.stop(), 0));

const user = (content) => [{ role: 'user', content }];

async function collect(stream) {
  const chunks = [];
  for await (const c of stream) chunks.push(c);
  return chunks;
}

test('models lists the served model', async () => {
  const list = await client.models.list();
  assert.equal(list.data.length, 1);
  assert.equal(list.data[0].object, 'model');
  const m = await client.models.retrieve(list.data[0].id);
  assert.equal(m.id, list.data[0].id);
});

test('chat completion: shape and usage', async () => {
  const r = await client.chat.completions.create({
    model: 'any', messages: [{ role: 'system', content: 'Be brief.' }, ...user('Hello')], max_tokens: 8, temperature: 0,
  });
  assert.equal(r.object, 'chat.completion');
  assert.match(r.id, /^chatcmpl-/);
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(typeof r.choices[0].message.content, 'string');
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.equal(r.usage.completion_tokens, 8);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + 8);
  assert.equal(typeof r.usage.prompt_tokens_details.cached_tokens, 'number');
  assert.equal(typeof r.usage.completion_tokens_details.reasoning_tokens, 'number');
});

test('content parts, developer role and unknown fields are accepted', async () => {
  const r = await client.chat.completions.create({
    model: 'any', max_completion_tokens: 2, temperature: 0, some_future_field: { x: 1 },
    messages: [{ role: 'developer', content: 'Be brief.' }, { role: 'user', content: [{ type: 'text', text: 'Hi' }] }],
  });
  assert.equal(r.usage.completion_tokens, 2);
});

test('streaming reassembles to the non-streamed answer, with a usage chunk', async () => {
  const req = { model: 'any', messages: user('Tell me a story'), max_tokens: 16, temperature: 0.9, seed: 42 };
  const full = await client.chat.completions.create(req);
  const chunks = await collect(await client.chat.completions.create({ ...req, stream: true, stream_options: { include_usage: true } }));
  const text = chunks.flatMap((c) => c.choices.map((ch) => ch.delta.content ?? '')).join('');
  assert.equal(text, full.choices[0].message.content);
  assert.equal(chunks[0].choices[0].delta.role, 'assistant');
  const last = chunks.at(-1);
  assert.deepEqual(last.choices, []);
  assert.equal(last.usage.completion_tokens, full.usage.completion_tokens);
  assert.equal(last.usage.prompt_tokens, full.usage.prompt_tokens);
  const finish = chunks.flatMap((c) => c.choices.map((ch) => ch.finish_reason)).filter((f) => f);
  assert.deepEqual(finish, ['length']);
  for (const c of chunks.slice(0, -1)) assert.equal(c.usage, null);
});

test('thinking on: reasoning_content is split from content (streamed and not)', async () => {
  const req = {
    model: 'any', messages: user('Think first'), max_tokens: 10, chat_template_kwargs: { enable_thinking: true },
    ...forceSequence([TOK.thinkOpen, TOK.hmm, TOK.thinkClose, TOK.hi, TOK.endOfText]),
  };
  const r = await client.chat.completions.create(req);
  assert.equal(r.choices[0].message.reasoning_content.trim(), 'hmm');
  assert.equal(r.choices[0].message.content, 'Hi');
  assert.equal(r.choices[0].finish_reason, 'stop');
  assert.equal(r.usage.completion_tokens, 4);
  assert.equal(r.usage.completion_tokens_details.reasoning_tokens, 3);
  const chunks = await collect(await client.chat.completions.create({ ...req, stream: true }));
  const reasoning = chunks.map((c) => c.choices[0]?.delta.reasoning_content ?? '').join('');
  const content = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
  assert.equal(reasoning, r.choices[0].message.reasoning_content);
  assert.equal(content, 'Hi');
});

test('thinking off through chat_template_kwargs and reasoning_effort none', async () => {
  const base = { model: 'any', messages: user('No thinking'), max_tokens: 10, ...forceSequence([TOK.hi, TOK.endOfText]) };
  const off = await client.chat.completions.create({ ...base, chat_template_kwargs: { enable_thinking: false } });
  assert.equal(off.choices[0].message.content, 'Hi');
  assert.equal(off.choices[0].message.reasoning_content, undefined);
  assert.equal(off.usage.completion_tokens_details.reasoning_tokens, 0);
  const on = await client.chat.completions.create(base);
  const effort = await client.chat.completions.create({ ...base, reasoning_effort: 'none' });
  // The template writes an empty think block when thinking is off: the prompt is longer than with thinking on.
  assert.equal(effort.usage.prompt_tokens, off.usage.prompt_tokens);
  assert.ok(off.usage.prompt_tokens > on.usage.prompt_tokens);
});

const tools = [{
  type: 'function',
  function: { name: 'f', description: 'A test function', parameters: { type: 'object', properties: {} } },
}];
const toolReq = {
  model: 'any', messages: user('Call f'), tools, max_tokens: 20,
  ...forceSequence([TOK.toolCallOpen, ...TOK.toolJson, TOK.toolCallClose, TOK.endOfText]),
};

test('tool calls (non-streamed)', async () => {
  const r = await client.chat.completions.create(toolReq);
  const m = r.choices[0].message;
  assert.equal(r.choices[0].finish_reason, 'tool_calls');
  assert.equal(m.content, null);
  assert.equal(m.tool_calls.length, 1);
  assert.equal(m.tool_calls[0].type, 'function');
  assert.equal(m.tool_calls[0].function.name, 'f');
  assert.deepEqual(JSON.parse(m.tool_calls[0].function.arguments), {});
  assert.match(m.tool_calls[0].id, /^call_/);
  // The call goes back into the conversation with a tool result.
  const next = await client.chat.completions.create({
    model: 'any', tools, max_tokens: 3, temperature: 0,
    messages: [...user('Call f'), m, { role: 'tool', tool_call_id: m.tool_calls[0].id, content: '{"ok": true}' }],
  });
  assert.equal(next.usage.completion_tokens, 3);
});

test('tool calls (streamed) reassemble to the same call', async () => {
  const chunks = await collect(await client.chat.completions.create({ ...toolReq, stream: true }));
  const calls = [];
  for (const c of chunks)
    for (const tc of c.choices[0]?.delta.tool_calls ?? []) {
      calls[tc.index] ??= { id: '', name: '', arguments: '' };
      if (tc.id) calls[tc.index].id = tc.id;
      if (tc.function?.name) calls[tc.index].name += tc.function.name;
      calls[tc.index].arguments += tc.function?.arguments ?? '';
    }
  assert.equal(calls.length, 1);
  assert.equal(calls[0].name, 'f');
  assert.deepEqual(JSON.parse(calls[0].arguments), {});
  assert.match(calls[0].id, /^call_/);
  assert.equal(chunks.at(-1).choices[0].finish_reason, 'tool_calls');
});

test('tool_choice none leaves the tools out of the prompt', async () => {
  const withTools = await client.chat.completions.create({ ...toolReq, max_tokens: 1 });
  const none = await client.chat.completions.create({ ...toolReq, max_tokens: 1, tool_choice: 'none' });
  assert.ok(none.usage.prompt_tokens < withTools.usage.prompt_tokens);
});

test('logprobs: one entry per token, top_logprobs sorted, greedy picks the top one', async () => {
  const r = await client.chat.completions.create({
    model: 'any', messages: user('Hello'), max_tokens: 5, temperature: 0, logprobs: true, top_logprobs: 3,
  });
  const lp = r.choices[0].logprobs.content;
  assert.equal(lp.length, 5);
  for (const e of lp) {
    assert.equal(e.top_logprobs.length, 3);
    assert.ok(e.logprob <= 0);
    assert.ok(e.top_logprobs[0].logprob >= e.top_logprobs[1].logprob);
    assert.equal(e.logprob, e.top_logprobs[0].logprob);
    assert.equal(e.token, e.top_logprobs[0].token);
    assert.ok(Array.isArray(e.bytes));
  }
  assert.equal(lp.map((e) => e.token).join(''), r.choices[0].message.content);
  const chunks = await collect(await client.chat.completions.create({
    model: 'any', messages: user('Hello'), max_tokens: 5, temperature: 0, logprobs: true, top_logprobs: 3, stream: true,
  }));
  const streamed = chunks.flatMap((c) => c.choices[0]?.logprobs?.content ?? []);
  assert.deepEqual(streamed, lp);
});

test('stop strings end the answer before the stop text', async () => {
  const req = { model: 'any', messages: user('Count'), max_tokens: 12, temperature: 0 };
  const full = (await client.chat.completions.create(req)).choices[0].message.content;
  const cut = Math.floor(full.length / 2);
  const stopText = full.slice(cut, cut + 2);
  const expected = full.slice(0, full.indexOf(stopText));
  const r = await client.chat.completions.create({ ...req, stop: [stopText] });
  assert.equal(r.choices[0].message.content, expected);
  assert.equal(r.choices[0].finish_reason, 'stop');
  const chunks = await collect(await client.chat.completions.create({ ...req, stop: stopText, stream: true }));
  assert.equal(chunks.map((c) => c.choices[0]?.delta.content ?? '').join(''), expected);
});

test('n choices, each reproducible with a seed', async () => {
  const req = { model: 'any', messages: user('Pick'), max_tokens: 8, temperature: 1, seed: 7, n: 3 };
  const a = await client.chat.completions.create(req);
  const b = await client.chat.completions.create(req);
  assert.deepEqual(a.choices.map((c) => c.index), [0, 1, 2]);
  assert.deepEqual(a.choices.map((c) => c.message.content), b.choices.map((c) => c.message.content));
  assert.ok(new Set(a.choices.map((c) => c.message.content)).size > 1, 'choices differ');
  assert.equal(a.usage.completion_tokens, 24);
  const streamed = await collect(await client.chat.completions.create({ ...req, stream: true }));
  for (let i = 0; i < 3; ++i) {
    const text = streamed.map((c) => c.choices.find((ch) => ch.index === i)?.delta.content ?? '').join('');
    assert.equal(text, a.choices[i].message.content);
  }
});

test('seed: same seed, same answer; another seed, another answer', async () => {
  const req = { model: 'any', messages: user('Random'), max_tokens: 12, temperature: 1, top_p: 1, top_k: 0 };
  const a = await client.chat.completions.create({ ...req, seed: 1 });
  const b = await client.chat.completions.create({ ...req, seed: 1 });
  const c = await client.chat.completions.create({ ...req, seed: 2 });
  assert.equal(a.choices[0].message.content, b.choices[0].message.content);
  assert.notEqual(a.choices[0].message.content, c.choices[0].message.content);
});

test('a repeated prompt start is served from the cache', async () => {
  const messages = [{ role: 'system', content: 'You are a helpful assistant. '.repeat(20) }, ...user('One')];
  await client.chat.completions.create({ model: 'any', messages, max_tokens: 1, temperature: 0 });
  const r = await client.chat.completions.create({ model: 'any', messages: [messages[0], ...user('Two')], max_tokens: 1, temperature: 0 });
  assert.ok(r.usage.prompt_tokens_details.cached_tokens > 100, `cached ${r.usage.prompt_tokens_details.cached_tokens}`);
});

test('text completions, streamed and not, with logprobs', async () => {
  const req = { model: 'any', prompt: 'Once upon a time', max_tokens: 6, temperature: 0, logprobs: 2 };
  const r = await client.completions.create(req);
  assert.equal(r.object, 'text_completion');
  assert.equal(r.choices[0].finish_reason, 'length');
  assert.equal(r.choices[0].logprobs.tokens.length, 6);
  assert.equal(r.choices[0].logprobs.tokens.join(''), r.choices[0].text);
  const chunks = await collect(await client.completions.create({ ...req, stream: true }));
  assert.equal(chunks.map((c) => c.choices[0]?.text ?? '').join(''), r.choices[0].text);
  const ids = await client.completions.create({ model: 'any', prompt: [9707, 11, 1879], max_tokens: 2, temperature: 0 });
  assert.equal(ids.usage.prompt_tokens, 3);
});
