#!/usr/bin/env node
// Sync benchmarks of the AXIS CloudSync agent against the reference server, with real
// processes: the server is `node bin/axis-server.js` (its own process, so its CPU and memory
// are not the agents'), every agent is `node bin/axis-agent.js --home H run --sync-dir D`.
// Uses the compiled dist/ (`npm run bench` builds first). Prints a table and writes the
// figures, with a description of the machine and its load, into docs/benchmarks.md (only the
// result blocks between the `<!-- bench:ID:start/end -->` markers are replaced; the rest of the
// document, including the hand-written analysis, is kept).
//
//   npm run bench                         # all six, full size (~1.1 GiB initial sync, 100k-file restart)
//   npm run bench -- --small              # quick: 1,000-file initial sync, 10,000-file restart, short rsync run
//   node scripts/bench.js --only latency,burst
//   node scripts/bench.js --only initial --initial-files 5000 --cpu-prof
//
// Options:
//   --small                 quick sizes (see above)
//   --only LIST             any of latency,burst,initial,restart,rsync,delta (or 1-6), comma-separated;
//                           delta (scripts/bench-delta.js: wire bytes vs an rsync daemon, plus the
//                           binding vs rdiff) also rewrites the rsync block from the same run (and
//                           rsync is then not run separately)
//   --edits N               one-line edits for the latency benchmark (default 30, --small 15)
//   --burst N               files edited at once (default 100); --burst-rounds R (default 3)
//   --initial-files N       files of the initial sync (default 10000, --small 1000): 90 % of
//                           1-64 KiB (log-uniform) in nested folders, 10 % of ~1 MiB
//   --restart-files N       files of the restart benchmark (default 100000, --small 10000)
//   --cpu-prof              run the agents and the server with --cpu-prof and print their hottest functions
//   --prof-dir DIR          (implies --cpu-prof) keep the .cpuprofile files in DIR/<process>-<run>/
//   --agent-node-options=S  extra node flags for the agent processes (e.g. --agent-node-options=--max-old-space-size=64)
//   --server-node-options=S extra node flags for the reference server (e.g. --server-node-options=--trace-gc)
//   (diagnostics: BENCH_INITIAL_ONLY=small|big runs only the 90 % small or the 10 % ~1 MiB files of the initial sync)
//   --tmp DIR               where the temp folders go (default: the OS temp dir)
//   --keep                  keep the temp folders (default: removed)
//   --no-doc                do not touch docs/benchmarks.md
//
// Temp space needed at full size: ~3.5 GiB (initial sync: source, server blobs, copy).
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes, randomFillSync } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { AGENT_NODE_FLAGS } from '../dist/src/agent/heap.js';
import { api, readOr, waitFor } from './bench-lib.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const AGENT_BIN = path.join(ROOT, 'bin/axis-agent.js');
const SERVER_BIN = path.join(ROOT, 'bin/axis-server.js');
const DOC = path.join(ROOT, 'docs/benchmarks.md');
const TEMP_PREFIX = '.axis-tmp-';
const MiB = 1024 * 1024;
const KiB = 1024;

// ----- options -----

const { values: opt } = parseArgs({
  options: {
    small: { type: 'boolean', default: false },
    only: { type: 'string' },
    edits: { type: 'string' },
    burst: { type: 'string' },
    'burst-rounds': { type: 'string' },
    'initial-files': { type: 'string' },
    'restart-files': { type: 'string' },
    'cpu-prof': { type: 'boolean', default: false },
    'prof-dir': { type: 'string' },
    'agent-node-options': { type: 'string' },
    'server-node-options': { type: 'string' },
    tmp: { type: 'string' },
    keep: { type: 'boolean', default: false },
    'no-doc': { type: 'boolean', default: false },
    help: { type: 'boolean', default: false },
  },
});
if (opt.help) {
  const src = fs.readFileSync(fileURLToPath(import.meta.url), 'utf8');
  process.stdout.write(`${src.split('\nimport ')[0].replace(/^#!.*\n/, '').replace(/^\/\/ ?/gm, '')}\n`);
  process.exit(0);
}
if (opt['prof-dir']) {
  opt['prof-dir'] = path.resolve(opt['prof-dir']);
  opt['cpu-prof'] = true;
}
/** Where the profiles of `name` go: under --prof-dir (kept) or in the temp folder `tmpDir`. */
const profDirOf = (name, tmpDir) => (opt['prof-dir'] ? path.join(opt['prof-dir'], name) : path.join(tmpDir, name));
const ALL = ['latency', 'burst', 'initial', 'restart', 'rsync', 'delta'];
const only = opt.only ? opt.only.split(',').map((s) => (/^\d$/.test(s.trim()) ? ALL[Number(s) - 1] : s.trim())) : ALL;
for (const o of only) if (!ALL.includes(o)) throw new Error(`--only: unknown benchmark "${o}" (${ALL.join(', ')})`);
const num = (v, d) => (v === undefined ? d : Math.max(1, Math.floor(Number(v))));
const SIZES = {
  edits: num(opt.edits, opt.small ? 15 : 30),
  burst: num(opt.burst, 100),
  burstRounds: num(opt['burst-rounds'], 3),
  initialFiles: num(opt['initial-files'], opt.small ? 1000 : 10_000),
  restartFiles: num(opt['restart-files'], opt.small ? 10_000 : 100_000),
};
const TMP = path.resolve(opt.tmp ?? os.tmpdir());
const BASE = fs.mkdtempSync(path.join(TMP, 'axis-bench-'));

// ----- small utilities -----

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const t0Run = performance.now();
function log(msg) {
  process.stderr.write(`[${((performance.now() - t0Run) / 1000).toFixed(1).padStart(6)} s] ${msg}\n`);
}
const fmtS = (ms) => `${(ms / 1000).toFixed(ms < 10_000 ? 3 : 1)} s`;
const fmtMiB = (bytes) => `${(bytes / MiB).toFixed(1)} MiB`;
const loadavg = () =>
  os
    .loadavg()
    .map((x) => x.toFixed(2))
    .join(' / ');
function quantile(xs, q) {
  const s = [...xs].sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const pos = (s.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return s[lo] + (s[hi] - s[lo]) * (pos - lo);
}

/** Deterministic PRNG (mulberry32) so that the generated trees are the same on every run. */
function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Relative paths of the regular files under `root` (our temp files excluded). */
function listFiles(root) {
  const out = [];
  const walk = (dir, rel) => {
    let ents;
    try {
      ents = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return;
    }
    for (const e of ents) {
      if (e.name.startsWith(TEMP_PREFIX)) continue;
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) walk(path.join(dir, e.name), r);
      else if (e.isFile()) out.push(r);
    }
  };
  walk(root, '');
  return out;
}

const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');

// ----- /proc readers (Linux) -----

const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

function procStatus(pid) {
  const txt = readOr(`/proc/${pid}/status`)?.toString() ?? '';
  const kb = (k) => Number(new RegExp(`^${k}:\\s+(\\d+) kB`, 'm').exec(txt)?.[1] ?? NaN) * KiB;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}
function procIo(pid) {
  const txt = readOr(`/proc/${pid}/io`)?.toString() ?? '';
  const v = (k) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(txt)?.[1] ?? NaN);
  return { rchar: v('rchar'), syscr: v('syscr'), readBytes: v('read_bytes'), wchar: v('wchar') };
}
/** CPU seconds (user + system) used so far by `pid`. */
function procCpu(pid) {
  const txt = readOr(`/proc/${pid}/stat`)?.toString();
  if (!txt) return NaN;
  const f = txt.slice(txt.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / CLK_TCK;
}

// ----- the machine -----

function gitDescribe() {
  const g = (...a) => spawnSync('git', a, { cwd: ROOT, encoding: 'utf8' });
  const head = g('rev-parse', '--short', 'HEAD').stdout?.trim();
  if (!head) return 'unknown';
  const dirty = (g('status', '--porcelain', '--untracked-files=no').stdout ?? '').trim() !== '';
  return `${head}${dirty ? ' + uncommitted changes' : ''}`;
}
/** When dist/ was last compiled (the newest .js under dist/src). */
function distBuilt() {
  let newest = 0;
  const walk = (d) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(path.join(d, e.name));
      else if (e.name.endsWith('.js')) newest = Math.max(newest, fs.statSync(path.join(d, e.name)).mtimeMs);
    }
  };
  walk(path.join(ROOT, 'dist/src'));
  return new Date(newest).toISOString().replace(/\.\d+Z$/, 'Z');
}
function machine() {
  const cpus = os.cpus();
  return {
    cpu: cpus[0]?.model?.trim() ?? '?',
    cores: cpus.length,
    ram: `${(os.totalmem() / 1024 ** 3).toFixed(1)} GiB`,
    node: process.version,
    os: `${os.type()} ${os.release()}`,
    date: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    commit: gitDescribe(),
    dist: distBuilt(),
  };
}

