// Machine identity and admin policy end to end (issue "Machine identity, admin policy pushed
// from the server"): a real reference server and a real agent (`axis-agent login` / `run`).
//
//   - the first login registers the machine and leaves no password (nor the user's session)
//     behind; the agent runs as the machine, is restarted after a kill as the machine, and
//     stops with exit 2 and "run axis-agent login" once an admin locks the machine;
//   - an admin's throttle (documented v1 /1/management/machine/update/) shapes a running upload
//     within seconds, measured over seconds on the agent and on the server; an exception window
//     starting one minute from now switches the rate at its edge (the agent's schedule clock
//     runs AXIS_AGENT_CLOCK_OFFSET_MS ahead, so the edge comes after seconds);
//   - health reports arrive within the machine's min/max period (a "minute" is 1 s here:
//     AXIS_AGENT_HEALTH_MINUTE_MS), and /status shows the agent's real state;
//   - policy (excluded_extensions, max_file_size, the space quota) is applied before uploading
//     (no byte sent) and explained as excl_files, picked up live;
//   - the command channel: ls inside the sync folder only, unsupported types answered.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, promises as fsp, readdirSync, readFileSync, realpathSync, rmSync, statSync, symlinkSync, unlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PersonRow } from '../../src/server/context.js';
import { eventually, REPO, runCli, sleep, TestAgent, type StatusJson } from '../helpers/agents.js';
import { newPerson, rootOf } from '../helpers/files.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD, startTestServer, type TestServer } from '../helpers/server.js';
import { accessToken, call, type Res } from '../helpers/server-api.js';

const KiB = 1024;
/** How far the agent's throttle-schedule clock runs ahead of the real one. */
const OFFSET_MS = 50_000;
const PASSWORD = 'user-password-1';
const VERSION = (JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { version: string }).version;

let t: TestServer;
let admin: string;
let person: PersonRow;
let rootId: number;
let agent: TestAgent;
let base: string;
let machineId: number;

const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

interface MachineRow {
  id: number;
  guid: string;
  person_id: number;
  dns_name: string;
  os_type: string;
  os_version: string;
  agent_version: string;
  security_key_hash: string;
  key_revoked: number;
  locked: number;
  last_login: string | null;
  last_disconnect: string | null;
  bandwidth_throttle: number | null;
  throttled: number;
}

function machineRow(): MachineRow {
  return t.server.ctx.db.prepare(`SELECT * FROM machines WHERE guid = ?`).get(agent.guid) as MachineRow;
}

function latestHealthId(): number {
  return (t.server.ctx.db.prepare(`SELECT COALESCE(MAX(id), 0) AS id FROM machine_health WHERE machine_id = ?`).get(machineId) as { id: number }).id;
}

function commandRows(type: string): { id: number; status: string; result: string | null; error: string | null }[] {
  return t.server.ctx.db.prepare(`SELECT id, status, result, error FROM machine_commands WHERE machine_id = ? AND type = ? ORDER BY id`).all(machineId, type) as {
    id: number;
    status: string;
    result: string | null;
    error: string | null;
  }[];
}

function machineFamilies(): number {
  return (t.server.ctx.db.prepare(`SELECT COUNT(*) AS n FROM machine_token_families WHERE machine_id = ?`).get(machineId) as { n: number }).n;
}

/** The live file named `name` in the top of the agent's root on the server: size and content hash. */
function serverFile(name: string): { size: number; sha256: string } | undefined {
  const row = t.server.ctx.db
    .prepare(`SELECT n.size, r.blob FROM nodes n JOIN revisions r ON r.id = n.revision_id WHERE n.root_id = ? AND n.parent_id IS NULL AND n.name = ? AND n.is_deleted = 0`)
    .get(rootId, name) as { size: number; blob: string } | undefined;
  return row && { size: row.size, sha256: row.blob };
}

/** Bytes the server has received into upload temp files so far. */
function serverReceiving(): number {
  const dir = path.join(t.dataDir, 'blobs', 'tmp');
  let n = 0;
  for (const f of readdirSync(dir)) n += statSync(path.join(dir, f), { throwIfNoEntry: false })?.size ?? 0;
  return n;
}

