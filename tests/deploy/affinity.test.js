// Session affinity through the local cluster (issue 22): nginx hashes X-Session-Id (else the client address) onto
// the replicas with a consistent hash, so a conversation keeps reaching the replica whose KV-cache slots hold its
// prefix (usage.prompt_tokens_details.cached_tokens), and clients without the header spread over the replicas.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, request, metric, until } from './cluster.js';

const TURNS = 6;
const SESSIONS = 3;
const CLIENTS = 150;  // distinct source addresses 127.0.0.2 ... for the spread

let cluster;
before(async () => {
  cluster = await startCluster({ replicas: 3, extra: ['--parallel', '4'] });
});
after(async () => {
  if (cluster) {
    await cluster.stop();
    cluster.cleanup();
  }
});

// One conversation of TURNS growing requests; `headers(turn)` gives each request's headers, `localAddress(turn)`
// its source address. Returns each turn's usage and the replica (port) that answered it.
async function conversation(name, { headers = () => ({}), localAddress = () => undefined } = {}) {
  const messages = [{ role: 'system', content: `${name}: you are a careful assistant. Answer briefly and precisely.` }];
  const turns = [];
  for (let t = 0; t < TURNS; t++) {
    messages.push({ role: 'user', content: `Question ${t + 1} of conversation ${name}: tell me more about item ${t}.` });
    const id = `${name}-${t}`;
    const r = await request(cluster.base, '/v1/chat/completions', {
      headers: { 'X-Request-Id': id, ...headers(t) },
      localAddress: localAddress(t),
      body: { messages, max_tokens: 8, temperature: 0, chat_template_kwargs: { enable_thinking: false } },
    });
    assert.equal(r.status, 200, r.body);
    messages.push({ role: 'assistant', content: r.json.choices[0].message.content });
    turns.push({ id, usage: r.json.usage });
  }
  // nginx writes a request's access-log line just after the response's last byte.
  let access;
  await until(() => {
    access = new Map(cluster.accessLog().map((l) => [l.id, l]));
    return turns.every((t) => access.has(t.id));
  }, 'the access log lines', 5000);
  for (const t of turns) t.replica = access.get(t.id).upstreams.at(-1);
  return turns;
}

const cached = (t) => t.usage.prompt_tokens_details?.cached_tokens ?? 0;
// Turns after the first (the first has nothing of its own to reuse).
const summary = (turns) => {
  turns = turns.filter((t) => !t.id.endsWith('-0'));
  const prompt = turns.reduce((s, t) => s + t.usage.prompt_tokens, 0);
  const hit = turns.reduce((s, t) => s + cached(t), 0);
  return { prompt, hit, share: hit / prompt };
};

// The conversations run one after another, so the figures measure the routing this file tests, not how many
// conversations a replica's slots hold at once.
async function conversations(make) {
  const out = [];
  for (let s = 0; s < SESSIONS; s++) out.push(await make(s));
  return out;
}

