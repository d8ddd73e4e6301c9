// Crash safety: two real agents on one account are killed with SIGKILL at random points while
// they upload, download and resolve collisions (keep both). After every kill the sync folder
// holds no partial file (every file is whole: one of the versions written) and the state
// database opens and passes an integrity check; after the restart there is no temp file left,
// every local edit made before the kill survives (in both sync folders, possibly as a collision
// copy, and as a revision on the server), collision copies appear only for files edited on both
// sides, and both agents converge.
//
// Kill timings and edit choices come from a seeded PRNG. The seed is in the test names; rerun
// one with AXIS_CRASH_SEED=<seed>.
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, promises as fsp, readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { converged, sleep, TestAgent } from '../helpers/agents.js';
import { newPerson, rootOf } from '../helpers/files.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const TEMP_PREFIX = '.axis-tmp-';
const ROUNDS = 5;
const MiB = 1024 * 1024;
const SEED = Number(process.env.AXIS_CRASH_SEED ?? Math.floor(Math.random() * 2 ** 31));

/** mulberry32: small, fast, seedable. */
function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let x = s;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}
const rand = prng(SEED);
const between = (lo: number, hi: number) => lo + Math.floor(rand() * (hi - lo + 1));
const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

let t: TestServer;
let a: TestAgent;
let b: TestAgent;
let base: string;
let rootId: number;
/** sha256 of every content this test ever put in a sync folder. */
const versions = new Set<string>();
/** Paths edited by both agents in one round (the only ones that may get collision copies). */
const doublyEdited = new Set<string>();
/** Paths that exist (the edit targets of later rounds). */
const known: string[] = [];
let staged = 0;

/** Content of one version: a unique header, then a seeded pattern up to `size`. */
function makeContent(label: string, size: number): Buffer {
  const buf = Buffer.alloc(size);
  const block = Buffer.alloc(4096);
  for (let i = 0; i < block.length; i += 4) block.writeUInt32LE((rand() * 2 ** 32) >>> 0, i);
  for (let off = 0; off < size; off += block.length) block.copy(buf, off);
  Buffer.from(`${label}\n`).copy(buf, 0);
  return buf;
}

/** Saves like an editor does: the whole new content appears at once (temp file + rename). */
async function save(agent: TestAgent, rel: string, content: Buffer): Promise<void> {
  const staging = path.join(base, 'staging');
  await fsp.mkdir(staging, { recursive: true });
  const tmp = path.join(staging, `edit-${++staged}`);
  await fsp.writeFile(tmp, content);
  await fsp.mkdir(path.dirname(agent.file(rel)), { recursive: true });
  await fsp.rename(tmp, agent.file(rel));
}

