// LoRA adapters served by name (issue 18): /v1/models lists the base model and each adapter; a request's
// `model` picks one; 16 concurrent streams over 3 adapters and the base, decoded in shared batches, each equal
// to its solo run; a slot's cached prefix is never reused under other adapters; an unknown model is a 404;
// adapters loaded and unloaded at run time (vLLM's /v1/load_lora_adapter and /v1/unload_lora_adapter) within
// --max-loras. QWEN3_MODEL is the small synthetic model; QWEN3_LORA the adapters of tests/lora/make_adapters.sh.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { startServer, metric } from './harness.js';

const LORA = process.env.QWEN3_LORA;
if (!LORA) throw new Error('set QWEN3_LORA');
const ADAPTERS = { a1: 'small-all', a2: 'small-qv', a3: 'small-od' };

let server, client, base;
before(async () => {
  const args = ['--parallel', '16', '--ctx', '1024', '-t', '2', '--lora-runtime', '--max-loras', '4'];
  for (const [name, dir] of Object.entries(ADAPTERS)) args.push('--lora', `${name}=${path.join(LORA, dir)}`);
  server = await startServer(args);
  client = server.client();
  base = (await client.models.list()).data[0].id;
});
after(async () => assert.equal(await server.stop(), 0));

async function post(route, body) {
  const r = await fetch(`${server.base}${route}`, {
    method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body),
  });
  return { status: r.status, text: await r.text() };
}

test('/v1/models lists the base model, then each adapter with its parent', async () => {
  const data = (await client.models.list()).data;
  assert.deepEqual(data.map((m) => m.id), [base, 'a1', 'a2', 'a3']);
  for (const m of data.slice(1)) {
    assert.equal(m.parent, base);
    assert.equal(m.root, path.join(LORA, ADAPTERS[m.id]));
  }
  const one = await client.models.retrieve('a2');
  assert.equal(one.id, 'a2');
});

const MODELS = () => [base, 'a1', 'a2', 'a3'];
function request(i, model) {
  return {
    model,
    messages: [{ role: 'user', content: `Request number ${i}: ${'tell me more. '.repeat(i % 5)}` }],
    max_tokens: 10 + (i % 4) * 3, temperature: 0.8, top_k: 40, seed: 1000 + i, stream: true,
  };
}

async function run(req) {
  let text = '', finish = null, model = null;
  for await (const c of await client.chat.completions.create(req)) {
    model = c.model;
    for (const ch of c.choices) {
      text += (ch.delta.reasoning_content ?? '') + '|' + (ch.delta.content ?? '');
      finish = ch.finish_reason ?? finish;
    }
  }
  return { text, finish, model };
}

test('16 streams over 3 adapters and the base, batched together, each equal its solo run', async () => {
  const reqs = Array.from({ length: 16 }, (_, i) => request(i, MODELS()[i % 4]));
  const solo = [];
  for (const r of reqs) solo.push(await run(r));
  const steps0 = await metric(server.base, 'qwen3_steps_total');
  const together = await Promise.all(reqs.map(run));
  const steps = (await metric(server.base, 'qwen3_steps_total')) - steps0;
  for (let i = 0; i < 16; ++i) {
    assert.deepEqual(together[i], solo[i], `request ${i} (${reqs[i].model})`);
    assert.equal(together[i].model, reqs[i].model);
  }
  assert.ok(steps < 40, `${steps} steps: the sequences were not batched together`);
  // The adapters change the output: the same request under each model gives four different texts.
  const same = await Promise.all(MODELS().map((m) => run(request(3, m))));
  assert.equal(new Set(same.map((r) => r.text)).size, 4, JSON.stringify(same));
});

test('a cached prefix is reused under the same adapter only', async () => {
  const req = (model) => ({
    model, messages: [{ role: 'user', content: 'A long shared prompt. '.repeat(20) }], max_tokens: 6,
    temperature: 0,
  });
  const first = await client.chat.completions.create(req('a1'));
  const c0 = await metric(server.base, 'qwen3_prompt_tokens_cached_total');
  const other = await client.chat.completions.create(req('a2'));
  const c1 = await metric(server.base, 'qwen3_prompt_tokens_cached_total');
  assert.equal(c1, c0, 'KV computed under a1 was reused for a2');
  const again = await client.chat.completions.create(req('a1'));
  const c2 = await metric(server.base, 'qwen3_prompt_tokens_cached_total');
  assert.ok(c2 > c1, 'the same adapter reuses its cached prefix');
  assert.equal(again.choices[0].message.content, first.choices[0].message.content);
  assert.notEqual(other.choices[0].message.content, first.choices[0].message.content);
});

