// The desktop app's encrypted secrets end to end (docs/desktop.md "Secrets"): the real agent
// entry (dist/src/agent/service-entry.js, build first) run by the main process's real supervisor
// (AgentHost) with AXIS_AGENT_SECRETS=parent. Electron's utilityProcess cannot run here: a node
// child process with an IPC channel stands in for it (as in test/unit/main-agent-host.test.ts);
// the entry reads the `secrets` message from process.send's channel when it has no parentPort.
// Against the reference server: login through the control API, syncing, restarts with the same
// and with another key, the migration of a CLI login, and the CLI facing the app's credentials.
import { fork } from 'node:child_process';
import { createDecipheriv, randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, promises as fsp, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { APP_SECRETS_LOGOUT_MESSAGE, APP_SECRETS_MESSAGE } from '../../src/agent/secrets.js';
import { AgentHost } from '../../src/main/agent-host.js';
import type { ReadyMessage, SecretsMessage } from '../../src/main/agent-protocol.js';
import { eventually, REPO, runCli } from '../helpers/agents.js';
import { newPerson } from '../helpers/files.js';
import { call } from '../helpers/server-api.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { nodeFork } from '../helpers/utility-process.js';

const ENTRY = path.join(REPO, 'dist/src/agent/service-entry.js');


let t: TestServer;
let fp: string;
// Made at load time: the describe blocks name their homes when they are collected.
const base = mkdtempSync(path.join(os.tmpdir(), 'axis-secrets-it-'));
let person: { email: string; password: string; rootId: number };
const hosts: AgentHost[] = [];

beforeAll(async () => {
  t = await startTestServer();
  fp = t.server.fingerprint!;
  const p = newPerson(t);
  person = { email: p.email, password: 'user-password-1', rootId: p.root_id! };
});
afterEach(async () => {
  await Promise.all(hosts.splice(0).map((h) => h.stop()));
});
afterAll(async () => {
  await t?.stop();
  rmSync(base, { recursive: true, force: true });
});

interface Home {
  dir: string;
  sync: string;
  guid: string;
}

function newHome(name: string): Home {
  return { dir: path.join(base, name, 'home'), sync: path.join(base, name, 'sync'), guid: randomUUID() };
}

function secretsMessage(key: Buffer | null): SecretsMessage {
  return { type: 'secrets', key: key ? key.toString('base64') : null, protection: key ? 'encrypted with a key kept in the test keychain' : 'plaintext file readable only by this user (mode 0600); no keyring found' };
}

/** The agent as Electron main runs it: AgentHost, AXIS_AGENT_SECRETS=parent, the key sent first. */
async function startApp(home: Home, key: Buffer | null): Promise<{ host: AgentHost; ready: ReadyMessage }> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  Object.assign(env, {
    AXIS_AGENT_HOME: home.dir,
    AXIS_AGENT_SECRETS: 'parent',
    AXIS_AGENT_SYNC_DIR: home.sync,
    AXIS_AGENT_LOG: 'warn',
    AXIS_MACHINE_GUID: home.guid,
    AXIS_AGENT_POLL_MS: '500',
    AXIS_AGENT_LONG_POLL_SECONDS: '5',
  });
  const host = new AgentHost({ fork: nodeFork, entry: ENTRY, env, firstMessages: async () => [secretsMessage(key)], restart: { baseMs: 50, maxMs: 200, stableMs: 60_000 } });
  hosts.push(host);
  const ready = new Promise<ReadyMessage>((resolve, reject) => {
    host.once('ready', resolve);
    host.once('exit', (e) => reject(new Error(`the agent exited (${e.code}) before it was ready`)));
  });
  await host.start();
  return { host, ready: await ready };
}

async function stopApp(host: AgentHost): Promise<void> {
  await host.stop();
  hosts.splice(hosts.indexOf(host), 1);
}

