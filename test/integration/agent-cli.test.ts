// The agent CLI end to end: a real reference server (HTTPS on loopback, self-signed) and the
// real `node bin/axis-agent.js --home <tmp> …` processes (built into dist/ beforehand).
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Secret, TOTP } from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_EMAIL, ADMIN_PASSWORD, startTestServer, type TestServer } from '../helpers/server.js';
import { accessToken, call, lastMessageTo, manualClock, outbox, wrongCode, type ManualClock } from '../helpers/server-api.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const BIN = path.join(REPO, 'bin/axis-agent.js');

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

interface Agent {
  /** Resolves when stdout+stderr contain `text`. */
  waitFor(text: string): Promise<void>;
  write(s: string): void;
  end(): void;
  done: Promise<Run>;
}

function startAgent(args: string[], env: NodeJS.ProcessEnv = {}): Agent {
  const baseEnv = { ...process.env };
  delete baseEnv.AXIS_AGENT_HOME;
  const child = spawn(process.execPath, [BIN, ...args], { cwd: REPO, env: { ...baseEnv, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const waiters: Array<{ text: string; resolve: () => void }> = [];
  const check = () => {
    for (const w of [...waiters]) {
      if ((stdout + stderr).includes(w.text)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve();
      }
    }
  };
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString();
    check();
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr += d.toString();
    check();
  });
  const done = new Promise<Run>((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
  return {
    waitFor: (text) =>
      new Promise((resolve, reject) => {
        waiters.push({ text, resolve });
        check();
        void done.then((r) => reject(new Error(`agent exited (${r.code}) before printing ${JSON.stringify(text)}:\n${r.stdout}\n${r.stderr}`)));
      }),
    write: (s) => child.stdin.write(s),
    end: () => child.stdin.end(),
    done,
  };
}

/** Runs the agent to completion with `input` piped on stdin (stdin closed afterwards). */
async function agent(home: string, args: string[], input = '', env: NodeJS.ProcessEnv = {}): Promise<Run> {
  const a = startAgent(['--home', home, ...args], env);
  a.write(input);
  a.end();
  return a.done;
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...filesUnder(p));
    else out.push(p);
  }
  return out;
}

function tokenCount(t: TestServer): number {
  return (t.server.ctx.db.prepare(`SELECT COUNT(*) AS n FROM tokens`).get() as { n: number }).n;
}

function storedTokens(home: string): { access_token: string; refresh_token: string } {
  return (JSON.parse(readFileSync(path.join(home, 'credentials.json'), 'utf8')) as { secrets: { tokens: { access_token: string; refresh_token: string } } }).secrets.tokens;
}

let t: TestServer;
let c: ManualClock;
let fp: string;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'axis-agent-cli-'));
let homeN = 0;
const newHome = () => path.join(tmp, `home-${++homeN}`);

const ALICE = { email: 'alice@example.test', password: 'alice-secret-Pw1', first: 'Alice', last: 'Example' };

async function createUser(email: string, password: string, first = 'Test', last = 'User'): Promise<void> {
  // A fresh admin token: the tests move the server clock past token lifetimes.
  const adminToken = await accessToken(t, ADMIN_EMAIL, ADMIN_PASSWORD);
  const res = await call(t, 'POST', 'api/2/person/create', { token: adminToken, form: { email, password, first_name: first, last_name: last } });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
}

function totp(key: string, timestamp: number): string {
  return TOTP.generate({ secret: Secret.fromBase32(key), algorithm: 'SHA1', digits: 6, period: 30, timestamp });
}

/** Turns on authenticator two-step for a new account; returns the TOTP key. */
async function authenticatorUser(email: string, password: string): Promise<string> {
  await createUser(email, password);
  const token = await accessToken(t, email, password);
  const step1 = await call(t, 'POST', 'api/2/person/two_step/enable', { token, form: { password, mode: 'authenticator' } });
  expect(step1.status, JSON.stringify(step1.body)).toBe(200);
  const key = step1.body.key as string;
  const step2 = await call(t, 'POST', 'api/2/person/two_step/enable', { token, form: { password, mode: 'authenticator', auth_code: totp(key, c.now()) } });
  expect(step2.status, JSON.stringify(step2.body)).toBe(200);
  c.advance(60_000);
  return key;
}

