// More planner cases end to end, with two real agents: moves combined with edits, type changes,
// case-only renames, remote moves, and concurrent creations of one name.
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { converged, eventually, runCli, type TestAgent } from '../helpers/agents.js';
import { startAgentPair, type AgentPair } from '../helpers/pair.js';
import type { TestServer } from '../helpers/server.js';

let pair: AgentPair | undefined;
let t: TestServer;
let a: TestAgent;
let b: TestAgent;

beforeAll(async () => {
  pair = await startAgentPair(['ca', 'cb']);
  ({ t, a, b } = pair);
}, 60_000);

afterAll(async () => {
  await pair?.stop();
});

const serverIdOf = (name: string) => (t.server.ctx.db.prepare(`SELECT id FROM nodes WHERE name = ? AND is_deleted = 0`).get(name) as { id: number } | undefined)?.id;

describe('planner cases end to end', () => {
  it('a folder moved on one side while a file inside is edited on the other: both kept', async () => {
    await a.write('projects/report.txt', 'v1\n');
    await a.write('archive/.keep', '');
    await converged(a, b);
    const folderId = serverIdOf('projects');
    await Promise.all([a.stop(), b.stop()]);
    await rename(a.file('projects'), a.file('archive/projects'));
    await b.write('projects/report.txt', 'v2 edited on b\n');
    await a.start();
    await b.start();
    await eventually(() => b.exists('archive/projects/report.txt') && !b.exists('projects'), 20_000, 'move to reach b');
    await converged(a, b);
    expect(a.read('archive/projects/report.txt')).toBe('v2 edited on b\n');
    expect(serverIdOf('projects')).toBe(folderId);
  });

  it('a file replaced by a folder of the same name (type change)', async () => {
    await a.write('thing', 'I am a file\n');
    await converged(a, b);
    await rm(a.file('thing'));
    await mkdir(a.file('thing'));
    await writeFile(a.file('thing/inside.txt'), 'now a folder\n');
    await eventually(() => b.exists('thing/inside.txt'), 20_000, 'type change to reach b');
    await converged(a, b);
    expect(b.read('thing/inside.txt')).toBe('now a folder\n');
  });

  it('a case-only rename', async () => {
    await a.write('Readme.md', 'hello\n');
    await converged(a, b);
    const id = serverIdOf('Readme.md');
    await rename(a.file('Readme.md'), a.file('README.md'));
    await eventually(() => b.exists('README.md') && !b.exists('Readme.md'), 20_000, 'case rename to reach b');
    await converged(a, b);
    expect(serverIdOf('README.md')).toBe(id);
  });

  it('a rename made through the API (another client) is a local move, not a re-download', async () => {
    await a.write('from-api.txt', 'content\n');
    await converged(a, b);
    const id = serverIdOf('from-api.txt')!;
    const rootId = (t.server.ctx.db.prepare(`SELECT root_id FROM nodes WHERE id = ?`).get(id) as { root_id: number }).root_id;
    const { filesClient, personByEmail } = await import('../helpers/files.js');
    const owner = t.server.ctx.db.prepare(`SELECT p.email FROM persons p JOIN roots r ON r.person_id = p.id WHERE r.id = ?`).get(rootId) as { email: string };
    const api = filesClient(t, personByEmail(t, owner.email));
    const before = (await b.status()).roots[0]!;
    expect((await api.post(`${rootId}/${id}/rename`, { form: { name: 'renamed-by-api.txt' } })).statusCode).toBe(200);
    await eventually(() => a.exists('renamed-by-api.txt') && b.exists('renamed-by-api.txt') && !a.exists('from-api.txt'), 20_000, 'remote rename');
    await converged(a, b);
    const after = (await b.status()).roots[0]!;
    expect(after.whole_downloads + after.delta_downloads).toBe(before.whole_downloads + before.delta_downloads);
  });

  it('the same new name created on both sides: a collision; keep-server keeps the local version as a server revision', async () => {
    await Promise.all([a.stop(), b.stop()]);
    await a.write('same-name.txt', 'made on a\n');
    await b.write('same-name.txt', 'made on b\n');
    await a.start();
    await b.start();
    await Promise.all([a.waitIdle(), b.waitIdle()]);
    const loser = (await a.status()).roots[0]!.collisions === 1 ? a : b;
    const winner = loser === a ? b : a;
    expect(loser.read('same-name.txt')).toBe(`made on ${loser === a ? 'a' : 'b'}\n`);
    const list = JSON.parse((await runCli(['--home', loser.home, 'collisions', '--json'])).stdout) as { id: number; reason: string }[];
    expect(list).toHaveLength(1);
    const resolved = await runCli(['--home', loser.home, 'resolve', String(list[0]!.id), '--keep', 'server']);
    // (What the command said, when it fails: its output is the first thing to look at.)
    expect({ code: resolved.code, stderr: resolved.code === 0 ? '' : resolved.stderr }).toEqual({ code: 0, stderr: '' });
    const snap = await converged(a, b);
    expect(a.read('same-name.txt')).toBe(winner.read('same-name.txt'));
    expect(Object.keys(snap).filter((k) => k.includes('collision'))).toEqual([]);
    // keep server: the local version was kept as a server revision.
    const id = serverIdOf('same-name.txt')!;
    const revs = t.server.ctx.db.prepare(`SELECT COUNT(*) AS n FROM revisions WHERE file_id = ?`).get(id) as { n: number };
    expect(revs.n).toBe(3);
  });
});