/** Every regular file under `dir`: relative path → sha256 (not following symlinks). */
function files(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (abs: string, rel: string) => {
    for (const name of readdirSync(abs).sort()) {
      const p = path.join(abs, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(p);
      if (st.isDirectory()) walk(p, r);
      else if (st.isFile()) out.set(r, sha(readFileSync(p)));
      else out.set(r, '(not a regular file)');
    }
  };
  if (existsSync(dir)) walk(dir, '');
  return out;
}

const isTemp = (rel: string) => path.posix.basename(rel).startsWith(TEMP_PREFIX);

/** No partial file: every file but our temp files is one of the versions written, whole. */
function expectNoPartialFile(agent: TestAgent, when: string): void {
  for (const [rel, h] of files(agent.dir)) {
    if (isTemp(rel)) continue;
    expect(versions.has(h), `${agent.name}: ${rel} is not a whole version ${when} (seed ${SEED})`).toBe(true);
  }
}

/** The state database of a killed agent opens and passes SQLite's integrity check. */
function expectStateDbSound(agent: TestAgent): void {
  const db = new Database(path.join(agent.home, 'state.sqlite'), { readonly: true, fileMustExist: true });
  try {
    expect(db.pragma('integrity_check', { simple: true }), `${agent.name} state DB (seed ${SEED})`).toBe('ok');
    // The schema is usable: the trees read back.
    expect(Array.isArray(db.prepare(`SELECT * FROM synced_nodes LIMIT 5`).all())).toBe(true);
  } finally {
    db.close();
  }
}

/** What the agent last published as in flight (status.json, refreshed every 250 ms). */
function transfersOf(agent: TestAgent): string {
  try {
    const s = JSON.parse(readFileSync(path.join(agent.home, 'status.json'), 'utf8')) as { transfers: { direction: string; path: string }[] };
    return s.transfers.map((x) => `${x.direction === 'up' ? '↑' : '↓'}${x.path}`).join(' ') || 'none';
  } catch {
    return 'unknown';
  }
}

function serverBlobs(): Set<string> {
  const rows = t.server.ctx.db.prepare(`SELECT DISTINCT blob FROM revisions WHERE root_id = ?`).all(rootId) as { blob: string }[];
  return new Set(rows.map((r) => r.blob));
}

/**
 * converged(a, b), retried when a snapshot raced with an agent renaming a temp file away
 * (the helper reads the folders while the agents work and then throws ENOENT).
 */
async function settle(timeoutMs = 45_000): Promise<Record<string, string>> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await converged(a, b, Math.max(1000, deadline - Date.now()));
    } catch (err) {
      if (!/^ENOENT/.test((err as Error).message) || Date.now() > deadline) throw err;
    }
  }
}

interface Edit {
  agent: TestAgent;
  path: string;
  sha: string;
  content: Buffer;
}

beforeAll(async () => {
  t = await startTestServer();
  const p = newPerson(t);
  rootId = rootOf(t, p).id;
  base = await fsp.mkdtemp(path.join(os.tmpdir(), 'axis-crash-'));
  const account = { email: p.email, password: 'user-password-1' };
  a = new TestAgent('alpha', { url: t.url, fingerprint: t.server.fingerprint }, account, path.join(base, 'alpha'));
  b = new TestAgent('beta', { url: t.url, fingerprint: t.server.fingerprint }, account, path.join(base, 'beta'));
  await Promise.all([a.login(), b.login()]);
  // Collisions resolve themselves (keep both), so every round can converge unattended.
  await Promise.all([a.setSettings({ manualCollisions: false }), b.setSettings({ manualCollisions: false })]);
  // A starting set of files both agents share.
  for (let i = 0; i < 4; i++) {
    const rel = i < 2 ? `file-${i}.bin` : `docs/file-${i}.bin`;
    const c = makeContent(`initial ${rel}`, between(MiB / 2, 2 * MiB));
    versions.add(sha(c));
    await save(a, rel, c);
    known.push(rel);
  }
  await Promise.all([a.start(), b.start()]);
  await settle();
}, 60_000);

afterAll(async () => {
  await Promise.all([a?.stop('SIGKILL'), b?.stop('SIGKILL')]);
  await t?.stop();
  if (base) await fsp.rm(base, { recursive: true, force: true });
});

