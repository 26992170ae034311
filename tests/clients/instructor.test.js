// @instructor-ai/instructor over the openai client: JSON mode (response_format json_object) and TOOLS mode (a
// named tool_choice, whose arguments the server constrains to the function's schema: with random weights and
// greedy decoding the object is valid because the schema is bounded).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import Instructor from '@instructor-ai/instructor';
import { z } from 'zod';
import { startServer, forceSequence, OUT } from './harness.js';

let server, oai;
before(async () => {
  server = await startServer();
  oai = new OpenAI({ baseURL: `${server.base}/v1`, apiKey: 'none', maxRetries: 0 });
});
after(async () => assert.equal(await server.stop(), 0));

const User = z.object({ name: z.string(), age: z.number() });

test('JSON mode', async () => {
  const client = Instructor({ client: oai, mode: 'JSON' });
  const user = await client.chat.completions.create({
    model: 'gpt-4o', messages: [{ role: 'user', content: 'Ada is 36.' }], response_model: { schema: User, name: 'User' },
    max_retries: 0, ...forceSequence(OUT.ada),
  });
  assert.equal(user.name, 'Ada');
  assert.equal(user.age, 36);
});

test('TOOLS mode', async () => {
  const client = Instructor({ client: oai, mode: 'TOOLS' });
  const Bounded = z.object({ name: z.enum(['Ada', 'Bob']), age: z.number().int().min(0).max(120) });
  const user = await client.chat.completions.create({
    model: 'gpt-4o', messages: [{ role: 'user', content: 'Ada is 36.' }], response_model: { schema: Bounded, name: 'User' },
    max_retries: 0, max_tokens: 64, temperature: 0, chat_template_kwargs: { enable_thinking: false },
  });
  assert.ok(['Ada', 'Bob'].includes(user.name), JSON.stringify(user));
  assert.ok(Number.isInteger(user.age) && user.age >= 0 && user.age <= 120, JSON.stringify(user));
});