test('the Responses, Anthropic and Ollama routes pick the adapter by model too, and name it', async () => {
  const content = 'Which adapter answers?';
  const chat = async (model, thinking) => {
    const r = await client.chat.completions.create({
      model, messages: [{ role: 'user', content }], max_tokens: 6, temperature: 0,
      chat_template_kwargs: { enable_thinking: thinking },
    });
    return (r.choices[0].message.reasoning_content ?? '') + '|' + (r.choices[0].message.content ?? '');
  };
  const seen = new Set();
  for (const model of MODELS()) {
    const want = await chat(model, true), wantNoThink = await chat(model, false);
    seen.add(want);
    const resp = JSON.parse((await post('/v1/responses', { model, input: content, max_output_tokens: 6, temperature: 0 })).text);
    assert.equal(resp.model, model);
    const reasoning = resp.output.filter((o) => o.type === 'reasoning').map((o) => o.content?.[0]?.text ?? o.summary?.[0]?.text ?? '').join('');
    const text = resp.output.filter((o) => o.type === 'message').map((o) => o.content[0].text).join('');
    assert.equal(`${reasoning}|${text}`, want, `responses ${model}`);
    const anth = JSON.parse((await post('/v1/messages', { model, max_tokens: 6, temperature: 0, messages: [{ role: 'user', content }] })).text);
    assert.equal(anth.model, model);
    assert.equal('|' + anth.content.filter((c) => c.type === 'text').map((c) => c.text).join(''), wantNoThink, `anthropic ${model}`);
    for (const name of [model, `${model}:latest`]) {
      const ol = JSON.parse((await post('/api/chat', {
        model: name, messages: [{ role: 'user', content }], stream: false, think: false, options: { num_predict: 6, temperature: 0 },
      })).text);
      assert.equal(ol.model, name);
      assert.equal('|' + ol.message.content, wantNoThink, `ollama ${name}`);
    }
  }
  assert.equal(seen.size, 4, 'each adapter changes the answer');
  const tags = JSON.parse((await fetch(`${server.base}/api/tags`).then((r) => r.text())));
  assert.deepEqual(tags.models.map((m) => m.name), MODELS());
  const missing = await post('/api/chat', { model: 'nope', messages: [{ role: 'user', content }], stream: false });
  assert.equal(missing.status, 404);
  assert.match(JSON.parse(missing.text).error, /'nope' does not exist/);
});

test('an unknown model is a 404 in OpenAI\'s shape', async () => {
  await assert.rejects(client.chat.completions.create({ model: 'nope', messages: [{ role: 'user', content: 'hi' }] }),
    (e) => e.status === 404 && e.error.code === 'model_not_found' && /nope/.test(e.error.message));
  await assert.rejects(client.completions.create({ model: 'nope', prompt: 'hi' }), (e) => e.status === 404);
  await assert.rejects(client.models.retrieve('nope'), (e) => e.status === 404);
});

test('adapters loaded and unloaded at run time, within --max-loras', async () => {
  let r = await post('/v1/load_lora_adapter', { lora_name: 'a4', lora_path: path.join(LORA, 'small-mlp') });
  assert.equal(r.status, 200, r.text);
  assert.ok((await client.models.list()).data.some((m) => m.id === 'a4'));
  const out = await client.chat.completions.create({ model: 'a4', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 });
  assert.equal(out.model, 'a4');
  r = await post('/v1/load_lora_adapter', { lora_name: 'a5', lora_path: path.join(LORA, 'small-all') });
  assert.equal(r.status, 400, r.text);
  assert.match(r.text, /max-loras/);
  r = await post('/v1/load_lora_adapter', { lora_name: 'a1', lora_path: path.join(LORA, 'small-all') });
  assert.equal(r.status, 400);
  assert.match(r.text, /already/);
  r = await post('/v1/unload_lora_adapter', { lora_name: 'a4' });
  assert.equal(r.status, 200, r.text);
  await assert.rejects(client.chat.completions.create({ model: 'a4', messages: [{ role: 'user', content: 'hi' }] }),
    (e) => e.status === 404);
  r = await post('/v1/unload_lora_adapter', { lora_name: 'a4' });
  assert.equal(r.status, 404);
  for (const [dir, needle] of [['bad-dora', /DoRA/], ['tiny-all', /another model/], ['missing', /no such adapter/]]) {
    r = await post('/v1/load_lora_adapter', { lora_name: 'bad', lora_path: path.join(LORA, dir) });
    assert.equal(r.status, 400, r.text);
    assert.match(JSON.parse(r.text).error.message, needle);
  }
  r = await post('/v1/load_lora_adapter', { lora_name: 'x' });
  assert.equal(r.status, 400);
  assert.equal(JSON.parse(r.text).error.param, 'lora_path');
  assert.deepEqual((await client.models.list()).data.map((m) => m.id), [base, 'a1', 'a2', 'a3']);
  const health = await (await fetch(`${server.base}/health`)).json();
  assert.equal(health.status, 'ok');
});
