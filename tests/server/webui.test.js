// The chat page at / and the API's CORS over HTTP (issue 21): the page is served without an API key and with its
// ETag, Ollama's probe still gets its text, --no-webui turns the page off, --cors-origin answers preflights and puts
// Access-Control-Allow-* on every API answer (errors and streams too) for allowed origins only, and is off by default.
// The page in a real browser: tests/web/chat.test.js.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { startServer, BIN, MODEL } from './harness.js';

const HTML = { Accept: 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8' };
const servers = [];
after(async () => Promise.all(servers.map((s) => s.stop())));
async function serve(args) {
  const s = await startServer(args);
  servers.push(s);
  return s;
}
const chat = { model: 'any', messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 };

test('GET / is the chat page for browsers, Ollama\'s text for probes; the address is printed', async () => {
  const s = await serve([]);
  const r = await fetch(`${s.base}/`, { headers: HTML });
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('content-type'), 'text/html; charset=utf-8');
  const page = await r.text();
  assert.match(page, /^<!doctype html>/);
  assert.match(page, /connect-src 'self'/);
  assert.ok(page.length > 10000);
  const etag = r.headers.get('etag');
  assert.match(etag, /^"[0-9a-f]{16}"$/);
  assert.equal(r.headers.get('x-frame-options'), 'DENY');
  const again = await fetch(`${s.base}/`, { headers: { ...HTML, 'If-None-Match': etag } });
  assert.equal(again.status, 304);
  assert.equal(await again.text(), '');
  assert.equal(await (await fetch(`${s.base}/`)).text(), 'Ollama is running');
  assert.match(s.log(), new RegExp(`chat page on http://127\\.0\\.0\\.1:${s.port}/\\n`));
  // No CORS unless asked for: no headers for another origin, and a preflight is no route.
  const api = await fetch(`${s.base}/v1/models`, { headers: { Origin: 'http://localhost:3000' } });
  assert.equal(api.status, 200);
  assert.equal(api.headers.get('access-control-allow-origin'), null);
  const pre = await fetch(`${s.base}/v1/chat/completions`, {
    method: 'OPTIONS', headers: { Origin: 'http://localhost:3000', 'Access-Control-Request-Method': 'POST' } });
  assert.equal(pre.status, 405);
  assert.equal(pre.headers.get('access-control-allow-origin'), null);
});

test('with --api-key the page needs no key, the API does', async () => {
  const s = await serve(['--api-key', 'sekret']);
  const r = await fetch(`${s.base}/`, { headers: HTML });
  assert.equal(r.status, 200);
  assert.match(await r.text(), /^<!doctype html>/);
  assert.equal((await fetch(`${s.base}/v1/models`)).status, 401);
  assert.equal((await fetch(`${s.base}/v1/models`, { headers: { Authorization: 'Bearer sekret' } })).status, 200);
});

test('--no-webui: no page (Ollama\'s text, or 404 without the Ollama API), no address printed', async () => {
  const s = await serve(['--no-webui']);
  const r = await fetch(`${s.base}/`, { headers: HTML });
  assert.equal(r.status, 200);
  assert.equal(await r.text(), 'Ollama is running');
  assert.doesNotMatch(s.log(), /chat page/);
  const bare = await serve(['--no-webui', '--no-ollama-api']);
  const nf = await fetch(`${bare.base}/`, { headers: HTML });
  assert.equal(nf.status, 404);
  assert.equal((await nf.json()).error.code, 'unknown_url');
});