// ----- the server (its own process) -----

const ADMIN = { email: 'bench-admin@example.test', password: 'bench-admin-password-1' };

async function startServer() {
  const data = path.join(BASE, 'server');
  const logFile = path.join(BASE, 'server.log');
  const profArgs = opt['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', profDirOf('server', BASE)] : [];
  const serverArgs = opt['server-node-options'] ? opt['server-node-options'].split(/\s+/).filter(Boolean) : [];
  const child = spawn(process.execPath, [...serverArgs, ...profArgs, SERVER_BIN, '--data', data, '--port', '0', '--admin-email', ADMIN.email, '--admin-password', ADMIN.password, '--log-level', 'warn'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logStream = fs.createWriteStream(logFile);
  child.stderr.pipe(logStream);
  let out = '';
  const ready = new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => {
      out += d.toString();
      logStream.write(d);
      const url = /listening on (\S+)/.exec(out)?.[1];
      const fp = /fingerprint: (\S+)/.exec(out)?.[1];
      if (url && fp) resolve({ url, fingerprint: fp });
    });
    child.on('exit', (code) => reject(new Error(`axis-server exited (${code}) before it was ready:\n${out}\n${readOr(logFile, '')}`)));
  });
  const { url, fingerprint } = await ready;
  const server = { url, fingerprint, ca: fs.readFileSync(path.join(data, 'tls/cert.pem')), pid: child.pid, child, data };
  server.stop = async () => {
    if (child.exitCode !== null) return;
    const done = new Promise((r) => child.on('exit', r));
    child.kill('SIGTERM');
    await done;
  };
  const tok = await api(server, 'POST', '/oauth2/token', { form: { grant_type: 'password', username: ADMIN.email, password: ADMIN.password } });
  if (tok.status !== 200) throw new Error(`admin login failed: ${tok.status} ${JSON.stringify(tok.body)}`);
  server.adminToken = tok.body.access_token;
  return server;
}


/**
 * An organization without a space quota (space_quota 0 = no limit). The reference server sums
 * the sizes of all the organization's files on every upload to check its quota, which makes
 * uploading 100,000 files quadratic; the restart benchmark uses such an organization so that
 * its setup (the first run) stays feasible. Returns the organization id.
 */
async function unlimitedOrganization(server) {
  const me = await api(server, 'GET', '/api/2/person', { token: server.adminToken });
  if (me.status !== 200) throw new Error(`GET person failed: ${me.status}`);
  const tag = `bench-unlimited-${Date.now()}`;
  const r = await api(server, 'POST', `/api/2/organization/${me.body.company_id}/organizations/create`, {
    form: { name: tag, slug: tag, email: `${tag}@example.test`, space_quota: '0' },
    token: server.adminToken,
  });
  if (r.status !== 200) throw new Error(`organization create failed: ${r.status} ${JSON.stringify(r.body)}`);
  return r.body.id;
}

let accountCounter = 0;
/** A fresh person (with its own personal sync root) for one benchmark. */
async function newAccount(server, companyId) {
  const email = `bench${++accountCounter}-${Date.now()}@example.test`;
  const password = 'bench-user-password-1';
  const form = { email, password, ...(companyId ? { company_id: String(companyId) } : {}) };
  const r = await api(server, 'POST', '/api/2/person/create', { form, token: server.adminToken });
  if (r.status !== 200) throw new Error(`person/create failed: ${r.status} ${JSON.stringify(r.body)}`);
  return { email, password };
}

// ----- agents (real `axis-agent run` processes) -----

function runCli(args) {
  const env = { ...process.env };
  delete env.AXIS_AGENT_HOME;
  const r = spawnSync(process.execPath, [AGENT_BIN, ...args], { cwd: ROOT, env, encoding: 'utf8' });
  return { code: r.status, out: `${r.stdout}${r.stderr}` };
}

class Agent {
  constructor(name, server, account) {
    this.name = name;
    this.server = server;
    this.account = account;
    this.base = fs.mkdtempSync(path.join(BASE, `agent-${name}-`));
    this.home = path.join(this.base, 'home');
    this.dir = path.join(this.base, 'sync');
    this.logFile = path.join(this.base, 'agent.log');
    this.child = undefined;
    this.runs = 0;
    this.profiles = [];
  }

  login() {
    const r = runCli(['--home', this.home, 'login', '--server', this.server.url, '--username', this.account.email, '--password', this.account.password, '--trust-fingerprint', this.server.fingerprint]);
    if (r.code !== 0) throw new Error(`login of ${this.name} failed: ${r.out}`);
    fs.writeFileSync(path.join(this.home, 'settings.json'), JSON.stringify({ machineName: `bench-${this.name}`, manualCollisions: true }));
  }

  /** Spawns `run` (does not wait). */
  spawn() {
    if (this.child) throw new Error(`${this.name} is already running`);
    const env = { ...process.env, AXIS_AGENT_LONG_POLL_SECONDS: '25', AXIS_AGENT_LOG: process.env.AXIS_AGENT_LOG ?? 'warn' };
    delete env.AXIS_AGENT_HOME;
    // The agent runs with the flags it is started with when installed (bin/axis-agent.js's
    // shebang, the Electron shell's utility process): src/agent/heap.ts's AGENT_NODE_FLAGS.
    const nodeArgs = [...AGENT_NODE_FLAGS, ...(opt['agent-node-options'] ? opt['agent-node-options'].split(/\s+/).filter(Boolean) : [])];
    if (opt['cpu-prof']) {
      const profDir = profDirOf(`${path.basename(this.base)}-${++this.runs}`, this.base);
      this.profiles.push(profDir);
      nodeArgs.push('--cpu-prof', '--cpu-prof-dir', profDir);
    }
    const log = fs.openSync(this.logFile, 'a');
    const child = spawn(process.execPath, [...nodeArgs, AGENT_BIN, '--home', this.home, 'run', '--sync-dir', this.dir], { cwd: ROOT, env, stdio: ['ignore', log, log] });
    fs.closeSync(log);
    this.child = child;
    this.pid = child.pid;
    this.exited = new Promise((r) => child.on('exit', (code) => r(code)));
    this.exited.then(() => {
      if (this.child === child) this.child = undefined;
    });
    this.peakSampledRss = 0;
    this.rssSamples = [];
    this.sampler = setInterval(() => {
      const { rss } = procStatus(child.pid);
      if (rss > this.peakSampledRss) this.peakSampledRss = rss;
      if (Number.isFinite(rss)) this.rssSamples.push([performance.now(), rss]);
    }, 250);
    return child;
  }

  async start(timeoutMs = 120_000) {
    const since = Date.now();
    this.spawn();
    await this.waitIdle({ since, timeoutMs });
  }

  status() {
    const b = readOr(path.join(this.home, 'status.json'));
    if (!b) return null;
    try {
      return JSON.parse(b.toString());
    } catch {
      return null;
    }
  }

  /** Idle per status.json, written by this process at or after `since` (ms since epoch). */
  isIdle(since = 0) {
    const s = this.status();
    return !!s && s.pid === this.pid && Date.parse(s.updated) >= since && s.roots.length > 0 && s.roots.every((r) => r.state === 'idle' && r.queued === 0);
  }