// Bodies are checked field by field.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
async function api(ready: ReadyMessage, method: string, p: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(`${ready.url}${p.replace(/^\//, '')}`, {
    method,
    headers: { authorization: `Bearer ${ready.token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: (await res.json()) as unknown };
}

const onServer = (name: string): boolean =>
  !!t.server.ctx.db.prepare(`SELECT id FROM nodes WHERE root_id = ? AND name = ? AND is_deleted = 0`).get(person.rootId, name);

/** credentials.enc.json decrypted independently of the agent's code (the documented format). */
function decryptStore(home: Home, key: Buffer): { tokens: { access_token: string; refresh_token?: string }; machine: { machine_id: number; security_key: string; guid: string; server: string } } {
  const f = JSON.parse(readFileSync(path.join(home.dir, 'credentials.enc.json'), 'utf8')) as { version: number; alg: string; iv: string; tag: string; data: string };
  expect(f).toMatchObject({ version: 1, alg: 'A256GCM' });
  const d = createDecipheriv('aes-256-gcm', key, Buffer.from(f.iv, 'base64'), { authTagLength: 16 });
  d.setAAD(Buffer.from('axis-credentials-v1'));
  d.setAuthTag(Buffer.from(f.tag, 'base64'));
  const inner = JSON.parse(Buffer.concat([d.update(Buffer.from(f.data, 'base64')), d.final()]).toString('utf8'));
  expect(inner.version).toBe(1);
  return inner.secrets;
}

async function filesUnder(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fsp.readdir(dir, { withFileTypes: true, recursive: true })) {
    if (e.isFile()) out.push(path.join(e.parentPath, e.name));
  }
  return out;
}

/** No file of the home contains any of the strings (as bytes: also the SQLite database). */
async function expectNowhere(home: Home, secrets: string[]): Promise<void> {
  const files = await filesUnder(home.dir);
  expect(files.length).toBeGreaterThan(3);
  for (const file of files) {
    const bytes = await fsp.readFile(file);
    for (const s of secrets) expect(bytes.includes(Buffer.from(s, 'utf8')), `${path.relative(home.dir, file)} contains a secret`).toBe(false);
  }
}

async function cliLogin(home: Home): Promise<void> {
  const r = await runCli(['--home', home.dir, 'login', '--server', t.url, '--username', person.email, '--password', person.password, '--trust-fingerprint', fp], { env: { AXIS_MACHINE_GUID: home.guid } });
  expect(r.code, r.stderr).toBe(0);
}

describe('the desktop app keeps the agent secrets encrypted', () => {
  const home = newHome('app');
  const key = randomBytes(32);

  it('login through the control API: only credentials.enc.json (0600), no secret in any file of the home; a restart with the key is logged in', async () => {
    expect(existsSync(ENTRY), `${ENTRY} is missing: npx tsc -p tsconfig.json`).toBe(true);
    const { host, ready } = await startApp(home, key);
    expect((await api(ready, 'GET', '/api/state')).body.login).toEqual({ state: 'logged_out', server: null });

    const login = await api(ready, 'POST', '/api/login', { server: t.url, username: person.email, password: person.password, trust_fingerprint: fp });
    expect(login.status, JSON.stringify(login.body)).toBe(200);
    expect(login.body.login).toMatchObject({ state: 'logged_in', server: t.url, machine_id: expect.any(Number) });
    const machineId = login.body.login.machine_id as number;

    // Syncing runs on the decrypted credentials (machine login, then the change feed).
    await eventually(async () => (await api(ready, 'GET', '/api/state')).body.status?.roots[0]?.state === 'idle', 30_000, 'the first sync');
    await fsp.writeFile(path.join(home.sync, 'encrypted-home.txt'), 'hello\n');
    await eventually(() => onServer('encrypted-home.txt'), 20_000, 'the upload');
    await stopApp(host);

    expect(existsSync(path.join(home.dir, 'credentials.json'))).toBe(false);
    expect(existsSync(path.join(home.dir, 'credentials.enc.json'))).toBe(true);
    if (process.platform !== 'win32') expect(statSync(path.join(home.dir, 'credentials.enc.json')).mode & 0o777).toBe(0o600);
    const secrets = decryptStore(home, key);
    expect(secrets.machine).toMatchObject({ machine_id: machineId, guid: home.guid, server: t.url });
    // The stored tokens are live ones (the machine's session).
    expect((await call(t, 'GET', 'api/2/person', { token: secrets.tokens.access_token })).status).toBe(200);
    const strings = [secrets.tokens.access_token, secrets.machine.security_key, key.toString('base64'), key.toString('hex'), person.password];
    if (secrets.tokens.refresh_token) strings.push(secrets.tokens.refresh_token);
    for (const s of strings) expect(s.length).toBeGreaterThan(10);
    await expectNowhere(home, strings);

    // The next start reads them with the same key: logged in from the start, syncing again.
    const again = await startApp(home, key);
    expect((await api(again.ready, 'GET', '/api/state')).body.login).toMatchObject({ state: 'logged_in', machine_id: machineId });
    await fsp.writeFile(path.join(home.sync, 'after-restart.txt'), 'again\n');
    await eventually(() => onServer('after-restart.txt'), 20_000, 'the upload after the restart');
    await stopApp(again.host);
    expect(existsSync(path.join(home.dir, 'credentials.json'))).toBe(false);
  });

  it('the CLI on that home says the credentials are the app\'s (whoami, run, resolve, logout) and changes nothing', async () => {
    const before = readFileSync(path.join(home.dir, 'credentials.enc.json'), 'utf8');
    const who = await runCli(['--home', home.dir, 'whoami']);
    expect(who.code).toBe(2);
    expect(who.stderr).toContain(APP_SECRETS_MESSAGE);
    const run = await runCli(['--home', home.dir, 'run', '--no-ui', '--sync-dir', home.sync]);
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(APP_SECRETS_MESSAGE);
    const resolve = await runCli(['--home', home.dir, 'resolve', '--all', '--keep', 'both']);
    expect(resolve.code).toBe(2);
    expect(resolve.stderr).toContain(APP_SECRETS_MESSAGE);
    const logout = await runCli(['--home', home.dir, 'logout']);
    expect(logout.code).toBe(2);
    expect(logout.stderr).toContain(APP_SECRETS_LOGOUT_MESSAGE);
    expect(readFileSync(path.join(home.dir, 'credentials.enc.json'), 'utf8')).toBe(before);
    expect(existsSync(path.join(home.dir, 'credentials.json'))).toBe(false);
  });

  it('another key (the keychain lost it): the file is set aside, the agent is logged out and says to sign in again', async () => {
    const { host, ready } = await startApp(home, randomBytes(32));
    const state = (await api(ready, 'GET', '/api/state')).body;
    expect(state.login).toMatchObject({ state: 'logged_out', server: t.url });
    expect(state.login.error).toMatch(/could not be read .*set aside as credentials\.enc\.json\.unreadable-.*Sign in again\./);
    expect(existsSync(path.join(home.dir, 'credentials.enc.json'))).toBe(false);
    const aside = (await fsp.readdir(home.dir)).filter((f) => f.startsWith('credentials.enc.json.unreadable-'));
    expect(aside).toHaveLength(1);
    await stopApp(host);
  });
});

describe('migration and the plaintext fallback', () => {
  it('a CLI login (plaintext credentials.json) is moved into the encrypted store at the app\'s first start', async () => {
    const home = newHome('migrate');
    await cliLogin(home);
    const plain = JSON.parse(readFileSync(path.join(home.dir, 'credentials.json'), 'utf8')) as { secrets: { machine: { security_key: string } } };
    const securityKey = plain.secrets.machine.security_key;
    const key = randomBytes(32);
    const { host, ready } = await startApp(home, key);
    expect((await api(ready, 'GET', '/api/state')).body.login).toMatchObject({ state: 'logged_in', server: t.url });
    expect(existsSync(path.join(home.dir, 'credentials.json'))).toBe(false);
    await stopApp(host);
    expect(decryptStore(home, key).machine.security_key).toBe(securityKey);
    await expectNowhere(home, [securityKey, key.toString('base64')]);
  });

  it('key null (no keyring): the plaintext file stays, no encrypted file is made', async () => {
    const home = newHome('nokey');
    await cliLogin(home);
    const { host, ready } = await startApp(home, null);
    expect((await api(ready, 'GET', '/api/state')).body.login).toMatchObject({ state: 'logged_in', server: t.url });
    await stopApp(host);
    expect(existsSync(path.join(home.dir, 'credentials.json'))).toBe(true);
    expect(existsSync(path.join(home.dir, 'credentials.enc.json'))).toBe(false);
  });
});

describe('waiting for the key', () => {
  /** The entry with an IPC channel, without AgentHost (to see its messages and exit code). */
  function forkEntry(home: Home, extraEnv: Record<string, string>) {
    const env: NodeJS.ProcessEnv = { ...process.env, AXIS_AGENT_HOME: home.dir, AXIS_AGENT_SECRETS: 'parent', AXIS_AGENT_LOG: 'warn', AXIS_AGENT_SYNC_DIR: home.sync, ...extraEnv };
    const cp = fork(ENTRY, [], { env, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
    let stderr = '';
    cp.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const messages: { type: string; message?: string }[] = [];
    cp.on('message', (m) => messages.push(m as { type: string }));
    const exited = new Promise<number | null>((resolve) => cp.on('exit', (code) => resolve(code)));
    return { cp, messages, exited, stderr: () => stderr };
  }

  it('no secrets message in time: an error message, exit 1, nothing started', async () => {
    const home = newHome('nowait');
    const e = forkEntry(home, { AXIS_AGENT_SECRETS_WAIT_MS: '300' });
    expect(await e.exited).toBe(1);
    expect(e.messages).toEqual([{ type: 'error', message: expect.stringContaining('sent no secrets message within 0.3 s') }]);
    expect(e.stderr()).toContain('sent no secrets message');
    expect(existsSync(path.join(home.dir, 'control.json'))).toBe(false);
  });

  it('a malformed key: an error message, exit 1', async () => {
    const home = newHome('badkey');
    const e = forkEntry(home, {});
    e.cp.send({ type: 'secrets', key: randomBytes(16).toString('base64'), protection: 'x' });
    expect(await e.exited).toBe(1);
    expect(e.messages).toEqual([{ type: 'error', message: expect.stringContaining('Invalid secrets message') }]);
  });
});
