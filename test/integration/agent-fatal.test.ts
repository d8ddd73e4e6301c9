// An error nothing handles (a bug) ends the agent, as it should; but its log must say so in one
// line with what to do next, and a restart must pick up cleanly. The fault is injected into the
// real `axis-agent run` process through a preload (`--import` in NODE_OPTIONS) that throws or
// rejects on SIGUSR2 once the agent runs; nothing of the agent itself is replaced.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FATAL_MESSAGE } from '../../src/agent/fatal.js';
import { eventually, TestAgent } from '../helpers/agents.js';
import { newPerson, rootOf, snapshot } from '../helpers/files.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let t: TestServer;
let agent: TestAgent;
let rootId: number;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'axis-fatal-'));
const fault = path.join(tmp, 'fault.mjs');

beforeAll(async () => {
  writeFileSync(
    fault,
    [
      "process.on('SIGUSR2', () => setImmediate(() => {",
      "  if (process.env.AXIS_TEST_FAULT === 'rejection') void Promise.reject(new Error('injected rejection'));",
      "  else throw new Error('injected fault');",
      '}));',
    ].join('\n'),
  );
  t = await startTestServer();
  const person = newPerson(t);
  rootId = rootOf(t, person).id;
  agent = new TestAgent('fatal', { url: t.url, fingerprint: t.server.fingerprint }, { email: person.email, password: 'user-password-1' });
  await agent.login();
}, 60_000);

afterAll(async () => {
  await agent?.dispose();
  await t?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

/** The agent's JSON log lines at level fatal. */
function fatalLines(log: string): Array<{ level: number; msg: string; origin?: string; err?: { message?: string } }> {
  return log
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as { level: number; msg: string })
    .filter((l) => l.level === 60);
}

describe('an unexpected error in the agent', () => {
  it.each([
    ['uncaughtException', 'exception', 'injected fault'],
    ['unhandledRejection', 'rejection', 'injected rejection'],
  ])('%s: one fatal log line saying what to do, the process ends, a restart picks up', async (origin, kind, message) => {
    agent.env = { NODE_OPTIONS: `--import=${pathToFileURL(fault).href}`, AXIS_TEST_FAULT: kind };
    const logStart = agent.log.length; // the log of this run only (it accumulates over runs)
    await agent.start();
    process.kill(agent.pid!, 'SIGUSR2');
    const code = await agent.waitExit(30_000);
    expect(code).not.toBe(0);
    const fatal = fatalLines(agent.log.slice(logStart));
    expect(fatal).toHaveLength(1);
    expect(fatal[0]).toMatchObject({ msg: FATAL_MESSAGE, origin, err: { message } });
    expect((await agent.status()).running).toBe(false);

    // Started again (no fault this time), it syncs what was made while it was down.
    agent.env = {};
    const name = `made-while-down-${kind}.txt`;
    await agent.write(name, `${kind}\n`);
    await agent.start();
    await eventually(() => JSON.stringify(snapshot(t, rootId)).includes(name), 20_000, `${name} on the server`);
    expect((await agent.status()).running).toBe(true);
    await agent.stop();
  });
});
