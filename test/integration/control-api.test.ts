// The agent's control API (docs/control-api.md) against a real reference server: the agent
// service in-process (src/agent/control/service.ts) with real HTTP (node's fetch), and the
// service entry and `axis-agent run --wait-for-login` / `axis-agent ui` as real processes.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, promises as fsp, readFileSync, rmSync, statSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { Secret, TOTP } from 'otpauth';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAgentService, type AgentService } from '../../src/agent/control/service.js';
import { AGENT_BIN, eventually, REPO, runCli } from '../helpers/agents.js';
import { filesClient, newPerson, personByEmail, upload } from '../helpers/files.js';
import { accessToken, call, manualClock, wrongCode, type ManualClock } from '../helpers/server-api.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD, startTestServer, type TestServer } from '../helpers/server.js';

let t: TestServer;
let c: ManualClock;
let fp: string;
let svc: AgentService;
let base: string;
let home: string;
let syncDir: string;
let user: { email: string; password: string; key: string; rootId: number };

function totp(key: string, timestamp: number): string {
  return TOTP.generate({ secret: Secret.fromBase32(key), algorithm: 'SHA1', digits: 6, period: 30, timestamp });
}

interface Res {
  status: number;
  // Bodies are checked field by field.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
  headers: Headers;
}

/** A control API call with node's fetch; `token: null` sends none. */
async function api(method: string, p: string, o: { token?: string | null; body?: unknown; raw?: string; contentType?: string; headers?: Record<string, string> } = {}): Promise<Res> {
  const headers: Record<string, string> = { ...o.headers };
  const token = o.token === undefined ? svc.token : o.token;
  if (token) headers.authorization = `Bearer ${token}`;
  let body: string | undefined;
  if (o.raw !== undefined) body = o.raw;
  else if (o.body !== undefined) body = JSON.stringify(o.body);
  if (body !== undefined) headers['content-type'] = o.contentType ?? 'application/json';
  const res = await fetch(`${svc.url}${p.replace(/^\//, '')}`, { method, headers, body, redirect: 'manual' });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // HTML or empty
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

/** A raw request (node:http lets a test send any Host header). */
function rawRequest(port: number, p: string, headers: Record<string, string>): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: p, method: 'GET', headers, setHost: false }, (res) => {
      let body = '';
      res.on('data', (d: Buffer) => (body += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

interface SseEvent {
  event: string;
  data: unknown;
}

/** Reads /api/events until `until` accepts an event (resolves with all events seen). */
async function readEvents(until: (e: SseEvent) => boolean, o: { headers?: Record<string, string>; timeoutMs?: number; onOpen?: () => Promise<void> } = {}): Promise<SseEvent[]> {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), o.timeoutMs ?? 30_000);
  const seen: SseEvent[] = [];
  try {
    const res = await fetch(`${svc.url}api/events`, { headers: o.headers ?? { authorization: `Bearer ${svc.token}` }, signal: ac.signal });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = res.body!.getReader();
    const decoder = new TextDecoder();
    let buf = '';
    let opened = false;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) throw new Error(`event stream ended; seen ${JSON.stringify(seen.map((e) => e.event))}`);
      buf += decoder.decode(value, { stream: true });
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const block = buf.slice(0, i);
        buf = buf.slice(i + 2);
        const event = /^event: (.*)$/m.exec(block)?.[1];
        const data = /^data: (.*)$/m.exec(block)?.[1];
        if (!event || data === undefined) continue;
        const e = { event, data: JSON.parse(data) as unknown };
        seen.push(e);
        if (until(e)) {
          ac.abort();
          return seen;
        }
      }
      if (!opened && seen.length > 0) {
        opened = true;
        await o.onOpen?.();
      }
    }
  } finally {
    clearTimeout(timer);
  }
}

const onServer = (name: string): boolean =>
  !!t.server.ctx.db.prepare(`SELECT id FROM nodes WHERE root_id = ? AND name = ? AND is_deleted = 0`).get(user.rootId, name);

