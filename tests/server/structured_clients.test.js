// Structured output through the client libraries agents use, against `qwen3 serve` with a random-weight model:
// the openai SDK's chat.completions.parse with a Zod schema, the Vercel AI SDK's generateObject
// (@ai-sdk/openai-compatible) and LangChain's withStructuredOutput (@langchain/openai; JSON-schema and
// function-calling methods). Each must come back with a valid object. Thinking is turned off through each
// client's pass-through of extra body fields (a random model inside a free think block would not close it).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { z } from 'zod';
import { zodResponseFormat } from 'openai/helpers/zod';
import { generateObject } from 'ai';
import { createOpenAICompatible } from '@ai-sdk/openai-compatible';
import { ChatOpenAI } from '@langchain/openai';
import { startServer } from './harness.js';

let server;
before(async () => {
  server = await startServer(['--parallel', '2', '--ctx', '2048']);
});
after(async () => assert.equal(await server.stop(), 0));

// No .max() on strings: JSON Schema's maxLength counts code points, zod's .max counts UTF-16 units, so an answer
// with a character beyond U+FFFF can be valid for the schema sent and still fail zod's own check.
const Person = z.object({
  name: z.string().regex(/^[a-z]{1,8}$/),
  age: z.number().int().min(0).max(99),
  role: z.enum(['admin', 'user']),
  verified: z.boolean(),
});
const noThinking = { chat_template_kwargs: { enable_thinking: false } };

test('openai: chat.completions.parse with a Zod schema', async () => {
  const client = server.client();
  for (const seed of [1, 2, 3]) {
    const r = await client.beta.chat.completions.parse({
      model: 'any', seed, max_tokens: 300, messages: [{ role: 'user', content: 'A person' }],
      response_format: zodResponseFormat(Person, 'person'), ...noThinking,
    });
    const parsed = r.choices[0].message.parsed;
    assert.ok(parsed, JSON.stringify(r.choices[0].message));
    Person.parse(parsed);
  }
});

test('Vercel AI SDK: generateObject', async () => {
  const provider = createOpenAICompatible({
    name: 'qwen3', baseURL: `${server.base}/v1`, apiKey: 'none', supportsStructuredOutputs: true,
  });
  for (const seed of [1, 2]) {
    const { object } = await generateObject({
      model: provider('any'), schema: Person, prompt: 'A person', seed, maxOutputTokens: 300, maxRetries: 0,
      providerOptions: { qwen3: noThinking },
    });
    Person.parse(object);
  }
});

test('LangChain: withStructuredOutput (json schema and function calling)', async () => {
  for (const method of ['jsonSchema', 'functionCalling']) {
    const llm = new ChatOpenAI({
      model: 'any', apiKey: 'none', configuration: { baseURL: `${server.base}/v1` }, maxRetries: 0, maxTokens: 300,
      temperature: 1, modelKwargs: noThinking,
    });
    const out = await llm.withStructuredOutput(Person, { name: 'person', method }).invoke('A person');
    Person.parse(out);
  }
});
