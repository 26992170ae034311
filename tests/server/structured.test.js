// Structured output end to end with a random-weight model (the hardest case: it never "wants" valid JSON): every
// answer of a constrained request must parse and validate against its schema, judged by an independent validator
// (ajv, draft 2020-12, with ajv-formats). Schemas are bounded (enums, maxLength, patterns, formats, integer ranges,
// additionalProperties false) so each answer ends by itself; finish_reason "stop" is asserted. Covers
// response_format (json_schema, json_object), llama.cpp's json_schema/grammar fields, vLLM's guided_* fields,
// tool_choice "required" / named / "auto" with strict tools, thinking with a thinking budget, streaming equal to
// non-streaming, and the 400s of bad constraints.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { startServer, forceSequence, TOK } from './harness.js';

const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);

let server, client;
before(async () => {
  server = await startServer(['--parallel', '4', '--ctx', '2048']);
  client = server.client();
});
after(async () => assert.equal(await server.stop(), 0));

const user = (content) => [{ role: 'user', content }];
const SEEDS = [1, 2, 3, 4];

const SCHEMAS = {
  person: {
    type: 'object',
    properties: {
      name: { type: 'string', maxLength: 12 },
      age: { type: 'integer', minimum: 0, maximum: 120 },
      role: { enum: ['admin', 'user', 'guest'] },
      active: { type: 'boolean' },
    },
    required: ['name', 'age', 'role', 'active'],
    additionalProperties: false,
  },
  small_ints: { type: 'array', items: { type: 'integer', minimum: -5, maximum: 5 }, minItems: 1, maxItems: 4 },
  formats: {
    type: 'object',
    properties: {
      day: { type: 'string', format: 'date' },
      id: { type: 'string', format: 'uuid' },
      ip: { type: 'string', format: 'ipv4' },
    },
    required: ['day', 'id', 'ip'],
    additionalProperties: false,
  },
  refs: {
    $defs: {
      point: {
        type: 'object',
        properties: { x: { type: 'integer', minimum: 0, maximum: 9 }, y: { type: 'integer', minimum: 0, maximum: 9 } },
        required: ['x', 'y'],
        additionalProperties: false,
      },
    },
    type: 'object',
    properties: {
      a: { $ref: '#/$defs/point' },
      b: { anyOf: [{ type: 'null' }, { $ref: '#/$defs/point' }] },
      tag: { type: 'string', pattern: '^[A-Z]{2}-[0-9]{3}$' },
      kind: { const: 'shape' },
    },
    required: ['a', 'b', 'tag', 'kind'],
    additionalProperties: false,
  },
};

function check(schema, text, what) {
  let value;
  try {
    value = JSON.parse(text);
  } catch (e) {
    assert.fail(`${what}: not JSON: ${JSON.stringify(text)} (${e.message})`);
  }
  const validate = ajv.compile(schema);
  assert.ok(validate(value), `${what}: ${JSON.stringify(text)} is not valid: ${ajv.errorsText(validate.errors)}`);
  return value;
}

const base = { model: 'any', max_tokens: 400, temperature: 1.0, chat_template_kwargs: { enable_thinking: false } };

for (const [name, schema] of Object.entries(SCHEMAS)) {
  test(`response_format json_schema '${name}': every sampled answer validates`, async () => {
    for (const seed of SEEDS) {
      const r = await client.chat.completions.create({
        ...base, seed, messages: user('Give me data'),
        response_format: { type: 'json_schema', json_schema: { name, schema, strict: true } },
      });
      const c = r.choices[0];
      assert.equal(c.finish_reason, 'stop', `seed ${seed}: ${JSON.stringify(c.message.content)}`);
      check(schema, c.message.content, `seed ${seed}`);
    }
  });
}

test("llama.cpp's json_schema field and vLLM's guided_json take the same engine", async () => {
  const schema = SCHEMAS.person;
  for (const extra of [{ json_schema: schema }, { guided_json: schema }, { guided_json: JSON.stringify(schema) }]) {
    const r = await client.chat.completions.create({ ...base, seed: 7, messages: user('x'), ...extra });
    check(schema, r.choices[0].message.content, Object.keys(extra)[0]);
  }
});

