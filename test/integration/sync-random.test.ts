// Seeded randomized end-to-end sync test: two real agents (child processes, one account) and
// a real reference server, while a random "user" works in each sync folder at the same time
// (creates, edits, appends, truncates, editor saves, rapid re-edits, renames, moves, deletes,
// folder creates/renames/moves/tree deletes, case-only renames; test/helpers/random-fs.ts).
// Then the users stop and, once everything is quiet, the test checks:
//   (a) both folders hold the same paths and contents, equal to the server's live tree (junk
//       such as an editor's "name~" left behind is not synced by design and not compared);
//   (b) no version is lost: every content version a user wrote and did not overwrite or delete
//       itself is still a file in a folder (maybe a collision copy) or a server revision;
//   (c) no ".axis-tmp-" file is left in either folder;
//   (d) both agents are still running, idle, with no open collision.
// Collisions are resolved automatically (keep both: settings.json manualCollisions false), so
// every collision becomes a collision copy that syncs like any file.
//
// Replay one seed:   AXIS_SEED=123 npx vitest run test/integration/sync-random.test.ts
// Other knobs:       AXIS_SEEDS=1,2,3   AXIS_RANDOM_OPS=400 (steps per user per seed)
// Soak (scripts/soak.js sets these): AXIS_SOAK_MINUTES=10 / AXIS_SOAK_OPS=20000 — one seed, rounds
// of AXIS_RANDOM_OPS steps per user, all checks after every round.
// A seed fixes each user's random choices; the agents' timing is real, so a replay explores
// the same operation mix but not necessarily the same interleaving.
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ignoreReason } from '../../src/core/paths.js';
import { TEMP_PREFIX } from '../../src/engine/localfs.js';
import { sleep, TestAgent } from '../helpers/agents.js';
import { newPerson, personByEmail } from '../helpers/files.js';
import { hashTree, missingVersions, OP_KINDS, RandomFs, Rng, type MissingVersion } from '../helpers/random-fs.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isFinite(n) || n < 0) throw new Error(`${name} must be a non-negative number, got ${JSON.stringify(raw)}`);
  return n;
}

const SOAK_MINUTES = envNumber('AXIS_SOAK_MINUTES', 0);
const SOAK_OPS = envNumber('AXIS_SOAK_OPS', 0);
const SOAK = SOAK_MINUTES > 0 || SOAK_OPS > 0;
const DEFAULT_SEEDS = [11, 23, 37, 41, 59];
const SEEDS = process.env.AXIS_SEED
  ? [envNumber('AXIS_SEED', 0)]
  : process.env.AXIS_SEEDS
    ? process.env.AXIS_SEEDS.split(',').map((s) => Number(s.trim()))
    : DEFAULT_SEEDS;
if (SEEDS.some((s) => !Number.isInteger(s))) throw new Error(`seeds must be integers: ${SEEDS.join(',')}`);
/** Steps per user per seed (per round when soaking). */
const STEPS = envNumber('AXIS_RANDOM_OPS', SOAK ? 400 : 250);
/** How long the agents get to settle after the users stop. */
const QUIESCE_MS = envNumber('AXIS_QUIESCE_MS', 60_000);

let t: TestServer;
/** The server's data stays on disk after a failure, for a post-mortem. */
const serverData = mkdtempSync(path.join(os.tmpdir(), 'axis-server-random-'));
let failures = 0;

beforeAll(async () => {
  t = await startTestServer({ dataDir: serverData });
}, 60_000);

afterAll(async () => {
  await t?.stop();
  if (failures === 0) rmSync(serverData, { recursive: true, force: true });
});

type Tree = Map<string, string>;

/** The server's live tree of a root: path → revision blob (content sha256), "/" for folders. */
function serverTree(rootId: number): Tree {
  const rows = t.server.ctx.db
    .prepare(`SELECT n.id, n.parent_id, n.name, n.kind, r.blob FROM nodes n LEFT JOIN revisions r ON r.id = n.revision_id WHERE n.root_id = ? AND n.is_deleted = 0`)
    .all(rootId) as { id: number; parent_id: number | null; name: string; kind: string; blob: string | null }[];
  const byId = new Map(rows.map((r) => [r.id, r]));
  const pathOf = (r: (typeof rows)[number], depth: number): string => {
    if (r.parent_id === null) return r.name;
    const p = byId.get(r.parent_id);
    if (!p || depth > 64) return `<no live parent ${r.parent_id}>/${r.name}`;
    return `${pathOf(p, depth + 1)}/${r.name}`;
  };
  const out: Tree = new Map();
  for (const r of rows) out.set(pathOf(r, 0), r.kind === 'folder' ? '/' : (r.blob ?? '<no revision>'));
  return out;
}

