#!/usr/bin/env node
// Delta transfers against rsync, all from one run (issue "Delta transfers", acceptance point
// on `npm run bench`):
//
//   1. the librsync binding vs the `rdiff` CLI: signature / delta / patch throughput and the
//      peak RSS of a 1 GiB delta (runs scripts/bench-rsync.js as a child and keeps its output);
//   2. wire bytes of the end-to-end edit (test/integration/sync-delta.test.ts: a 256 MiB random
//      file, 100 bytes inserted near its start and 4 KiB overwritten in its middle) with real
//      processes: `node bin/axis-server.js` and two `axis-agent run` agents, each talking to the
//      server through its own counting TCP proxy in this script. Agent A uploads the edit as a
//      delta, agent B downloads it as a delta; every byte of every TCP connection between the
//      agent and the server (TLS records, HTTP headers, the change feed, everything) is counted
//      from the moment the edited file is renamed into A's folder until each agent is idle again;
//   3. the same edit with `rsync --no-whole-file --stats` against a local rsync daemon
//      (`rsync --daemon --no-detach` on a free loopback port, module in a temp dir): push of the
//      edited file over the old one (upload), then pull of it over a local old copy (download);
//      "Total bytes sent" + "Total bytes received" from --stats (and the TCP bytes through the
//      same kind of counting proxy, as a cross-check).
//
//   npx tsc -p tsconfig.json && node scripts/bench-delta.js          (scripts/bench.js --only delta runs it)
//   BENCH_DELTA_MB=64 node scripts/bench-delta.js --skip-binding     (quick: smaller file, no rdiff part)
//
// Options: --skip-binding (no part 1), --skip-rsync (no part 3), --keep (keep the temp dir),
// --json (print only the JSON result line). Env: BENCH_DELTA_MB (default 256), BENCH_RSYNC_MB /
// BENCH_RSYNC_BIG_MB (passed to bench-rsync.js), TMPDIR. Needs the built dist/ and addon; rdiff
// for part 1; rsync for part 3 (skipped with a message when missing). Temp space: ~2.5 GiB.
// The last line of the output is `RESULT {json}` (read by scripts/bench.js).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { api, readOr, waitFor } from './bench-lib.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const AGENT_BIN = path.join(ROOT, 'bin/axis-agent.js');
const SERVER_BIN = path.join(ROOT, 'bin/axis-server.js');
const MiB = 1 << 20;

const { values: opt } = parseArgs({
  options: {
    'skip-binding': { type: 'boolean', default: false },
    'skip-rsync': { type: 'boolean', default: false },
    keep: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});
const SIZE_MB = Number(process.env.BENCH_DELTA_MB ?? 256);
const WORK = fs.mkdtempSync(path.join(os.tmpdir(), 'axis-bench-delta-'));
const children = new Set();

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const t0 = Date.now();
const log = (msg) => process.stderr.write(`[delta ${((Date.now() - t0) / 1000).toFixed(1).padStart(6)} s] ${msg}\n`);
const loadavg = () =>
  os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' / ');
const kb = (n) => `${(n / 1000).toFixed(1)} kB`;

async function sha256File(file) {
  const h = createHash('sha256');
  for await (const c of fs.createReadStream(file, { highWaterMark: MiB })) h.update(c);
  return h.digest('hex');
}

// ----- the test files (the edit of test/integration/sync-delta.test.ts) -----

/** v1: random; v2: 100 bytes 'A' inserted at 1000, 4 KiB overwritten at the middle of v1. */
function makeFiles(v1Path, v2Path, bytes) {
  const v1 = Buffer.allocUnsafe(bytes);
  for (let off = 0; off < bytes; off += 64 * MiB) randomFillSync(v1, off, Math.min(64 * MiB, bytes - off));
  fs.writeFileSync(v1Path, v1);
  const mid = Math.floor(bytes / 2);
  const edit = randomFillSync(Buffer.allocUnsafe(4096));
  const fd = fs.openSync(v2Path, 'w');
  for (const part of [v1.subarray(0, 1000), Buffer.alloc(100, 0x41), v1.subarray(1000, mid), edit, v1.subarray(mid + 4096)]) fs.writeSync(fd, part);
  fs.closeSync(fd);
}