test('json_object gives a JSON object', async () => {
  // Random weights rarely close an open object: a bias toward '}' (token "}" = 92) makes the answers short.
  for (const seed of SEEDS) {
    const r = await client.chat.completions.create({
      ...base, seed, messages: user('x'), response_format: { type: 'json_object' }, logit_bias: { 92: 30 },
    });
    const v = JSON.parse(r.choices[0].message.content);
    assert.equal(typeof v, 'object');
    assert.ok(v !== null && !Array.isArray(v));
  }
});

test('guided_regex, guided_choice and a GBNF grammar', async () => {
  for (const seed of SEEDS) {
    const re = await client.chat.completions.create({ ...base, seed, messages: user('x'), guided_regex: '[a-c]{2,4}-(yes|no)' });
    assert.match(re.choices[0].message.content, /^[a-c]{2,4}-(yes|no)$/);
    const ch = await client.chat.completions.create({ ...base, seed, messages: user('x'), guided_choice: ['red', 'green', 'blue'] });
    assert.ok(['red', 'green', 'blue'].includes(ch.choices[0].message.content), ch.choices[0].message.content);
    const g = await client.chat.completions.create({
      ...base, seed, messages: user('x'), grammar: 'root ::= "(" item ("," item){0,2} ")"\nitem ::= [0-9] | "x"',
    });
    assert.match(g.choices[0].message.content, /^\((?:[0-9]|x)(?:,(?:[0-9]|x)){0,2}\)$/);
  }
});

test('legacy completions take response_format too', async () => {
  const r = await fetch(`${server.base}/v1/completions`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: 'any', prompt: 'Data:', max_tokens: 200, seed: 3, temperature: 1, guided_json: SCHEMAS.small_ints }),
  });
  assert.equal(r.status, 200);
  check(SCHEMAS.small_ints, (await r.json()).choices[0].text, 'completions');
});

test('streaming gives the same constrained answer as non-streaming', async () => {
  const req = { ...base, seed: 11, messages: user('x'), response_format: { type: 'json_schema', json_schema: { name: 'p', schema: SCHEMAS.refs } } };
  const full = await client.chat.completions.create(req);
  let text = '';
  for await (const c of await client.chat.completions.create({ ...req, stream: true })) text += c.choices[0]?.delta?.content ?? '';
  assert.equal(text, full.choices[0].message.content);
  check(SCHEMAS.refs, text, 'streamed');
});

test('thinking on with a thinking budget: free think block, then a valid answer', async () => {
  for (const seed of SEEDS) {
    const r = await client.chat.completions.create({
      model: 'any', seed, temperature: 1, max_tokens: 400, messages: user('x'),
      // Force the think block open (think_first lets <think> be the first token), then the budget closes it.
      logit_bias: { [TOK.thinkOpen]: 100 }, presence_penalty: 1000, thinking_budget: 6,  // <think> once
      response_format: { type: 'json_schema', json_schema: { name: 'p', schema: SCHEMAS.person } },
    });
    const m = r.choices[0].message;
    assert.ok(m.reasoning_content.length > 0, 'a reasoning part');
    check(SCHEMAS.person, m.content, `seed ${seed}`);
  }
});

const TOOLS = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      parameters: {
        type: 'object',
        properties: { city: { enum: ['Paris', 'Tokyo', 'Lima'] }, unit: { enum: ['c', 'f'] }, days: { type: 'integer', minimum: 1, maximum: 7 } },
        required: ['city', 'unit', 'days'],
        additionalProperties: false,
      },
    },
  },
  {
    type: 'function',
    function: {
      name: 'get_time',
      strict: true,
      parameters: {
        type: 'object',
        properties: { zone: { type: 'string', pattern: '^UTC[+-][0-9]{1,2}$' } },
        required: ['zone'],
        additionalProperties: false,
      },
    },
  },
];
const toolSchema = (name) => TOOLS.find((t) => t.function.name === name).function.parameters;

function checkCalls(message, what, names = ['get_weather', 'get_time']) {
  assert.ok(message.tool_calls?.length >= 1, `${what}: no tool call in ${JSON.stringify(message)}`);
  for (const call of message.tool_calls) {
    assert.ok(names.includes(call.function.name), `${what}: called ${call.function.name}`);
    check(toolSchema(call.function.name), call.function.arguments, `${what} ${call.function.name}`);
  }
}

