// Confinement against a hostile (or broken) server: whatever names, parent links and content the
// server sends, a real agent writes nothing outside its sync folder, never writes through a
// symlink planted in the folder, refuses content whose hash is not the one announced, keeps
// running (reporting warnings for the bad entries) and still syncs the legitimate files.
//
// The reference server validates names, so the hostile entries are written straight into its
// SQLite (nodes, revisions; `seq` bumped with nextSeq so the change feed delivers them) and blob
// store. Parent links the reference server refuses to render at all (a folder that is its own
// parent, a cycle of two folders, a parent in another root: its change feed answers 500 for those)
// are told by a small HTTPS front in this file that forwards everything to the real server and
// rewrites `parent_id` in change-feed answers — a hostile server presenting the real server's
// certificate, so the agent's pinned fingerprint matches.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, promises as fsp, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { nextSeq } from '../../src/server/db.js';
import { nameKey } from '../../src/server/files/names.js';
import { eventually, TestAgent } from '../helpers/agents.js';
import { filesClient, newPerson, rootOf, upload } from '../helpers/files.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const TEMP_PREFIX = '.axis-tmp-';
const T = '2024-05-01T10:00:00';

let t: TestServer;
let front: HostileFront;
let agent: TestAgent;
let base: string;
let outsideDir: string;
let outsideDir2: string;
let outsideFile: string;
let rootId: number;
let otherFolderId: number;
let baselineOutside: Record<string, string>;

/** What a hostile server may lie about in change-feed answers: node id → parent_id it claims. */
const parentLies = new Map<number, number>();

interface HostileFront {
  url: string;
  close(): Promise<void>;
}

/** HTTPS on loopback with the real server's key and certificate, forwarding to it. */
async function startFront(target: TestServer): Promise<HostileFront> {
  const tlsDir = path.join(target.dataDir, 'tls');
  const upstream = new URL(target.url);
  const agentOpts = new https.Agent({ ca: target.server.certificate, keepAlive: true });
  const server = https.createServer({ key: readFileSync(path.join(tlsDir, 'key.pem')), cert: readFileSync(path.join(tlsDir, 'cert.pem')) }, (req, res) => {
    const rewrite = /^\/api\/2\/files\/\d+\/changes(\?|$)/.test(req.url ?? '');
    const up = https.request(
      { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: { ...req.headers, host: upstream.host }, agent: agentOpts },
      (ur) => {
        if (!rewrite || ur.statusCode !== 200) {
          res.writeHead(ur.statusCode ?? 502, ur.headers);
          ur.pipe(res);
          return;
        }
        const chunks: Buffer[] = [];
        ur.on('data', (c: Buffer) => chunks.push(c));
        ur.on('end', () => {
          const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { results: { id: number; parent_id: number | null }[] };
          for (const r of body.results) if (parentLies.has(r.id)) r.parent_id = parentLies.get(r.id)!;
          const out = Buffer.from(JSON.stringify(body));
          const headers = { ...ur.headers, 'content-length': String(out.length) };
          delete headers['transfer-encoding'];
          res.writeHead(200, headers);
          res.end(out);
        });
      },
    );
    up.on('error', () => res.destroy());
    // The client gave up (a long poll aborted, the agent killed): drop the upstream request too.
    res.on('close', () => {
      if (!res.writableFinished) up.destroy();
    });
    req.pipe(up);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agentOpts.destroy();
    },
  };
}

let keyCounter = 0;

/**
 * Inserts a node the way the server would, but with whatever name and parent we like. Files get
 * one revision whose blob is `content`. Returns the node id.
 */