// ----- a counting TCP proxy -----

/** Listens on a free loopback port and forwards to 127.0.0.1:targetPort, counting bytes each way. */
async function countingProxy(targetPort) {
  const counts = { up: 0, down: 0, connections: 0 };
  const sockets = new Set();
  const server = net.createServer((client) => {
    counts.connections++;
    const upstream = net.connect(targetPort, '127.0.0.1');
    sockets.add(client);
    sockets.add(upstream);
    client.on('data', (d) => (counts.up += d.length));
    upstream.on('data', (d) => (counts.down += d.length));
    client.pipe(upstream);
    upstream.pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', close);
    upstream.on('error', close);
    client.on('close', close);
    upstream.on('close', close);
  });
  await new Promise((resolve, reject) => server.listen(0, '127.0.0.1', resolve).once('error', reject));
  return {
    port: server.address().port,
    counts,
    snapshot: () => ({ ...counts }),
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

const since = (now, before) => ({ up: now.up - before.up, down: now.down - before.down, connections: now.connections - before.connections });

// ----- part 1: the binding vs rdiff (scripts/bench-rsync.js) -----

function benchBinding() {
  log('binding: running scripts/bench-rsync.js');
  const r = spawnSync(process.execPath, [path.join(ROOT, 'scripts/bench-rsync.js')], { cwd: ROOT, env: process.env, encoding: 'utf8' });
  if (r.status !== 0) return { error: (r.stderr || r.stdout).trim().split('\n').pop(), output: `${r.stdout}\n${r.stderr}`.trim() };
  const out = r.stdout.trim();
  const rows = Object.fromEntries(
    [...out.matchAll(/^(signature|delta|patch)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)(?:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+))?/gm)].map((m) => [
      m[1],
      { oursMs: Number(m[2]), ours: Number(m[3]), rdiffMs: Number(m[4]), rdiff: Number(m[5]), oursCpuMs: Number(m[6]), oursCpu: Number(m[7]), rdiffCpuMs: Number(m[8]), rdiffCpu: Number(m[9]) },
    ]),
  );
  const rss = /peak RSS, delta of a (\d+) MiB file: ours ([\d.]+) MiB \(node process after loading: ([\d.]+) MiB.*?\); rdiff (\S+)/.exec(out);
  return {
    rows,
    rss: rss ? { fileMiB: Number(rss[1]), oursMiB: Number(rss[2]), idleMiB: Number(rss[3]), rdiff: rss[4] } : undefined,
    output: out
      .split('\n')
      .filter((l) => !/^preparing /.test(l))
      .join('\n')
      .trim(),
  };
}

// ----- part 2: our wire bytes, real server and agents -----

const ADMIN = { email: 'bench-admin@example.test', password: 'bench-admin-password-1' };


async function startServer() {
  const data = path.join(WORK, 'server');
  const logFile = fs.openSync(path.join(WORK, 'server.log'), 'a');
  const child = spawn(process.execPath, [SERVER_BIN, '--data', data, '--port', '0', '--admin-email', ADMIN.email, '--admin-password', ADMIN.password, '--log-level', 'warn'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', logFile],
  });
  fs.closeSync(logFile);
  children.add(child);
  child.on('exit', () => children.delete(child));
  let out = '';
  const { url, fingerprint } = await new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d.toString();
      const u = /listening on (\S+)/.exec(out)?.[1];
      const f = /fingerprint: (\S+)/.exec(out)?.[1];
      if (u && f) resolve({ url: u, fingerprint: f });
    });
    child.on('exit', (code) => reject(new Error(`axis-server exited (${code}) before it was ready: ${out}`)));
  });
  const server = { url, fingerprint, port: Number(new URL(url).port), ca: fs.readFileSync(path.join(data, 'tls/cert.pem')), child };
  const tok = await api(server, 'POST', '/oauth2/token', { form: { grant_type: 'password', username: ADMIN.email, password: ADMIN.password } });
  if (tok.status !== 200) throw new Error(`admin login failed: ${tok.status} ${JSON.stringify(tok.body)}`);
  const account = { email: `bench-delta-${Date.now()}@example.test`, password: 'bench-user-password-1' };
  const r = await api(server, 'POST', '/api/2/person/create', { form: account, token: tok.body.access_token });
  if (r.status !== 200) throw new Error(`person/create failed: ${r.status} ${JSON.stringify(r.body)}`);
  server.account = account;
  return server;
}

