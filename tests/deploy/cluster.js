// Starts deploy/local/cluster (N `qwen3 serve` replicas behind a private nginx) on a free loopback port, and a
// small HTTP client (node:http: a chosen source address, plain and SSE responses). No npm packages.
// QWEN3_BIN and QWEN3_MODEL come from CTest (tests/deploy.cmake).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const BIN = process.env.QWEN3_BIN;
export const MODEL = process.env.QWEN3_MODEL;
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const CLUSTER = path.join(ROOT, 'deploy/local/cluster');

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// Waits (bounded) until pred() is true.
export async function until(pred, what, ms = 10000) {
  const t0 = Date.now();
  while (Date.now() - t0 < ms) {
    if (await pred()) return;
    await sleep(20);
  }
  throw new Error(`timed out waiting for ${what}`);
}

// A port free right now (nginx cannot bind port 0 and report it as qwen3 serve does).
export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

const alive = (pid) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

// Starts the cluster and waits (bounded) for STATE/replicas. `extra`: qwen3 serve flags after `--`; `threads`:
// each replica's -t.
export async function startCluster({ replicas, extra = [], bin = BIN, model = MODEL, threads = 1, readyTimeout = 120 }) {
  if (!bin || !model) throw new Error('set QWEN3_BIN and QWEN3_MODEL');
  const state = fs.mkdtempSync(path.join(os.tmpdir(), 'qwen3-deploy-test-'));
  fs.chmodSync(state, 0o755);
  let proc, port, log = '';
  for (let attempt = 0; ; attempt++) {  // the free port may be taken between freePort() and nginx's bind
    port = await freePort();
    proc = spawn(CLUSTER, ['--replicas', String(replicas), '--port', String(port), '-m', model, '--state', state,
      '--ready-timeout', String(readyTimeout), '--', '-t', String(threads), ...extra], {
      stdio: ['ignore', 'ignore', 'pipe'],
      env: { ...process.env, QWEN3_BIN: bin },
    });
    log = '';
    proc.stderr.on('data', (d) => (log += d));
    const exited = new Promise((r) => proc.on('exit', (code) => r(code)));
    const file = path.join(state, 'replicas');
    const ready = (async () => {
      const t0 = Date.now();
      while (Date.now() - t0 < (readyTimeout + 30) * 1000) {
        if (fs.existsSync(file)) return true;
        if (proc.exitCode !== null) return false;
        await sleep(50);
      }
      return false;
    })();
    if (await ready) break;
    const code = proc.exitCode ?? (proc.kill('SIGTERM'), await exited);
    if (attempt < 2 && /Address already in use/.test(fs.readFileSync(path.join(state, 'nginx/error.log'), 'utf8')))
      continue;
    throw new Error(`cluster did not start (exit ${code}):\n${log}`);
  }
  const list = fs.readFileSync(path.join(state, 'replicas'), 'utf8').trim().split('\n').map((l) => {
    const [pid, p] = l.split(' ').map(Number);
    return { pid, port: p, base: `http://127.0.0.1:${p}` };
  });
  const exit = new Promise((r) => proc.on('exit', (code, signal) => r({ code, signal })));
  const nginxPid = Number(fs.readFileSync(path.join(state, 'nginx/nginx.pid'), 'utf8'));
  return {
    proc, port, state, nginxPid, exit,
    replicas: list,
    base: `http://127.0.0.1:${port}`,
    log: () => log,
    replicaLog: (i) => fs.readFileSync(path.join(state, `replica-${i}.log`), 'utf8'),
    // The access log's lines: request id, status, the replicas tried ("127.0.0.1:P" each) and their statuses.
    accessLog() {
      return fs.readFileSync(path.join(state, 'nginx/access.log'), 'utf8').trim().split('\n').filter(Boolean)
        .map((line) => {
          const m = /"(\S+) (\S+) [^"]*" (\d+) .*session="([^"]*)" request_id="([^"]*)" upstream=(.*) upstream_status=(.*) upstream_time=/.exec(line);
          if (!m) throw new Error(`unparsed access log line: ${line}`);
          return {
            method: m[1], path: m[2], status: Number(m[3]), session: m[4], id: m[5],
            upstreams: m[6].split(/, | : /).map((u) => Number(u.split(':')[1])),
            upstreamStatus: m[7].split(/, | : /).map((s) => s.trim()),
          };
        });
    },
    // SIGTERM and wait (bounded); then whatever is left of the cluster is SIGKILLed by pid.
    async stop(ms = 60000) {
      if (proc.exitCode === null && proc.signalCode === null) {
        proc.kill('SIGTERM');
        let timer;
        await Promise.race([exit, new Promise((r) => (timer = setTimeout(r, ms)))]);
        clearTimeout(timer);
      }
      for (const pid of [proc.pid, ...list.map((r) => r.pid), nginxPid])
        if (alive(pid)) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
      return exit;
    },
    cleanup() {
      fs.rmSync(state, { recursive: true, force: true });
    },
  };
}