  async waitIdle({ since = Date.now(), timeoutMs = 60_000, intervalMs = 50 } = {}) {
    await waitFor(
      () => {
        if (!this.child) throw new Error(`${this.name} exited:\n${readOr(this.logFile, '')}`);
        return this.isIdle(since);
      },
      { timeoutMs, intervalMs, what: `${this.name} to become idle` },
    );
  }

  mem() {
    return procStatus(this.pid);
  }

  cpu() {
    return procCpu(this.pid);
  }

  async stop() {
    clearInterval(this.sampler);
    if (!this.child) return;
    this.child.kill('SIGTERM');
    await this.exited;
  }

  file(rel) {
    return path.join(this.dir, ...rel.split('/'));
  }

  write(rel, content) {
    fs.mkdirSync(path.dirname(this.file(rel)), { recursive: true });
    fs.writeFileSync(this.file(rel), content);
  }
}

async function agentPair(server, tag) {
  const account = await newAccount(server);
  const a = new Agent(`${tag}-A`, server, account);
  const b = new Agent(`${tag}-B`, server, account);
  a.login();
  b.login();
  return { a, b };
}

// ----- CPU profiles -----

/** Top self-time functions of the .cpuprofile files in `dirs`. */
function summarizeProfiles(dirs, top = 15) {
  const self = new Map();
  let total = 0;
  for (const dir of dirs) {
    for (const f of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
      if (!f.endsWith('.cpuprofile')) continue;
      const prof = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
      const byId = new Map(prof.nodes.map((n) => [n.id, n]));
      const dt = new Map();
      prof.samples.forEach((id, i) => dt.set(id, (dt.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0)));
      for (const [id, us] of dt) {
        const n = byId.get(id);
        const cf = n.callFrame;
        const where = cf.url ? `${cf.url.replace(`file://${ROOT}/`, '').replace(/^node:/, 'node:')}:${cf.lineNumber + 1}` : '';
        const key = `${cf.functionName || '(anonymous)'} ${where}`.trim();
        self.set(key, (self.get(key) ?? 0) + us);
        total += us;
      }
    }
  }
  const rows = [...self].sort((x, y) => y[1] - x[1]).slice(0, top);
  return { totalMs: total / 1000, rows: rows.map(([k, us]) => ({ fn: k, ms: us / 1000, pct: (100 * us) / total })) };
}

function profileLines(label, agents) {
  if (!opt['cpu-prof']) return [];
  const s = summarizeProfiles(agents.flatMap((a) => a.profiles));
  const lines = [`CPU profile of ${label} (${(s.totalMs / 1000).toFixed(1)} s sampled), top functions by self time:`, ''];
  for (const r of s.rows) lines.push(`    ${r.pct.toFixed(1).padStart(5)} %  ${r.ms.toFixed(0).padStart(7)} ms  ${r.fn}`);
  lines.push('');
  process.stderr.write(`${lines.join('\n')}\n`);
  return lines;
}

// ----- benchmark 1 + 2: propagation of edits between two running agents -----

let pair;
/** Two running agents of one account, shared by the latency and burst benchmarks. */
async function steadyPair(server) {
  if (pair) return pair;
  const p = await agentPair(server, 'steady');
  log('steady pair: starting agents A and B');
  await Promise.all([p.a.start(), p.b.start()]);
  pair = p;
  return p;
}

/** Resolves when `file` holds exactly `content` (fs.watch on its folder plus a 5 ms poll). */
function whenContent(file, content) {
  return new Promise((resolve, reject) => {
    let watcher;
    let timer;
    let done = false;
    const check = () => {
      if (done) return;
      const b = readOr(file);
      if (b && b.equals(content)) {
        done = true;
        const t = performance.now();
        watcher?.close();
        clearInterval(timer);
        resolve(t);
      }
    };
    try {
      watcher = fs.watch(path.dirname(file), check);
      watcher.on('error', () => undefined);
    } catch {
      // folder not there yet: the poll covers it
    }
    timer = setInterval(check, 5);
    setTimeout(() => {
      if (done) return;
      done = true;
      watcher?.close();
      clearInterval(timer);
      reject(new Error(`${file} did not get the expected content in 60 s`));
    }, 60_000);
    check();
  });
}

const noteLines = (seed, n = 20) => Array.from({ length: n }, (_, i) => `note ${seed} line ${i}: ${randomBytes(24).toString('hex')}`);

async function benchLatency(server) {
  const res = { id: 'latency', load: { start: loadavg() } };
  const { a, b } = await steadyPair(server);
  const NOTES = 5;
  const notes = Array.from({ length: NOTES }, (_, i) => noteLines(i));
  const text = (lines) => Buffer.from(`${lines.join('\n')}\n`);
  for (let i = 0; i < NOTES; i++) a.write(`notes/note-${i}.md`, text(notes[i]));
  await Promise.all(notes.map((lines, i) => whenContent(b.file(`notes/note-${i}.md`), text(lines))));
  await Promise.all([a.waitIdle(), b.waitIdle()]);
  await sleep(500);
  log(`latency: ${SIZES.edits} one-line edits on A, each timed until B's file has the new content`);
  const cpu0 = { a: a.cpu(), b: b.cpu(), s: procCpu(server.pid) };
  const lat = [];
  const rnd = prng(1);
  for (let i = 0; i < SIZES.edits; i++) {
    const k = i % NOTES;
    notes[k][Math.floor(rnd() * notes[k].length)] = `edited #${i} at ${new Date().toISOString()} ${randomBytes(8).toString('hex')}`;
    const content = text(notes[k]);
    const rel = `notes/note-${k}.md`;
    const arrived = whenContent(b.file(rel), content);
    const t = performance.now();
    fs.writeFileSync(a.file(rel), content);
    const tB = await arrived;
    lat.push(tB - t);
    const since = Date.now();
    await sleep(300); // status.json is rewritten every 250 ms
    await Promise.all([a.waitIdle({ since }), b.waitIdle({ since })]);
    await sleep(200 + rnd() * 300);
  }
  const cpu1 = { a: a.cpu(), b: b.cpu(), s: procCpu(server.pid) };
  const memA = a.mem();
  const memB = b.mem();
  const median = quantile(lat, 0.5);
  const p90 = quantile(lat, 0.9);
  res.load.end = loadavg();
  res.figures = [
    { name: 'median latency', value: fmtS(median), target: '≤ 0.3 s', ok: median <= 300 },
    { name: 'p90 latency', value: fmtS(p90) },
    { name: 'min / max', value: `${fmtS(Math.min(...lat))} / ${fmtS(Math.max(...lat))}` },
  ];
  res.details = [
    `${SIZES.edits} edits (one line of a 20-line Markdown file, rotating over ${NOTES} files), each written with one writeFile on A and timed until B's copy has the new bytes (fs.watch on B's folder plus a 5 ms poll); both agents idle between edits.`,
    `All latencies (ms): ${lat.map((x) => x.toFixed(0)).join(', ')}`,
    `CPU used during the edits: agent A ${(cpu1.a - cpu0.a).toFixed(2)} s, agent B ${(cpu1.b - cpu0.b).toFixed(2)} s, server ${(cpu1.s - cpu0.s).toFixed(2)} s. RSS of the (nearly empty) agents afterwards: A ${fmtMiB(memA.rss)} (peak ${fmtMiB(memA.hwm)}), B ${fmtMiB(memB.rss)} (peak ${fmtMiB(memB.hwm)}).`,
  ];
  res.raw = { lat };
  return res;
}