async function addNode(root: number, parentId: number | null, name: string, kind: 'file' | 'folder', content?: Buffer): Promise<number> {
  const db = t.server.ctx.db;
  const blob = kind === 'file' ? await t.server.ctx.blobs.put(content ?? Buffer.from(`content of ${JSON.stringify(name)}\n`)) : undefined;
  return db.transaction(() => {
    // The server's own uniqueness key when it is free (so the server sees the name as taken),
    // else a unique one (the bad names repeat).
    const taken = db.prepare(`SELECT 1 FROM nodes WHERE root_id = ? AND ifnull(parent_id, 0) = ? AND name_key = ? AND is_deleted = 0`).get(root, parentId ?? 0, nameKey(name));
    const info = db
      .prepare(`INSERT INTO nodes (root_id, parent_id, name, name_key, kind, created, modified, size, seq) VALUES (?, ?, ?, ?, ?, ?, ?, 0, 0)`)
      .run(root, parentId, name, taken ? `hostile-key-${++keyCounter}` : nameKey(name), kind, T, T);
    const id = Number(info.lastInsertRowid);
    if (blob) {
      const rev = db
        .prepare(`INSERT INTO revisions (file_id, root_id, blob, created, modified, file_size, full_size, delta_size, person_id) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL)`)
        .run(id, root, blob.sha256, T, T, blob.size, blob.size);
      db.prepare(`UPDATE nodes SET revision_id = ?, size = ?, seq = ? WHERE id = ?`).run(Number(rev.lastInsertRowid), blob.size, nextSeq(db), id);
    } else db.prepare(`UPDATE nodes SET seq = ? WHERE id = ?`).run(nextSeq(db), id);
    return id;
  })();
}

/** Makes the change feed deliver what was inserted (bumps seq and wakes long polls). */
function announce(root: number, ids: number[] = []): void {
  const db = t.server.ctx.db;
  db.transaction(() => {
    for (const id of ids) db.prepare(`UPDATE nodes SET seq = ? WHERE id = ?`).run(nextSeq(db), id);
  })();
  t.server.ctx.changes.notify(root);
}

function sha(b: Buffer | string): string {
  return createHash('sha256').update(b).digest('hex');
}

/** Relative path → sha256 (files), "/" (folders) or "-> target" (symlinks), not following links. */
function listTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (abs: string, rel: string) => {
    for (const name of readdirSync(abs).sort()) {
      const a = path.join(abs, name);
      const r = rel ? `${rel}/${name}` : name;
      // (An in-flight temp file of a retried download may vanish meanwhile.)
      const st = lstatSync(a, { throwIfNoEntry: false });
      if (!st) continue;
      if (st.isSymbolicLink()) out[r] = `-> ${readlinkSync(a)}`;
      else if (st.isDirectory()) {
        out[r] = '/';
        walk(a, r);
      } else if (!st.isFile()) out[r] = '(special)';
      else {
        let content: Buffer;
        try {
          content = readFileSync(a);
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
          throw err;
        }
        out[r] = sha(content);
      }
    }
  };
  if (existsSync(dir)) walk(dir, '');
  return out;
}

/** Everything outside the sync folder that a confinement bug could reach. */
function outsideState(): Record<string, string> {
  const state: Record<string, string> = {};
  // Next to the sync folder: only the agent's home, the sync folder and our sentinels.
  for (const name of readdirSync(base).sort()) {
    const abs = path.join(base, name);
    const st = lstatSync(abs);
    state[`base/${name}`] =
      name === 'home' || name === 'sync' ? '(agent)' : st.isSymbolicLink() ? `-> ${readlinkSync(abs)}` : st.isDirectory() ? JSON.stringify(listTree(abs)) : sha(readFileSync(abs));
  }
  state.outsideFile = sha(readFileSync(outsideFile));
  // One level above too ("../../z" from a subfolder).
  const parent = path.dirname(base);
  for (const name of ['z', 'escape.txt', 'evil', 'evil.txt']) state[`parent/${name}`] = String(existsSync(path.join(parent, name)));
  // The absolute name the server sends (tests may run as root).
  state['/etc/evil'] = String(existsSync('/etc/evil'));
  return state;
}

function stateDbWarnings(): { side: string; path: string; code: string; message: string }[] {
  const db = new Database(path.join(agent.home, 'state.sqlite'), { readonly: true, fileMustExist: true });
  try {
    return db.prepare(`SELECT side, path, code, message FROM warnings WHERE root_id = ? ORDER BY path`).all(rootId) as { side: string; path: string; code: string; message: string }[];
  } finally {
    db.close();
  }
}

function tempFiles(dir: string): string[] {
  return Object.keys(listTree(dir)).filter((p) => path.posix.basename(p).startsWith(TEMP_PREFIX));
}

/**
 * No temp file stays in `dir`. The tampered download is retried (with backoff) for as long as the
 * server announces it, so a retry may hold its temp file for a moment at any time, "idle" or not
 * (status.json is written every 250 ms); a leftover would stay.
 */
async function noTempFileStays(dir: string): Promise<void> {
  await eventually(() => tempFiles(dir).length === 0, 10_000, `no temp file left in ${dir}: ${JSON.stringify(tempFiles(dir))}`);
}

