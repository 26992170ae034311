// Drain through the local cluster (issue 22): one replica with 8 streams running and one longer than the drain
// timeout; SIGTERM to deploy/local/cluster forwards SIGTERM to the replica, which finishes the 8 with [DONE] inside
// --drain-timeout while nginx still carries them, ends the long one with finish_reason "abort", and exits 0; then
// the cluster stops nginx and exits 0.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { startCluster, stream, request, until, EOS } from './cluster.js';

const DRAIN_S = 8;
const SHORT_TOKENS = 120;   // about 1.5 s at 9 sequences a step on tiny-bf16 (2 busy cores): running at SIGTERM, done well inside
const LONG_TOKENS = 32000;  // ~9 s at 3,500 tok/s, far more than tiny-bf16 decodes here (~900 tok/s alone): past the drain timeout

let cluster;
after(async () => {
  if (cluster) {
    await cluster.stop();
    cluster.cleanup();
  }
});

test('SIGTERM: 8 running streams finish with [DONE] inside the drain timeout, a longer one is aborted', async () => {
  cluster = await startCluster({
    replicas: 1,
    extra: ['--parallel', '9', '--ctx', '32768', '--drain-timeout', String(DRAIN_S)],
  });
  const [replica] = cluster.replicas;
  const started = new Set();
  const body = (n) => ({
    messages: [{ role: 'user', content: 'Count slowly.' }],
    max_tokens: n, stream: true, stream_options: { include_usage: true }, temperature: 0, logit_bias: EOS,
  });
  const t0 = Date.now();
  const streams = [];
  const ended = [];
  for (let i = 0; i < 9; i++) {
    const n = i < 8 ? SHORT_TOKENS : LONG_TOKENS;
    streams.push(stream(cluster.base, '/v1/chat/completions', body(n), {
      onEvent: (ev) => { if (ev.choices?.[0]?.delta?.content) started.add(i); },
    }).then((r) => { ended[i] = Date.now(); return r; }));
  }
  await until(() => started.size === 9, 'all 9 streams to produce a token', 30000);
  const tSignal = Date.now();
  assert.equal(ended.filter(Boolean).length, 0, 'every stream is still running at SIGTERM');
  cluster.proc.kill('SIGTERM');

  // While it drains the replica is not ready: its listener is closed, so a probe on a new connection is refused
  // (on a connection already open it would get 503). A new request through nginx is answered 503 with Retry-After
  // (no replica accepts it), never hung.
  await until(async () => (await request(replica.base, '/health/ready', { method: 'GET' })).status !== 200,
    'the replica to stop being ready', 5000);
  const refused = await request(cluster.base, '/v1/chat/completions', {
    body: { messages: [{ role: 'user', content: 'hi' }], max_tokens: 2 }, timeout: 10000,
  });
  assert.equal(refused.status, 503, JSON.stringify(refused));
  assert.ok(refused.headers['retry-after'], 'Retry-After on the 503');
  assert.match(refused.json?.error?.code ?? '', /^(no_replica|shutting_down)$/);

  const results = await Promise.all(streams);
  for (let i = 0; i < 8; i++) {
    const r = results[i];
    assert.equal(r.status, 200);
    assert.ok(r.done, `stream ${i} ends with [DONE] (${r.error ?? ''})`);
    assert.equal(r.finish, 'length', `stream ${i} finished normally`);
    assert.equal(r.usage?.completion_tokens, SHORT_TOKENS, `stream ${i} got every token`);
    assert.ok(ended[i] - tSignal < DRAIN_S * 1000, `stream ${i} ended inside the drain timeout (${ended[i] - tSignal} ms)`);
  }
  const long = results[8];
  assert.ok(long.done, `the long stream ends with [DONE] (${long.error ?? ''})`);
  assert.equal(long.finish, 'abort');
  assert.ok(long.usage.completion_tokens < LONG_TOKENS);
  const waited = ended[8] - tSignal;
  assert.ok(waited >= DRAIN_S * 1000 - 500 && waited < DRAIN_S * 1000 + 5000,
    `the long stream was aborted at the drain timeout (${waited} ms after SIGTERM)`);

  const { code } = await cluster.exit;
  assert.equal(code, 0, cluster.log());
  assert.match(cluster.replicaLog(0), /stopped \(8 request\(s\) drained, 1 aborted\)/);
  assert.match(cluster.log(), /replica 0 \(pid \d+, port \d+\) exited with status 0/);
  assert.throws(() => process.kill(cluster.nginxPid, 0), 'nginx has stopped');
  console.log(`drain: 8 streams done in ${Math.max(...ended.slice(0, 8)) - tSignal} ms after SIGTERM, ` +
    `the long one aborted after ${waited} ms (${long.usage.completion_tokens} tokens), ` +
    `cluster exited ${Date.now() - tSignal} ms after SIGTERM; ${tSignal - t0} ms to start the streams`);
});
