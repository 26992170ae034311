// Failover through the local cluster (issue 22): three replicas behind nginx, 90 non-streamed requests from 6
// concurrent clients; one replica SIGKILLed mid-run and another SIGTERMed (it drains). At most the requests in
// flight on the killed replica may fail; every request the draining replica took completes; no request started
// after the kill fails (nginx retries refused, reset and 503-answered attempts on the next replica).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startCluster, request, until } from './cluster.js';

const TOTAL = 90;
const CLIENTS = 6;
const KILL_AFTER = 30;  // requests completed when one replica is SIGKILLed
const TERM_AFTER = 55;  // ... and when another is SIGTERMed

let cluster;
after(async () => {
  if (cluster) {
    await cluster.stop();
    cluster.cleanup();
  }
});

test('90 requests from 6 clients survive a SIGKILLed and a drained replica', async () => {
  cluster = await startCluster({ replicas: 3, extra: ['--parallel', '2', '--drain-timeout', '20'] });
  const [killed, drained, survivor] = cluster.replicas;
  const log = [];  // {id, start, end, ok, status, error}
  let next = 0, done = 0, tKill = null, tTerm = null;

  async function client(c) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    while (next < TOTAL) {
      const id = next++;
      const start = Date.now();
      // A session id per request spreads them over the replicas (the consistent hash of the id).
      const r = await request(cluster.base, '/v1/chat/completions', {
        agent,
        headers: { 'X-Session-Id': `req-${id}`, 'X-Request-Id': String(id) },
        body: { messages: [{ role: 'user', content: `Request ${id}: say something.` }], max_tokens: 24,
          temperature: 0 },
      });
      const ok = r.status === 200 && r.json?.choices?.[0]?.message !== undefined && r.json.usage?.completion_tokens > 0;
      log.push({ id, start, end: Date.now(), ok, status: r.status, error: r.error ?? (ok ? null : r.body) });
      done++;
      if (done === KILL_AFTER && tKill === null) {
        tKill = Date.now();
        process.kill(killed.pid, 'SIGKILL');
      }
      if (done === TERM_AFTER && tTerm === null) {
        tTerm = Date.now();
        process.kill(drained.pid, 'SIGTERM');
      }
    }
    agent.destroy();
  }
  const t0 = Date.now();
  await Promise.all(Array.from({ length: CLIENTS }, (_, c) => client(c)));
  const elapsed = Date.now() - t0;
  assert.equal(log.length, TOTAL);
  assert.ok(tKill && tTerm);

  // The two replicas' ends, as the cluster reports them (it keeps running with the third).
  await until(() => /replica 1 \(pid \d+, port \d+\) exited with status 0/.test(cluster.log()),
    'the drained replica to exit 0', 30000);
  assert.match(cluster.log(), /replica 0 \(pid \d+, port \d+\) exited with status 137/);
  assert.match(cluster.replicaLog(1), /stopped \(\d+ request\(s\) drained, 0 aborted\)/);

  // nginx's access log: which replica answered each request (the last one tried) and what was tried before.
  let access;  // nginx writes a request's line just after the response's last byte
  await until(() => {
    access = new Map(cluster.accessLog().filter((l) => /^\d+$/.test(l.id)).map((l) => [Number(l.id), l]));
    return access.size === TOTAL;
  }, 'an access log line for every request', 5000);
  const failed = log.filter((r) => !r.ok);
  const inFlightAtKill = log.filter((r) => r.start <= tKill && r.end >= tKill);
  for (const r of failed) {
    assert.ok(r.start <= tKill && r.end >= tKill, `a failed request was in flight at the kill: ${JSON.stringify(r)}`);
    const a = access.get(r.id);
    if (a) assert.equal(a.upstreams.at(-1), killed.port, `failed request ${r.id} was on the killed replica`);
  }
  assert.ok(failed.length <= inFlightAtKill.length);
  for (const r of log.filter((x) => x.start > tKill))
    assert.ok(r.ok, `a request started after the kill failed: ${JSON.stringify(r)}`);
  // Every request the draining replica answered is complete; after the SIGTERM (once the signal is seen) only
  // the survivor answers.
  const onDrained = log.filter((r) => access.get(r.id)?.upstreams.at(-1) === drained.port);
  for (const r of onDrained) assert.ok(r.ok, `request ${r.id} on the drained replica completed`);
  for (const r of log.filter((x) => x.start > tTerm + 500))
    assert.equal(access.get(r.id)?.upstreams.at(-1), survivor.port, `request ${r.id} answered by the survivor`);

  const retried = [...access.values()].filter((a) => a.upstreams.length > 1).length;
  const served = [killed, drained, survivor].map((rep) =>
    log.filter((r) => r.ok && access.get(r.id)?.upstreams.at(-1) === rep.port).length);
  console.log(`failover: ${TOTAL} requests in ${elapsed} ms, ${failed.length} failed ` +
    `(${inFlightAtKill.length} in flight at the kill), ${retried} retried by nginx on another replica; ` +
    `answered by killed/drained/survivor: ${served.join("/")}`);
  for (const r of failed) console.log(`failed: ${JSON.stringify(r)} ${JSON.stringify(access.get(r.id))}`);
});