/** The agent's status.json (written by the running agent every 250 ms). */
async function live(): Promise<StatusJson> {
  for (let i = 0; ; i++) {
    try {
      return JSON.parse(await fsp.readFile(path.join(agent.home, 'status.json'), 'utf8')) as StatusJson;
    } catch (err) {
      if (i > 20) throw err;
      await sleep(20);
    }
  }
}

async function v1Update(form: Record<string, string>): Promise<Res> {
  return call(t, 'POST', '1/management/machine/update/', { token: admin, form: { id: String(machineId), ...form } });
}

async function serverStatus(): Promise<{ subscriptions: { rsub_id: number; synced: boolean; excl_files: number; synced_folder: string }[]; synced: boolean; transfers: Record<string, unknown>[] }> {
  const res = await call(t, 'GET', `api/2/machine/${machineId}/status`, { token: admin });
  expect(res.status).toBe(200);
  return res.body.results;
}

/** An admin queues a command; resolves with the command once the agent reported its result. */
async function command(type: string, params: Record<string, unknown> = {}): Promise<{ status: string; result: unknown; error: string | null }> {
  const q = await call(t, 'POST', `api/2/machine/${machineId}/commands`, { token: admin, json: { type, params } });
  expect(q.status, JSON.stringify(q.body)).toBe(200);
  const done = await call(t, 'GET', `api/2/machine/${machineId}/commands/${q.body.id}`, { token: admin, searchParams: { wait: '20' } });
  expect(['ok', 'error']).toContain(done.body.status);
  return done.body;
}

/** Upload rate (bytes/s) over `ms`: from the agent's limiter counter and from the server's received bytes. */
async function measureUpload(ms: number): Promise<{ agent: number; server: number }> {
  const a0 = await live();
  const s0 = serverReceiving();
  const t0 = Date.now();
  await sleep(ms);
  const a1 = await live();
  const s1 = serverReceiving();
  const t1 = Date.now();
  return {
    agent: (a1.throttle!.bytes_up - a0.throttle!.bytes_up) / ((Date.parse(a1.updated) - Date.parse(a0.updated)) / 1000),
    server: (s1 - s0) / ((t1 - t0) / 1000),
  };
}

function expectRate(measured: number, expected: number, what: string): void {
  expect(measured / expected, `${what}: ${Math.round(measured)} B/s, expected ${expected} B/s ±10 %`).toBeGreaterThanOrEqual(0.9);
  expect(measured / expected, `${what}: ${Math.round(measured)} B/s, expected ${expected} B/s ±10 %`).toBeLessThanOrEqual(1.1);
}

function filesUnder(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? filesUnder(path.join(dir, e.name)) : [path.join(dir, e.name)]));
}

function expectNoPassword(): void {
  for (const f of filesUnder(agent.home)) expect(readFileSync(f, 'latin1'), f).not.toContain(PASSWORD);
}

function credentials(): { tokens: { access_token: string; refresh_token: string }; machine: { guid: string; machine_id: number; security_key: string; server: string } } {
  return JSON.parse(readFileSync(path.join(agent.home, 'credentials.json'), 'utf8')).secrets;
}

beforeAll(async () => {
  t = await startTestServer();
  admin = await accessToken(t, ADMIN_EMAIL, ADMIN_PASSWORD);
  person = newPerson(t);
  rootId = rootOf(t, person).id;
  base = mkdtempSync(path.join(os.tmpdir(), 'axis-agent-machine-'));
  agent = new TestAgent('machine', { url: t.url, fingerprint: t.server.fingerprint }, { email: person.email, password: PASSWORD }, base);
  agent.env = {
    TZ: 'UTC',
    AXIS_AGENT_CLOCK_OFFSET_MS: String(OFFSET_MS),
    AXIS_AGENT_HEALTH_MINUTE_MS: '1000',
    AXIS_AGENT_LONG_POLL_SECONDS: '5',
    AXIS_AGENT_LOG: 'info',
  };
});

afterAll(async () => {
  await agent?.stop();
  await t?.stop();
  if (base) rmSync(base, { recursive: true, force: true });
});

