// Two real agents (two homes, two sync folders) and a real reference server: every change on
// one side reaches the other, including offline edits on both sides followed by reconnect.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { converged, eventually, type TestAgent } from '../helpers/agents.js';
import { startAgentPair, type AgentPair } from '../helpers/pair.js';
import type { TestServer } from '../helpers/server.js';

let pair: AgentPair | undefined;
let t: TestServer;
let a: TestAgent;
let b: TestAgent;

beforeAll(async () => {
  pair = await startAgentPair(['alpha', 'beta']);
  ({ t, a, b } = pair);
}, 60_000);

afterAll(async () => {
  await pair?.stop();
});

describe('two agents, one account', () => {
  it('a file created on A appears on B with the same bytes', async () => {
    await a.write('hello.txt', 'hello from alpha\n');
    const snap = await converged(a, b);
    expect(Object.keys(snap)).toEqual(['hello.txt']);
    expect(b.read('hello.txt')).toBe('hello from alpha\n');
  });

  it('an edit on B reaches A', async () => {
    await b.write('hello.txt', 'edited on beta\n');
    await eventually(() => a.read('hello.txt') === 'edited on beta\n', 20_000, 'edit to reach alpha');
    await converged(a, b);
  });

  it('nested folders and many files', async () => {
    for (let i = 0; i < 20; i++) await a.write(`docs/sub${i % 3}/file-${i}.txt`, `content ${i}\n`.repeat(i + 1));
    const snap = await converged(a, b);
    expect(Object.keys(snap).filter((k) => k.startsWith('docs/')).length).toBe(20 + 3);
  });

  it('a rename on A is a move on the server, and B follows', async () => {
    const before = t.server.ctx.db.prepare(`SELECT id FROM nodes WHERE name = 'file-1.txt' AND is_deleted = 0`).get() as { id: number };
    const { rename } = await import('node:fs/promises');
    await rename(a.file('docs/sub1/file-1.txt'), a.file('docs/file-1-renamed.txt'));
    await eventually(() => b.exists('docs/file-1-renamed.txt') && !b.exists('docs/sub1/file-1.txt'), 20_000, 'rename on beta');
    await converged(a, b);
    const after = t.server.ctx.db.prepare(`SELECT id FROM nodes WHERE name = 'file-1-renamed.txt' AND is_deleted = 0`).get() as { id: number };
    expect(after.id).toBe(before.id);
  });

  it('a deletion on B removes the file on A', async () => {
    const { rm } = await import('node:fs/promises');
    await rm(b.file('docs/sub2'), { recursive: true });
    await eventually(() => !a.exists('docs/sub2'), 20_000, 'folder deletion on alpha');
    await converged(a, b);
  });

  it('offline edits on both sides: a collision is recorded, nothing is lost, and keep-both resolves it', async () => {
    await Promise.all([a.stop(), b.stop()]);
    await a.write('hello.txt', 'offline edit on alpha\n');
    await b.write('hello.txt', 'offline edit on beta\n');
    await a.write('only-alpha.txt', 'made offline on alpha\n');
    await b.write('only-beta.txt', 'made offline on beta\n');
    await a.start();
    await b.start();
    await eventually(() => a.exists('only-beta.txt') && b.exists('only-alpha.txt'), 20_000, 'offline creations to sync');
    await Promise.all([a.waitIdle(), b.waitIdle()]);
    // The second agent to sync finds the server changed too: a manual collision, local file untouched.
    const statuses = await Promise.all([a.status(), b.status()]);
    const collided = statuses.findIndex((s) => s.roots[0]!.collisions === 1);
    expect(collided).toBeGreaterThanOrEqual(0);
    const loser = collided === 0 ? a : b;
    const winner = collided === 0 ? b : a;
    expect(loser.read('hello.txt')).toBe(`offline edit on ${loser.name}\n`);
    expect(winner.read('hello.txt')).toBe(`offline edit on ${winner.name}\n`);
    const { runCli } = await import('../helpers/agents.js');
    const list = await runCli(['--home', loser.home, 'collisions', '--json']);
    expect(list.code).toBe(0);
    const collisions = JSON.parse(list.stdout) as { id: number; path: string }[];
    expect(collisions.map((c) => c.path)).toEqual(['hello.txt']);
    const res = await runCli(['--home', loser.home, 'resolve', String(collisions[0]!.id), '--keep', 'both']);
    expect(res.code, res.stdout + res.stderr).toBe(0);
    const snap = await converged(a, b);
    const copies = Object.keys(snap).filter((k) => k.startsWith('hello (collision '));
    expect(copies).toHaveLength(1);
    expect(copies[0]).toContain(`on ${loser.name})`);
    expect(a.read('hello.txt')).toBe(`offline edit on ${winner.name}\n`);
    expect(a.read(copies[0]!)).toBe(`offline edit on ${loser.name}\n`);
    expect((await loser.status()).roots[0]!.collisions).toBe(0);
  });

  it('an edit made while the other side deleted the file is kept', async () => {
    await a.write('keep-me.txt', 'v1\n');
    await converged(a, b);
    await b.stop();
    const { rm } = await import('node:fs/promises');
    await rm(a.file('keep-me.txt'));
    await a.waitIdle();
    await eventually(() => !a.exists('keep-me.txt'), 5000, 'local delete');
    await b.write('keep-me.txt', 'v2 edited while deleted elsewhere\n');
    await b.start();
    await eventually(() => a.exists('keep-me.txt'), 20_000, 'edit to come back to alpha');
    await converged(a, b);
    expect(a.read('keep-me.txt')).toBe('v2 edited while deleted elsewhere\n');
  });
});