function serverBlobs(rootId: number): Set<string> {
  const rows = t.server.ctx.db.prepare(`SELECT DISTINCT blob FROM revisions WHERE root_id = ?`).all(rootId) as { blob: string }[];
  return new Set(rows.map((r) => r.blob));
}

const isTemp = (p: string): boolean => p.split('/').some((s) => s.startsWith(TEMP_PREFIX));
/** OS/editor junk ("name~" of an editor save whose folder moved meanwhile) is never synced, by design. */
const isJunk = (p: string): boolean => ignoreReason(p.slice(p.lastIndexOf('/') + 1))?.kind === 'junk';
/** What the agents sync: temp files are checked separately (c), junk is never synced. */
const synced = (tr: Tree): Tree => new Map([...tr].filter(([p]) => !isTemp(p) && !isJunk(p)));
const serialize = (tr: Tree): string => JSON.stringify([...tr].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)));

function treeDiff(named: [string, Tree][], limit = 40): string {
  const keys = [...new Set(named.flatMap(([, tr]) => [...tr.keys()]))].sort();
  const lines: string[] = [];
  for (const k of keys) {
    const vals = named.map(([, tr]) => tr.get(k));
    if (vals.every((v) => v === vals[0])) continue;
    lines.push(`  ${k}: ${named.map(([n], i) => `${n}=${vals[i] === undefined ? '(absent)' : vals[i] === '/' ? 'folder' : vals[i]!.slice(0, 8)}`).join(' ')}`);
  }
  const more = lines.length > limit ? [`  … and ${lines.length - limit} more`] : [];
  return [...lines.slice(0, limit), ...more].join('\n') || '  (no difference)';
}

/** Warnings and pending retries the agent's state database holds (read-only). */
function agentState(a: TestAgent): string {
  try {
    const db = new Database(path.join(a.home, 'state.sqlite'), { readonly: true, fileMustExist: true });
    try {
      const w = db.prepare(`SELECT side, path, code, message FROM warnings ORDER BY path`).all() as { side: string; path: string; code: string; message: string }[];
      const c = db.prepare(`SELECT path, reason FROM collisions WHERE resolved IS NULL`).all() as { path: string; reason: string }[];
      return [
        ...w.map((x) => `  warning ${x.side} ${x.path} ${x.code}: ${x.message}`),
        ...c.map((x) => `  open collision ${x.path} (${x.reason})`),
      ].join('\n');
    } finally {
      db.close();
    }
  } catch (err) {
    return `  (state unreadable: ${(err as Error).message})`;
  }
}

/** Everything the agent did (its activity log, UTC times), for the full failure report. */
function agentActivity(a: TestAgent): string {
  try {
    const db = new Database(path.join(a.home, 'state.sqlite'), { readonly: true, fileMustExist: true });
    try {
      const rows = db.prepare(`SELECT time, action, path, detail FROM activity ORDER BY id`).all() as { time: string; action: string; path: string | null; detail: string | null }[];
      return rows.map((r) => `  ${r.time.slice(11, 23)} ${r.action} ${r.path ?? ''}${r.detail ? ` -> ${r.detail}` : ''}`).join('\n');
    } finally {
      db.close();
    }
  } catch (err) {
    return `  (activity unreadable: ${(err as Error).message})`;
  }
}

interface StatusFile {
  pid: number;
  running: boolean;
  roots: { state: string; queued: number; collisions: number; warnings: number; last_error?: string | null }[];
}

async function readStatus(a: TestAgent): Promise<StatusFile | undefined> {
  const { readFile } = await import('node:fs/promises');
  try {
    return JSON.parse(await readFile(path.join(a.home, 'status.json'), 'utf8')) as StatusFile;
  } catch {
    return undefined;
  }
}

function pidAlive(pid: number | undefined): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** "op path: error" of the agent's "operation failed" log lines (pino JSON on stderr). */
function failedOps(log: string): string[] {
  const out: string[] = [];
  for (const line of log.split('\n')) {
    if (!line.includes('operation failed')) continue;
    try {
      const j = JSON.parse(line) as { op?: string; path?: string; err?: string; attempts?: number };
      out.push(`${j.op} ${j.path} (attempt ${j.attempts}): ${j.err}`);
    } catch {
      out.push(line);
    }
  }
  return out;
}

async function drive(user: RandomFs, pauses: Rng, steps: number, stopAt: number): Promise<void> {
  for (let i = 0; i < steps && Date.now() < stopAt; i++) {
    await user.step();
    const r = pauses.next();
    await sleep(r < 0.6 ? pauses.int(4) : r < 0.93 ? pauses.range(4, 30) : pauses.range(60, 250));
  }
}

interface RoundResult {
  tree: Tree;
  required: number;
}