test('a session (X-Session-Id) keeps its replica: cached_tokens > 0 from the second turn on', async () => {
  const results = await conversations((s) =>
    conversation(`s${s}`, { headers: () => ({ 'X-Session-Id': `session-${s}` }) }));
  const table = results.map((turns, s) => `session ${s}: ` +
    turns.map((t) => `${t.replica}:${t.usage.prompt_tokens}/${cached(t)}`).join(' ')).join('\n');
  console.log(`replica:prompt_tokens/cached_tokens per turn\n${table}`);
  for (const [s, turns] of results.entries()) {
    assert.equal(new Set(turns.map((t) => t.replica)).size, 1,
      `session ${s} stayed on one replica: ${turns.map((t) => t.replica)}`);
    for (let t = 1; t < TURNS; t++) {
      // The previous turn's prompt is the prefix of this one up to its generation prompt (the non-thinking
      // "<think>\n\n</think>\n\n" is not rendered for past turns): at most 5 tokens short of it.
      assert.ok(cached(turns[t]) > 0, `session ${s} turn ${t + 1}: cached_tokens > 0`);
      assert.ok(cached(turns[t]) >= turns[t - 1].usage.prompt_tokens - 5,
        `session ${s} turn ${t + 1} reused the previous prompt: ${cached(turns[t])} of ${turns[t - 1].usage.prompt_tokens}`);
    }
  }
  // What affinity buys: the same conversations with no header, each turn from another client address (what
  // round-robin over the replicas would do to a conversation).
  const without = await conversations((s) =>
    conversation(`n${s}`, { localAddress: (t) => `127.0.1.${1 + s * TURNS + t}` }));
  const a = summary(results.flat()), b = summary(without.flat());
  console.log(`affinity: ${SESSIONS} conversations of ${TURNS} turns; prompt tokens of turns 2-${TURNS} reused from the cache: ` +
    `with X-Session-Id ${a.hit} of ${a.prompt} (${(100 * a.share).toFixed(1)} %), ` +
    `spread by client address ${b.hit} of ${b.prompt} (${(100 * b.share).toFixed(1)} %)`);
  assert.ok(a.share > b.share);
});

test('without X-Session-Id, clients spread over the replicas by address', async () => {
  const before = await Promise.all(cluster.replicas.map((r) => metric(r.base, 'qwen3_requests_ok_total')));
  let next = 0;
  const statuses = [];
  await Promise.all(Array.from({ length: 6 }, async () => {
    while (next < CLIENTS) {
      const i = next++;
      const r = await request(cluster.base, '/v1/chat/completions', {
        localAddress: `127.0.0.${2 + i}`,
        body: { messages: [{ role: 'user', content: 'hi' }], max_tokens: 1 },
      });
      statuses.push(r.status);
    }
  }));
  assert.deepEqual(statuses.filter((s) => s !== 200), []);
  const afterCount = await Promise.all(cluster.replicas.map((r) => metric(r.base, 'qwen3_requests_ok_total')));
  const served = afterCount.map((v, i) => v - before[i]);
  console.log(`spread: ${CLIENTS} clients (one address each) answered by the 3 replicas: ${served.join('/')}`);
  assert.equal(served.reduce((s, v) => s + v, 0), CLIENTS);
  // A consistent hash of 150 addresses onto 3 replicas (160 ring points each): the smallest share is below a
  // sixth in far fewer than 0.1 % of port assignments (a simulation of nginx's ring); an even share is 50.
  for (const [i, n] of served.entries()) assert.ok(n >= CLIENTS / 6, `replica ${i} answered ${n} of ${CLIENTS}`);
});

// The scheduler's slot choice (src/engine/scheduler.cpp, Scheduler::admit) keeps a live conversation's history: a
// new conversation that shares only the chat template's first tokens takes an empty or the least recently used
// slot. Here: conversation A (2 turns), then a new conversation B, then A's third turn, all on one replica with
// free slots; A's third turn finds A's whole history.
test('a new conversation does not evict a live one while slots are free', async () => {
  const base = cluster.replicas[0].base;
  const start = (name) => [{ role: 'system', content: `${name}: be brief.` }];
  async function turn(messages, t) {
    messages.push({ role: 'user', content: `Question ${t}: item ${t}.` });
    const r = await request(base, '/v1/chat/completions', {
      body: { messages, max_tokens: 8, temperature: 0, chat_template_kwargs: { enable_thinking: false } },
    });
    assert.equal(r.status, 200, r.body);
    messages.push({ role: 'assistant', content: r.json.choices[0].message.content });
    return r.json.usage;
  }
  const a = start('Alpha'), b = start('Bravo');
  await turn(a, 1);
  const a2 = await turn(a, 2);
  await turn(b, 1);
  const a3 = await turn(a, 3);
  assert.ok(a3.prompt_tokens_details.cached_tokens >= a2.prompt_tokens - 5,
    `A's third turn reused ${a3.prompt_tokens_details.cached_tokens} of its previous ${a2.prompt_tokens} prompt tokens`);
});
