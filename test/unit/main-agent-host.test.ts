// The agent supervisor of src/main (AgentHost) with the real agent entry
// (dist/src/agent/service-entry.js, built by `npm run build`), and the main process's control
// API client against it. Electron's utilityProcess cannot run here: a node child process with
// an IPC channel stands in for it (the entry speaks process.send when it has no parentPort).
import { fork } from 'node:child_process';
import { existsSync, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { AgentHost, NOT_STARTED } from '../../src/main/agent-host.js';
import type { ReadyMessage } from '../../src/main/agent-protocol.js';
import type { AgentStateView } from '../../src/main/agent-state.js';
import { controlRequest, fetchActivity, fetchState, followAgent } from '../../src/main/control-client.js';
import { demoLoginBody, demoSignIn, newDemoConfig, seedDemoFolder } from '../../src/main/demo.js';
import { nodeFork } from '../helpers/utility-process.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const ENTRY = path.join(REPO, 'dist/src/agent/service-entry.js');
const DEMO_ENTRY = path.join(REPO, 'dist/src/main/demo-server-entry.js');


let dir: string;
const hosts: AgentHost[] = [];
beforeEach(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'axis-host-'));
});
afterEach(async () => {
  await Promise.all(hosts.splice(0).map((h) => h.stop()));
  await fsp.rm(dir, { recursive: true, force: true });
});

function host(entry: string, extra: Partial<ConstructorParameters<typeof AgentHost>[0]> = {}, extraEnv: Record<string, string> = {}): AgentHost {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  env.AXIS_AGENT_HOME = path.join(dir, 'home');
  // Never the user's real sync folder.
  env.AXIS_AGENT_SYNC_DIR = path.join(dir, 'sync');
  env.AXIS_AGENT_LOG = 'warn';
  Object.assign(env, extraEnv);
  const h = new AgentHost({ fork: nodeFork, entry, env, restart: { baseMs: 50, maxMs: 200, stableMs: 60_000 }, stopTimeoutMs: 10_000, ...extra });
  hosts.push(h);
  return h;
}

const nextReady = (h: AgentHost) => new Promise<ReadyMessage>((resolve) => h.once('ready', resolve));
const nextExit = (h: AgentHost) => new Promise<{ code: number; restartInMs: number | null }>((resolve) => h.once('exit', resolve));