async function benchBurst(server) {
  const res = { id: 'burst', load: { start: loadavg() } };
  const { a, b } = await steadyPair(server);
  const N = SIZES.burst;
  const files = Array.from({ length: N }, (_, i) => ({ rel: `burst/file-${String(i).padStart(3, '0')}.md`, lines: noteLines(`b${i}`, 30) }));
  const text = (lines) => Buffer.from(`${lines.join('\n')}\n`);
  for (const f of files) a.write(f.rel, text(f.lines));
  log(`burst: ${N} files created on A, waiting for B`);
  await Promise.all(files.map((f) => whenContent(b.file(f.rel), text(f.lines))));
  let since = Date.now();
  await sleep(300);
  await Promise.all([a.waitIdle({ since }), b.waitIdle({ since })]);
  await sleep(500);
  const rounds = [];
  const cpu0 = { a: a.cpu(), b: b.cpu(), s: procCpu(server.pid) };
  for (let r = 0; r < SIZES.burstRounds; r++) {
    const contents = files.map((f, i) => {
      f.lines[(i + r * 7) % f.lines.length] = `burst round ${r} ${randomBytes(8).toString('hex')}`;
      return text(f.lines);
    });
    const arrivals = files.map((f, i) => whenContent(b.file(f.rel), contents[i]));
    const t = performance.now();
    const tWall = Date.now();
    files.forEach((f, i) => fs.writeFileSync(a.file(f.rel), contents[i]));
    const tWritten = performance.now() - t;
    // A's side: when status.json first says A is idle again (A has uploaded everything).
    let aIdle;
    let aBusy = false;
    // (A round can be done within one 250 ms status write: once every file is on B, A has
    // uploaded them all, and its first idle status from then on counts, busy seen or not.)
    let allArrived = false;
    const aWatch = setInterval(() => {
      const s = a.status();
      if (!aBusy && s && Date.parse(s.updated) >= tWall && s.roots.some((x) => x.state !== 'idle' || x.queued > 0)) aBusy = true;
      if ((aBusy || allArrived) && aIdle === undefined && a.isIdle(tWall)) aIdle = performance.now() - t;
    }, 20);
    const times = (await Promise.all(arrivals)).map((x) => x - t);
    allArrived = true;
    await waitFor(() => aIdle !== undefined, { timeoutMs: 60_000, intervalMs: 20, what: 'A to be idle' });
    clearInterval(aWatch);
    rounds.push({ all: Math.max(...times), first: Math.min(...times), q25: quantile(times, 0.25), median: quantile(times, 0.5), q75: quantile(times, 0.75), written: tWritten, aIdle });
    log(`burst round ${r + 1}: all ${N} on B after ${fmtS(Math.max(...times))}`);
    since = Date.now();
    await sleep(300);
    await Promise.all([a.waitIdle({ since }), b.waitIdle({ since })]);
    await sleep(500);
  }
  const cpu1 = { a: a.cpu(), b: b.cpu(), s: procCpu(server.pid) };
  const med = quantile(
    rounds.map((r) => r.all),
    0.5,
  );
  res.load.end = loadavg();
  res.figures = [
    { name: `all ${N} files on B (median of ${rounds.length} rounds)`, value: fmtS(med), target: '≤ 1 s', ok: med <= 1000 },
    { name: 'per round: all', value: rounds.map((r) => fmtS(r.all)).join(', ') },
    { name: 'per round: first file', value: rounds.map((r) => fmtS(r.first)).join(', ') },
    { name: 'per round: A idle again (all uploaded)', value: rounds.map((r) => fmtS(r.aIdle)).join(', ') },
  ];
  res.details = [
    `${N} Markdown files of ~2.5 KiB in one folder, already synced; each round rewrites all of them on A in a tight loop (${rounds.map((r) => r.written.toFixed(0)).join(', ')} ms to write) and times until every one of them has the new bytes on B.`,
    `Arrival times on B per round (first / 25 % / median / 75 % / last, s): ${rounds.map((r) => [r.first, r.q25, r.median, r.q75, r.all].map((x) => (x / 1000).toFixed(2)).join(' / ')).join('; ')}. "A idle again" is when A's status.json (rewritten every 250 ms) first says idle with nothing queued, after it was seen busy or once every file is on B.`,
    `CPU used during the ${rounds.length} rounds: agent A ${(cpu1.a - cpu0.a).toFixed(2)} s, agent B ${(cpu1.b - cpu0.b).toFixed(2)} s, server ${(cpu1.s - cpu0.s).toFixed(2)} s.`,
  ];
  return res;
}

// ----- generated trees -----

/** A 64 MiB random pool; files are a unique header plus a slice of it (unique content, fast). */
let pool;
function poolBuf() {
  pool ??= randomFillSync(Buffer.allocUnsafe(64 * MiB));
  return pool;
}
function writeGenerated(file, index, size, rnd) {
  const header = Buffer.from(`axis bench file ${index} ${randomBytes(8).toString('hex')}\n`);
  const body = Math.max(0, size - header.length);
  const p = poolBuf();
  const off = Math.floor(rnd() * (p.length - body));
  const fd = fs.openSync(file, 'w');
  try {
    fs.writeSync(fd, header, 0, Math.min(header.length, size));
    if (body > 0) fs.writeSync(fd, p, off, body);
  } finally {
    fs.closeSync(fd);
  }
}

/** The initial-sync tree: 90 % 1-64 KiB (log-uniform) in 2-level folders, 10 % ~1 MiB. */
function generateInitialTree(dir, count) {
  const rnd = prng(42);
  const big = Math.round(count / 10);
  const small = count - big;
  const files = [];
  const perFolder = 90;
  const folders = Math.ceil(small / perFolder);
  for (let i = 0; i < small; i++) {
    const f = Math.floor(i / perFolder);
    const rel = `projects/p${String(Math.floor(f / 10)).padStart(2, '0')}/d${String(f % 10)}/file-${String(i).padStart(5, '0')}.dat`;
    const size = Math.round(KiB * Math.exp(rnd() * Math.log(64)));
    files.push({ rel, size });
  }
  for (let i = 0; i < big; i++) {
    const rel = `media/m${String(Math.floor(i / 100)).padStart(2, '0')}/clip-${String(i).padStart(4, '0')}.bin`;
    files.push({ rel, size: MiB + Math.floor(rnd() * 64 * KiB) - 32 * KiB });
  }
  // Diagnostics: BENCH_INITIAL_ONLY=small|big generates only that part of the tree.
  const only = process.env.BENCH_INITIAL_ONLY;
  const kept = only === 'small' ? files.slice(0, small) : only === 'big' ? files.slice(small) : files;
  const made = new Set();
  let bytes = 0;
  kept.forEach((f, i) => {
    const abs = path.join(dir, ...f.rel.split('/'));
    const d = path.dirname(abs);
    if (!made.has(d)) {
      fs.mkdirSync(d, { recursive: true });
      made.add(d);
    }
    writeGenerated(abs, i, f.size, rnd);
    bytes += f.size;
  });
  return { files: kept, bytes, folders: made.size, small: only === 'big' ? 0 : small, big: only === 'small' ? 0 : big, smallFolders: folders };
}

/** The restart tree: `count` files of 256 B-2 KiB, 100 per folder. */
function generateSmallTree(dir, count) {
  const rnd = prng(7);
  let bytes = 0;
  for (let i = 0; i < count; i++) {
    const d = path.join(dir, `d${String(Math.floor(i / 100)).padStart(4, '0')}`);
    if (i % 100 === 0) fs.mkdirSync(d, { recursive: true });
    const size = 256 + Math.floor(rnd() * 1792);
    writeGenerated(path.join(d, `f${String(i % 100).padStart(2, '0')}.txt`), i, size, rnd);
    bytes += size;
  }
  return { bytes, folders: Math.ceil(count / 100) };
}

// ----- benchmark 3: initial sync -----