describe('machine identity', () => {
  it('the first login registers the machine, keeps its key and no password or user session; the agent runs as the machine', async () => {
    await agent.login();
    const m = machineRow();
    expect(m).toMatchObject({
      person_id: person.id,
      dns_name: os.hostname(),
      os_type: process.platform === 'win32' ? 'win' : process.platform === 'darwin' ? 'osx' : 'linux',
      agent_version: VERSION,
      key_revoked: 0,
      locked: 0,
    });
    expect(m.os_version).toContain(os.release());
    machineId = m.id;
    expect(JSON.parse(readFileSync(path.join(agent.home, 'config.json'), 'utf8')).machine).toEqual({ id: machineId, guid: agent.guid });
    const creds = credentials();
    expect(creds.machine).toEqual({ guid: agent.guid, machine_id: machineId, security_key: expect.any(String), server: t.url });
    expect(sha256(creds.machine.security_key)).toBe(m.security_key_hash);
    // The stored session is the machine's; the user's own session was revoked.
    const db = t.server.ctx.db;
    const family = (db.prepare(`SELECT family FROM tokens WHERE token_hash = ?`).get(sha256(creds.tokens.refresh_token)) as { family: string }).family;
    expect(db.prepare(`SELECT machine_id FROM machine_token_families WHERE family = ?`).get(family)).toEqual({ machine_id: machineId });
    const userSessions = db
      .prepare(`SELECT COUNT(*) AS n FROM tokens WHERE person_id = ? AND revoked = 0 AND (family IS NULL OR family NOT IN (SELECT family FROM machine_token_families))`)
      .get(person.id) as { n: number };
    expect(userSessions.n).toBe(0);
    expectNoPassword();

    const who = await runCli(['--home', agent.home, 'whoami', '--json']);
    expect(who.code, who.stderr).toBe(0);
    expect(JSON.parse(who.stdout)).toMatchObject({ person: { id: person.id }, machine: { id: machineId, guid: agent.guid } });

    // Health reports every 1–2 "minutes" (1 s each here).
    const upd = await call(t, 'POST', `api/2/machine/${machineId}/update`, { token: admin, form: { health_report_period_minutes_min: '1', health_report_period_minutes_max: '2' } });
    expect(upd.status).toBe(200);
    await agent.start();
    expect(machineRow().last_login).not.toBeNull();
    expect((await live()).machine).toMatchObject({ id: machineId, guid: agent.guid });
    expect((await live()).throttle).toMatchObject({ limit: null, in_exception: false });
  });
});

describe('health reports', () => {
  it('arrive within the configured min/max period, and /status shows what the agent is doing', async () => {
    const arrivals: number[] = [];
    let last = latestHealthId();
    const until = Date.now() + 9_000;
    while (Date.now() < until) {
      const id = latestHealthId();
      if (id !== last) {
        arrivals.push(Date.now());
        last = id;
      }
      await sleep(20);
    }
    const gaps = arrivals.slice(1).map((a, i) => a - arrivals[i]!);
    expect(gaps.length, `reports at ${JSON.stringify(arrivals)}`).toBeGreaterThanOrEqual(3);
    for (const g of gaps) {
      expect(g).toBeGreaterThanOrEqual(1_000 - 200);
      expect(g).toBeLessThanOrEqual(2_000 + 200);
    }
    expect(await serverStatus()).toEqual({
      subscriptions: [{ rsub_id: rootId, synced: true, excl_files: 0, synced_folder: agent.dir }],
      synced: true,
      transfers: [],
    });
  });
});