test('--cors-origin: preflights answered, headers on every API answer of an allowed origin', async () => {
  const s = await serve(['--cors-origin', 'http://localhost:3000', '--cors-origin', 'https://app.example', '--api-key', 'k']);
  const origin = 'http://localhost:3000';
  const pre = await fetch(`${s.base}/v1/chat/completions`, {
    method: 'OPTIONS',
    headers: { Origin: origin, 'Access-Control-Request-Method': 'POST', 'Access-Control-Request-Headers': 'authorization, content-type' },
  });
  assert.equal(pre.status, 204);  // before authentication: a browser's preflight carries no key
  assert.equal(pre.headers.get('access-control-allow-origin'), origin);
  assert.match(pre.headers.get('access-control-allow-methods'), /POST/);
  assert.equal(pre.headers.get('access-control-allow-headers'), 'authorization, content-type');
  assert.equal(pre.headers.get('vary'), 'Origin');
  const other = await fetch(`${s.base}/v1/chat/completions`, {
    method: 'OPTIONS', headers: { Origin: 'http://evil.example', 'Access-Control-Request-Method': 'POST' } });
  assert.equal(other.status, 403);
  assert.equal((await other.json()).error.code, 'origin_not_allowed');
  assert.equal(other.headers.get('access-control-allow-origin'), null);
  // Errors carry the headers too, so the app can read them.
  const post = (headers, body = chat) =>
    fetch(`${s.base}/v1/chat/completions`, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body: JSON.stringify(body) });
  const unauth = await post({ Origin: origin });
  assert.equal(unauth.status, 401);
  assert.equal(unauth.headers.get('access-control-allow-origin'), origin);
  const bad = await post({ Origin: origin, Authorization: 'Bearer k' }, { ...chat, temperature: 'hot' });
  assert.equal(bad.status, 400);
  assert.equal(bad.headers.get('access-control-allow-origin'), origin);
  const ok = await post({ Origin: origin, Authorization: 'Bearer k' });
  assert.equal(ok.status, 200);
  assert.equal(ok.headers.get('access-control-allow-origin'), origin);
  assert.equal((await ok.json()).usage.completion_tokens, 2);
  const stream = await post({ Origin: 'https://app.example', Authorization: 'Bearer k' }, { ...chat, stream: true });
  assert.equal(stream.headers.get('content-type'), 'text/event-stream');
  assert.equal(stream.headers.get('access-control-allow-origin'), 'https://app.example');
  assert.match(await stream.text(), /data: \[DONE\]/);
  const models = await fetch(`${s.base}/v1/models`, { headers: { Origin: origin, Authorization: 'Bearer k' } });
  assert.equal(models.headers.get('access-control-allow-origin'), origin);
  const ollama = await fetch(`${s.base}/api/tags`, { headers: { Origin: origin, Authorization: 'Bearer k' } });
  assert.equal(ollama.headers.get('access-control-allow-origin'), origin);
  // Another origin gets an answer (the server is no firewall) but no permission for the browser to read it.
  const foreign = await fetch(`${s.base}/v1/models`, { headers: { Origin: 'http://evil.example', Authorization: 'Bearer k' } });
  assert.equal(foreign.status, 200);
  assert.equal(foreign.headers.get('access-control-allow-origin'), null);
  // Same-origin and non-browser requests send no Origin: no headers.
  assert.equal((await fetch(`${s.base}/health`)).headers.get('access-control-allow-origin'), null);
});

test('--cors-origin "*" allows any origin', async () => {
  const s = await serve(['--cors-origin', '*']);
  const r = await fetch(`${s.base}/v1/models`, { headers: { Origin: 'https://anywhere.example' } });
  assert.equal(r.headers.get('access-control-allow-origin'), '*');
  assert.equal(r.headers.get('vary'), null);
  const pre = await fetch(`${s.base}/v1/responses`, {
    method: 'OPTIONS', headers: { Origin: 'https://anywhere.example', 'Access-Control-Request-Method': 'POST' } });
  assert.equal(pre.status, 204);
  assert.equal(pre.headers.get('access-control-allow-origin'), '*');
});

test('a malformed --cors-origin is one line on stderr and exit status 1', () => {
  for (const bad of ['localhost:3000', 'https://app.example/', 'http://host:port']) {
    const r = spawnSync(BIN, ['serve', '-m', MODEL, '--port', '0', '--cors-origin', bad], { encoding: 'utf8', timeout: 30000 });
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /--cors-origin/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});