interface ScenarioOptions {
  stepsPerRound: number;
  /** Stop starting new rounds after this time (ms since epoch) or total steps. */
  until: number;
  maxSteps: number;
  maxRounds: number;
  log: (line: string) => void;
}

class ScenarioFailure extends Error {}

async function scenario(seed: number, o: ScenarioOptions): Promise<RandomFs[]> {
  const person = newPerson(t);
  const rootId = personByEmail(t, person.email).root_id!;
  const account = { email: person.email, password: 'user-password-1' };
  const server = { url: t.url, fingerprint: t.server.fingerprint };
  const agents = [new TestAgent('alpha', server, account), new TestAgent('beta', server, account)];
  const users = agents.map((a) => new RandomFs(a.name, a.dir, Rng.derive(seed, `user ${a.name}`), { tag: `seed ${seed}` }));
  const pauses = agents.map((a) => Rng.derive(seed, `pauses ${a.name}`));
  const replay = `replay: AXIS_SEED=${seed} AXIS_RANDOM_OPS=${o.stepsPerRound} npx vitest run test/integration/sync-random.test.ts`;

  /** Throws with the seed, a summary and the path of a full report (op logs, agent logs, trees). */
  const fail = (round: number, what: string, details: string): never => {
    failures++;
    const report = path.join(os.tmpdir(), `axis-sync-random-seed${seed}-${Date.now()}.txt`);
    const full = [
      `seed ${seed}, round ${round}: ${what}`,
      details,
      ...agents.map((a) => `--- ${a.name} (${a.dir}) state:\n${agentState(a)}`),
      ...users.map((u) => `--- ${u.name} steps (${JSON.stringify(u.counts)}):\n${u.log.join('\n')}`),
      ...agents.map((a) => `--- ${a.name} agent activity:\n${agentActivity(a)}`),
      ...agents.map((a) => `--- ${a.name} agent log:\n${a.log}`),
    ].join('\n');
    writeFileSync(report, full);
    const tail = (s: string, n: number) => s.split('\n').slice(-n).join('\n');
    throw new ScenarioFailure(
      [
        `[seed ${seed}] round ${round}: ${what}`,
        details,
        ...agents.map((a) => `--- ${a.name} state:\n${agentState(a)}`),
        ...users.map((u) => `--- last steps of ${u.name}:\n${tail(u.log.join('\n'), 15)}`),
        ...agents.map((a) => `--- ${a.name} agent log (tail):\n${tail(a.log, 15)}`),
        `full report: ${report}`,
        `kept for inspection: agents ${agents.map((a) => path.dirname(a.home)).join(' ')}, server data ${serverData} (root ${rootId})`,
        replay,
      ].join('\n'),
    );
  };

  /** Waits until both agents are idle and both folders and the server hold one tree, stable for a while. */
  const quiesce = async (round: number): Promise<{ tree: Tree; ms: number }> => {
    const started = Date.now();
    const deadline = started + QUIESCE_MS;
    let last = '';
    let stable = 0;
    let trees: [string, Tree][] = [];
    for (;;) {
      const left = deadline - Date.now();
      if (left <= 0) {
        fail(
          round,
          `(a) no convergence within ${QUIESCE_MS} ms after the users stopped`,
          `differences (content sha256 prefixes):\n${treeDiff(trees)}`,
        );
      }
      try {
        await Promise.all(agents.map((a) => a.waitIdle(left)));
      } catch (err) {
        fail(round, '(d) an agent stopped running or never became idle', (err as Error).message.split('\n')[0]!);
      }
      trees = [...agents.map((a): [string, Tree] => [a.name, synced(hashTree(a.dir))]), ['server', serverTree(rootId)]];
      const same = trees.every(([, tr]) => serialize(tr) === serialize(trees[0]![1]));
      if (same && serialize(trees[0]![1]) === last) {
        if (++stable >= 3) return { tree: trees[0]![1], ms: Date.now() - started };
      } else stable = same ? 1 : 0;
      last = same ? serialize(trees[0]![1]) : '';
      await sleep(same ? 400 : 150);
    }
  };

  try {
    await Promise.all(agents.map((a) => a.login()));
    await Promise.all(agents.map((a) => a.setSettings({ manualCollisions: false })));
    await Promise.all(agents.map((a) => a.start()));
    let total = 0;
    for (let round = 1; ; round++) {
      const began = Date.now();
      const logFrom = agents.map((a) => a.log.length);
      await Promise.all(users.map((u, i) => drive(u, pauses[i]!, o.stepsPerRound, o.until)));
      const editMs = Date.now() - began;
      const settled = await quiesce(round);
      const res = await check(round, settled.tree);
      total = users.reduce((s, u) => s + u.stepCount, 0);
      const copies = [...res.tree.keys()].filter((p) => p.includes(' (collision ')).length;
      // Why settling took long, if it did: the operations that failed (and were retried later).
      const failed = agents.flatMap((a, i) => failedOps(a.log.slice(logFrom[i])).map((f) => `${a.name} ${f}`));
      o.log(
        `seed ${seed} round ${round}: ${total} steps so far (${users.map((u) => `${u.name} raced ${u.counts.raced}, skipped ${u.counts.skipped}`).join('; ')}), ` +
          `edits ${editMs} ms, settled in ${settled.ms} ms, tree ${res.tree.size} entries (${copies} collision copies), ${res.required} versions required and present` +
          (failed.length && settled.ms > 10_000 ? `; slow to settle; operations that failed and were retried:\n  ${failed.join('\n  ')}` : ''),
      );
      if (round >= o.maxRounds || Date.now() >= o.until || total >= o.maxSteps) break;
    }
  } finally {
    await Promise.all(agents.map((a) => a.stop()));
  }
  // Passed: the temp folders are not needed any more.
  for (const a of agents) rmSync(path.dirname(a.home), { recursive: true, force: true });
  return users;

  async function check(round: number, tree: Tree): Promise<RoundResult> {
    // (c) no temp files left (they are outside the compared trees).
    const temps = agents.flatMap((a) => [...hashTree(a.dir).keys()].filter(isTemp).map((p) => `  ${a.name}: ${p}`));
    if (temps.length) fail(round, '(c) temp files left in the sync folders', temps.join('\n'));
    // (b) every version that must survive is a file somewhere or a server revision.
    const present = new Set<string>([...serverBlobs(rootId)]);
    for (const a of agents) for (const [p, h] of hashTree(a.dir)) if (h !== '/' && !isTemp(p)) present.add(h);
    const missing: MissingVersion[] = missingVersions(users, present);
    if (missing.length) {
      fail(
        round,
        `(b) ${missing.length} version(s) lost`,
        missing
          .map((m) => `  ${m.sha256.slice(0, 8)} (${m.size} bytes) written by ${m.writer} step ${m.step} (${m.kind} ${m.path}, at +${m.at} ms); history:\n${m.history.map((h) => `    ${h}`).join('\n')}`)
          .join('\n'),
      );
    }
    // (d) both agents still run (waitIdle in quiesce also checks the child process) with nothing left to resolve.
    for (const a of agents) {
      const s = await readStatus(a);
      if (!s || !s.running || !pidAlive(s.pid)) fail(round, `(d) ${a.name} is not running`, JSON.stringify(s));
      const open = s!.roots.reduce((n, r) => n + r.collisions, 0);
      if (open > 0) fail(round, `(d) ${a.name} has ${open} open collision(s) although collisions are resolved automatically`, JSON.stringify(s));
    }
    return { tree, required: users.reduce((s, u) => s + u.required().length, 0) };
  }
}