describe('bandwidth throttle', () => {
  it("an admin's throttle shapes a running upload within seconds, and the exception window switches the rate at its edge", async () => {
    // A slow start, so that the upload is still running when the admin changes the limit.
    expect((await v1Update({ throttled: 'true', bandwidth_throttle: '64' })).status).toBe(200);
    await eventually(async () => (await live()).throttle?.limit === 64 * KiB, 10_000, 'the 64 KiB/s throttle');
    const content = randomBytes(12 * 1024 * KiB);
    await agent.write('big.bin', content);
    await eventually(async () => (await live()).transfers.some((x) => x.path === 'big.bin' && x.direction === 'up'), 10_000, 'the upload to start');
    // The in-flight transfer shows in /status (the next health report).
    await eventually(async () => (await serverStatus()).transfers.some((x) => x.path === 'big.bin' && x.direction === 'up'), 10_000, 'the transfer on /status');
    const during = await serverStatus();
    expect(during.synced).toBe(false);
    expect(during.subscriptions[0]).toMatchObject({ rsub_id: rootId, synced: false });

    // 200 KiB/s through the documented v1 endpoint, while the upload runs.
    const changed = Date.now();
    const res = await v1Update({ bandwidth_throttle: '200' });
    expect(res.status).toBe(200);
    expect(res.body.result).toMatchObject({ throttled: true, bandwidth_throttle: 200 });
    await eventually(async () => (await live()).throttle?.limit === 200 * KiB, 10_000, 'the 200 KiB/s throttle');
    expect(Date.now() - changed).toBeLessThan(5_000);
    await sleep(500);
    const at200 = await measureUpload(4_000);
    expectRate(at200.agent, 200 * KiB, 'agent at 200 KiB/s');
    expectRate(at200.server, 200 * KiB, 'server at 200 KiB/s');

    // An exception window of 400 KiB/s that starts one minute from now (UTC; the agent runs with
    // TZ=UTC). The agent's schedule clock is OFFSET_MS ahead, so it reaches the edge at W - OFFSET_MS.
    const W = Math.ceil((Date.now() + 60_000) / 1000) * 1000;
    const hms = (ms: number) => new Date(ms).toISOString().slice(11, 19);
    const win = await v1Update({ throttle_exception_start: hms(W), throttle_exception_end: hms(W + 3_600_000), throttle_exception_throttle: '400' });
    expect(win.status, JSON.stringify(win.body)).toBe(200);
    await eventually(async () => (await live()).throttle?.next_change === new Date(W).toISOString(), 10_000, 'the window edge to be scheduled');
    expect((await live()).throttle).toMatchObject({ limit: 200 * KiB, in_exception: false });
    const edge = W - OFFSET_MS;
    let switchedAt = 0;
    await eventually(
      async () => {
        const s = await live();
        if (!s.throttle?.in_exception) return false;
        switchedAt = Date.parse(s.updated);
        return true;
      },
      30_000,
      'the window edge',
    );
    expect((await live()).throttle).toMatchObject({ limit: 400 * KiB, in_exception: true, next_change: new Date(W + 3_600_000).toISOString() });
    // status.json is rewritten every 250 ms: the switch happened at the edge, within a second.
    expect(switchedAt).toBeGreaterThanOrEqual(edge - 50);
    expect(switchedAt).toBeLessThanOrEqual(edge + 1_000);
    await sleep(300);
    const at400 = await measureUpload(3_000);
    expectRate(at400.agent, 400 * KiB, 'agent at 400 KiB/s');
    expectRate(at400.server, 400 * KiB, 'server at 400 KiB/s');
    expect((await live()).transfers.some((x) => x.path === 'big.bin')).toBe(true);

    // Throttling off (and the window gone): the rest goes at once, and the server has the exact content.
    expect((await v1Update({ throttled: 'false', throttle_exception_start: '', throttle_exception_end: '', throttle_exception_throttle: '' })).status).toBe(200);
    await eventually(() => serverFile('big.bin')?.sha256 === sha256(content), 30_000, 'the upload to finish');
    await agent.waitIdle();
    expect((await live()).throttle?.limit).toBeNull();
  });

  it('rejected machine updates (bad dow list, days value, time format) change nothing, on the server or in the agent', async () => {
    expect((await v1Update({ throttled: 'true', bandwidth_throttle: '300' })).status).toBe(200);
    await eventually(async () => (await live()).throttle?.limit === 300 * KiB, 10_000, 'the 300 KiB/s throttle');
    const before = machineRow();
    const refreshes = commandRows('refresh_policy').length;
    const cases: [Record<string, string>, string][] = [
      [{ throttle_exception_dow: '[0,9]' }, 'throttle_exception_dow must be a parseable list of integers representing days of the week, with 0=Monday, 6=Sunday'],
      [{ throttle_exception_days: 'holidays' }, "throttle_exception_days must be either 'weekdays' or 'weekends'"],
      [{ throttle_exception_start: '25:00' }, "throttle_exception_start must be a time value of the form 'HH:mm' or 'HH:mm:ss'"],
    ];
    for (const [form, message] of cases) {
      const res = await v1Update({ bandwidth_throttle: '1', ...form });
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ status_code: 400, message, code: 'error' });
    }
    expect(machineRow()).toEqual(before);
    expect(commandRows('refresh_policy')).toHaveLength(refreshes);
    await sleep(1_500);
    expect((await live()).throttle?.limit).toBe(300 * KiB);
    expect((await v1Update({ throttled: 'false' })).status).toBe(200);
    await eventually(async () => (await live()).throttle?.limit === null, 10_000, 'no throttle');
  });
});