beforeAll(async () => {
  c = manualClock();
  t = await startTestServer({ clock: c.clock });
  fp = t.server.fingerprint!;
  const person = newPerson(t);
  const password = 'user-password-1';
  const token = await accessToken(t, person.email, password);
  const step1 = await call(t, 'POST', 'api/2/person/two_step/enable', { token, form: { password, mode: 'authenticator' } });
  expect(step1.status, JSON.stringify(step1.body)).toBe(200);
  const key = step1.body.key as string;
  const step2 = await call(t, 'POST', 'api/2/person/two_step/enable', { token, form: { password, mode: 'authenticator', auth_code: totp(key, c.now()) } });
  expect(step2.status, JSON.stringify(step2.body)).toBe(200);
  c.advance(60_000);
  user = { email: person.email, password, key, rootId: person.root_id! };

  base = mkdtempSync(path.join(os.tmpdir(), 'axis-control-'));
  home = path.join(base, 'home');
  syncDir = path.join(base, 'sync');
  svc = await startAgentService({
    home,
    log: pino({ level: 'silent' }),
    userAgent: 'axis-agent-test',
    version: '0.0.0-test',
    syncDir,
    env: { ...process.env, AXIS_MACHINE_GUID: randomUUID() },
    daemon: { longPollSeconds: 5, pollMs: 500, commandWaitSeconds: 5, timeZone: 'UTC' },
  });
});

afterAll(async () => {
  await svc?.stop();
  await t?.stop();
  if (base) rmSync(base, { recursive: true, force: true });
});

describe('listening and discovery', () => {
  it('listens on 127.0.0.1 only and writes control.json (0600)', async () => {
    expect(new URL(svc.url!).hostname).toBe('127.0.0.1');
    const file = JSON.parse(readFileSync(path.join(home, 'control.json'), 'utf8'));
    expect(file).toEqual({ port: svc.port, pid: process.pid, token: svc.token, url: svc.url });
    expect(file.token).toMatch(/^[0-9a-f]{64}$/);
    if (process.platform !== 'win32') expect(statSync(path.join(home, 'control.json')).mode & 0o777).toBe(0o600);

    const connects = (host: string) =>
      new Promise<string>((resolve) => {
        const s = net.connect({ host, port: svc.port! });
        s.once('connect', () => {
          s.destroy();
          resolve('connected');
        });
        s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
      });
    expect(await connects('127.0.0.1')).toBe('connected');
    expect(await connects('::1')).not.toBe('connected');
    const external = Object.values(os.networkInterfaces())
      .flat()
      .filter((a) => a && !a.internal)
      .map((a) => a!.address);
    for (const addr of external) expect(await connects(addr), addr).not.toBe('connected');
  });
});