describe('AgentHost with the real agent entry', () => {
  it('starts the agent, follows its state, restarts it when it dies, stops it cleanly', async () => {
    expect(existsSync(ENTRY), `${ENTRY} is missing: npm run build`).toBe(true);
    const h = host(ENTRY);
    const ready1 = nextReady(h);
    await h.start();
    const r1 = await ready1;
    expect(r1.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    expect(h.current).toEqual(r1);

    // The control API answers the main process's client with the token, and only with it.
    const ep = { url: r1.url, token: r1.token };
    const state = await fetchState(ep);
    expect(state?.login.state).toBe('logged_out');
    expect((await controlRequest({ url: r1.url, token: '00'.repeat(32) }, 'GET', '/api/state')).status).toBe(401);
    expect(await fetchActivity(ep, 5)).toEqual(expect.any(Array));

    // The event stream delivers a State at connect.
    const ctl = new AbortController();
    const seen: AgentStateView[] = [];
    const following = followAgent(ep, { state: (s) => (seen.push(s), ctl.abort()), activity: () => undefined }, ctl.signal);
    await following;
    expect(seen[0]?.login.state).toBe('logged_out');

    // It dies: the host starts it again (new port, new token).
    const exit1 = nextExit(h);
    const ready2 = nextReady(h);
    process.kill(h.pid!, 'SIGKILL');
    expect((await exit1).restartInMs).toBe(50);
    const r2 = await ready2;
    expect(r2.token).not.toBe(r1.token);
    expect(h.starts).toBe(2);
    expect((await fetchState({ url: r2.url, token: r2.token }))?.login.state).toBe('logged_out');

    // {type: 'stop'}: a clean exit, and no restart.
    const exit2 = nextExit(h);
    await h.stop();
    expect(await exit2).toEqual({ code: 0, restartInMs: null });
    expect(h.running).toBe(false);
    await new Promise((r) => setTimeout(r, 200));
    expect(h.starts).toBe(2);
    await expect(fetchState(ep)).rejects.toThrow();
  });
});

describe('AgentHost supervision', () => {
  it('sends the first messages (the secrets key) before anything else', async () => {
    const script = path.join(dir, 'echo.mjs');
    await fsp.writeFile(
      script,
      `process.on('message', (m) => { process.send({ type: 'echo', m }); if (m.type === 'stop') process.exit(0); });
       process.send({ type: 'ready', url: 'http://127.0.0.1:4567/', port: 4567, token: '${'c'.repeat(64)}' });`,
    );
    const h = host(script, { firstMessages: async () => [{ type: 'secrets', key: 'k'.repeat(44), protection: 'test' }] });
    const echoed = new Promise<unknown>((resolve) => h.on('message', resolve));
    const ready = nextReady(h);
    await h.start();
    expect((await ready).port).toBe(4567);
    expect(await echoed).toEqual({ type: 'echo', m: { type: 'secrets', key: 'k'.repeat(44), protection: 'test' } });
  });

  it('kills an agent that never gets ready, and keeps trying with growing delays', async () => {
    const script = path.join(dir, 'mute.mjs');
    await fsp.writeFile(script, 'setInterval(() => {}, 1000);');
    const h = host(script, { readyTimeoutMs: 200 });
    const exits: (number | null)[] = [];
    h.on('exit', (e) => exits.push(e.restartInMs));
    await h.start();
    await vi.waitFor(() => expect(exits.length).toBeGreaterThanOrEqual(3), { timeout: 10_000, interval: 50 });
    expect(exits.slice(0, 3)).toEqual([50, 100, 200]);
    expect(h.starts).toBeGreaterThanOrEqual(3);
  });

  it('retries later when the start cannot be prepared (keychain refused), then runs the agent', async () => {
    const script = path.join(dir, 'ok.mjs');
    await fsp.writeFile(script, `process.on('message', (m) => m.type === 'stop' && process.exit(0)); process.send({ type: 'ready', url: 'http://127.0.0.1:4567/', port: 4567, token: '${'e'.repeat(64)}' });`);
    let calls = 0;
    const h = host(script, {
      firstMessages: async () => {
        if (++calls < 3) throw new Error('the keychain said no');
        return [{ type: 'secrets', key: null, protection: 'test' }];
      },
    });
    const exits: { code: number; restartInMs: number | null }[] = [];
    h.on('exit', (e) => exits.push(e));
    const ready = nextReady(h);
    await h.start();
    expect((await ready).port).toBe(4567);
    expect(exits).toEqual([
      { code: NOT_STARTED, restartInMs: 50 },
      { code: NOT_STARTED, restartInMs: 100 },
    ]);
    expect(h.starts).toBe(1);
  });

  it('kills an agent that ignores stop', async () => {
    const script = path.join(dir, 'stubborn.mjs');
    await fsp.writeFile(script, `process.on('message', () => {}); process.send({ type: 'ready', url: 'http://127.0.0.1:4567/', port: 4567, token: '${'d'.repeat(64)}' });`);
    const h = host(script, { stopTimeoutMs: 300 });
    const ready = nextReady(h);
    await h.start();
    await ready;
    const exit = nextExit(h);
    await h.stop();
    expect((await exit).restartInMs).toBeNull();
    expect(h.running).toBe(false);
  });
});

describe('first-run demo', () => {
  it('runs the demo server entry and signs a fresh agent in to it through the control API', async () => {
    expect(existsSync(DEMO_ENTRY), `${DEMO_ENTRY} is missing: npm run build`).toBe(true);
    const config = newDemoConfig();
    const env = {
      ...process.env,
      AXIS_DEMO_DATA: path.join(dir, 'demo', 'server'),
      AXIS_DEMO_PORT: '0',
      AXIS_DEMO_EMAIL: config.email,
      AXIS_DEMO_PASSWORD: config.password,
      AXIS_ADMIN_EMAIL: config.admin_email,
      AXIS_ADMIN_PASSWORD: config.admin_password,
      AXIS_SERVER_LOG: 'warn',
    };
    const server = fork(DEMO_ENTRY, [], { env, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    server.stderr?.resume();
    const serverExit = new Promise<number | null>((r) => server.once('exit', (code) => r(code)));
    let h: AgentHost | undefined;
    try {
      const ready = await new Promise<{ url: string; port: number; fingerprint: string }>((resolve, reject) => {
        server.on('message', (m: { type: string; url: string; port: number; fingerprint: string; message?: string }) =>
          m.type === 'ready' ? resolve(m) : reject(new Error(m.message)),
        );
        server.once('exit', (code) => reject(new Error(`demo server exited (${code})`)));
      });
      expect(ready.url).toBe(`https://127.0.0.1:${ready.port}`);
      expect(ready.fingerprint).toMatch(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/);
      const demo = { ...config, port: ready.port, url: ready.url, fingerprint: ready.fingerprint };
      const syncDir = path.join(dir, 'demo', 'sync');
      await seedDemoFolder(syncDir);

      // As main.ts starts the agent for the demo: its folder is the demo folder.
      h = host(ENTRY, {}, { AXIS_AGENT_SYNC_DIR: syncDir });
      const agentReady = nextReady(h);
      await h.start();
      const ep = await agentReady;
      const state = await fetchState(ep);
      expect(state?.login).toMatchObject({ state: 'logged_out', server: null });
      expect(demoSignIn(state!.login, demo, null, true)).toBe('login');
      const login = await controlRequest(ep, 'POST', '/api/login', demoLoginBody(demo));
      expect(login.status, JSON.stringify(login.body)).toBe(200);
      expect(login.body).toMatchObject({ login: { state: 'logged_in', username: config.email } });
      // …and syncs the demo folder.
      await vi.waitFor(
        async () => {
          const s = await fetchState(ep);
          expect(s?.login.state).toBe('logged_in');
          expect(s?.settings.sync_dir).toBe(syncDir);
          expect(s?.status?.roots[0]).toMatchObject({ path: syncDir, state: 'idle', queued: 0 });
          // The demo files went up (the tray's recent activity shows them).
          expect((await fetchActivity(ep, 20)).map((a) => a.path)).toEqual(expect.arrayContaining(['Welcome.txt', 'Projects/plan.md']));
        },
        { timeout: 30_000, interval: 200 },
      );
    } finally {
      // The agent first (its long polls would hold the server's close), then the server.
      await h?.stop();
      server.send({ type: 'stop' });
      expect(await serverExit).toBe(0);
    }
  });
});