/** The tree of `dir` without in-flight temp files (see noTempFileStays). */
function settledTree(dir: string): Record<string, string> {
  return Object.fromEntries(Object.entries(listTree(dir)).filter(([p]) => !path.posix.basename(p).startsWith(TEMP_PREFIX)));
}

// Hostile entries and what must happen to them.
const legit = { top: 'legit top-level file\n', nested: 'legit nested file\n', viaApi: 'uploaded through the API\n', local: 'made on the agent\n' };
const tampered = { name: 'tampered.bin', declared: randomBytes(1 << 20), actual: randomBytes(1 << 20) };

beforeAll(async () => {
  t = await startTestServer();
  const p = newPerson(t);
  const other = newPerson(t);
  rootId = rootOf(t, p).id;
  front = await startFront(t);

  base = await fsp.mkdtemp(path.join(os.tmpdir(), 'axis-hostile-'));
  outsideDir = path.join(base, 'outside');
  outsideDir2 = path.join(base, 'outside2');
  outsideFile = path.join(base, 'outside-file.txt');
  mkdirSync(outsideDir);
  mkdirSync(outsideDir2);
  writeFileSync(outsideFile, 'sentinel: must never change\n');
  writeFileSync(path.join(outsideDir2, 'a.txt'), 'shared a v1\n');
  agent = new TestAgent('hostile', { url: front.url, fingerprint: t.server.fingerprint }, { email: p.email, password: 'user-password-1' }, base);
  await agent.login();

  // Symlinks planted in the sync folder, pointing outside it.
  mkdirSync(agent.dir, { recursive: true });
  symlinkSync(outsideDir, path.join(agent.dir, 'linked'), 'dir');
  symlinkSync(outsideFile, path.join(agent.dir, 'linkfile'));
  // Not a regular file (a named pipe) where the server has a file: never opened, never replaced.
  execFileSync('mkfifo', [path.join(agent.dir, 'fifo-here')]);
  await agent.write('local.txt', legit.local);
  // A local file at a name the server holds with a node it lies about (see foreign.txt below):
  // the upload is refused every time; the agent must back off, not retry in a loop.
  await agent.write('foreign.txt', 'local file the server will not take\n');

  // Legitimate content.
  const api = filesClient(t, p);
  const up = await upload(api, `${rootId}/upload`, legit.viaApi, { filename: 'via-api.txt' });
  expect(up.statusCode, up.body).toBeLessThan(300);
  const legitDir = await addNode(rootId, null, 'legit-dir', 'folder');
  await addNode(rootId, legitDir, 'nested.txt', 'file', Buffer.from(legit.nested));
  await addNode(rootId, null, 'legit.txt', 'file', Buffer.from(legit.top));

  // Names that are not one path segment, or would address something else.
  const badNames = [
    '..',
    '.',
    '',
    '../escape.txt',
    '../outside/escape.txt',
    `${outsideDir}/evil-absolute.txt`,
    '/etc/evil',
    'C:\\evil.txt',
    'C:evil.txt',
    'a\\..\\b',
    '..\\..\\evil.txt',
    '\\\\server\\share\\evil.txt',
    'x\u0000y',
    'sub/../../z',
    'ctl\u0001name',
  ];
  for (const name of badNames) await addNode(rootId, null, name, 'file');
  // A folder with a bad name, with a plausible child (rejected with its parent).
  const dotdot = await addNode(rootId, null, '..', 'folder');
  await addNode(rootId, dotdot, 'escape-child.txt', 'file');
  const slashy = await addNode(rootId, null, '../outside', 'folder');
  await addNode(rootId, slashy, 'escape-child2.txt', 'file');
  // A valid folder holding a bad name.
  const holder = await addNode(rootId, null, 'holder', 'folder');
  await addNode(rootId, holder, '../../z', 'file');
  await addNode(rootId, holder, '..', 'file');
  // Too long for the local file system.
  await addNode(rootId, null, `${'L'.repeat(300)}.txt`, 'file');
  await addNode(rootId, null, `${'é'.repeat(200)}.txt`, 'file');
  // A file under a file.
  const parentFile = await addNode(rootId, null, 'plain-parent.txt', 'file');
  await addNode(rootId, parentFile, 'under-a-file.txt', 'file');

  // Parent links only the hostile front tells: self-cycle, two-folder cycle, another root.
  const selfCycle = await addNode(rootId, null, 'self-cycle', 'folder');
  parentLies.set(selfCycle, selfCycle);
  await addNode(rootId, selfCycle, 'in-self-cycle.txt', 'file');
  const ringA = await addNode(rootId, null, 'ring-a', 'folder');
  const ringB = await addNode(rootId, ringA, 'ring-b', 'folder');
  parentLies.set(ringA, ringB);
  await addNode(rootId, ringB, 'in-ring.txt', 'file');
  otherFolderId = await addNode(rootOf(t, other).id, null, 'victim-folder', 'folder');
  const foreignFile = await addNode(rootId, null, 'foreign.txt', 'file');
  parentLies.set(foreignFile, otherFolderId);
  const foreignDir = await addNode(rootId, null, 'foreign-dir', 'folder');
  parentLies.set(foreignDir, otherFolderId);
  await addNode(rootId, foreignDir, 'in-foreign-dir.txt', 'file');

  // A folder where the agent's folder holds a symlink to a folder outside; a file inside it.
  const linked = await addNode(rootId, null, 'linked', 'folder');
  await addNode(rootId, linked, 'inner.txt', 'file');
  const linkedSub = await addNode(rootId, linked, 'deeper', 'folder');
  await addNode(rootId, linkedSub, 'deep.txt', 'file');
  // A file where the agent's folder holds a symlink to a file outside.
  await addNode(rootId, null, 'linkfile', 'file', Buffer.from('overwritten through a symlink!\n'));
  await addNode(rootId, null, 'fifo-here', 'file', Buffer.from('must not replace the pipe\n'));

  // Declared sha256 (the revision's blob name) is not the content the server sends.
  const put = await t.server.ctx.blobs.put(tampered.declared);
  await addNode(rootId, null, tampered.name, 'file', tampered.declared);
  writeFileSync(t.server.ctx.blobs.pathOf(put.sha256), tampered.actual);

  announce(rootId);
  baselineOutside = outsideState();
  await agent.start();
}, 60_000);