describe('policy', () => {
  it('excluded extensions, max_file_size and the space quota apply before uploading, live, and are explained in excl_files', async () => {
    // An organization policy change queues refresh_policy; the agent applies it and says what is in force.
    const seen = commandRows('refresh_policy').length;
    const org = t.server.admin.defaultOrganizationId;
    const pol = await call(t, 'POST', `api/2/organization/${org}/policy/update`, { token: admin, form: { excluded_extensions: '.secret', max_file_size: '1' } });
    expect(pol.status, JSON.stringify(pol.body)).toBe(200);
    await eventually(() => commandRows('refresh_policy').slice(seen).some((c) => c.status === 'ok'), 10_000, 'the policy refresh');
    const applied = JSON.parse(commandRows('refresh_policy').slice(seen).find((c) => c.status === 'ok')!.result!);
    expect(applied).toMatchObject({ excluded_extensions: '.secret', max_file_size_bytes: 1024 * 1024, manual_collisions: true });

    const up0 = (await live()).throttle!.bytes_up;
    await agent.write('notes.secret', 'not for the server');
    await agent.write('huge.bin', randomBytes(2 * 1024 * KiB));
    await agent.write('ok.txt', 'fine');
    await eventually(() => serverFile('ok.txt') !== undefined, 15_000, 'ok.txt on the server');
    // status.json is rewritten every 250 ms: wait until it shows the upload and the exclusions.
    await eventually(async () => (await live()).roots[0]?.excl_files === 2, 10_000, 'excl_files 2 in status');
    await agent.waitIdle();
    await sleep(500);
    let s = await live();
    expect(s.roots[0]).toMatchObject({ excl_files: 2, synced: true });
    // Not one byte of the excluded files was sent.
    expect(s.throttle!.bytes_up - up0).toBe(4);
    expect(serverFile('notes.secret')).toBeUndefined();
    expect(serverFile('huge.bin')).toBeUndefined();
    await eventually(async () => (await serverStatus()).subscriptions[0]?.excl_files === 2, 10_000, 'excl_files 2 on /status');

    // The account's space quota: 50 000 bytes left. The admin asks the agent to refresh its policy.
    const p = await call(t, 'GET', `api/2/person/${person.id}`, { token: admin });
    const quota = (p.body.space_usage as number) + 50_000;
    expect((await call(t, 'POST', `api/2/person/${person.id}/update`, { token: admin, form: { space_quota: String(quota) } })).status).toBe(200);
    const refreshed = await command('refresh_policy');
    expect(refreshed).toMatchObject({ status: 'ok', result: { space_left_bytes: 50_000 } });
    const up1 = (await live()).throttle!.bytes_up;
    await agent.write('over.bin', randomBytes(80_000));
    await agent.write('small.txt', 'x');
    await eventually(() => serverFile('small.txt') !== undefined, 15_000, 'small.txt on the server');
    await eventually(async () => (await live()).roots[0]?.excl_files === 3, 10_000, 'excl_files 3 in status');
    await agent.waitIdle();
    await sleep(500);
    s = await live();
    expect(s.roots[0]!.excl_files).toBe(3);
    expect(s.throttle!.bytes_up - up1).toBe(1);
    expect(serverFile('over.bin')).toBeUndefined();
    const state = new Database(path.join(agent.home, 'state.sqlite'), { readonly: true });
    try {
      const w = state.prepare(`SELECT code, message FROM warnings WHERE path = 'over.bin'`).get() as { code: string; message: string };
      expect(w.code).toBe('tooLarge');
      expect(w.message).toContain('space quota');
    } finally {
      state.close();
    }
    await eventually(async () => (await serverStatus()).subscriptions[0]?.excl_files === 3, 10_000, 'excl_files 3 on /status');

    // The organization's space quota (extension space_available): 30 000 bytes left for the
    // whole organization while the account has no quota of its own any more.
    t.server.ctx.db.prepare(`UPDATE persons SET space_quota = NULL WHERE id = ?`).run(person.id);
    const orgUsed = (t.server.ctx.db.prepare(`SELECT bytes FROM org_usage WHERE company_id = ?`).get(org) as { bytes: number }).bytes;
    const seen2 = commandRows('refresh_policy').length;
    const orgPol = await call(t, 'POST', `api/2/organization/${org}/policy/update`, { token: admin, form: { space_quota: String(orgUsed + 30_000) } });
    expect(orgPol.status, JSON.stringify(orgPol.body)).toBe(200);
    await eventually(() => commandRows('refresh_policy').slice(seen2).some((c) => c.status === 'ok'), 10_000, 'the policy refresh');
    expect(JSON.parse(commandRows('refresh_policy').slice(seen2).find((c) => c.status === 'ok')!.result!)).toMatchObject({ space_left_bytes: 30_000 });
    const up2 = (await live()).throttle!.bytes_up;
    await agent.write('org-over.bin', randomBytes(60_000));
    await agent.write('tiny.txt', 'y');
    await eventually(() => serverFile('tiny.txt') !== undefined, 15_000, 'tiny.txt on the server');
    await eventually(async () => (await live()).roots[0]?.excl_files === 4, 10_000, 'excl_files 4 in status');
    await agent.waitIdle();
    await sleep(500);
    s = await live();
    expect(s.throttle!.bytes_up - up2).toBe(1);
    expect(serverFile('org-over.bin')).toBeUndefined();
    expect((await call(t, 'POST', `api/2/organization/${org}/policy/update`, { token: admin, form: { space_quota: '2199023255552' } })).status).toBe(200);
  });
});