describe('security', () => {
  it('refuses /api requests without the token or with a wrong one', async () => {
    const none = await api('GET', '/api/state', { token: null });
    expect(none.status).toBe(401);
    expect(none.body.error.code).toBe('unauthorized');
    const wrong = await api('GET', '/api/state', { token: 'f'.repeat(64) });
    expect(wrong.status).toBe(401);
    const short = await api('GET', '/api/state', { headers: { authorization: 'Bearer abc' }, token: null });
    expect(short.status).toBe(401);
    const cookie = await api('GET', '/api/state', { token: null, headers: { cookie: 'axis_session=not-a-session' } });
    expect(cookie.status).toBe(401);
    const events = await fetch(`${svc.url}api/events`);
    expect(events.status).toBe(401);
    const pause = await api('POST', '/api/pause', { token: null, body: {} });
    expect(pause.status).toBe(401);
    const ok = await api('GET', '/api/state');
    expect(ok.status).toBe(200);
    expect(ok.body.login).toEqual({ state: 'logged_out', server: null });
  });

  it('refuses a foreign Origin and a foreign Host, even with the token', async () => {
    const origin = await api('GET', '/api/state', { headers: { origin: 'http://evil.example' } });
    expect(origin.status).toBe(403);
    expect(origin.body.error.code).toBe('forbidden_origin');
    const otherPort = await api('POST', '/api/ui-session', { body: {}, headers: { origin: `http://127.0.0.1:${svc.port! + 1}` } });
    expect(otherPort.status).toBe(403);
    const sameOrigin = await api('GET', '/api/state', { headers: { origin: `http://localhost:${svc.port}` } });
    expect(sameOrigin.status).toBe(200);

    const auth = { authorization: `Bearer ${svc.token}` };
    const rebinding = await rawRequest(svc.port!, '/api/state', { ...auth, host: `evil.example:${svc.port}` });
    expect(rebinding.status).toBe(403);
    expect(JSON.parse(rebinding.body).error.code).toBe('forbidden_host');
    expect((await rawRequest(svc.port!, '/', { host: 'evil.example' })).status).toBe(403);
    expect((await rawRequest(svc.port!, '/api/state', { ...auth })).status).toBeGreaterThanOrEqual(400); // no Host at all
    expect((await rawRequest(svc.port!, '/api/state', { ...auth, host: `localhost:${svc.port}` })).status).toBe(200);
  });

  it('answers malformed bodies with 400 and a clear message', async () => {
    const notJson = await api('POST', '/api/login', { raw: '{"server": ' });
    expect(notJson.status).toBe(400);
    expect(notJson.body.error.code).toBe('invalid_json');
    expect(notJson.body.error.message).toContain('not valid JSON');

    const missing = await api('POST', '/api/login', { body: { server: t.url, username: user.email } });
    expect(missing.status).toBe(400);
    expect(missing.body.error.code).toBe('invalid_request');
    expect(missing.body.error.message).toContain('password');

    const extra = await api('POST', '/api/pause', { body: { now: true } });
    expect(extra.status).toBe(400);
    expect(extra.body.error.message).toContain('now');

    const keep = await api('POST', '/api/collisions/1/resolve', { body: { keep: 'everything' } });
    expect(keep.status).toBe(400);
    expect(keep.body.error.message).toContain('keep');

    const id = await api('POST', '/api/collisions/abc/resolve', { body: { keep: 'both' } });
    expect(id.status).toBe(400);

    const limit = await api('GET', '/api/activity?limit=100000');
    expect(limit.status).toBe(400);
    expect(limit.body.error.message).toContain('limit');

    const code = await api('POST', '/api/login/code', { body: { code: 'abc' } });
    expect(code.status).toBe(400);

    const settings = await api('PUT', '/api/settings', { body: { start_at_login: 'yes' } });
    expect(settings.status).toBe(400);

    const form = await api('POST', '/api/pause', { raw: 'a=1', contentType: 'application/x-www-form-urlencoded' });
    expect(form.status).toBe(415);
    expect(form.body.error.code).toBe('unsupported_media_type');
  });

  it('sends the CSP and security headers on every response', async () => {
    for (const res of [await api('GET', '/'), await api('GET', '/api/state'), await api('GET', '/api/state', { token: null }), await api('GET', '/api/nothing-here')]) {
      expect(res.headers.get('content-security-policy')).toContain("default-src 'self'");
      expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    }
    const page = await api('GET', '/', { token: null });
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toContain('text/html');
  });

  it('a one-time URL works once and sets an HttpOnly SameSite=Strict session cookie', async () => {
    const minted = await api('POST', '/api/ui-session', { body: {} });
    expect(minted.status).toBe(200);
    const url = minted.body.url as string;
    expect(url).toMatch(new RegExp(`^http://127\\.0\\.0\\.1:${svc.port}/ui/login\\?code=[A-Za-z0-9_-]{20,}$`));

    const first = await fetch(url, { redirect: 'manual' });
    expect(first.status).toBe(303);
    expect(first.headers.get('location')).toBe('/');
    const setCookie = first.headers.get('set-cookie')!;
    expect(setCookie).toMatch(/^axis_session=[0-9a-f]{64};/);
    expect(setCookie).toContain('HttpOnly');
    expect(setCookie).toContain('SameSite=Strict');
    expect(setCookie).toContain('Path=/');
    const session = setCookie.split(';')[0]!;

    const withCookie = await api('GET', '/api/state', { token: null, headers: { cookie: session } });
    expect(withCookie.status).toBe(200);
    expect(withCookie.body.agent.pid).toBe(process.pid);

    const again = await fetch(url, { redirect: 'manual' });
    expect(again.status).toBe(403);
    expect(again.headers.get('set-cookie')).toBeNull();
    expect(await again.text()).toContain('no longer valid');

    const made = await fetch(`${svc.url}ui/login?code=made-up-code-000000000000`, { redirect: 'manual' });
    expect(made.status).toBe(403);
  });

  it('without a built UI, / says how to build it (still with the CSP)', async () => {
    const other = await startAgentService({ home: path.join(base, 'home-no-ui'), log: pino({ level: 'silent' }), userAgent: 'axis-agent-test', rendererDir: path.join(base, 'no-renderer') });
    try {
      const res = await fetch(other.url!);
      expect(res.status).toBe(200);
      expect(await res.text()).toContain('UI not built: run npm run build');
      expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
      expect((await fetch(`${other.url}api/state`, { headers: { authorization: `Bearer ${svc.token}` } })).status).toBe(401); // another agent's token
    } finally {
      await other.stop();
    }
    expect(existsSync(path.join(base, 'home-no-ui', 'control.json'))).toBe(false);
  });
});