// Only one of the two suites exists in a run (no skipped tests): CI seeds, or the soak.
if (!SOAK) {
  describe('random concurrent operations on two agents', () => {
    for (const seed of SEEDS) {
      it(`seed ${seed}: ${STEPS} random steps per user; folders and server converge and no version is lost`, async () => {
        const users = await scenario(seed, { stepsPerRound: STEPS, until: Number.POSITIVE_INFINITY, maxSteps: Number.POSITIVE_INFINITY, maxRounds: 1, log: (l) => console.log(l) });
        // The run really exercised every kind of operation (not just races and skips).
        const done = Object.fromEntries(OP_KINDS.map((k) => [k, users.reduce((n, u) => n + u.counts[k], 0)]));
        expect(Object.entries(done).filter(([, n]) => n === 0).map(([k]) => k), `[seed ${seed}] operation kinds never carried out: ${JSON.stringify(done)}`).toEqual([]);
      }, 180_000);
    }
  });
} else {
  describe('soak: random concurrent operations on two agents', () => {
    it(`seed ${SEEDS[0]}: rounds of ${STEPS} steps per user for ${SOAK_MINUTES || '∞'} minutes / ${SOAK_OPS || '∞'} steps`, async () => {
      const until = SOAK_MINUTES > 0 ? Date.now() + SOAK_MINUTES * 60_000 : Number.POSITIVE_INFINITY;
      await scenario(SEEDS[0]!, {
        stepsPerRound: STEPS,
        until,
        maxSteps: SOAK_OPS > 0 ? SOAK_OPS : Number.POSITIVE_INFINITY,
        maxRounds: Number.POSITIVE_INFINITY,
        log: (l) => console.log(l),
      });
    }, (SOAK_MINUTES > 0 ? SOAK_MINUTES * 60_000 : 24 * 3600_000) + 10 * 60_000);
  });
}