async function benchInitial(server) {
  const res = { id: 'initial', load: {} };
  const N = SIZES.initialFiles;
  const { a, b } = await agentPair(server, 'initial');
  log(`initial: generating ${N} files in ${a.dir}`);
  const tg = performance.now();
  const gen = generateInitialTree(a.dir, N);
  execFileSync('sync');
  log(`initial: generated ${fmtMiB(gen.bytes)} in ${fmtS(performance.now() - tg)} (${gen.small} small, ${gen.big} ~1 MiB, ${gen.folders} leaf folders)`);
  const expected = new Map(gen.files.map((f) => [f.rel, f.size]));
  await sleep(2000);
  res.load.start = loadavg();
  const cpuS0 = procCpu(server.pid);
  const t0 = Date.now();
  const p0 = performance.now();
  a.spawn();
  b.spawn();
  let aIdleAt;
  let bCompleteSeen;
  let bIdleAt;
  const timeoutMs = Math.max(600_000, N * 200);
  await waitFor(
    () => {
      if (!a.child || !b.child) throw new Error(`an agent exited:\n${readOr(a.logFile, '')}\n${readOr(b.logFile, '')}`);
      const now = performance.now() - p0;
      if (aIdleAt === undefined && a.isIdle(t0)) aIdleAt = now;
      if (bCompleteSeen === undefined) {
        const n = listFiles(b.dir).length;
        if (n >= expected.size) {
          const ok = [...expected].every(([rel, size]) => fs.statSync(b.file(rel), { throwIfNoEntry: false })?.size === size);
          if (ok) bCompleteSeen = now;
        }
      }
      if (bCompleteSeen !== undefined && bIdleAt === undefined && b.isIdle(t0 + bCompleteSeen)) bIdleAt = now;
      return aIdleAt !== undefined && bIdleAt !== undefined;
    },
    { timeoutMs, intervalMs: N > 2000 ? 500 : 250, what: 'B to have every file and both agents to be idle' },
  );
  // When B really had everything: the latest change time of its files (set when each was renamed into place).
  let lastCtime = 0;
  for (const rel of expected.keys()) lastCtime = Math.max(lastCtime, fs.statSync(b.file(rel)).ctimeMs);
  const bDone = lastCtime - t0;
  const memA = a.mem();
  const memB = b.mem();
  const cpuA = a.cpu();
  const cpuB = b.cpu();
  const cpuS = procCpu(server.pid) - cpuS0;
  res.load.end = loadavg();
  // Content check: every file's size (above) and the bytes of a sample.
  const rnd = prng(3);
  const rels = [...expected.keys()];
  let mismatches = 0;
  const sample = Math.min(rels.length, 300);
  for (let i = 0; i < sample; i++) {
    const rel = rels[Math.floor(rnd() * rels.length)];
    if (sha256(fs.readFileSync(a.file(rel))) !== sha256(fs.readFileSync(b.file(rel)))) mismatches++;
  }
  await Promise.all([a.stop(), b.stop()]);
  const timeline = (ag) => {
    const out = [];
    for (let k = 1; k <= 10; k++) {
      const tk = p0 + (bIdleAt * k) / 10;
      const s = ag.rssSamples.filter(([t]) => t <= tk).pop();
      if (s) out.push((s[1] / MiB).toFixed(0));
    }
    return out.join(', ');
  };
  const prof = profileLines('the initial sync (A and B)', [a, b]);
  const worstRss = Math.max(memA.hwm, memB.hwm);
  res.figures = [
    { name: `B has all ${expected.size} files (${fmtMiB(gen.bytes)})`, value: fmtS(bDone), target: '≤ 19 s', ok: bDone <= 19_000 },
    { name: 'A done uploading (idle)', value: fmtS(aIdleAt) },
    { name: 'B idle', value: fmtS(bIdleAt) },
    { name: 'peak RSS agent A (uploads)', value: fmtMiB(memA.hwm), target: '≤ 150 MiB', ok: memA.hwm <= 150 * MiB },
    { name: 'peak RSS agent B (downloads)', value: fmtMiB(memB.hwm), target: '≤ 150 MiB', ok: memB.hwm <= 150 * MiB },
    { name: 'throughput (end to end)', value: `${(gen.bytes / MiB / (bDone / 1000)).toFixed(1)} MiB/s, ${(N / (bDone / 1000)).toFixed(0)} files/s` },
  ];
  res.details = [
    `${N} files, ${fmtMiB(gen.bytes)}: ${gen.small} of 1-64 KiB (log-uniform sizes, ${gen.smallFolders} folders two levels deep) and ${gen.big} of ~1 MiB (1 MiB ± 32 KiB); random, incompressible, all distinct. A starts with them, B starts empty; both processes are spawned at t = 0 (already logged in). B's completion time is the latest ctime of its ${N} files (each is renamed into place when complete); completion is checked by listing B's folder every ${N > 2000 ? 500 : 250} ms and then checking every size; ${sample} random files compared byte for byte (${mismatches} mismatches).`,
    `Peak RSS is VmHWM of each agent process (/proc/PID/status) read after both were idle; the 250 ms VmRSS samples peaked at ${fmtMiB(a.peakSampledRss)} (A) and ${fmtMiB(b.peakSampledRss)} (B).`,
    `RSS over time (MiB, at each tenth of the run): A ${timeline(a)}; B ${timeline(b)}.`,
    `CPU used (user+system): agent A ${cpuA.toFixed(1)} s, agent B ${cpuB.toFixed(1)} s, server ${cpuS.toFixed(1)} s, over ${fmtS(bIdleAt)} of wall time on ${os.cpus().length} cores.`,
    ...(prof.length ? ['', '```', ...prof, '```'] : []),
  ];
  res.ok = mismatches === 0;
  if (!opt.keep) {
    fs.rmSync(a.base, { recursive: true, force: true });
    fs.rmSync(b.base, { recursive: true, force: true });
  }
  void worstRss;
  return res;
}

// ----- benchmark 4: restart over many unchanged files -----

