// `npm start` (scripts/start.js) headless: a first run starts the demo server, logs the agent in
// as the demo person and syncs the demo folder; its UI link works; Ctrl-C stops everything; a
// second run reuses the demo (same server URL, same folder, no new login).
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { eventually, REPO } from '../helpers/agents.js';

const base = mkdtempSync(path.join(os.tmpdir(), 'axis-start-'));

afterAll(() => rmSync(base, { recursive: true, force: true }));

interface Started {
  out: () => string;
  stop(): Promise<number | null>;
}

function npmStart(): Started {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    AXIS_DEMO_DIR: path.join(base, 'demo'),
    AXIS_AGENT_HOME: path.join(base, 'home'),
    AXIS_START_HEADLESS: '1',
    AXIS_AGENT_LOG: 'warn',
  };
  delete env.AXIS_SERVER_DATA;
  delete env.AXIS_SERVER_PORT;
  const child = spawn(process.execPath, [path.join(REPO, 'scripts/start.js')], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
  return {
    out: () => out,
    stop: async () => {
      child.kill('SIGINT');
      return exited;
    },
  };
}

describe('npm start (headless)', () => {
  it('first run: demo server, demo account, synced demo folder and a UI link; the second run reuses them', async () => {
    const first = npmStart();
    try {
      await eventually(() => first.out().includes('In sync:'), 40_000, `the demo folder in sync:\n${first.out()}`);
    } catch (err) {
      await first.stop();
      throw err;
    }
    const out = first.out();
    const lines = out.split('\n');
    expect(lines[0]).toMatch(/^Electron is not available here \(.+\): starting the headless agent with its UI on loopback\.$/);
    const server = /Demo server: (https:\/\/127\.0\.0\.1:\d+)/.exec(out)![1]!;
    const folder = /Sync folder: (.+)/.exec(out)![1]!;
    expect(folder).toBe(path.join(base, 'demo', 'sync'));
    expect(readFileSync(path.join(folder, 'Welcome.txt'), 'utf8')).toContain('Welcome to AXIS CloudSync');
    const config = JSON.parse(readFileSync(path.join(base, 'home', 'config.json'), 'utf8'));
    expect(config).toMatchObject({ server: server, username: 'demo@axis.local' });
    expect(config.fingerprint).toMatch(/^[0-9A-F:]{95}$/);

    const link = /UI \(one-time link, valid 2 minutes\): (\S+)/.exec(out)![1]!;
    const res = await fetch(link, { redirect: 'manual' });
    expect(res.status).toBe(303);
    const cookie = res.headers.get('set-cookie')!.split(';')[0]!;
    const state = (await (await fetch(new URL('/api/state', link), { headers: { cookie } })).json()) as {
      login: { state: string; email: string };
      status: { roots: { path: string; synced: boolean }[] };
    };
    expect(state.login).toMatchObject({ state: 'logged_in', email: 'demo@axis.local' });
    expect(state.status.roots[0]).toMatchObject({ path: folder, synced: true });

    expect(await first.stop()).toBe(0);
    expect(existsSync(path.join(base, 'home', 'control.json'))).toBe(false);
    const machine = config.machine;

    const second = npmStart();
    try {
      await eventually(() => second.out().includes('In sync:'), 40_000, `the second run in sync:\n${second.out()}`);
      expect(second.out()).toContain(`Demo server: ${server}`);
      // Reused: the same login (no new machine registration).
      expect(JSON.parse(readFileSync(path.join(base, 'home', 'config.json'), 'utf8')).machine).toEqual(machine);
    } finally {
      expect(await second.stop()).toBe(0);
    }
  });
});