describe(`crash safety (seed ${SEED}; rerun with AXIS_CRASH_SEED=${SEED})`, () => {
  for (let round = 1; round <= ROUNDS; round++) {
    it(`round ${round}: SIGKILL during transfers and collisions, restart, converge`, async () => {
      // A batch of edits on both agents: edits of shared files (some on both sides at once:
      // collisions), new files, a new folder; several MiB each so transfers are in flight.
      const edits: Edit[] = [];
      const both = pick(known);
      doublyEdited.add(both);
      const plan: { agent: TestAgent; rel: string }[] = [
        { agent: a, rel: both },
        { agent: b, rel: both },
        { agent: a, rel: pick(known) },
        { agent: b, rel: pick(known) },
        { agent: a, rel: `new-a-${round}.bin` },
        { agent: b, rel: `round-${round}/new-b-${round}.bin` },
      ];
      // One agent never edits a path twice in a round; if both picked the same path, it is a collision too.
      const seen = new Set<string>();
      for (const e of plan) {
        const key = `${e.agent.name}:${e.rel}`;
        if (seen.has(key)) continue;
        seen.add(key);
        if (plan.some((o) => o.agent !== e.agent && o.rel === e.rel)) doublyEdited.add(e.rel);
        const c = makeContent(`round ${round} ${e.agent.name} ${e.rel}`, between(MiB, 3 * MiB));
        versions.add(sha(c));
        edits.push({ agent: e.agent, path: e.rel, sha: sha(c), content: c });
      }

      const victims = pick([[a], [b], [a, b]] as TestAgent[][]);
      const killAfter = between(0, 1500);
      const again = rand() < 0.4 ? between(200, 1500) : null;
      const log = `round ${round}: kill ${victims.map((v) => v.name).join('+')} ${killAfter} ms after the edits${again !== null ? `, again ${again} ms into the restart` : ''} (seed ${SEED})`;

      await Promise.all(edits.map((e) => save(e.agent, e.path, e.content)));
      await sleep(killAfter);
      const inFlight = victims.map((v) => `${v.name}: ${transfersOf(v)}`).join('; ');
      await Promise.all(victims.map((v) => v.stop('SIGKILL')));
      const leftovers = victims.map((v) => [...files(v.dir).keys()].filter(isTemp).length);
      console.log(`${log}; transfers at the kill: ${inFlight}; temp files left: ${leftovers.join('+')}`);
      for (const v of victims) {
        expectNoPartialFile(v, `after the kill in ${log}`);
        expectStateDbSound(v);
      }
      if (again !== null) {
        // Killed again while recovering (cleaning up, re-scanning, re-transferring).
        for (const v of victims) void v.start().catch(() => undefined);
        await sleep(again);
        await Promise.all(victims.map((v) => v.stop('SIGKILL')));
        for (const v of victims) {
          expectNoPartialFile(v, `after the second kill in ${log}`);
          expectStateDbSound(v);
        }
      }
      await Promise.all(victims.map((v) => v.start()));
      const t0 = Date.now();
      const snap = await settle();
      console.log(`round ${round}: converged ${Date.now() - t0} ms after the restart`);

      // No temp file, no partial file, both folders the same.
      expect(Object.keys(snap).filter(isTemp), log).toEqual([]);
      expect(Object.keys(b.snapshot()).filter(isTemp), log).toEqual([]);
      expectNoPartialFile(a, `after the restart in ${log}`);
      expectNoPartialFile(b, `after the restart in ${log}`);

      // Every edit of this round survives, on the server and in both folders (maybe as a
      // collision copy): no agent edits a path twice in a round, so nothing may supersede it.
      const inFolders = new Set(Object.values(snap));
      const onServer = serverBlobs();
      for (const e of edits) {
        const where = `${inFolders.has(e.sha) ? 'in the folders' : 'not in the folders'}, ${onServer.has(e.sha) ? 'on the server' : 'not on the server'}`;
        expect(inFolders.has(e.sha) && onServer.has(e.sha), `${e.agent.name}'s edit of ${e.path} is ${where} after ${log}`).toBe(true);
      }
      // Only paths edited on both sides may have collision copies.
      for (const rel of Object.keys(snap)) {
        const m = / \(collision [^)]*\)/.exec(rel);
        if (!m) continue;
        const original = rel.replace(m[0], '');
        expect(doublyEdited.has(original), `unexpected collision copy ${rel} in ${log}`).toBe(true);
      }
      for (const rel of Object.keys(snap)) if (snap[rel] !== '/' && !known.includes(rel) && !/ \(collision /.test(rel)) known.push(rel);
    }, 90_000);
  }

  it('the state databases open cleanly after all the kills', async () => {
    await Promise.all([a.stop(), b.stop()]);
    expectStateDbSound(a);
    expectStateDbSound(b);
    await Promise.all([a.start(), b.start()]);
    await settle();
  });
});