async function benchRestart(server) {
  const res = { id: 'restart', load: {} };
  const N = SIZES.restartFiles;
  const account = await newAccount(server, await unlimitedOrganization(server));
  const r = new Agent('restart', server, account);
  r.login();
  log(`restart: generating ${N} small files`);
  const tg = performance.now();
  const gen = generateSmallTree(r.dir, N);
  execFileSync('sync');
  log(`restart: generated ${fmtMiB(gen.bytes)} in ${fmtS(performance.now() - tg)}; first run (uploads everything)`);
  res.load.first = loadavg();
  const t0 = Date.now();
  const p0 = performance.now();
  const cpuS0 = procCpu(server.pid);
  r.spawn();
  let lastLog = 0;
  await waitFor(
    () => {
      if (!r.child) throw new Error(`agent exited:\n${readOr(r.logFile, '')}`);
      if (performance.now() - lastLog > 30_000) {
        lastLog = performance.now();
        const s = r.status();
        log(`restart: first run ${fmtS(performance.now() - p0)}: ${s?.roots?.[0]?.state ?? '?'}, queued ${s?.roots?.[0]?.queued ?? '?'}, RSS ${fmtMiB(r.mem().rss)}`);
      }
      return r.isIdle(t0);
    },
    { timeoutMs: Math.max(1_800_000, N * 100), intervalMs: 250, what: 'the first run to finish uploading' },
  );
  const firstMs = performance.now() - p0;
  const firstMem = r.mem();
  const firstCpu = r.cpu();
  const firstServerCpu = procCpu(server.pid) - cpuS0;
  log(`restart: first run idle after ${fmtS(firstMs)}; stopping`);
  const ts = performance.now();
  await r.stop();
  const stopMs = performance.now() - ts;
  const dbBytes = ['state.sqlite', 'state.sqlite-wal'].reduce((s, f) => s + (fs.statSync(path.join(r.home, f), { throwIfNoEntry: false })?.size ?? 0), 0);
  // Reads of the files by the restarted agent are detected through their access times: with
  // relatime (Linux's default) the first read after an atime older than the mtime/ctime updates
  // it, so every file's atime is set to 2000-01-01 (touch -a: mtime, size and inode unchanged).
  const OLD_ATIME = 946_684_800;
  execFileSync('sh', ['-c', `find . -type f -exec touch -a -d @${OLD_ATIME} {} +`], { cwd: r.dir });
  // Control: a read must move the atime here (not on a noatime mount).
  const probe = r.file(listFiles(r.dir)[0]);
  fs.readFileSync(probe);
  const atimeWorks = fs.statSync(probe).atimeMs > (OLD_ATIME + 60) * 1000;
  execFileSync('touch', ['-a', '-d', `@${OLD_ATIME}`, probe]);
  execFileSync('sync');
  await sleep(2000);

  // The restart.
  res.load.start = loadavg();
  log('restart: starting again over the unchanged tree');
  const t1 = Date.now();
  const p1 = performance.now();
  r.spawn();
  await r.waitIdle({ since: t1, timeoutMs: 600_000, intervalMs: 25 });
  const idleMs = performance.now() - p1;
  const ioIdle = procIo(r.pid);
  const memIdle = r.mem();
  const cpuIdle = r.cpu();
  // Keep watching until the process is quiet (chokidar may still be crawling the tree).
  let quietMs;
  let prev = r.cpu();
  for (let i = 0; i < 240; i++) {
    await sleep(500);
    const c = r.cpu();
    if (c - prev < 0.02) {
      quietMs = performance.now() - p1;
      break;
    }
    prev = c;
  }
  const memQuiet = r.mem();
  const ioQuiet = procIo(r.pid);
  const cpuQuiet = r.cpu();
  res.load.end = loadavg();
  await r.stop();
  let reread = 0;
  let files = 0;
  for (const rel of listFiles(r.dir)) {
    files++;
    if (fs.statSync(r.file(rel)).atimeMs > (OLD_ATIME + 60) * 1000) reread++;
  }
  const prof = profileLines('the restart run', [{ profiles: r.profiles.slice(-1) }]);
  res.figures = [
    { name: `restart over ${N} unchanged files: idle after`, value: fmtS(idleMs), target: 'no target given (Syncthing-style: seconds)' },
    { name: 'peak RSS of the restarted agent', value: fmtMiB(memQuiet.hwm), target: '≤ 150 MiB', ok: memQuiet.hwm <= 150 * MiB },
    { name: 'files read again by the restarted agent', value: atimeWorks ? `${reread} of ${files}` : 'unknown (atime not updated on this mount)', target: 'none (no re-hash)', ok: atimeWorks ? reread === 0 : undefined },
    { name: 'CPU quiet after', value: quietMs === undefined ? 'not within 120 s' : fmtS(quietMs) },
    { name: `first run: upload of all ${N} files, idle after`, value: fmtS(firstMs) },
    { name: 'first run: peak RSS', value: fmtMiB(firstMem.hwm), target: '≤ 150 MiB', ok: firstMem.hwm <= 150 * MiB },
  ];
  res.details = [
    `${N} files of 256 B-2 KiB (${fmtMiB(gen.bytes)}) in ${gen.folders} folders of 100, in an organization without a space quota (the reference server's quota check sums all of the organization's files on every upload, see the analysis). One agent uploads them all (first run, measured too), is stopped with SIGTERM (took ${fmtS(stopMs)}), and started again over the unchanged folder. "Idle after" is from spawning the process to status.json saying idle with nothing queued (polled every 25 ms; status.json is rewritten every 250 ms).`,
    `Re-read check: before the restart every file's atime was set to 2000-01-01 with \`touch -a\` (mtime, size and inode unchanged); the file system is mounted relatime, so any read by the agent moves the atime forward. ${reread} of ${files} files had a new atime after the restarted agent was idle and quiet. /proc/PID/io of the restarted process, for reference: at idle rchar ${fmtMiB(ioIdle.rchar)} in ${ioIdle.syscr} read calls (all reads: state DB, Node's modules, TLS), read_bytes from disk ${fmtMiB(ioIdle.readBytes)}; once quiet rchar ${fmtMiB(ioQuiet.rchar)} in ${ioQuiet.syscr} read calls. The files hold ${fmtMiB(gen.bytes)}.`,
    `RSS at idle ${fmtMiB(memIdle.rss)} (peak ${fmtMiB(memIdle.hwm)}); once quiet ${fmtMiB(memQuiet.rss)} (peak ${fmtMiB(memQuiet.hwm)}). CPU of the restarted process: ${cpuIdle.toFixed(1)} s until idle, ${cpuQuiet.toFixed(1)} s until quiet.`,
    `First run: CPU agent ${firstCpu.toFixed(1)} s, server ${firstServerCpu.toFixed(1)} s; ${(N / (firstMs / 1000)).toFixed(0)} files/s. State database after the first run: ${fmtMiB(dbBytes)}.`,
    ...(prof.length ? ['', '```', ...prof, '```'] : []),
  ];
  if (!opt.keep) fs.rmSync(r.base, { recursive: true, force: true });
  return res;
}

// ----- benchmark 5: the librsync binding -----

function benchRsync() {
  const res = { id: 'rsync', load: { start: loadavg() } };
  const addon = path.join(ROOT, 'native/build/Release/axis_rsync.node');
  const script = path.join(ROOT, 'scripts/bench-rsync.js');
  if (!fs.existsSync(script) || !fs.existsSync(addon)) {
    res.figures = [{ name: 'librsync binding', value: `skipped: ${fs.existsSync(script) ? 'the addon is not built (node scripts/build-native.js)' : 'scripts/bench-rsync.js is missing'}` }];
    res.details = [];
    return res;
  }
  const env = { ...process.env, TMPDIR: TMP, ...(opt.small ? { BENCH_RSYNC_MB: process.env.BENCH_RSYNC_MB ?? '64', BENCH_RSYNC_BIG_MB: process.env.BENCH_RSYNC_BIG_MB ?? '256' } : {}) };
  log('rsync: running scripts/bench-rsync.js');
  const r = spawnSync(process.execPath, [script], { cwd: ROOT, env, encoding: 'utf8' });
  res.load.end = loadavg();
  if (r.status !== 0) {
    res.figures = [{ name: 'librsync binding', value: `failed: ${(r.stderr || r.stdout).trim().split('\n').pop()}` }];
    res.details = ['```', r.stdout.trim(), r.stderr.trim(), '```'];
    return res;
  }
  return rsyncFigures(res, r.stdout.trim(), opt.small ? ' (--small: BENCH_RSYNC_MB=64, BENCH_RSYNC_BIG_MB=256)' : '');
}

/** Figures and details of benchmark 5 from the output of scripts/bench-rsync.js (also used by benchmark 6). */
function rsyncFigures(res, out, note) {
  // Columns of bench-rsync.js: ours ms, MiB/s, rdiff ms, MiB/s, then (CPU time) ours CPU ms, MiB/CPU-s, rdiff CPU ms, MiB/CPU-s.
  const rows = Object.fromEntries(
    [...out.matchAll(/^(signature|delta|patch)\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)(?:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+))?/gm)].map((m) => [m[1], { ours: Number(m[3]), rdiff: Number(m[5]), oursCpu: m[7] ? Number(m[7]) : undefined, rdiffCpu: m[9] ? Number(m[9]) : undefined }]),
  );
  const rss = /peak RSS, delta of a (\d+) MiB file: ours ([\d.]+) MiB/.exec(out);
  // Targets from the delta-transfer issue: signature + delta ≥ 0.9× rdiff, a 1 GiB delta under 100 MB.
  // On this shared machine wall-clock time mostly measures the other tenants, so the target is
  // judged on throughput per CPU second (both figures are shown).
  const figure = (k) => {
    const x = rows[k];
    const wall = `wall ${x.ours} / ${x.rdiff} MiB/s (${(x.ours / x.rdiff).toFixed(2)}×)`;
    const cpuRatio = x.oursCpu !== undefined && x.rdiffCpu ? x.oursCpu / x.rdiffCpu : undefined;
    const cpu = cpuRatio === undefined ? '' : `; CPU ${x.oursCpu} / ${x.rdiffCpu} MiB/CPU-s (${cpuRatio.toFixed(2)}×)`;
    const judged = cpuRatio ?? x.ours / x.rdiff;
    return { name: `${k} throughput (ours / rdiff)`, value: `${wall}${cpu}`, ...(k === 'patch' ? {} : { target: `≥ 0.9× rdiff${cpuRatio === undefined ? '' : ' (per CPU second)'}`, ok: judged >= 0.9 }) };
  };
  res.figures = [
    ...['signature', 'delta', 'patch'].filter((k) => rows[k]).map(figure),
    ...(rss ? [{ name: `peak RSS, delta of a ${rss[1]} MiB file`, value: `${rss[2]} MiB (${((Number(rss[2]) * MiB) / 1e6).toFixed(1)} MB)`, target: '< 100 MB', ok: Number(rss[2]) * MiB < 100e6 }] : []),
  ];
  res.details = ['Output of `node scripts/bench-rsync.js`' + note + ':', '', '```', ...out.split('\n').filter((l) => !/^preparing /.test(l)).join('\n').trim().split('\n'), '```'];
  return res;
}

