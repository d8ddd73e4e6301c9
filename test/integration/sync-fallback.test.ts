// Against a server without the change feed extension the agents fall back to polling the
// documented folder listings (with hash → 304) and still converge.
import { rename, rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { converged, eventually, type TestAgent } from '../helpers/agents.js';
import { filesClient, rootOf } from '../helpers/files.js';
import { startAgentPair, type AgentPair } from '../helpers/pair.js';
import type { TestServer } from '../helpers/server.js';

let t: TestServer;
let a: TestAgent;
let b: TestAgent;
let rootId: number;

let pair: AgentPair | undefined;

beforeAll(async () => {
  pair = await startAgentPair(['fa', 'fb'], { server: { changeFeed: false }, env: { AXIS_AGENT_POLL_MS: '300' } });
  ({ t, a, b } = pair);
  rootId = rootOf(t, pair.person).id;
  const feed = await filesClient(t, pair.person).get(`${rootId}/changes`);
  expect(feed.statusCode).toBe(404);
}, 60_000);

afterAll(async () => {
  await pair?.stop();
});

describe('without the change feed', () => {
  it('creates, edits, moves and deletes still propagate', async () => {
    await a.write('folder/one.txt', 'one\n');
    await a.write('two.txt', 'two\n');
    await converged(a, b);
    expect(b.read('folder/one.txt')).toBe('one\n');
    await b.write('two.txt', 'two, edited on b\n');
    await eventually(() => a.read('two.txt') === 'two, edited on b\n', 20_000, 'edit via polling');
    await rename(a.file('folder'), a.file('renamed'));
    await eventually(() => b.exists('renamed/one.txt') && !b.exists('folder'), 20_000, 'folder rename via polling');
    await rm(b.file('two.txt'));
    await eventually(() => !a.exists('two.txt'), 20_000, 'delete via polling');
    await converged(a, b);
  });
});