afterAll(async () => {
  await agent?.stop();
  await front?.close();
  await t?.stop();
  if (base) await fsp.rm(base, { recursive: true, force: true });
});

describe('a hostile server', () => {
  it('cannot make the agent write outside its sync folder, and legitimate files still sync', async () => {
    await eventually(() => agent.exists('legit.txt') && agent.exists('legit-dir/nested.txt') && agent.exists('via-api.txt'), 20_000, 'legitimate files');
    // The local file reaches the server.
    await eventually(() => !!t.server.ctx.db.prepare(`SELECT id FROM nodes WHERE root_id = ? AND name = 'local.txt' AND is_deleted = 0`).get(rootId), 20_000, 'upload of local.txt');
    await agent.waitIdle();
    expect(agent.read('legit.txt')).toBe(legit.top);
    expect(agent.read('legit-dir/nested.txt')).toBe(legit.nested);
    expect(agent.read('via-api.txt')).toBe(legit.viaApi);

    // Nothing outside changed; the symlinks are still the symlinks we planted.
    expect(outsideState()).toEqual(baselineOutside);
    expect(readdirSync(outsideDir)).toEqual([]);
    expect(readFileSync(outsideFile, 'utf8')).toBe('sentinel: must never change\n');
    expect(lstatSync(agent.file('linked')).isSymbolicLink()).toBe(true);
    expect(lstatSync(agent.file('linkfile')).isSymbolicLink()).toBe(true);

    // Inside the sync folder: exactly the legitimate entries (plus the planted links, the valid
    // folder "holder" and the valid plain-parent.txt); no temp file, no tampered content.
    const tree = settledTree(agent.dir);
    expect(Object.keys(tree).sort()).toEqual(
      ['fifo-here', 'foreign.txt', 'holder', 'legit-dir', 'legit-dir/nested.txt', 'legit.txt', 'linked', 'linkfile', 'local.txt', 'plain-parent.txt', 'via-api.txt'].sort(),
    );
    expect(agent.read('foreign.txt')).toBe('local file the server will not take\n');
    expect(lstatSync(agent.file('fifo-here')).isFIFO()).toBe(true);
    await noTempFileStays(agent.dir);
  });

  it('refuses content whose hash is not the announced one, and leaves nothing partial', async () => {
    // The download was tried (a retrying warning says why) and left nothing behind.
    await eventually(() => stateDbWarnings().some((w) => w.path === tampered.name && w.code === 'retrying'), 20_000, 'the tampered download to fail');
    const w = stateDbWarnings().find((x) => x.path === tampered.name)!;
    expect(w.message).toMatch(/does not match/);
    expect(agent.exists(tampered.name)).toBe(false);
    await noTempFileStays(agent.dir);
    expect(Object.values(settledTree(agent.dir))).not.toContain(sha(tampered.actual));
  });

  it('keeps running and reports the bad entries as warnings', async () => {
    const status = await agent.status();
    expect(status.running).toBe(true);
    expect(status.roots).toHaveLength(1);
    const warnings = stateDbWarnings();
    expect(status.roots[0]!.warnings).toBe(warnings.length);
    const paths = new Set(warnings.map((x) => x.path));
    for (const p of ['..', '.', '', '../escape.txt', '/etc/evil', 'C:\\evil.txt', 'a\\..\\b', 'x\u0000y', 'sub/../../z', 'self-cycle', 'foreign.txt', 'foreign-dir', 'under-a-file.txt']) {
      expect(paths, `warning for ${JSON.stringify(p)} in ${JSON.stringify([...paths])}`).toContain(p);
    }
    // A cycle of two folders is reported at whichever folder the walk found it.
    expect(paths.has('ring-a') || paths.has('ring-b')).toBe(true);
    // The entries that are fine as names but cannot be placed here are explained too.
    expect(warnings.some((x) => x.path.startsWith('LLLL'))).toBe(true);
    expect(warnings.some((x) => x.path.startsWith('éé'))).toBe(true);
    expect(warnings.some((x) => x.path === 'linked' || x.path.startsWith('linked/'))).toBe(true);
    expect(warnings.some((x) => x.path === 'linkfile')).toBe(true);
    expect(warnings.some((x) => x.path === 'fifo-here' && x.code === 'retrying')).toBe(true);
    expect(warnings.some((x) => x.path === 'foreign.txt' && x.code === 'retrying')).toBe(true);
  });

  it('a synced folder replaced by a symlink to the outside is not written through', async () => {
    // A legitimate folder syncs first.
    const db = t.server.ctx.db;
    const shared = await addNode(rootId, null, 'shared', 'folder');
    const aId = await addNode(rootId, shared, 'a.txt', 'file', Buffer.from('shared a v1\n'));
    announce(rootId);
    await eventually(() => agent.exists('shared/a.txt'), 20_000, 'shared/a.txt');
    await agent.waitIdle();
    await agent.stop();

    // Offline, the folder becomes a symlink to a folder outside holding the same a.txt; the
    // server meanwhile gets a new file in it and a new revision of a.txt.
    await fsp.rm(agent.file('shared'), { recursive: true });
    symlinkSync(outsideDir2, agent.file('shared'), 'dir');
    const before = listTree(outsideDir2);
    await addNode(rootId, shared, 'b.txt', 'file', Buffer.from('shared b, new on the server\n'));
    const blob = await t.server.ctx.blobs.put(Buffer.from('shared a v2 from the server\n'));
    db.transaction(() => {
      const rev = db
        .prepare(`INSERT INTO revisions (file_id, root_id, blob, created, modified, file_size, full_size, delta_size, person_id) VALUES (?, ?, ?, ?, ?, ?, ?, NULL, NULL)`)
        .run(aId, rootId, blob.sha256, T, T, blob.size, blob.size);
      db.prepare(`UPDATE nodes SET revision_id = ?, size = ?, seq = ? WHERE id = ?`).run(Number(rev.lastInsertRowid), blob.size, nextSeq(db), aId);
    })();
    const baseline = outsideState();

    await agent.start();
    await eventually(() => stateDbWarnings().some((w) => w.path === 'shared' || w.path.startsWith('shared/')), 20_000, 'a warning about shared');
    await agent.waitIdle();
    expect(listTree(outsideDir2)).toEqual(before);
    expect(outsideState()).toEqual(baseline);
    expect(lstatSync(agent.file('shared')).isSymbolicLink()).toBe(true);
    await noTempFileStays(agent.dir);
    // Legitimate syncing goes on: a new local file still reaches the server.
    await agent.write('after.txt', 'still syncing\n');
    await eventually(() => !!db.prepare(`SELECT id FROM nodes WHERE root_id = ? AND name = 'after.txt' AND is_deleted = 0`).get(rootId), 20_000, 'upload of after.txt');
    expect((await agent.status()).running).toBe(true);
  });
});