class Agent {
  constructor(name, server, proxy) {
    this.name = name;
    this.server = server;
    this.proxy = proxy;
    this.base = path.join(WORK, `agent-${name}`);
    this.home = path.join(this.base, 'home');
    this.dir = path.join(this.base, 'sync');
    this.logFile = path.join(this.base, 'agent.log');
    fs.mkdirSync(this.dir, { recursive: true });
  }

  /** `axis-agent login` through the proxy (asynchronously: the proxy lives in this process). */
  async login() {
    const env = { ...process.env };
    delete env.AXIS_AGENT_HOME;
    const { account, fingerprint } = this.server;
    const args = [AGENT_BIN, '--home', this.home, 'login', '--server', `https://127.0.0.1:${this.proxy.port}`, '--username', account.email, '--password', account.password, '--trust-fingerprint', fingerprint];
    const child = spawn(process.execPath, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    const code = await new Promise((r) => child.on('exit', r));
    if (code !== 0) throw new Error(`login of ${this.name} failed: ${out}`);
    fs.writeFileSync(path.join(this.home, 'settings.json'), JSON.stringify({ machineName: `bench-delta-${this.name}`, manualCollisions: true }));
  }

  spawn() {
    const env = { ...process.env, AXIS_AGENT_LONG_POLL_SECONDS: '25', AXIS_AGENT_LOG: process.env.AXIS_AGENT_LOG ?? 'warn' };
    delete env.AXIS_AGENT_HOME;
    const logFd = fs.openSync(this.logFile, 'a');
    this.child = spawn(process.execPath, [AGENT_BIN, '--home', this.home, 'run', '--sync-dir', this.dir], { cwd: ROOT, env, stdio: ['ignore', logFd, logFd] });
    fs.closeSync(logFd);
    children.add(this.child);
    this.exited = new Promise((r) => this.child.on('exit', r));
    this.exited.then(() => children.delete(this.child));
  }

  status() {
    try {
      return JSON.parse(fs.readFileSync(path.join(this.home, 'status.json'), 'utf8'));
    } catch {
      return null;
    }
  }

  root() {
    return this.status()?.roots?.[0];
  }

  isIdle(sinceMs) {
    const s = this.status();
    return !!s && s.pid === this.child.pid && Date.parse(s.updated) >= sinceMs && s.roots.length > 0 && s.roots.every((r) => r.state === 'idle' && r.queued === 0);
  }

  async waitIdle(sinceMs, timeoutMs = 300_000) {
    await waitFor(
      () => {
        if (this.child.exitCode !== null) throw new Error(`agent ${this.name} exited:\n${readOr(this.logFile, '')}`);
        return this.isIdle(sinceMs);
      },
      { what: `${this.name} to become idle`, timeoutMs },
    );
  }

  async stop() {
    if (!this.child || this.child.exitCode !== null) return;
    this.child.kill('SIGTERM');
    await this.exited;
  }
}

/** Renames `src` into place as `dst` (an editor's atomic save; the agent sees one complete file). */
function placeFile(src, dst) {
  const tmp = path.join(path.dirname(path.dirname(dst)), `staging-${path.basename(dst)}`);
  fs.copyFileSync(src, tmp);
  fs.renameSync(tmp, dst);
}

async function benchAgents(v1, v2, sums) {
  log('agents: starting axis-server, two counting proxies and agents A and B');
  const server = await startServer();
  const pa = await countingProxy(server.port);
  const pb = await countingProxy(server.port);
  const a = new Agent('A', server, pa);
  const b = new Agent('B', server, pb);
  const agents = [a, b];
  try {
    await Promise.all([a.login(), b.login()]);
    let t = Date.now();
    a.spawn();
    b.spawn();
    await Promise.all([a.waitIdle(t), b.waitIdle(t)]);

    log(`agents: initial whole-file sync of ${SIZE_MB} MiB (A uploads, B downloads)`);
    t = Date.now();
    placeFile(v1, path.join(a.dir, 'big.bin'));
    const bBig = path.join(b.dir, 'big.bin');
    const v1Size = fs.statSync(v1).size;
    await waitFor(async () => fs.existsSync(bBig) && fs.statSync(bBig).size === v1Size && (await sha256File(bBig)) === sums.v1, { what: 'big.bin (v1) on B', timeoutMs: 600_000, intervalMs: 500 });
    await Promise.all([a.waitIdle(Date.now()), b.waitIdle(Date.now())]);
    const initialMs = Date.now() - t;
    await sleep(1000);

    log('agents: the edit (rename of the edited file into A\'s folder)');
    const before = { a: pa.snapshot(), b: pb.snapshot(), ra: a.root(), rb: b.root() };
    t = Date.now();
    placeFile(v2, path.join(a.dir, 'big.bin'));
    await waitFor(() => (a.root()?.delta_uploads ?? 0) + (a.root()?.whole_uploads ?? 0) > (before.ra.delta_uploads ?? 0) + (before.ra.whole_uploads ?? 0), { what: 'A to upload the edit', timeoutMs: 300_000 });
    await a.waitIdle(Date.now());
    const upMs = Date.now() - t;
    const afterA = pa.snapshot();
    const v2Size = fs.statSync(v2).size;
    await waitFor(async () => fs.statSync(bBig).size === v2Size && (await sha256File(bBig)) === sums.v2, { what: 'big.bin (v2) on B', timeoutMs: 300_000, intervalMs: 200 });
    await b.waitIdle(Date.now());
    const downMs = Date.now() - t;
    const afterB = pb.snapshot();
    // Whatever arrives later (the next long poll, status) is not part of the transfer; wait a little
    // to show that the counts were final.
    await sleep(2000);
    const lateA = since(pa.snapshot(), afterA);
    const lateB = since(pb.snapshot(), afterB);
    const ra = a.root();
    const rb = b.root();
    const sameOnA = (await sha256File(path.join(a.dir, 'big.bin'))) === sums.v2;
    return {
      initialMs,
      upload: {
        wire: since(afterA, before.a),
        payload: ra.bytes_up - before.ra.bytes_up,
        delta: ra.delta_uploads - before.ra.delta_uploads,
        whole: (ra.whole_uploads ?? 0) - (before.ra.whole_uploads ?? 0),
        ms: upMs,
        late: lateA,
      },
      download: {
        wire: since(afterB, before.b),
        payload: rb.bytes_down - before.rb.bytes_down,
        delta: rb.delta_downloads - before.rb.delta_downloads,
        whole: (rb.whole_downloads ?? 0) - (before.rb.whole_downloads ?? 0),
        ms: downMs,
        late: lateB,
      },
      identical: sameOnA,
    };
  } finally {
    await Promise.all(agents.map((x) => x.stop()));
    await Promise.all([pa.close(), pb.close()]);
    if (server.child.exitCode === null) {
      const done = new Promise((r) => server.child.on('exit', r));
      server.child.kill('SIGTERM');
      await done;
    }
  }
}

// ----- part 3: rsync against a local rsync daemon -----

function rsyncVersion() {
  try {
    return execFileSync('rsync', ['--version'], { encoding: 'utf8' }).split('\n')[0].replace(/\s+/g, ' ').trim();
  } catch {
    return undefined;
  }
}

async function freePort() {
  const s = net.createServer();
  await new Promise((resolve) => s.listen(0, '127.0.0.1', resolve));
  const { port } = s.address();
  await new Promise((resolve) => s.close(resolve));
  return port;
}

function parseStats(out) {
  const n = (label) => {
    const m = new RegExp(`^${label}:\\s*([\\d,.]+)`, 'm').exec(out);
    return m ? Number(m[1].replace(/[,.]/g, '')) : NaN;
  };
  return { sent: n('Total bytes sent'), received: n('Total bytes received'), literal: n('Literal data'), matched: n('Matched data') };
}

/** Runs the rsync client (asynchronously: its connection goes through a proxy in this process). */
async function runRsync(args) {
  const child = spawn('rsync', args, { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  let out = '';
  let err = '';
  child.stdout.on('data', (d) => (out += d));
  child.stderr.on('data', (d) => (err += d));
  const code = await new Promise((r) => child.on('exit', r));
  children.delete(child);
  if (code !== 0) throw new Error(`rsync ${args.join(' ')} failed (${code}): ${err}`);
  return out;
}

async function benchRsyncDaemon(v1, v2, sums) {
  const dir = path.join(WORK, 'rsyncd');
  const mod = path.join(dir, 'module');
  const local = path.join(dir, 'local');
  fs.mkdirSync(mod, { recursive: true });
  fs.mkdirSync(local, { recursive: true });
  const port = await freePort();
  const conf = path.join(dir, 'rsyncd.conf');
  fs.writeFileSync(
    conf,
    [
      `pid file = ${dir}/rsyncd.pid`,
      `log file = ${dir}/rsyncd.log`,
      'use chroot = no',
      `uid = ${process.getuid?.() ?? 0}`,
      `gid = ${process.getgid?.() ?? 0}`,
      '[bench]',
      `path = ${mod}`,
      'read only = false',
      '',
    ].join('\n'),
  );
  log(`rsync: daemon on 127.0.0.1:${port}`);
  const daemon = spawn('rsync', ['--daemon', '--no-detach', `--config=${conf}`, `--port=${port}`, '--address=127.0.0.1'], { stdio: ['ignore', 'ignore', 'pipe'] });
  children.add(daemon);
  daemon.on('exit', () => children.delete(daemon));
  let daemonErr = '';
  daemon.stderr.on('data', (d) => (daemonErr += d));
  const proxy = await countingProxy(port);
  try {
    await waitFor(
      () =>
        new Promise((resolve, reject) => {
          if (daemon.exitCode !== null) return reject(new Error(`rsync daemon exited: ${daemonErr}`));
          const s = net.connect(port, '127.0.0.1');
          s.on('connect', () => (s.destroy(), resolve(true)));
          s.on('error', () => resolve(false));
        }),
      { what: 'the rsync daemon to listen', timeoutMs: 10_000 },
    );
    const url = `rsync://127.0.0.1:${proxy.port}/bench/`;
    fs.copyFileSync(v1, path.join(mod, 'big.bin'));
    // Upload: push the edited file over the old one in the module.
    const staged = path.join(dir, 'new');
    fs.mkdirSync(staged);
    fs.copyFileSync(v2, path.join(staged, 'big.bin'));
    let before = proxy.snapshot();
    let t = Date.now();
    const upOut = await runRsync(['--no-whole-file', '--stats', path.join(staged, 'big.bin'), url]);
    const up = { ...parseStats(upOut), ms: Date.now() - t, tcp: since(proxy.snapshot(), before) };
    if ((await sha256File(path.join(mod, 'big.bin'))) !== sums.v2) throw new Error('rsync upload: the module does not hold the edited file');
    // Download: pull it over a local copy of the old version.
    fs.copyFileSync(v1, path.join(local, 'big.bin'));
    before = proxy.snapshot();
    t = Date.now();
    const downOut = await runRsync(['--no-whole-file', '--stats', `${url}big.bin`, `${local}/`]);
    const down = { ...parseStats(downOut), ms: Date.now() - t, tcp: since(proxy.snapshot(), before) };
    if ((await sha256File(path.join(local, 'big.bin'))) !== sums.v2) throw new Error('rsync download: the local copy is not the edited file');
    return { version: rsyncVersion(), upload: up, download: down };
  } finally {
    await proxy.close();
    if (daemon.exitCode === null) {
      const done = new Promise((r) => daemon.on('exit', r));
      daemon.kill('SIGTERM');
      await done;
    }
  }
}

// ----- main -----

function report(res) {
  const lines = [];
  const b = res.binding;
  if (b?.output) lines.push('## librsync binding vs rdiff (scripts/bench-rsync.js)', '', b.output, '');
  if (b?.error) lines.push(`binding benchmark failed: ${b.error}`, '');
  const w = res.agents;
  const r = res.rsync;
  lines.push(`## wire bytes: ${SIZE_MB} MiB random file, 100 bytes inserted at offset 1000, 4 KiB overwritten in the middle`, '');
  if (w) {
    lines.push(`initial whole-file sync (A up, B down): ${(w.initialMs / 1000).toFixed(1)} s; edited file byte-identical on A and B: ${w.identical ? 'yes' : 'NO'}`);
    for (const [dir, x] of [
      ['upload (agent A)', w.upload],
      ['download (agent B)', w.download],
    ]) {
      lines.push(
        `ours ${dir}: ${x.wire.up + x.wire.down} B on the wire (agent→server ${x.wire.up} B, server→agent ${x.wire.down} B, ${x.wire.connections} new TCP connections), delta payload ${x.payload} B, ${x.delta} delta / ${x.whole} whole-file transfers, ${dir.startsWith('upload') ? 'A idle' : 'B has the file and is idle'} ${(x.ms / 1000).toFixed(1)} s after the edit; in the 2 s after that: ${x.late.up + x.late.down} B`,
      );
    }
  }
  if (r?.missing) lines.push(r.missing);
  else if (r?.error) lines.push(`rsync comparison failed: ${r.error}`);
  else if (r) {
    lines.push(`${r.version}, daemon on loopback, no compression`);
    for (const [dir, x] of [
      ['upload (push)', r.upload],
      ['download (pull)', r.download],
    ]) {
      lines.push(
        `rsync ${dir}: ${x.sent + x.received} B (--stats: sent ${x.sent} B, received ${x.received} B; literal ${x.literal} B, matched ${x.matched} B; TCP through the proxy ${x.tcp.up + x.tcp.down} B), ${(x.ms / 1000).toFixed(1)} s`,
      );
    }
  }
  if (w && r?.upload) {
    for (const k of ['upload', 'download']) {
      const ours = w[k].wire.up + w[k].wire.down;
      const theirs = r[k].sent + r[k].received;
      lines.push(`${k}: ours ${kb(ours)} vs rsync ${kb(theirs)} = ${(ours / theirs).toFixed(3)}x (target <= 0.25x)`);
    }
  }
  return lines.join('\n');
}

async function main() {
  const res = { sizeMiB: SIZE_MB, load: { start: loadavg() }, cpus: os.cpus().length, cpu: os.cpus()[0]?.model?.trim() ?? '?' };
  if (!fs.existsSync(path.join(ROOT, 'dist/src/agent/cli.js'))) throw new Error('dist/ is missing: run `npm run build`');
  if (!opt['skip-binding']) res.binding = benchBinding();

  log(`preparing the ${SIZE_MB} MiB file and its edit in ${WORK}`);
  const v1 = path.join(WORK, 'v1.bin');
  const v2 = path.join(WORK, 'v2.bin');
  makeFiles(v1, v2, SIZE_MB * MiB);
  const sums = { v1: await sha256File(v1), v2: await sha256File(v2) };

  res.agents = await benchAgents(v1, v2, sums);

  if (!opt['skip-rsync']) {
    if (!rsyncVersion()) {
      res.rsync = { missing: 'rsync not installed: apt-get install rsync (the rsync comparison is skipped)' };
      log(res.rsync.missing);
    } else {
      try {
        res.rsync = await benchRsyncDaemon(v1, v2, sums);
      } catch (err) {
        res.rsync = { error: String(err.message ?? err).split('\n')[0] };
        log(`rsync FAILED: ${err.stack ?? err}`);
      }
    }
  }
  res.load.end = loadavg();
  if (!opt.json) process.stdout.write(`${report(res)}\n`);
  process.stdout.write(`RESULT ${JSON.stringify(res)}\n`);
}

const cleanup = () => {
  for (const c of children) c.kill('SIGTERM');
  if (!opt.keep) fs.rmSync(WORK, { recursive: true, force: true });
};
process.once('SIGINT', () => {
  cleanup();
  process.exit(130);
});
try {
  await main();
} finally {
  cleanup();
}