test('tool_choice "required": every answer is valid tool calls', async () => {
  for (const seed of SEEDS) {
    const r = await client.chat.completions.create({ ...base, seed, messages: user('x'), tools: TOOLS, tool_choice: 'required' });
    assert.equal(r.choices[0].finish_reason, 'tool_calls');
    checkCalls(r.choices[0].message, `seed ${seed}`);
  }
  const one = await client.chat.completions.create({
    ...base, seed: 5, messages: user('x'), tools: TOOLS, tool_choice: 'required', parallel_tool_calls: false,
  });
  assert.equal(one.choices[0].message.tool_calls.length, 1);
});

test('a named tool_choice calls exactly that function', async () => {
  for (const seed of SEEDS) {
    const r = await client.chat.completions.create({
      ...base, seed, messages: user('x'), tools: TOOLS, tool_choice: { type: 'function', function: { name: 'get_weather' } },
    });
    checkCalls(r.choices[0].message, `seed ${seed}`, ['get_weather']);
  }
});

test('tool_choice "auto" with a strict tool: a call the model opens follows the schema', async () => {
  // <tool_call> forced first (then used up by the presence penalty), <|im_end|> next once the call is closed.
  const forced = forceSequence([TOK.toolCallOpen, TOK.imEnd]);
  for (const seed of SEEDS) {
    const r = await client.chat.completions.create({
      ...base, ...forced, seed, messages: user('x'), tools: [TOOLS[1]], tool_choice: 'auto',
    });
    checkCalls(r.choices[0].message, `seed ${seed}`, ['get_time']);
  }
});

test('streamed tool calls equal the non-streamed ones', async () => {
  const req = { ...base, seed: 9, messages: user('x'), tools: TOOLS, tool_choice: 'required' };
  const full = await client.chat.completions.create(req);
  const calls = [];
  for await (const c of await client.chat.completions.create({ ...req, stream: true })) {
    for (const tc of c.choices[0]?.delta?.tool_calls ?? []) {
      calls[tc.index] ??= { name: '', arguments: '' };
      if (tc.function?.name) calls[tc.index].name += tc.function.name;
      if (tc.function?.arguments) calls[tc.index].arguments += tc.function.arguments;
    }
  }
  assert.deepEqual(calls, full.choices[0].message.tool_calls.map((t) => ({ name: t.function.name, arguments: t.function.arguments })));
});

async function post(body) {
  const r = await fetch(`${server.base}/v1/chat/completions`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: 'any', messages: user('x'), max_tokens: 4, chat_template_kwargs: { enable_thinking: false }, ...body }),
  });
  return { status: r.status, body: await r.json() };
}

test('bad constraints are 400s naming the field', async () => {
  const cases = [
    [{ response_format: { type: 'xml' } }, 'response_format.type'],
    [{ response_format: { type: 'json_schema' } }, 'response_format.json_schema'],
    [{ response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { type: 'strnig' } } } }, 'response_format.json_schema.schema'],
    [{ response_format: { type: 'json_schema', json_schema: { name: 'x', schema: { $ref: '#/$defs/missing' } } } }, 'response_format.json_schema.schema'],
    [{ guided_regex: '(unclosed' }, 'guided_regex'],
    [{ grammar: 'root ::= undefined_rule' }, 'grammar'],
    [{ guided_choice: [] }, 'guided_choice'],
    [{ guided_json: '{not json' }, 'guided_json'],
    [{ json_schema: { type: 'object' }, guided_regex: 'a' }, 'guided_regex'],
    [{ tool_choice: 'required' }, 'tool_choice'],
    [{ tool_choice: 'sometimes', tools: TOOLS }, 'tool_choice'],
    [{ tool_choice: { type: 'function', function: { name: 'nope' } }, tools: TOOLS }, 'tool_choice'],
    [{ thinking_budget: -1 }, 'thinking_budget'],
  ];
  let deep = { type: 'integer' };
  for (let i = 0; i < 100; ++i) deep = { type: 'array', items: deep };
  cases.push([{ response_format: { type: 'json_schema', json_schema: { name: 'x', schema: deep } } }, 'response_format.json_schema.schema']);
  for (const [body, param] of cases) {
    const r = await post(body);
    assert.equal(r.status, 400, `${JSON.stringify(body).slice(0, 120)} → ${r.status} ${JSON.stringify(r.body)}`);
    assert.equal(r.body.error.param, param, JSON.stringify(r.body));
    assert.equal(typeof r.body.error.message, 'string');
  }
  // The server is still answering.
  assert.equal((await post({ guided_choice: ['ok'] })).body.choices[0].message.content, 'ok');
});
