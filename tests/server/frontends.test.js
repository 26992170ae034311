// The Responses, Ollama and Anthropic frontends under malformed bodies: every field of each API given values of
// the wrong type or shape (a fixed matrix, no randomness). Each answer must be 200 or a 4xx/501 error in the shape
// of the API called (OpenAI's {"error":{"message"}}, Ollama's {"error":"..."}, Anthropic's
// {"type":"error","error":{"type","message"}}), never a 5xx, and the server must stay up. The clients' view of
// the same APIs is tests/clients/.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startServer } from './harness.js';

let server;
before(async () => (server = await startServer(['--parallel', '4', '--ctx', '1024'])));
after(async () => assert.equal(await server.stop(), 0));

const values = [null, -1, 1e308, 'x', '', [], {}, [1], [null], [{}], true, { type: 'x' },
  [{ type: 'item_reference', id: 'fc_gone' }], [{ role: 'user', content: [{ type: 'tool_result' }] }],
  [{ role: 'assistant', content: [{ type: 'tool_use', id: 'a', name: 'b', input: 5 }] }],
  [{ type: 'function_call' }], [{ type: 'reasoning', summary: 5 }], [{ role: 'tool' }], [{ role: 'user', content: 7 }]];
const apis = [
  { path: '/v1/responses', shape: 'openai', base: { input: 'hi', max_output_tokens: 2 },
    keys: ['input', 'instructions', 'tools', 'tool_choice', 'text', 'reasoning', 'max_output_tokens', 'previous_response_id', 'stream', 'store', 'temperature', 'include', 'background', 'truncation'] },
  { path: '/api/chat', shape: 'ollama', base: { model: 'q', messages: [{ role: 'user', content: 'hi' }], options: { num_predict: 2 } },
    keys: ['messages', 'tools', 'format', 'options', 'stream', 'think', 'model', 'keep_alive'] },
  { path: '/api/generate', shape: 'ollama', base: { model: 'q', prompt: 'hi', options: { num_predict: 2 } },
    keys: ['prompt', 'system', 'raw', 'format', 'options', 'stream', 'think', 'suffix', 'context', 'images'] },
  { path: '/v1/messages', shape: 'anthropic', base: { model: 'c', max_tokens: 2, messages: [{ role: 'user', content: 'hi' }] },
    keys: ['messages', 'system', 'tools', 'tool_choice', 'thinking', 'stop_sequences', 'max_tokens', 'stream', 'temperature', 'metadata'] },
  { path: '/v1/messages/count_tokens', shape: 'anthropic', base: { model: 'c', messages: [{ role: 'user', content: 'hi' }] },
    keys: ['messages', 'system', 'tools'] },
];

function checkShape(shape, status, text, what) {
  let j;
  try {
    j = JSON.parse(text);
  } catch {
    if (status === 200) return;  // a stream
    assert.fail(`${what}: not JSON: ${text.slice(0, 200)}`);
  }
  if (status === 200) return;
  if (shape === 'openai') assert.equal(typeof j.error?.message, 'string', what);
  if (shape === 'ollama') assert.equal(typeof j.error, 'string', what);
  if (shape === 'anthropic') {
    assert.equal(j.type, 'error', what);
    assert.equal(typeof j.error?.type, 'string', what);
    assert.equal(typeof j.error?.message, 'string', what);
  }
}

test('every field with wrong values: an error in the API\'s shape, never a 5xx', async () => {
  const jobs = [];
  for (const api of apis)
    for (const key of api.keys)
      for (const v of values) jobs.push({ api, body: { ...api.base, [key]: v }, what: `${api.path} ${key}=${JSON.stringify(v)}` });
  const statuses = {};
  for (let i = 0; i < jobs.length; i += 8) {
    await Promise.all(jobs.slice(i, i + 8).map(async ({ api, body, what }) => {
      const r = await fetch(server.base + api.path, { method: 'POST', body: JSON.stringify(body) });
      const text = await r.text();
      statuses[r.status] = (statuses[r.status] ?? 0) + 1;
      assert.ok(r.status === 200 || (r.status >= 400 && r.status < 500) || r.status === 501, `${what}: ${r.status} ${text.slice(0, 200)}`);
      checkShape(api.shape, r.status, text, what);
    }));
  }
  assert.ok(statuses[400] > jobs.length / 3, JSON.stringify(statuses));
  assert.ok(statuses[200] > 0, JSON.stringify(statuses));
  for (const api of apis) {
    const r = await fetch(server.base + api.path, { method: 'POST', body: '{"unterminated' });
    assert.equal(r.status, 400);
    checkShape(api.shape, 400, await r.text(), api.path);
  }
  assert.equal((await fetch(`${server.base}/health`)).status, 200);
});