// One HTTP request on a fresh connection (or the given agent). Resolves {status, headers, body, json} or
// {error}; never rejects. `localAddress`: the client's source address (any of 127/8 on Linux).
export function request(base, p, { method = 'POST', body, headers = {}, localAddress, agent, timeout = 60000 } = {}) {
  return new Promise((resolve) => {
    const data = body === undefined ? undefined : JSON.stringify(body);
    const req = http.request(`${base}${p}`, {
      method, localAddress, agent: agent ?? false, timeout,
      headers: { ...(data ? { 'Content-Type': 'application/json' } : {}), ...headers },
    }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (text += d));
      res.on('end', () => {
        let json = null;
        try { json = JSON.parse(text); } catch { /* not JSON: a cut body */ }
        resolve({ status: res.statusCode, headers: res.headers, body: text, json, complete: res.complete });
      });
      res.on('error', (e) => resolve({ status: res.statusCode, error: e.message, body: text }));
      res.on('aborted', () => resolve({ status: res.statusCode, error: 'aborted', body: text }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ error: e.message }));
    req.end(data);
  });
}

// A streamed completion: resolves {status, events (parsed data: objects), done ([DONE] seen), finish, text,
// error}. onEvent(ev) is called for each data event as it arrives.
export function stream(base, p, body, { headers = {}, onEvent = () => {}, timeout = 120000 } = {}) {
  return new Promise((resolve) => {
    const out = { status: 0, events: [], done: false, finish: null, text: '', usage: null };
    const req = http.request(`${base}${p}`, {
      method: 'POST', agent: false, timeout,
      headers: { 'Content-Type': 'application/json', ...headers },
    }, (res) => {
      out.status = res.statusCode;
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (d) => {
        buf += d;
        let i;
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          for (const line of block.split('\n')) {
            if (!line.startsWith('data: ')) continue;
            const v = line.slice(6);
            if (v === '[DONE]') { out.done = true; continue; }
            let ev;
            try { ev = JSON.parse(v); } catch { out.error = `bad event: ${v}`; continue; }
            out.events.push(ev);
            if (ev.usage) out.usage = ev.usage;
            for (const c of ev.choices ?? []) {
              if (c.delta?.content) out.text += c.delta.content;
              if (c.text) out.text += c.text;
              if (c.finish_reason) out.finish = c.finish_reason;
            }
            onEvent(ev);
          }
        }
      });
      res.on('end', () => resolve(out));
      res.on('error', (e) => resolve({ ...out, error: e.message }));
      res.on('aborted', () => resolve({ ...out, error: 'aborted' }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e) => resolve({ ...out, error: e.message }));
    req.end(JSON.stringify(body));
  });
}

// One value of a replica's Prometheus text.
export async function metric(base, name) {
  const r = await request(base, '/metrics', { method: 'GET' });
  const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(r.body ?? '');
  if (!m) throw new Error(`no metric ${name} at ${base}: ${r.error ?? r.body}`);
  return Number(m[1]);
}

export const EOS = { 151643: -100, 151645: -100 };  // <|endoftext|>, <|im_end|>: never chosen