beforeAll(async () => {
  c = manualClock();
  t = await startTestServer({ clock: c.clock });
  fp = t.server.fingerprint!;
  await createUser(ALICE.email, ALICE.password, ALICE.first, ALICE.last);
});

afterAll(async () => {
  await t?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe('axis-agent login', () => {
  it('logs in with flags, stores server, pin and tokens, and never the password', async () => {
    const home = newHome();
    const r = await agent(home, ['login', '--server', t.url, '--username', ALICE.email, '--password', ALICE.password, '--trust-fingerprint', fp]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`Logged in to ${t.url} as Alice Example <${ALICE.email}>`);

    const config = JSON.parse(readFileSync(path.join(home, 'config.json'), 'utf8'));
    expect(config).toMatchObject({ server: t.url, fingerprint: fp, username: ALICE.email });
    const tokens = storedTokens(home);
    expect(tokens.access_token.length).toBeGreaterThan(20);
    expect(tokens.refresh_token.length).toBeGreaterThan(20);
    if (process.platform !== 'win32') expect(statSync(path.join(home, 'credentials.json')).mode & 0o777).toBe(0o600);

    for (const file of filesUnder(home)) expect(readFileSync(file, 'utf8'), file).not.toContain(ALICE.password);

    const who = await agent(home, ['whoami', '--json']);
    expect(who.code).toBe(0);
    const out = JSON.parse(who.stdout);
    expect(out.server).toBe(t.url);
    expect(out.person).toMatchObject({ email: ALICE.email, display_name: 'Alice Example' });
    expect(typeof out.person.id).toBe('number');
    expect(out.roots).toEqual([{ id: expect.any(Number), name: 'Files', type: 'sync' }]);

    const text = await agent(home, ['whoami']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`Alice Example <${ALICE.email}>`);
    expect(text.stdout).toMatch(/\d+ {2}Files \(sync\)/);
  });

  it('accepts the fingerprint without colons in lower case', async () => {
    const home = newHome();
    const r = await agent(home, ['login', '--server', t.url, '--username', ALICE.email, '--password', ALICE.password, '--trust-fingerprint', fp.replace(/:/g, '').toLowerCase()]);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(readFileSync(path.join(home, 'config.json'), 'utf8')).fingerprint).toBe(fp);
  });

  it('asks for what is missing, reading answers line by line from a pipe', async () => {
    const home = newHome();
    const r = await agent(home, ['login', '--trust-fingerprint', fp], `${t.url}\n${ALICE.email}\n${ALICE.password}\n`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Server URL');
    expect(r.stdout).toContain('Username');
    expect(r.stdout).toContain('Password');
    expect(r.stdout).not.toContain(ALICE.password);
    expect(r.stdout).toContain(`as Alice Example <${ALICE.email}>`);
    expect((await agent(home, ['whoami', '--json'])).code).toBe(0);
  });

  it('refuses an untrusted certificate, shows its fingerprint, and sends no credentials', async () => {
    const home = newHome();
    const before = tokenCount(t);
    const r = await agent(home, ['login', '--server', t.url, '--username', ALICE.email, '--password', ALICE.password]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('not trusted');
    expect(r.stderr).toContain(`--trust-fingerprint ${fp}`);
    expect(tokenCount(t)).toBe(before);
    expect(existsSync(path.join(home, 'credentials.json'))).toBe(false);
  });

  it('refuses a certificate that does not match the pinned fingerprint', async () => {
    const home = newHome();
    const wrong = fp.replace(/^(..)/, (b) => (b === 'AA' ? 'AB' : 'AA'));
    const before = tokenCount(t);
    const r = await agent(home, ['login', '--server', t.url, '--username', ALICE.email, '--password', ALICE.password, '--trust-fingerprint', wrong]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('does not match');
    expect(r.stderr).toContain(fp);
    expect(tokenCount(t)).toBe(before);
    expect(existsSync(path.join(home, 'credentials.json'))).toBe(false);
  });

  it('rejects a malformed fingerprint', async () => {
    const r = await agent(newHome(), ['login', '--server', t.url, '--username', ALICE.email, '--password', ALICE.password, '--trust-fingerprint', 'abc123']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('not a SHA-256 fingerprint');
  });

  it('reports a wrong password and stores nothing', async () => {
    const home = newHome();
    const r = await agent(home, ['login', '--server', t.url, '--username', ALICE.email, '--password', 'not-the-password', '--trust-fingerprint', fp]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Invalid username or password');
    expect(existsSync(path.join(home, 'credentials.json'))).toBe(false);
  });

  it('reports a server that cannot be reached', async () => {
    const r = await agent(newHome(), ['login', '--server', 'https://127.0.0.1:1', '--username', 'x', '--password', 'y']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('Cannot reach');
  });
});

describe('two-step authentication', () => {
  it('authenticator: a wrong code is refused, asked again, then the right code logs in', async () => {
    const email = 'bob@example.test';
    const password = 'bob-secret-Pw1';
    const key = await authenticatorUser(email, password);
    const home = newHome();
    const right = totp(key, c.now());
    const r = await agent(home, ['login', '--server', t.url, '--username', email, '--password', password, '--trust-fingerprint', fp], `${wrongCode(right)}\n${right}\n`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain('Enter the code from your authenticator app');
    expect(r.stderr).toContain('Invalid authentication code');
    expect(r.stdout).toContain(`<${email}>`);
    for (const file of filesUnder(home)) expect(readFileSync(file, 'utf8')).not.toContain(password);

    // --auth-code, with a code of a later time step (a code is accepted once).
    c.advance(60_000);
    const home2 = newHome();
    const r2 = await agent(home2, ['login', '--server', t.url, '--username', email, '--password', password, '--auth-code', totp(key, c.now()), '--trust-fingerprint', fp]);
    expect(r2.code, r2.stderr).toBe(0);
    expect(r2.stdout).toContain(`<${email}>`);
    expect((await agent(home2, ['whoami', '--json'])).code).toBe(0);
  });

  it('authenticator: a wrong --auth-code is reported, then the code is asked for', async () => {
    const email = 'bob2@example.test';
    const password = 'bob2-secret-Pw1';
    const key = await authenticatorUser(email, password);
    const right = totp(key, c.now());
    const r = await agent(newHome(), ['login', '--server', t.url, '--username', email, '--password', password, '--auth-code', wrongCode(right), '--trust-fingerprint', fp], `${right}\n`);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain('Invalid authentication code');
  });

  it('gives up after three wrong codes', async () => {
    const email = 'dave@example.test';
    const password = 'dave-secret-Pw1';
    const key = await authenticatorUser(email, password);
    const bad = wrongCode(totp(key, c.now()));
    const home = newHome();
    const r = await agent(home, ['login', '--server', t.url, '--username', email, '--password', password, '--trust-fingerprint', fp], `${bad}\n${bad}\n${bad}\n${bad}\n`);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Invalid authentication code');
    expect(r.stderr).toContain('axis-agent login');
    expect(existsSync(path.join(home, 'credentials.json'))).toBe(false);
  });

  it('email: says the code was sent by email and takes it from stdin', async () => {
    const email = 'carol@example.test';
    const password = 'carol-secret-Pw1';
    await createUser(email, password);
    const token = await accessToken(t, email, password);
    expect((await call(t, 'POST', 'api/2/person/two_step/enable', { token, form: { password, mode: 'email' } })).status).toBe(200);
    const enableCode = lastMessageTo(t, email).code!;
    expect((await call(t, 'POST', 'api/2/person/two_step/enable', { token, form: { password, mode: 'email', auth_code: enableCode } })).status).toBe(200);

    const home = newHome();
    const before = outbox(t).length;
    const a = startAgent(['--home', home, 'login', '--server', t.url, '--username', email, '--password', password, '--trust-fingerprint', fp]);
    await a.waitFor('A code was sent by email');
    const messages = outbox(t);
    expect(messages.length).toBeGreaterThan(before);
    const code = lastMessageTo(t, email).code!;
    a.write(`${code}\n`);
    a.end();
    const r = await a.done;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toContain(`<${email}>`);
  });
});

describe('sessions', () => {
  it('whoami refreshes an expired access token by itself', async () => {
    const home = newHome();
    expect((await agent(home, ['login', '--server', t.url, '--username', ALICE.email, '--password', ALICE.password, '--trust-fingerprint', fp])).code).toBe(0);
    const before = storedTokens(home);
    c.advance(2 * 3600 * 1000); // past the access token's lifetime (server clock)
    const r = await agent(home, ['whoami', '--json']);
    expect(r.code, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).person.email).toBe(ALICE.email);
    const after = storedTokens(home);
    expect(after.access_token).not.toBe(before.access_token);
    expect(after.refresh_token).not.toBe(before.refresh_token);
  });

  // The agent holds machine credentials (issue "Machine identity…"): a session that ends is
  // renewed with them; a new login is asked for only when the machine credentials are revoked.
  it('a revoked session is renewed with the machine credentials; revoked machine credentials: whoami exits 2 and says to log in', async () => {
    const home = newHome();
    expect((await agent(home, ['login', '--server', t.url, '--username', ALICE.email, '--password', ALICE.password, '--trust-fingerprint', fp])).code).toBe(0);
    const revoked = storedTokens(home);
    const res = await call(t, 'POST', 'oauth2/revoke', { form: { token: revoked.refresh_token } });
    expect(res.status).toBe(200);
    const renewed = await agent(home, ['whoami', '--json']);
    expect(renewed.code, renewed.stderr).toBe(0);
    expect(JSON.parse(renewed.stdout).person.email).toBe(ALICE.email);
    expect(storedTokens(home).refresh_token).not.toBe(revoked.refresh_token);

    const machineId = JSON.parse(readFileSync(path.join(home, 'config.json'), 'utf8')).machine.id as number;
    const alice = await accessToken(t, ALICE.email, ALICE.password);
    expect((await call(t, 'POST', `api/2/machine/${machineId}/revoke`, { token: alice })).status).toBe(200);
    const r = await agent(home, ['whoami']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Your session has expired; run axis-agent login');
  });

  it('logout revokes the refresh token and forgets it; whoami then exits 2', async () => {
    const home = newHome();
    expect((await agent(home, ['login', '--server', t.url, '--username', ALICE.email, '--password', ALICE.password, '--trust-fingerprint', fp])).code).toBe(0);
    const { refresh_token } = storedTokens(home);
    const out = await agent(home, ['logout']);
    expect(out.code, out.stderr).toBe(0);
    expect(existsSync(path.join(home, 'credentials.json'))).toBe(false);
    const refresh = await call(t, 'POST', 'oauth2/token', { form: { grant_type: 'refresh_token', refresh_token } });
    expect(refresh.status).toBe(400);
    const who = await agent(home, ['whoami']);
    expect(who.code).toBe(2);
    expect(who.stderr).toContain('axis-agent login');
  });

  it('logout when the server is unreachable still logs out locally', async () => {
    const home = newHome();
    expect((await agent(home, ['login', '--server', t.url, '--username', ALICE.email, '--password', ALICE.password, '--trust-fingerprint', fp])).code).toBe(0);
    const configFile = path.join(home, 'config.json');
    const config = JSON.parse(readFileSync(configFile, 'utf8'));
    const { writeFileSync } = await import('node:fs');
    writeFileSync(configFile, JSON.stringify({ ...config, server: 'https://127.0.0.1:1' }));
    const r = await agent(home, ['logout']);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('Could not revoke');
    expect(existsSync(path.join(home, 'credentials.json'))).toBe(false);
  });

  it('keeps agents with different homes apart (--home and AXIS_AGENT_HOME)', async () => {
    const email = 'erin@example.test';
    const password = 'erin-secret-Pw1';
    await createUser(email, password, 'Erin', 'Other');
    const homeA = newHome();
    const homeB = newHome();
    expect((await agent(homeA, ['login', '--server', t.url, '--username', ALICE.email, '--password', ALICE.password, '--trust-fingerprint', fp])).code).toBe(0);
    const b = startAgent(['login', '--server', t.url, '--username', email, '--password', password, '--trust-fingerprint', fp], { AXIS_AGENT_HOME: homeB });
    b.end();
    expect((await b.done).code).toBe(0);
    const [whoA, whoB] = await Promise.all([agent(homeA, ['whoami', '--json']), agent(homeB, ['whoami', '--json'])]);
    expect(JSON.parse(whoA.stdout).person.email).toBe(ALICE.email);
    expect(JSON.parse(whoB.stdout).person.email).toBe(email);
  });
});