describe('login through the API, then sync', () => {
  it('an untrusted certificate first, then three wrong codes abandon the login', async () => {
    const untrusted = await api('POST', '/api/login', { body: { server: t.url, username: user.email, password: user.password } });
    expect(untrusted.status).toBe(409);
    expect(untrusted.body.error.code).toBe('untrusted_certificate');
    expect(untrusted.body.fingerprint).toBe(fp);
    expect(untrusted.body.error.message).toContain('not trusted');
    expect(untrusted.body.error.message).not.toContain('--trust-fingerprint');

    const badPassword = await api('POST', '/api/login', { body: { server: t.url, username: user.email, password: 'nope-nope', trust_fingerprint: fp } });
    expect(badPassword.status).toBe(401);
    expect(badPassword.body.error.code).toBe('invalid_credentials');

    const first = await api('POST', '/api/login', { body: { server: t.url, username: user.email, password: user.password, trust_fingerprint: fp } });
    expect(first.status).toBe(200);
    expect(first.body.login).toMatchObject({ state: 'twostep', mode: 'authenticator', server: t.url, username: user.email });
    const resend = await api('POST', '/api/login/resend', { body: {} });
    expect(resend.status).toBe(200);
    expect(resend.body.login).toMatchObject({ state: 'twostep', mode: 'authenticator' });
    const bad = wrongCode(totp(user.key, c.now()));
    const tries: number[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await api('POST', '/api/login/code', { body: { code: bad } });
      expect(r.status).toBe(401);
      expect(r.body.error.code).toBe('invalid_auth_code');
      tries.push(r.body.tries_left);
    }
    expect(tries).toEqual([2, 1, 0]);
    const state = await api('GET', '/api/state');
    expect(state.body.login.state).toBe('logged_out');
    expect(state.body.login.error).toContain('Invalid authentication code');
    expect((await api('POST', '/api/login/code', { body: { code: bad } })).status).toBe(409);
    expect(existsSync(path.join(home, 'credentials.json'))).toBe(false);
  });

  it('authenticator two-step: a wrong code (tries_left), the right code, then the agent syncs; SSE shows it', async () => {
    let loginResult: Res | undefined;
    const events = await readEvents((e) => e.event === 'state' && (e.data as { status: { roots: { state: string }[] } | null }).status?.roots[0]?.state === 'idle', {
      timeoutMs: 45_000,
      onOpen: async () => {
        const first = await api('POST', '/api/login', { body: { server: t.url, username: user.email, password: user.password, trust_fingerprint: fp } });
        expect(first.status).toBe(200);
        expect(first.body.login.state).toBe('twostep');
        expect(first.body.login.hint).toContain('authenticator');
        const right = totp(user.key, c.now());
        const wrong = await api('POST', '/api/login/code', { body: { code: wrongCode(right) } });
        expect(wrong.status).toBe(401);
        expect(wrong.body).toMatchObject({ error: { code: 'invalid_auth_code' }, tries_left: 2 });
        loginResult = await api('POST', '/api/login/code', { body: { code: right } });
      },
    });
    expect(loginResult!.status).toBe(200);
    expect(loginResult!.body.login).toMatchObject({ state: 'logged_in', server: t.url, username: user.email, machine_id: expect.any(Number) });
    const states = events.filter((e) => e.event === 'state').map((e) => (e.data as { login: { state: string } }).login.state);
    expect(states[0]).toBe('logged_out');
    expect(states).toContain('twostep');
    expect(states[states.length - 1]).toBe('logged_in');
    expect(readFileSync(path.join(home, 'config.json'), 'utf8')).not.toContain(user.password);

    const state = (await api('GET', '/api/state')).body;
    expect(state.status.roots[0]).toMatchObject({ id: user.rootId, path: syncDir });
    expect(state.server_roots).toEqual([{ id: user.rootId, name: 'Files', type: 'sync', subscribed: true }]);
    expect(state.policy).toEqual({ user_overwrite_collisions: false, user_bulk_resolve_warnings: false });
    expect(state.settings).toMatchObject({ server: t.url, fingerprint: fp, sync_dir: syncDir, paused: false });

    await fsp.writeFile(path.join(syncDir, 'from-ui-login.txt'), 'hello\n');
    await eventually(() => onServer('from-ui-login.txt'), 20_000, 'the file to reach the server');
    await eventually(async () => (await api('GET', '/api/activity?limit=10')).body.activity.some((a: { path: string }) => a.path === 'from-ui-login.txt'), 10_000, 'activity');
    const activity = (await api('GET', '/api/activity?limit=10')).body.activity;
    expect(activity[0]).toMatchObject({ id: expect.any(Number), root_id: user.rootId, time: expect.any(String), kind: expect.any(String) });

    // One sample a second from the daemon's start (after the login): the first may still be due.
    await eventually(async () => (await api('GET', '/api/bandwidth')).body.samples.length > 0, 10_000, 'a bandwidth sample');
    const bw = (await api('GET', '/api/bandwidth')).body;
    expect(bw).toMatchObject({ limit: null, in_exception: false, schedule: { throttled: false }, windows: [] });
    expect(bw.samples.length).toBeGreaterThan(0);
    expect(bw.samples[0]).toMatchObject({ t: expect.any(Number), up: expect.any(Number), down: expect.any(Number) });

    const again = await api('POST', '/api/login', { body: { server: t.url, username: user.email, password: user.password, trust_fingerprint: fp } });
    expect(again.status).toBe(409);
    expect(again.body.error.code).toBe('already_logged_in');
  });

  it('pause and resume', async () => {
    const paused = await api('POST', '/api/pause', { body: {} });
    expect(paused.status).toBe(200);
    expect(paused.body).toEqual({ paused: true });
    await eventually(async () => (await api('GET', '/api/state')).body.status.roots[0].state === 'paused', 10_000, 'paused');
    expect((await api('GET', '/api/state')).body.settings.paused).toBe(true);
    await fsp.writeFile(path.join(syncDir, 'while-paused.txt'), 'wait\n');
    await new Promise((r) => setTimeout(r, 1500));
    expect(onServer('while-paused.txt')).toBe(false);
    const resumed = await api('POST', '/api/resume');
    expect(resumed.status).toBe(200);
    expect(resumed.body).toEqual({ paused: false });
    await eventually(() => onServer('while-paused.txt'), 20_000, 'the upload after resume');
  });

  it('settings: manual collisions and start at login', async () => {
    const r = await api('PUT', '/api/settings', { body: { start_at_login: true, manual_collisions: true } });
    expect(r.status).toBe(200);
    expect(r.body.settings).toMatchObject({ start_at_login: true, manual_collisions: true });
    expect((await api('GET', '/api/state')).body.settings.start_at_login).toBe(true);
    expect(JSON.parse(readFileSync(path.join(home, 'settings.json'), 'utf8')).manualCollisions).toBe(true);
  });

  it('collisions: listed with both versions, policy enforced, resolved with keep both', async () => {
    await api('POST', '/api/pause', { body: {} });
    await eventually(async () => (await api('GET', '/api/state')).body.status.roots[0].state === 'paused', 10_000, 'paused');
    await fsp.writeFile(path.join(syncDir, 'same.txt'), 'made here, longer\n');
    const files = filesClient(t, personByEmail(t, user.email));
    expect((await upload(files, `${user.rootId}/upload`, 'made on the server\n', { filename: 'same.txt' })).statusCode).toBe(200);
    await api('POST', '/api/resume', { body: {} });

    await eventually(async () => (await api('GET', '/api/collisions')).body.collisions.length === 1, 20_000, 'the collision');
    const list = (await api('GET', '/api/collisions')).body;
    expect(list.keep_mine_allowed).toBe(false);
    expect(list.bulk_allowed).toBe(false);
    const col = list.collisions[0];
    expect(col).toMatchObject({ root_id: user.rootId, path: 'same.txt', local: { size: 18, machine: expect.any(String) }, server: { size: 19, revision_id: expect.any(Number) } });
    expect(Date.parse(col.local.mtime)).not.toBeNaN();
    expect((await api('GET', '/api/state')).body.collisions).toBe(1);

    const mine = await api('POST', `/api/collisions/${col.id}/resolve`, { body: { keep: 'mine' } });
    expect(mine.status).toBe(403);
    expect(mine.body.error.code).toBe('policy_forbids');
    const all = await api('POST', '/api/collisions/resolve-all', { body: { keep: 'both' } });
    expect(all.status).toBe(403);
    expect(all.body.error.code).toBe('policy_forbids');
    expect((await api('POST', '/api/collisions/99999/resolve', { body: { keep: 'both' } })).status).toBe(404);

    const both = await api('POST', `/api/collisions/${col.id}/resolve`, { body: { keep: 'both' } });
    expect(both.status).toBe(200);
    expect(both.body.message).toContain('Kept both');
    await eventually(async () => (await api('GET', '/api/collisions')).body.collisions.length === 0, 10_000, 'no collisions');
    await eventually(
      () => {
        const names = (t.server.ctx.db.prepare(`SELECT name FROM nodes WHERE root_id = ? AND is_deleted = 0`).all(user.rootId) as { name: string }[]).map((n) => n.name);
        return names.includes('same.txt') && names.some((n) => n.startsWith('same (collision '));
      },
      20_000,
      'both versions on the server',
    );
    await eventually(() => readFileSync(path.join(syncDir, 'same.txt'), 'utf8') === 'made on the server\n', 20_000, "the server's version locally");
  });

  it("bandwidth: an admin's throttle and exception window reach /api/bandwidth and the SSE samples", async () => {
    const admin = await accessToken(t, ADMIN_EMAIL, ADMIN_PASSWORD);
    const machineId = (await api('GET', '/api/state')).body.login.machine_id as number;
    const W = Math.ceil((Date.now() + 30 * 60_000) / 1000) * 1000;
    const hms = (ms: number) => new Date(ms).toISOString().slice(11, 19);
    const update = (form: Record<string, string>) => call(t, 'POST', '1/management/machine/update/', { token: admin, form: { id: String(machineId), ...form } });
    const set = await update({ throttled: 'true', bandwidth_throttle: '200', throttle_exception_start: hms(W), throttle_exception_end: hms(W + 3_600_000), throttle_exception_throttle: '400' });
    expect(set.status, JSON.stringify(set.body)).toBe(200);
    try {
      await eventually(async () => (await api('GET', '/api/bandwidth')).body.limit === 200 * 1024, 15_000, 'the throttle to apply');
      const bw = (await api('GET', '/api/bandwidth')).body;
      expect(bw).toMatchObject({
        limit: 200 * 1024,
        in_exception: false,
        next_change: new Date(W).toISOString(),
        schedule: { throttled: true, bandwidth_throttle: 200, exception: { days: [0, 1, 2, 3, 4, 5, 6], start: hms(W), end: hms(W + 3_600_000), throttle: 400 } },
        windows: [{ start: new Date(W).toISOString(), end: new Date(W + 3_600_000).toISOString(), limit: 400 * 1024 }],
      });
      const events = await readEvents((e) => e.event === 'bandwidth' && (e.data as { limit: number | null }).limit === 200 * 1024, { timeoutMs: 10_000 });
      const sample = events[events.length - 1]!.data as { t: number; up: number; down: number };
      expect(Math.abs(sample.t - Date.now())).toBeLessThan(5_000);
    } finally {
      await update({ throttled: 'false', throttle_exception_start: '', throttle_exception_end: '', throttle_exception_throttle: '' });
    }
    await eventually(async () => (await api('GET', '/api/bandwidth')).body.limit === null, 15_000, 'the throttle to go');
  });

  it('logout stops syncing and forgets the credentials', async () => {
    const r = await api('POST', '/api/logout', { body: {} });
    expect(r.status).toBe(200);
    expect(r.body.login).toEqual({ state: 'logged_out', server: t.url });
    expect(existsSync(path.join(home, 'credentials.json'))).toBe(false);
    const state = (await api('GET', '/api/state')).body;
    expect(state.status).toBeNull();
    expect(state.settings.server).toBe(t.url);
    await fsp.writeFile(path.join(syncDir, 'after-logout.txt'), 'x\n');
    await new Promise((r2) => setTimeout(r2, 1000));
    expect(onServer('after-logout.txt')).toBe(false);
    expect((await api('POST', '/api/pause', { body: {} })).status).toBe(200); // the state database is still there
    await api('POST', '/api/resume', { body: {} });
  });
});