describe('command channel', () => {
  it('ls lists folders inside the sync folder only; unsupported commands are answered as such', async () => {
    const ls = await command('ls');
    expect(ls.status).toBe('ok');
    const result = ls.result as { path: string; entries: { name: string; type: string; size: number | null; modified: string }[]; truncated: boolean };
    expect(result.path).toBe(realpathSync(agent.dir));
    expect(result.truncated).toBe(false);
    expect(result.entries.find((e) => e.name === 'ok.txt')).toMatchObject({ type: 'file', size: 4, modified: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/) });
    expect(result.entries.map((e) => e.name)).toEqual(expect.arrayContaining(['big.bin', 'huge.bin', 'notes.secret', 'ok.txt']));

    for (const p of ['/etc', '..', path.dirname(agent.dir)]) {
      const out = await command('ls', { path: p });
      expect(out, p).toMatchObject({ status: 'error' });
      expect(out.error, p).toContain('outside the sync folder');
    }
    // A symbolic link inside the sync folder must not lead out of it.
    const link = agent.file('escape');
    symlinkSync(os.tmpdir(), link);
    try {
      const out = await command('ls', { path: 'escape' });
      expect(out.status).toBe('error');
      expect(out.error).toContain('outside the sync folder');
    } finally {
      unlinkSync(link);
    }
    expect(await command('restore', { root_id: rootId, path: '/ok.txt' })).toMatchObject({ status: 'error', error: 'not supported by this agent yet' });
    expect(await command('unsubscribe', { root_id: rootId })).toMatchObject({ status: 'error', error: 'not supported by this agent yet' });
  });
});

describe('sessions of the machine', () => {
  it('a killed agent restarts as the machine; an ended session is renewed; a stop records last_disconnect', async () => {
    const before = machineRow();
    const families = machineFamilies();
    await agent.stop('SIGKILL');
    await sleep(1_100);
    await agent.start();
    const after = machineRow();
    expect(after.last_login! > before.last_login!).toBe(true);
    expect(machineFamilies()).toBe(families + 1);
    expectNoPassword();

    // The machine's session is revoked (not its key): the agent logs in again by itself.
    expect((await call(t, 'POST', 'oauth2/revoke', { form: { token: credentials().tokens.refresh_token } })).status).toBe(200);
    await agent.write('after-revoke.txt', 'still syncing');
    await eventually(() => serverFile('after-revoke.txt') !== undefined, 20_000, 'a sync after the session was revoked');
    expect(agent.pid).toBeDefined();

    expect(await agent.stop()).toBe(0);
    expect(machineRow().last_disconnect, agent.log).not.toBeNull();
    await agent.start();
  });

  it('a locked machine: the agent stops with exit 2 and says to log in; so does whoami', async () => {
    expect((await v1Update({ locked: 'true' })).status).toBe(200);
    const code = await agent.waitExit(20_000);
    expect(code).toBe(2);
    expect(agent.log).toContain('run axis-agent login');
    const who = await runCli(['--home', agent.home, 'whoami']);
    expect(who.code).toBe(2);
    expect(who.stderr).toContain('run axis-agent login');
  });
});