// ----- benchmark 6: delta transfers vs rsync (scripts/bench-delta.js) -----

/**
 * Runs scripts/bench-delta.js (its own server, agents, counting proxies and rsync daemon; see
 * its header) and returns the delta block and, from the same run, the rsync block.
 */
function benchDelta() {
  const res = { id: 'delta', load: { start: loadavg() } };
  const rsyncRes = { id: 'rsync', load: res.load };
  const script = path.join(ROOT, 'scripts/bench-delta.js');
  const small = opt.small ? { BENCH_DELTA_MB: process.env.BENCH_DELTA_MB ?? '64', BENCH_RSYNC_MB: process.env.BENCH_RSYNC_MB ?? '64', BENCH_RSYNC_BIG_MB: process.env.BENCH_RSYNC_BIG_MB ?? '256' } : {};
  const env = { ...process.env, TMPDIR: TMP, ...small };
  log('delta: running scripts/bench-delta.js (binding vs rdiff, then wire bytes of agents and of an rsync daemon)');
  const r = spawnSync(process.execPath, [script, ...(opt.keep ? ['--keep'] : [])], { cwd: ROOT, env, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  res.load.end = loadavg();
  const line = /^RESULT (.*)$/m.exec(r.stdout ?? '')?.[1];
  if (r.status !== 0 || !line) {
    res.figures = [{ name: 'delta benchmark', value: `failed (exit ${r.status})` }];
    res.details = ['```', (r.stdout ?? '').trim(), '```'];
    return { res };
  }
  const d = JSON.parse(line);
  const text = r.stdout.replace(/^RESULT .*$/m, '').trim();
  const sizeNote = opt.small ? ` (--small: BENCH_DELTA_MB=${small.BENCH_DELTA_MB}, BENCH_RSYNC_MB=${small.BENCH_RSYNC_MB}, BENCH_RSYNC_BIG_MB=${small.BENCH_RSYNC_BIG_MB})` : '';
  const figures = [];
  if (d.binding?.output) figures.push(...rsyncFigures({ ...rsyncRes }, d.binding.output, '').figures);
  else figures.push({ name: 'librsync binding vs rdiff', value: `failed: ${d.binding?.error ?? 'not run'}` });
  const kB = (n) => `${(n / 1000).toFixed(1)} kB`;
  for (const k of ['upload', 'download']) {
    const ours = d.agents?.[k];
    const theirs = d.rsync?.[k];
    const o = ours ? ours.wire.up + ours.wire.down : NaN;
    const t = theirs ? theirs.sent + theirs.received : NaN;
    figures.push({
      name: `${k}: wire bytes, ours / rsync`,
      value: theirs ? `${kB(o)} / ${kB(t)} (${(o / t).toFixed(3)}×)` : `${kB(o)} / ${d.rsync?.missing ? 'rsync not installed' : `n/a (${d.rsync?.error ?? 'not run'})`}`,
      target: '≤ 0.25× rsync',
      ok: theirs ? o / t <= 0.25 : undefined,
    });
  }
  if (d.agents) {
    figures.push({ name: 'delta transfers used (A up / B down)', value: `${d.agents.upload.delta} / ${d.agents.download.delta} (whole-file: ${d.agents.upload.whole} / ${d.agents.download.whole}); files identical: ${d.agents.identical ? 'yes' : 'NO'}` });
  }
  res.figures = figures;
  res.details = [
    `Wire bytes: a ${d.sizeMiB} MiB random file, then the edit of test/integration/sync-delta.test.ts (100 bytes inserted at offset 1000, 4 KiB overwritten in the middle), placed into agent A's folder by a rename. "Ours" counts every TCP byte between each agent and the server (TLS records, HTTP, the change feed; a counting proxy per agent inside the script) from the rename until A is idle (upload) and until B holds the edited file and is idle (download). rsync: \`rsync --no-whole-file --stats\` against a local \`rsync --daemon\` on loopback (no compression), push of the edited file over the old one, then pull over a local old copy; "Total bytes sent" + "Total bytes received".`,
    '',
    `Output of \`node scripts/bench-delta.js\`${sizeNote}:`,
    '',
    '```',
    ...text.split('\n'),
    '```',
  ];
  if (d.binding?.output) rsyncFigures(rsyncRes, d.binding.output, ` (run by scripts/bench-delta.js in the same run as section 6${sizeNote})`);
  else {
    rsyncRes.figures = [{ name: 'librsync binding', value: `failed: ${d.binding?.error ?? 'not run'}` }];
    rsyncRes.details = [];
  }
  return { res, rsyncRes };
}

// ----- docs/benchmarks.md -----

const SECTIONS = {
  latency: {
    title: '1. Propagation latency of a one-line edit',
    what: 'Time from a one-line edit of a file in agent A\'s folder to the new bytes being in agent B\'s copy (same account, both agents running and idle).',
    how: 'Two `axis-agent run` processes (default 25 s change-feed long poll) against `axis-server` in a third process. ~30 edits of a 20-line Markdown file (rotating over 5 files), one `writeFile` each on A; B\'s file is watched with `fs.watch` on its folder plus a 5 ms poll; both agents are idle before each edit. Median and p90.',
    target: 'median ≤ 0.3 s (Syncthing: 1.04 s at its fastest watcher setting, 10 s by default).',
  },
  burst: {
    title: '2. 100 files edited at once',
    what: 'Time from rewriting 100 already-synced files on A (in a tight loop) until all 100 have the new bytes on B.',
    how: 'Same two agents as benchmark 1; 100 Markdown files of ~2.5 KiB in one folder; 3 rounds, each rewriting all 100 with one line changed; median of the rounds.',
    target: '≤ 1 s.',
  },
  initial: {
    title: '3. Initial sync of 10,000 files / ~1.1 GiB',
    what: 'A starts with 10,000 files (~1.1 GiB), B starts empty (same account, empty server root); time until B has everything, and the peak RSS of each agent process.',
    how: '9,000 files of 1-64 KiB (log-uniform) in 100 folders two levels deep plus 1,000 files of ~1 MiB, random and distinct, generated before the agents start (and `sync`ed to disk). Both agents are logged in beforehand and spawned together at t = 0. B\'s completion time = latest ctime among its files (each is renamed into place when complete). Peak RSS = VmHWM from /proc/PID/status. `--small` runs 1,000 files (~115 MiB) instead.',
    target: '≤ 19 s (Syncthing ~27 s), peak RSS ≤ 150 MiB per agent.',
  },
  restart: {
    title: '4. Restart over 100,000 unchanged files',
    what: 'An agent that has synced 100,000 small files is stopped and started again; time until it is idle, its peak RSS, and proof that it does not re-read (re-hash) the files.',
    how: '100,000 files of 256 B-2 KiB in 1,000 folders, in an organization without a space quota (see "Where the time goes": the reference server\'s quota check is quadratic). The agent uploads them (first run, also reported), is stopped with SIGTERM and restarted. Idle = status.json says idle with nothing queued. Re-reading is checked through access times: every file\'s atime is set to 2000-01-01 with `touch -a` before the restart (mtime, size, inode unchanged); on this relatime mount any read moves it forward (the script checks that with a control read first). `--small` uses 10,000 files.',
    target: 'no re-hash; peak RSS ≤ 150 MiB (the issues give no time target; "seconds", not minutes).',
  },
  rsync: {
    title: '5. librsync binding',
    what: 'Signature / delta / patch throughput of our N-API binding against the `rdiff` CLI (same librsync), and peak RSS while computing the delta of a 1 GiB file.',
    how: '`scripts/bench-rsync.js` (see native/README.md), run as a child process: a 256 MiB random file with scattered edits, then a 1 GiB one for memory; each operation 5 times after a warm-up, alternating with rdiff, medians of wall-clock and of CPU time.',
    target: 'signature and delta ≥ 0.9× rdiff\'s throughput; peak RSS of a 1 GiB delta bounded, under 100 MB (delta-transfer issue).',
  },
  delta: {
    title: '6. Delta transfers: wire bytes against rsync',
    what: 'Bytes on the wire, upload and download each, for a small edit of a 256 MiB file: ours (agent ↔ reference server) against `rsync --no-whole-file` with a local rsync daemon; in the same run, the binding\'s throughput against `rdiff` and the peak RSS of a 1 GiB delta (section 5 is filled from that run too).',
    how: '`scripts/bench-delta.js`, run as a child process: `scripts/bench-rsync.js` first, then `axis-server` and two `axis-agent run` processes, each agent behind its own counting TCP proxy; A uploads the edited file as a delta, B downloads it as a delta. Then `rsync --daemon --no-detach` on a free loopback port with a module in a temp dir; push and pull of the same edit with `--no-whole-file --stats`.',
    target: 'wire bytes ≤ 0.25× rsync\'s, upload and download each; throughput and memory as in section 5.',
  },
};

function resultBlock(r, m) {
  const lines = [];
  lines.push(`Last run: ${m.date}${opt.small ? ' (**--small** sizes)' : ''} on ${m.cpu}, ${m.cores} cores, ${m.ram} RAM, ${m.os}, Node ${m.node}; commit ${m.commit}, dist/ built ${m.dist}.`);
  if (opt['agent-node-options']) lines.push(`Agents run with node ${opt['agent-node-options']}.`);
  if (opt['server-node-options']) lines.push(`The server runs with node ${opt['server-node-options']}.`);
  lines.push(`Load average (1/5/15 min) ${r.load.first ? `at the first run ${r.load.first}, ` : ''}at the start ${r.load.start ?? '?'}, at the end ${r.load.end ?? '?'} (shared machine).`);
  lines.push('');
  lines.push('| figure | result | target | |');
  lines.push('|---|---|---|---|');
  for (const f of r.figures) lines.push(`| ${f.name} | ${f.value} | ${f.target ?? ''} | ${f.ok === undefined ? '' : f.ok ? 'met' : '**missed**'} |`);
  if (r.details?.length) lines.push('', ...r.details.map((d) => (d.startsWith('`') || d.startsWith('    ') || d === '' ? d : `${d}`)));
  return lines.join('\n');
}

function docTemplate() {
  const parts = [
    '# Benchmarks',
    '',
    'Measured by `npm run bench` (scripts/bench.js): real processes only, the reference server (`node bin/axis-server.js`, its own',
    'process) and `axis-agent run` processes, over HTTPS on loopback. `npm run bench -- --small` is a quick run',
    '(1,000-file initial sync, 10,000-file restart); `--only latency,burst` runs a subset; `--cpu-prof` adds the',
    "agents' hottest functions. The script rewrites only the result blocks below; everything else is hand-written.",
    'The machine is shared: each result notes the load average at the time.',
    '',
  ];
  for (const id of ALL) {
    const s = SECTIONS[id];
    parts.push(`## ${s.title}`, '', `**What.** ${s.what}`, '', `**How.** ${s.how}`, '', `**Target.** ${s.target}`, '', '**Result.**', '', `<!-- bench:${id}:start -->`, '(not run yet)', `<!-- bench:${id}:end -->`, '');
  }
  parts.push('## Where the time goes', '', '(analysis)', '');
  return parts.join('\n');
}

function updateDoc(results, m) {
  let doc = fs.existsSync(DOC) ? fs.readFileSync(DOC, 'utf8') : docTemplate();
  for (const r of results) {
    const start = `<!-- bench:${r.id}:start -->`;
    const end = `<!-- bench:${r.id}:end -->`;
    const i = doc.indexOf(start);
    const j = doc.indexOf(end);
    const block = `${start}\n${resultBlock(r, m)}\n${end}`;
    if (i >= 0 && j > i) doc = `${doc.slice(0, i)}${block}${doc.slice(j + end.length)}`;
    else doc += `\n## ${SECTIONS[r.id].title}\n\n${block}\n`;
  }
  fs.writeFileSync(DOC, doc);
}

// ----- main -----

function printTable(results) {
  const rows = [['benchmark', 'figure', 'result', 'target', '']];
  for (const r of results) for (const f of r.figures) rows.push([r.id, f.name, f.value, f.target ?? '', f.ok === undefined ? '' : f.ok ? 'met' : 'MISSED']);
  const w = rows[0].map((_, c) => Math.min(60, Math.max(...rows.map((row) => String(row[c]).length))));
  const fmt = (row) => row.map((x, c) => String(x).padEnd(w[c])).join('  ');
  process.stdout.write(`\n${fmt(rows[0])}\n${w.map((n) => '-'.repeat(n)).join('  ')}\n${rows.slice(1).map(fmt).join('\n')}\n\n`);
}

async function main() {
  if (!fs.existsSync(path.join(ROOT, 'dist/src/agent/cli.js')) || !fs.existsSync(path.join(ROOT, 'dist/src/server/cli.js'))) {
    throw new Error('dist/ is missing: run `npm run build` (or `npm run bench`, which builds first)');
  }
  const m = machine();
  log(`machine: ${m.cpu}, ${m.cores} cores, ${m.ram}, Node ${m.node}, load ${loadavg()}; temp ${BASE}`);
  log(`sizes: ${JSON.stringify(SIZES)}; running ${only.join(', ')}`);
  const results = [];
  let server;
  const cleanup = async () => {
    if (pair) await Promise.all([pair.a.stop(), pair.b.stop()]);
    pair = undefined;
    await server?.stop();
    if (server && opt['cpu-prof']) profileLines('the server (whole run)', [{ profiles: [profDirOf('server', BASE)] }]);
    if (!opt.keep) fs.rmSync(BASE, { recursive: true, force: true });
  };
  process.once('SIGINT', () => {
    void cleanup().then(() => process.exit(130));
  });
  try {
    if (only.some((o) => o !== 'rsync' && o !== 'delta')) {
      server = await startServer();
      log(`server ${server.url} (pid ${server.pid})`);
    }
    for (const id of only) {
      let r;
      try {
        if (id === 'latency') r = await benchLatency(server);
        else if (id === 'burst') r = await benchBurst(server);
        else if (id === 'initial') {
          if (pair) await Promise.all([pair.a.stop(), pair.b.stop()]);
          pair = undefined;
          r = await benchInitial(server);
        } else if (id === 'restart') {
          if (pair) await Promise.all([pair.a.stop(), pair.b.stop()]);
          pair = undefined;
          r = await benchRestart(server);
        } else if (id === 'delta') {
          const d = benchDelta();
          if (d.rsyncRes) results.push(d.rsyncRes);
          r = d.res;
        } else if (only.includes('delta')) {
          continue; // filled from the delta run (one run for all the delta figures)
        } else r = benchRsync();
      } catch (err) {
        log(`${id} FAILED: ${err.stack ?? err}`);
        r = { id, load: { end: loadavg() }, figures: [{ name: 'run', value: `failed: ${String(err.message).split('\n')[0]}` }], details: [] };
      }
      results.push(r);
      process.stderr.write(`${r.details.join('\n')}\n`);
      if (id === 'burst' && pair) {
        const prof = [];
        await Promise.all([pair.a.stop(), pair.b.stop()]);
        prof.push(...profileLines('the latency and burst runs (A and B)', [pair.a, pair.b]));
        if (prof.length) r.details.push('', '```', ...prof, '```');
        pair = undefined;
      }
    }
  } finally {
    await cleanup();
  }
  printTable(results);
  if (!opt['no-doc']) {
    updateDoc(results, m);
    log(`results written to ${path.relative(process.cwd(), DOC)}`);
  }
}

await main();