describe('processes', () => {
  it('service entry: prints the ready line, serves the API, and removes control.json on SIGTERM', async () => {
    const h = path.join(base, 'entry-home');
    const env: NodeJS.ProcessEnv = { ...process.env, AXIS_AGENT_LOG: 'warn' };
    delete env.AXIS_AGENT_HOME;
    const child = spawn(process.execPath, [path.join(REPO, 'dist/src/agent/service-entry.js'), '--home', h], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    const ready = await new Promise<{ type: string; url: string; port: number; token: string }>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const line = out.split('\n')[0];
        if (out.includes('\n')) resolve(JSON.parse(line!));
      });
      void exited.then((code) => reject(new Error(`exited ${code}: ${err}`)));
    });
    expect(ready).toMatchObject({ type: 'ready', url: `http://127.0.0.1:${ready.port}/`, token: expect.stringMatching(/^[0-9a-f]{64}$/) });
    expect(JSON.parse(readFileSync(path.join(h, 'control.json'), 'utf8'))).toMatchObject({ port: ready.port, token: ready.token, pid: child.pid });
    const s = await fetch(`${ready.url}api/state`, { headers: { authorization: `Bearer ${ready.token}` } });
    expect(((await s.json()) as { login: { state: string } }).login.state).toBe('logged_out');
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(existsSync(path.join(h, 'control.json'))).toBe(false);
  });

  it('run --wait-for-login serves the UI; axis-agent ui --print mints a working one-time URL', async () => {
    const h = path.join(base, 'run-home');
    const noAgent = await runCli(['--home', h, 'ui', '--print']);
    expect(noAgent.code).toBe(1);
    expect(noAgent.stderr).toContain('The agent is not running: start it with axis-agent run');

    const notLoggedIn = await runCli(['--home', h, 'run', '--sync-dir', path.join(base, 'run-sync')]);
    expect(notLoggedIn.code).toBe(2);
    expect(notLoggedIn.stderr).toContain('Not logged in');

    const env: NodeJS.ProcessEnv = { ...process.env, AXIS_AGENT_LOG: 'warn' };
    delete env.AXIS_AGENT_HOME;
    const child = spawn(process.execPath, [AGENT_BIN, '--home', h, 'run', '--wait-for-login', '--sync-dir', path.join(base, 'run-sync')], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
    await eventually(() => out.includes('Control UI: http://127.0.0.1:'), 20_000, 'the UI URL');
    expect(out).toContain('waiting for a login through the UI');
    const printed = /Control UI: (\S+)/.exec(out)![1]!;
    expect((await fetch(printed, { redirect: 'manual' })).status).toBe(303);

    const r = await runCli(['--home', h, 'ui', '--print']);
    expect(r.code, r.stderr).toBe(0);
    const url = r.stdout.trim();
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/ui\/login\?code=/);
    const res = await fetch(url, { redirect: 'manual' });
    expect(res.status).toBe(303);
    const cookie = res.headers.get('set-cookie')!.split(';')[0]!;
    const state = await fetch(new URL('/api/state', url), { headers: { cookie } });
    expect(((await state.json()) as { login: { state: string } }).login.state).toBe('logged_out');

    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(out).toContain('Stopped.');
    expect(existsSync(path.join(h, 'control.json'))).toBe(false);
  });
});
