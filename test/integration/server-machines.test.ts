// Machines on the reference server: the documented v2/v1 machine methods and the extensions
// (registration, the machine token grant, revocation, locking, disconnect, health reports,
// the effective policy, the command channel and automatic refresh_policy). Real server over
// HTTPS on loopback, real SQLite.
import { createHash, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPerson } from '../../src/server/accounts.js';
import { storeToken } from '../../src/server/credentials.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD, startTestServer, type TestServer } from '../helpers/server.js';
import { accessToken, call, type Res } from '../helpers/server-api.js';

const MACHINE_KEYS = [
  'agent_version',
  'bandwidth_throttle',
  'created',
  'dns_name',
  'guid',
  'health_report_period_minutes',
  'health_report_period_minutes_max',
  'health_report_period_minutes_min',
  'id',
  'last_disconnect',
  'last_login',
  'locked',
  'machine_type',
  'manual_collisions',
  'nickname',
  'os_type',
  'os_version',
  'throttle_exception_days',
  'throttle_exception_dow',
  'throttle_exception_end',
  'throttle_exception_start',
  'throttle_exception_throttle',
  'throttled',
  'type',
];

// 001's sample, in its order.
const V1_KEYS = [
  'id',
  'dns_name',
  'nickname',
  'last_login',
  'last_disconnect',
  'guid',
  'security_key',
  'created',
  'os_type',
  'os_version',
  'agent_version',
  'locked',
  'bandwidth_throttle',
  'throttle_exception_days',
  'throttle_exception_start',
  'throttle_exception_end',
  'throttle_exception_throttle',
  'throttled',
  'policy_id',
  'machine_type',
  'health_report_period_minutes',
  'manual_collisions',
  'throttle_exception_dow',
];

const API_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/;
const V1_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}\+00:00$/;

let t: TestServer;
let admin: string;
let orgId: number;
let seq = 0;

interface User {
  id: number;
  email: string;
  password: string;
  token: string;
}

interface Machine {
  id: number;
  guid: string;
  key: string;
  owner: User;
  /** An access token issued by the machine grant. */
  token: string;
}

/** A person made with the server's own account code, with a bearer token from its token store (no login round trip). */
async function createUser(opts: { site_admin?: boolean; company_id?: number } = {}): Promise<User> {
  seq++;
  const email = `machine-user${seq}@example.test`;
  const password = `password-${seq}`;
  const p = createPerson(t.server.ctx, { company_id: opts.company_id ?? orgId, email, password, site_admin: opts.site_admin });
  return { id: p.id, email, password, token: storeToken(t.server.ctx.db, t.server.ctx.clock, 'access', p.id, 3600) };
}

function registration(guid: string, extra: Record<string, string> = {}): Record<string, string> {
  return { guid, dns_name: `host-${seq}`, os_type: 'linux', os_version: '6.8.0', agent_version: '1.0.0', ...extra };
}

async function register(owner: User, extra: Record<string, string> = {}, guid: string = randomUUID()): Promise<Res> {
  return call(t, 'POST', 'api/2/machine/register', { token: owner.token, form: registration(guid, extra) });
}

async function machineGrant(guid: string, key: string): Promise<Res> {
  return call(t, 'POST', 'oauth2/token', { form: { grant_type: 'machine', guid, security_key: key } });
}

async function newMachine(owner?: User): Promise<Machine> {
  const o = owner ?? (await createUser());
  const guid = randomUUID();
  const reg = await register(o, {}, guid);
  expect(reg.status, JSON.stringify(reg.body)).toBe(200);
  const grant = await machineGrant(guid, reg.body.security_key);
  expect(grant.status, JSON.stringify(grant.body)).toBe(200);
  return { id: reg.body.machine.id, guid, key: reg.body.security_key, owner: o, token: grant.body.access_token };
}

async function getMachine(id: number, token = admin): Promise<Res> {
  return call(t, 'GET', `api/2/machine/${id}`, { token });
}

async function v1Session(email: string, password: string): Promise<string> {
  const res = await call(t, 'POST', '1/auth/', { form: { username: email, password } });
  expect(res.status).toBe(200);
  return res.body.session_token as string;
}

async function v1Update(session: string, form: Record<string, string>): Promise<Res> {
  return call(t, 'POST', '1/management/machine/update/', { form, searchParams: { session_token: session } });
}

async function poll(m: Machine, searchParams: Record<string, string> = {}): Promise<Res> {
  return call(t, 'GET', `api/2/machine/${m.id}/commands`, { token: m.token, searchParams });
}

function commandsOf(machineId: number): { type: string; params: string; status: string }[] {
  return t.server.ctx.db.prepare(`SELECT type, params, status FROM machine_commands WHERE machine_id = ? ORDER BY id`).all(machineId) as {
    type: string;
    params: string;
    status: string;
  }[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

beforeAll(async () => {
  t = await startTestServer();
  admin = await accessToken(t, ADMIN_EMAIL, ADMIN_PASSWORD);
  orgId = t.server.admin.defaultOrganizationId;
});

afterAll(async () => {
  await t.stop();
});

describe('registration (extension)', () => {
  it('creates the machine and shows the security key once; only its hash is stored', async () => {
    const owner = await createUser();
    const guid = randomUUID().toUpperCase();
    const res = await register(owner, { nickname: 'Work laptop', os_type: 'osx', os_version: 'macOS 14.5', agent_version: '2.0.1' }, guid);
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(['machine', 'security_key']);
    expect(res.body.security_key).toMatch(/^[A-Za-z0-9_-]{64}$/);
    const m = res.body.machine;
    expect(Object.keys(m).sort()).toEqual(MACHINE_KEYS);
    expect(m).toMatchObject({
      type: 'machine',
      guid: guid.toLowerCase(),
      dns_name: `host-${seq}`,
      nickname: 'Work laptop',
      os_type: 'osx',
      os_version: 'macOS 14.5',
      agent_version: '2.0.1',
      last_login: null,
      last_disconnect: null,
      locked: false,
      throttled: false,
      bandwidth_throttle: null,
      throttle_exception_dow: null,
      throttle_exception_days: null,
      throttle_exception_start: null,
      throttle_exception_end: null,
      throttle_exception_throttle: null,
      machine_type: 'agent',
      manual_collisions: true,
      health_report_period_minutes: null,
      health_report_period_minutes_min: null,
      health_report_period_minutes_max: null,
    });
    expect(m.created).toMatch(API_TIME);
    const row = t.server.ctx.db.prepare(`SELECT * FROM machines WHERE id = ?`).get(m.id) as Record<string, unknown>;
    expect(row.security_key_hash).toBe(createHash('sha256').update(res.body.security_key).digest('hex'));
    expect(Object.values(row)).not.toContain(res.body.security_key);
    expect(row.person_id).toBe(owner.id);
    expect(row.company_id).toBe(orgId);
  });

  it('validates its fields and needs a user', async () => {
    const owner = await createUser();
    const cases: [Record<string, string>, string][] = [
      [{ guid: '' }, 'Missing required parameter: guid'],
      [{ guid: 'not-a-uuid' }, 'Invalid value for parameter: guid'],
      [{ dns_name: '' }, 'Missing required parameter: dns_name'],
      [{ os_type: 'android' }, 'Invalid value for parameter: os_type'],
      [{ os_type: '' }, 'Missing required parameter: os_type'],
      [{ os_version: '' }, 'Missing required parameter: os_version'],
      [{ agent_version: '' }, 'Missing required parameter: agent_version'],
      [{ nickname: 'x'.repeat(256) }, 'Invalid value for parameter: nickname'],
    ];
    for (const [extra, description] of cases) {
      const res = await call(t, 'POST', 'api/2/machine/register', { token: owner.token, form: { ...registration(randomUUID()), ...extra } });
      expect(res.status, description).toBe(400);
      expect(res.body).toEqual({ error: 'invalid_request', error_description: description });
    }
    const anonymous = await call(t, 'POST', 'api/2/machine/register', { form: registration(randomUUID()) });
    expect(anonymous.status).toBe(401);
    expect(anonymous.body).toEqual({ error: 'access_denied' });
  });

  it('re-registering the same guid rotates the key and ends the old sessions; another person gets 409', async () => {
    const m = await newMachine();
    const again = await register(m.owner, { agent_version: '1.1.0', dns_name: 'renamed' }, m.guid);
    expect(again.status).toBe(200);
    expect(again.body.machine).toMatchObject({ id: m.id, agent_version: '1.1.0', dns_name: 'renamed' });
    expect(again.body.security_key).not.toBe(m.key);
    expect((await machineGrant(m.guid, m.key)).body).toEqual({ error: 'invalid_grant', error_description: 'Invalid machine credentials' });
    expect((await call(t, 'GET', 'api/2/person', { token: m.token })).status).toBe(401);
    expect((await machineGrant(m.guid, again.body.security_key)).status).toBe(200);

    const thief = await createUser();
    const taken = await register(thief, {}, m.guid);
    expect(taken.status).toBe(409);
    expect(taken.body).toEqual({ error: 'conflict', error_description: 'Value already in use for parameter: guid' });
  });
});

describe('machine credentials (extension grant)', () => {
  it('issues the standard token pair for the owner, records last_login, survives refresh', async () => {
    const owner = await createUser();
    const reg = await register(owner);
    const grant = await machineGrant(reg.body.machine.guid, reg.body.security_key);
    expect(grant.status).toBe(200);
    expect(Object.keys(grant.body).sort()).toEqual(['access_token', 'expires_in', 'refresh_token', 'scope', 'token_type']);
    expect(grant.body).toMatchObject({ token_type: 'Bearer', scope: 'full', expires_in: 3600 });
    expect(grant.headers['cache-control']).toBe('no-store');
    const me = await call(t, 'GET', 'api/2/person', { token: grant.body.access_token });
    expect(me.body.id).toBe(owner.id);
    const m = await getMachine(reg.body.machine.id);
    expect(m.body.last_login).toMatch(API_TIME);

    // Refreshed tokens are still the machine's: a machine-only route accepts them.
    const refreshed = await call(t, 'POST', 'oauth2/token', { form: { grant_type: 'refresh_token', refresh_token: grant.body.refresh_token } });
    expect(refreshed.status).toBe(200);
    const disc = await call(t, 'POST', `api/2/machine/${reg.body.machine.id}/disconnect`, { token: refreshed.body.access_token });
    expect(disc.status).toBe(200);
  });

  it('rejects wrong credentials and missing fields', async () => {
    const m = await newMachine();
    expect((await machineGrant(m.guid, `${m.key}x`)).body).toEqual({ error: 'invalid_grant', error_description: 'Invalid machine credentials' });
    expect((await machineGrant(randomUUID(), m.key)).status).toBe(400);
    const missing = await call(t, 'POST', 'oauth2/token', { form: { grant_type: 'machine', guid: m.guid } });
    expect(missing.status).toBe(400);
    expect(missing.body).toEqual({ error: 'invalid_request', error_description: 'Missing required parameter: security_key' });
  });

  it('revoke (owner or admin): tokens stop working, the key is refused with 401; re-registration restores', async () => {
    const m = await newMachine();
    const stranger = await createUser();
    expect((await call(t, 'POST', `api/2/machine/${m.id}/revoke`, { token: stranger.token })).status).toBe(403);
    expect((await call(t, 'POST', 'api/2/machine/999999/revoke', { token: m.owner.token })).body).toEqual({ error: 'not_found' });
    const revoked = await call(t, 'POST', `api/2/machine/${m.id}/revoke`, { token: m.owner.token });
    expect(revoked.status).toBe(200);
    expect(revoked.body).toEqual({ status: 'ok' });
    expect((await call(t, 'GET', 'api/2/person', { token: m.token })).status).toBe(401);
    const denied = await machineGrant(m.guid, m.key);
    expect(denied.status).toBe(401);
    expect(denied.body.error).toBe('access_denied');
    // The owner's own session is untouched, and re-registering issues a working key.
    expect((await call(t, 'GET', 'api/2/person', { token: m.owner.token })).status).toBe(200);
    const again = await register(m.owner, {}, m.guid);
    expect((await machineGrant(m.guid, again.body.security_key)).status).toBe(200);

    const other = await newMachine();
    expect((await call(t, 'POST', `api/2/machine/${other.id}/revoke`, { token: admin })).status).toBe(200);
    expect((await machineGrant(other.guid, other.key)).status).toBe(401);
  });

  it('locked (admin update): tokens stop working, the grant answers 401, re-registration is refused until unlocked', async () => {
    const m = await newMachine();
    const lock = await call(t, 'POST', `api/2/machine/${m.id}/update`, { token: admin, form: { locked: 'true' } });
    expect(lock.status).toBe(200);
    expect(lock.body.locked).toBe(true);
    expect((await call(t, 'GET', 'api/2/person', { token: m.token })).status).toBe(401);
    const denied = await machineGrant(m.guid, m.key);
    expect(denied.status).toBe(401);
    expect(denied.body).toEqual({ error: 'access_denied', error_description: 'The machine is locked.' });
    expect((await register(m.owner, {}, m.guid)).status).toBe(403);
    await call(t, 'POST', `api/2/machine/${m.id}/update`, { token: admin, form: { locked: 'false' } });
    expect((await machineGrant(m.guid, m.key)).status).toBe(200);
  });
});

describe('documented machine methods', () => {
  it('v2 get: the documented object, never the security key; owner and admins only', async () => {
    const m = await newMachine();
    for (const token of [m.owner.token, m.token, admin]) {
      const res = await getMachine(m.id, token);
      expect(res.status).toBe(200);
      expect(Object.keys(res.body).sort()).toEqual(MACHINE_KEYS);
      expect(res.body).toMatchObject({ type: 'machine', id: m.id, guid: m.guid });
    }
    const stranger = await createUser();
    expect(await getMachine(m.id, stranger.token)).toMatchObject({ status: 403, body: { error: 'forbidden' } });
    expect(await getMachine(999999)).toMatchObject({ status: 404, body: { error: 'not_found' } });
    expect((await call(t, 'GET', 'api/2/machine/abc', { token: admin })).status).toBe(404);
    expect(await call(t, 'GET', `api/2/machine/${m.id}`)).toMatchObject({ status: 401, body: { error: 'access_denied' } });
  });

  it('v1 get with ?session_token=: the sample shape, security_key null, v1 errors', async () => {
    const m = await newMachine();
    const session = await v1Session(m.owner.email, m.owner.password);
    const res = await call(t, 'GET', `1/management/machine/${m.id}/`, { searchParams: { session_token: session } });
    expect(res.status).toBe(200);
    expect(Object.keys(res.body)).toEqual(['status_code', 'code', 'result']);
    expect(res.body.status_code).toBe(200);
    expect(res.body.code).toBe('success');
    expect(Object.keys(res.body.result)).toEqual(V1_KEYS);
    expect(res.body.result).toMatchObject({ id: m.id, guid: m.guid, security_key: null, policy_id: null, machine_type: 'agent', manual_collisions: true, throttled: false });
    expect(res.body.result.created).toMatch(V1_TIME);
    expect(res.body.result.last_login).toMatch(V1_TIME);
    // Without the trailing slash, and with a bearer token.
    expect((await call(t, 'GET', `1/management/machine/${m.id}`, { token: m.owner.token })).body.result.id).toBe(m.id);

    const unknown = await call(t, 'GET', '1/management/machine/999999/', { searchParams: { session_token: session } });
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ status_code: 404, message: 'unknown machine with id 999999', code: 'error' });
    const anonymous = await call(t, 'GET', `1/management/machine/${m.id}/`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.body).toEqual({ status_code: 401, message: 'invalid or expired session_token', code: 'error' });
    const stranger = await createUser();
    const denied = await call(t, 'GET', `1/management/machine/${m.id}/`, { searchParams: { session_token: await v1Session(stranger.email, stranger.password) } });
    expect(denied.status).toBe(403);
    expect(denied.body).toEqual({ status_code: 403, message: `access denied to machine with id ${m.id}`, code: 'error' });
  });

  it('v1 update: sets every documented field (days override dow) and answers success', async () => {
    const m = await newMachine();
    const session = await v1Session(ADMIN_EMAIL, ADMIN_PASSWORD);
    const res = await v1Update(session, {
      id: String(m.id),
      bandwidth_throttle: '100',
      throttle_exception_dow: '[3,0,1,2]',
      throttle_exception_start: '22:00',
      throttle_exception_end: '06:00:30',
      throttle_exception_throttle: '1000',
      throttled: 'true',
      manual_collisions: 'false',
      health_report_period_minutes: '15',
      health_report_period_minutes_min: '5',
      health_report_period_minutes_max: '60',
    });
    expect(res.status, JSON.stringify(res.body)).toBe(200);
    expect(res.body).toMatchObject({ status_code: 200, code: 'success', id: m.id, uri: `/1/management/machine/${m.id}/` });
    expect(res.body.result).toMatchObject({ bandwidth_throttle: 100, throttle_exception_dow: [0, 1, 2, 3], throttled: true, manual_collisions: false });
    const v2 = (await getMachine(m.id)).body;
    expect(v2).toMatchObject({
      bandwidth_throttle: 100,
      throttle_exception_dow: [0, 1, 2, 3],
      throttle_exception_days: null,
      throttle_exception_start: '22:00',
      throttle_exception_end: '06:00:30',
      throttle_exception_throttle: 1000,
      throttled: true,
      manual_collisions: false,
      health_report_period_minutes: 15,
      health_report_period_minutes_min: 5,
      health_report_period_minutes_max: 60,
    });

    const weekends = await v1Update(session, { id: String(m.id), throttle_exception_days: 'weekends', throttle_exception_dow: '[0]' });
    expect(weekends.status).toBe(200);
    expect((await getMachine(m.id)).body).toMatchObject({ throttle_exception_days: 'weekends', throttle_exception_dow: [5, 6] });
    await v1Update(session, { id: String(m.id), throttle_exception_days: 'weekdays' });
    expect((await getMachine(m.id)).body).toMatchObject({ throttle_exception_days: 'weekdays', throttle_exception_dow: [0, 1, 2, 3, 4] });
    // An explicit list replaces the weekdays choice; "" clears values.
    await v1Update(session, { id: String(m.id), throttle_exception_dow: '6', bandwidth_throttle: '', throttle_exception_start: '' });
    expect((await getMachine(m.id)).body).toMatchObject({ throttle_exception_days: null, throttle_exception_dow: [6], bandwidth_throttle: null, throttle_exception_start: null });
  });

  it('v1 update: every documented validation error answers 400 in the v1 shape and changes nothing', async () => {
    const m = await newMachine();
    const session = await v1Session(ADMIN_EMAIL, ADMIN_PASSWORD);
    const setup = await v1Update(session, {
      id: String(m.id),
      bandwidth_throttle: '50',
      throttle_exception_dow: '[1]',
      throttle_exception_start: '08:00',
      throttle_exception_end: '09:00',
      health_report_period_minutes_min: '10',
      health_report_period_minutes_max: '20',
    });
    expect(setup.status).toBe(200);
    while ((await poll(m)).body.results.length) {
      // drain the refresh_policy the setup queued
    }
    const before = (await getMachine(m.id)).body;
    const commandsBefore = commandsOf(m.id).length;

    const DOW = 'throttle_exception_dow must be a parseable list of integers representing days of the week, with 0=Monday, 6=Sunday';
    const DAYS = "throttle_exception_days must be either 'weekdays' or 'weekends'";
    const time = (p: string) => `${p} must be a time value of the form 'HH:mm' or 'HH:mm:ss'`;
    const cases: [Record<string, string>, string][] = [
      [{ throttle_exception_dow: '[7]' }, DOW],
      [{ throttle_exception_dow: '[a]' }, DOW],
      [{ throttle_exception_dow: 'monday' }, DOW],
      [{ throttle_exception_dow: '[0,1' }, DOW],
      [{ throttle_exception_dow: '[-1]' }, DOW],
      [{ throttle_exception_dow: '[0,1,2,3,4,5,6,0]' }, DOW],
      [{ throttle_exception_days: 'holidays' }, DAYS],
      [{ throttle_exception_days: 'Weekdays' }, DAYS],
      // days overrides dow, but a bad dow is still refused
      [{ throttle_exception_days: 'weekends', throttle_exception_dow: '[9]' }, DOW],
      [{ throttle_exception_start: '25:00' }, time('throttle_exception_start')],
      [{ throttle_exception_start: '12:60' }, time('throttle_exception_start')],
      [{ throttle_exception_start: '1200' }, time('throttle_exception_start')],
      [{ throttle_exception_start: '12:00:61' }, time('throttle_exception_start')],
      [{ throttle_exception_end: '25:00' }, time('throttle_exception_end')],
      [{ throttle_exception_end: '12:60' }, time('throttle_exception_end')],
      [{ throttle_exception_end: '1200' }, time('throttle_exception_end')],
      [{ throttle_exception_end: '12:00:61' }, time('throttle_exception_end')],
      [{ throttle_exception_end: '7:00' }, time('throttle_exception_end')],
      [{ bandwidth_throttle: 'fast' }, 'bandwidth_throttle must be an integer'],
      [{ bandwidth_throttle: '1.5' }, 'bandwidth_throttle must be an integer'],
      [{ bandwidth_throttle: '-1' }, 'bandwidth_throttle must be an integer'],
      [{ throttle_exception_throttle: '10k' }, 'throttle_exception_throttle must be an integer'],
      [{ throttled: 'maybe' }, "throttled must be either 'true' or 'false'"],
      [{ manual_collisions: 'yes' }, "manual_collisions must be either 'true' or 'false'"],
      [{ health_report_period_minutes: '0' }, 'health_report_period_minutes must be a positive integer'],
      [{ health_report_period_minutes_max: 'often' }, 'health_report_period_minutes_max must be a positive integer'],
      [{ health_report_period_minutes_min: '30' }, 'health_report_period_minutes_min must not be greater than health_report_period_minutes_max'],
      [{ health_report_period_minutes_min: '5', health_report_period_minutes_max: '4' }, 'health_report_period_minutes_min must not be greater than health_report_period_minutes_max'],
      // valid fields next to an invalid one are not applied either
      [{ bandwidth_throttle: '5', throttled: 'true', throttle_exception_dow: '[0]', throttle_exception_start: '25:00' }, time('throttle_exception_start')],
    ];
    for (const [form, message] of cases) {
      const res = await v1Update(session, { id: String(m.id), ...form });
      expect(res.status, JSON.stringify(form)).toBe(400);
      expect(res.body, JSON.stringify(form)).toEqual({ status_code: 400, message, code: 'error' });
    }
    expect((await getMachine(m.id)).body).toEqual(before);
    expect(commandsOf(m.id)).toHaveLength(commandsBefore);

    expect((await v1Update(session, {})).body).toEqual({ status_code: 400, message: 'missing required field id', code: 'error' });
    expect((await v1Update(session, { id: 'abc' })).body).toEqual({ status_code: 400, message: 'id must be an integer', code: 'error' });
    const unknown = await v1Update(session, { id: '999999', bandwidth_throttle: '1' });
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ status_code: 404, message: 'unknown machine with id 999999', code: 'error' });
    // The owner may read the machine but not change it.
    const owner = await v1Update(await v1Session(m.owner.email, m.owner.password), { id: String(m.id), bandwidth_throttle: '1' });
    expect(owner.status).toBe(403);
    expect(owner.body).toEqual({ status_code: 403, message: `access denied to machine with id ${m.id}`, code: 'error' });
    expect((await getMachine(m.id)).body).toEqual(before);
  });

  it('v2 update (extension): same rules, v2 error bodies, admins only', async () => {
    const m = await newMachine();
    const before = (await getMachine(m.id)).body;
    const bad = await call(t, 'POST', `api/2/machine/${m.id}/update`, { token: admin, form: { bandwidth_throttle: '7', throttle_exception_dow: '[7]' } });
    expect(bad.status).toBe(400);
    expect(bad.body).toEqual({ error: 'invalid_request', error_description: 'Invalid value for parameter: throttle_exception_dow' });
    const minMax = await call(t, 'POST', `api/2/machine/${m.id}/update`, { token: admin, json: { health_report_period_minutes_min: 9, health_report_period_minutes_max: 3 } });
    expect(minMax.body).toEqual({ error: 'invalid_request', error_description: 'Invalid value for parameter: health_report_period_minutes_min' });
    expect((await getMachine(m.id)).body).toEqual(before);

    const ok = await call(t, 'POST', `api/2/machine/${m.id}/update`, {
      token: admin,
      json: { throttled: true, bandwidth_throttle: 64, throttle_exception_dow: [4, 5], throttle_exception_start: '18:30', throttle_exception_end: '07:00', nickname: 'Build box' },
    });
    expect(ok.status).toBe(200);
    expect(Object.keys(ok.body).sort()).toEqual(MACHINE_KEYS);
    expect(ok.body).toMatchObject({ throttled: true, bandwidth_throttle: 64, throttle_exception_dow: [4, 5], throttle_exception_start: '18:30', nickname: 'Build box' });

    expect(await call(t, 'POST', `api/2/machine/${m.id}/update`, { token: m.owner.token, form: { throttled: 'false' } })).toMatchObject({ status: 403, body: { error: 'forbidden' } });
    expect((await call(t, 'POST', 'api/2/machine/999999/update', { token: admin, form: { throttled: 'false' } })).status).toBe(404);
  });

  it('site admins administer the machines of their own organization only', async () => {
    const m = await newMachine();
    const siteAdmin = await createUser({ site_admin: true });
    const up = await call(t, 'POST', `api/2/machine/${m.id}/update`, { token: siteAdmin.token, form: { bandwidth_throttle: '12' } });
    expect(up.status).toBe(200);

    const other = await call(t, 'POST', `api/2/organization/${orgId}/organizations/create`, {
      token: admin,
      form: { name: `Other ${seq}`, email: 'other@example.test', slug: `other-${seq}` },
    });
    expect(other.status).toBe(200);
    const foreignAdmin = await createUser({ site_admin: true, company_id: other.body.id });
    expect((await getMachine(m.id, foreignAdmin.token)).status).toBe(403);
    expect((await call(t, 'POST', `api/2/machine/${m.id}/update`, { token: foreignAdmin.token, form: { bandwidth_throttle: '1' } })).status).toBe(403);
  });

  it("lists an organization's machines 100 at a time", async () => {
    const org = await call(t, 'POST', `api/2/organization/${orgId}/organizations/create`, {
      token: admin,
      form: { name: `Fleet ${seq}`, email: 'fleet@example.test', slug: `fleet-${seq}` },
    });
    expect(org.status).toBe(200);
    const fleetOrg = org.body.id as number;
    const owner = await createUser({ company_id: fleetOrg });
    const ids: number[] = [];
    for (let batch = 0; batch < 7; batch++) {
      const regs = await Promise.all(Array.from({ length: 15 }, () => register(owner)));
      for (const r of regs) {
        expect(r.status).toBe(200);
        ids.push(r.body.machine.id);
      }
    }
    ids.sort((a, b) => a - b);
    const first = await call(t, 'GET', `api/2/organization/${fleetOrg}/machines`, { token: admin });
    expect(first.status).toBe(200);
    expect(Object.keys(first.body).sort()).toEqual(['offset', 'results', 'total']);
    expect(first.body.offset).toBe(0);
    expect(first.body.total).toBe(105);
    expect(first.body.results).toHaveLength(100);
    expect(first.body.results.map((x: { id: number }) => x.id)).toEqual(ids.slice(0, 100));
    expect(Object.keys(first.body.results[0]).sort()).toEqual(MACHINE_KEYS);
    const second = await call(t, 'GET', `api/2/organization/${fleetOrg}/machines`, { token: admin, searchParams: { offset: '100' } });
    expect(second.body).toMatchObject({ offset: 100, total: 105 });
    expect(second.body.results.map((x: { id: number }) => x.id)).toEqual(ids.slice(100));
    expect((await call(t, 'GET', `api/2/organization/${fleetOrg}/machines`, { token: admin, searchParams: { offset: '500' } })).body.results).toEqual([]);
    expect((await call(t, 'GET', `api/2/organization/${fleetOrg}/machines`, { token: admin, searchParams: { offset: '-1' } })).status).toBe(400);
    // Not this organization's admin / no such organization.
    expect((await call(t, 'GET', `api/2/organization/${fleetOrg}/machines`, { token: owner.token })).status).toBe(403);
    expect((await call(t, 'GET', 'api/2/organization/999999/machines', { token: admin })).status).toBe(404);
    // A machine in another organization is not listed.
    const elsewhere = await newMachine();
    const all = await call(t, 'GET', `api/2/organization/${fleetOrg}/machines`, { token: admin, searchParams: { offset: '100' } });
    expect(all.body.results.map((x: { id: number }) => x.id)).not.toContain(elsewhere.id);
  });

  it('a machine follows its owner: moved with the person, deleted with the person', async () => {
    const m = await newMachine();
    const org = await call(t, 'POST', `api/2/organization/${orgId}/organizations/create`, {
      token: admin,
      form: { name: `Moved ${seq}`, email: 'moved@example.test', slug: `moved-${seq}` },
    });
    const moved = await call(t, 'POST', `api/2/person/${m.owner.id}/update`, { token: admin, form: { company_id: String(org.body.id) } });
    expect(moved.status).toBe(200);
    const list = await call(t, 'GET', `api/2/organization/${org.body.id}/machines`, { token: admin });
    expect(list.body.results.map((x: { id: number }) => x.id)).toEqual([m.id]);
    // Its policy now comes from another organization: the agent is told to refresh.
    expect((await poll(m)).body.results.map((c: { type: string; params: unknown }) => [c.type, c.params])).toEqual([['refresh_policy', { reason: 'owner_moved' }]]);
    const del = await call(t, 'POST', `api/2/person/${m.owner.id}/delete`, { token: admin });
    expect(del.status).toBe(200);
    expect((await getMachine(m.id)).status).toBe(404);
  });
});

describe('health reports and status (extension + documented status)', () => {
  const report = {
    subscriptions: [
      { excl_files: 1, rsub_id: 1234, synced: true, synced_folder: 'C:\\Example' },
      { excl_files: 0, rsub_id: 7, synced: false, synced_folder: '/home/u/Team' },
    ],
    synced: false,
    transfers: [{ path: '/a.txt', direction: 'up', bytes: 10, total: 100 }],
  };

  it('the machine reports; /status shows the latest report in the documented shape', async () => {
    const m = await newMachine();
    const empty = await call(t, 'GET', `api/2/machine/${m.id}/status`, { token: m.owner.token });
    expect(empty.status).toBe(200);
    expect(empty.body).toEqual({ results: { subscriptions: [], synced: false, transfers: [] } });

    const post = await call(t, 'POST', `api/2/machine/${m.id}/health`, { token: m.token, json: report });
    expect(post.status).toBe(200);
    expect(post.body).toEqual({ status: 'ok' });
    const status = await call(t, 'GET', `api/2/machine/${m.id}/status`, { token: admin });
    expect(status.body).toEqual({ results: report });

    const synced = { subscriptions: [{ excl_files: 0, rsub_id: 1234, synced: true, synced_folder: 'C:\\Example' }], synced: true };
    await call(t, 'POST', `api/2/machine/${m.id}/health`, { token: m.token, json: synced });
    expect((await call(t, 'GET', `api/2/machine/${m.id}/status`, { token: m.owner.token })).body).toEqual({ results: { ...synced, transfers: [] } });

    const stranger = await createUser();
    expect((await call(t, 'GET', `api/2/machine/${m.id}/status`, { token: stranger.token })).status).toBe(403);
    expect((await call(t, 'GET', 'api/2/machine/999999/status', { token: admin })).status).toBe(404);
  });

  it('validates reports and accepts them only from the machine itself', async () => {
    const m = await newMachine();
    const bad: [unknown, string][] = [
      [{ synced: true }, 'Missing required parameter: subscriptions'],
      [{ subscriptions: [] }, 'Missing required parameter: synced'],
      [{ subscriptions: {}, synced: true }, 'Invalid value for parameter: subscriptions'],
      [{ subscriptions: [{ excl_files: 0, rsub_id: '1', synced: true, synced_folder: 'x' }], synced: true }, 'Invalid value for parameter: subscriptions'],
      [{ subscriptions: [{ excl_files: -1, rsub_id: 1, synced: true, synced_folder: 'x' }], synced: true }, 'Invalid value for parameter: subscriptions'],
      [{ subscriptions: [{ excl_files: 0, rsub_id: 1, synced: 'yes', synced_folder: 'x' }], synced: true }, 'Invalid value for parameter: subscriptions'],
      [{ subscriptions: [{ excl_files: 0, rsub_id: 1, synced: true }], synced: true }, 'Invalid value for parameter: subscriptions'],
      [{ subscriptions: [], synced: 'true' }, 'Invalid value for parameter: synced'],
      [{ subscriptions: [], synced: true, transfers: [1] }, 'Invalid value for parameter: transfers'],
    ];
    for (const [json, description] of bad) {
      const res = await call(t, 'POST', `api/2/machine/${m.id}/health`, { token: m.token, json });
      expect(res.status, description).toBe(400);
      expect(res.body).toEqual({ error: 'invalid_request', error_description: description });
    }
    const ok = { subscriptions: [], synced: true };
    expect((await call(t, 'POST', `api/2/machine/${m.id}/health`, { token: m.owner.token, json: ok })).status).toBe(403);
    expect((await call(t, 'POST', `api/2/machine/${m.id}/health`, { token: admin, json: ok })).status).toBe(403);
    const other = await newMachine(m.owner);
    expect((await call(t, 'POST', `api/2/machine/${m.id}/health`, { token: other.token, json: ok })).status).toBe(403);
    expect((await call(t, 'GET', `api/2/machine/${m.id}/status`, { token: admin })).body.results.synced).toBe(false);
  });

  it('keeps the last 20 reports', async () => {
    const m = await newMachine();
    for (let i = 0; i < 25; i++) {
      const res = await call(t, 'POST', `api/2/machine/${m.id}/health`, { token: m.token, json: { subscriptions: [{ excl_files: i, rsub_id: 1, synced: true, synced_folder: '/x' }], synced: true } });
      expect(res.status).toBe(200);
    }
    const n = (t.server.ctx.db.prepare(`SELECT COUNT(*) AS n FROM machine_health WHERE machine_id = ?`).get(m.id) as { n: number }).n;
    expect(n).toBe(20);
    expect((await call(t, 'GET', `api/2/machine/${m.id}/status`, { token: admin })).body.results.subscriptions[0].excl_files).toBe(24);
  });

  it('disconnect (extension) sets last_disconnect; only the machine may say so', async () => {
    const m = await newMachine();
    expect((await call(t, 'POST', `api/2/machine/${m.id}/disconnect`, { token: m.owner.token })).status).toBe(403);
    expect((await getMachine(m.id)).body.last_disconnect).toBeNull();
    const res = await call(t, 'POST', `api/2/machine/${m.id}/disconnect`, { token: m.token });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
    expect((await getMachine(m.id)).body.last_disconnect).toMatch(API_TIME);
  });
});

describe('effective policy (extension)', () => {
  it('merges the machine over its organization', async () => {
    const org = await call(t, 'POST', `api/2/organization/${orgId}/organizations/create`, {
      token: admin,
      form: {
        name: `Throttled ${seq}`,
        email: 'thr@example.test',
        slug: `throttled-${seq}`,
        throttled: 'true',
        bandwidth_throttle: '200',
        throttle_exception_days: 'weekends',
        throttle_exception_start: '00:00',
        throttle_exception_end: '00:00',
        throttle_exception_throttle: '0',
      },
    });
    expect(org.status).toBe(200);
    const owner = await createUser({ company_id: org.body.id });
    const m = await newMachine(owner);
    await call(t, 'POST', `api/2/machine/${m.id}/update`, { token: admin, form: { bandwidth_throttle: '50' } });
    const res = await call(t, 'GET', `api/2/machine/${m.id}/policy`, { token: m.token });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      machine_id: m.id,
      company_id: org.body.id,
      throttle: {
        throttled: true,
        bandwidth_throttle: 50,
        throttle_exception_dow: [5, 6],
        throttle_exception_days: 'weekends',
        throttle_exception_start: '00:00',
        throttle_exception_end: '00:00',
        throttle_exception_throttle: 0,
      },
      machine_throttle: { throttled: false, bandwidth_throttle: 50, throttle_exception_dow: null },
      organization_throttle: { throttled: true, bandwidth_throttle: 200, throttle_exception_dow: [5, 6], throttle_exception_days: 'weekends' },
      health_report_period_minutes: null,
      manual_collisions: true,
      locked: false,
    });
    expect(res.body.company_policy).toMatchObject({ type: 'policy', company_id: org.body.id, max_file_size: 300 });
    const stranger = await createUser();
    expect((await call(t, 'GET', `api/2/machine/${m.id}/policy`, { token: stranger.token })).status).toBe(403);
  });
});

describe('command channel (extension)', () => {
  it('admins queue; the machine polls (delivered once) and reports; anyone allowed reads the state', async () => {
    const m = await newMachine();
    const q = await call(t, 'POST', `api/2/machine/${m.id}/commands`, { token: admin, json: { type: 'ls', params: { path: 'C:\\' } } });
    expect(q.status, JSON.stringify(q.body)).toBe(200);
    expect(Object.keys(q.body).sort()).toEqual(['completed', 'created', 'created_by', 'delivered', 'error', 'id', 'machine_id', 'params', 'result', 'status', 'type']);
    expect(q.body).toMatchObject({ machine_id: m.id, type: 'ls', params: { path: 'C:\\' }, status: 'pending', delivered: null, completed: null, result: null, error: null });
    expect(q.body.created).toMatch(API_TIME);

    // HEAD answers like GET but consumes nothing.
    const head = await t.http(`api/2/machine/${m.id}/commands`, { method: 'HEAD', headers: { authorization: `Bearer ${m.token}` } });
    expect(head.statusCode).toBe(200);
    const got = await poll(m);
    expect(got.status).toBe(200);
    expect(got.body.results).toHaveLength(1);
    expect(got.body.results[0]).toMatchObject({ id: q.body.id, type: 'ls', status: 'delivered' });
    expect(got.body.results[0].delivered).toMatch(API_TIME);
    expect((await poll(m)).body).toEqual({ results: [] });
    // After a restart the agent can fetch what it received but never answered.
    expect((await poll(m, { include_delivered: 'true' })).body.results.map((c: { id: number }) => c.id)).toEqual([q.body.id]);

    const done = await call(t, 'POST', `api/2/machine/${m.id}/commands/${q.body.id}/result`, { token: m.token, json: { status: 'ok', result: { entries: ['Example1', 'Example2'] } } });
    expect(done.status).toBe(200);
    expect(done.body).toMatchObject({ status: 'ok', result: { entries: ['Example1', 'Example2'] }, error: null });
    expect(done.body.completed).toMatch(API_TIME);
    for (const token of [admin, m.owner.token, m.token]) {
      expect((await call(t, 'GET', `api/2/machine/${m.id}/commands/${q.body.id}`, { token })).body).toEqual(done.body);
    }
    const twice = await call(t, 'POST', `api/2/machine/${m.id}/commands/${q.body.id}/result`, { token: m.token, json: { status: 'ok' } });
    expect(twice.status).toBe(409);
    expect(twice.body).toEqual({ error: 'conflict', error_description: 'The command already has a result.' });

    const failing = await call(t, 'POST', `api/2/machine/${m.id}/commands`, { token: admin, json: { type: 'restore', params: { root_id: 3, path: '/restore/here' } } });
    const noMessage = await call(t, 'POST', `api/2/machine/${m.id}/commands/${failing.body.id}/result`, { token: m.token, json: { status: 'error' } });
    expect(noMessage.body).toEqual({ error: 'invalid_request', error_description: 'Missing required parameter: error' });
    const badStatus = await call(t, 'POST', `api/2/machine/${m.id}/commands/${failing.body.id}/result`, { token: m.token, json: { status: 'done' } });
    expect(badStatus.body).toEqual({ error: 'invalid_request', error_description: 'Invalid value for parameter: status' });
    const failed = await call(t, 'POST', `api/2/machine/${m.id}/commands/${failing.body.id}/result`, { token: m.token, form: { status: 'error', error: 'No such backup' } });
    expect(failed.body).toMatchObject({ status: 'error', error: 'No such backup', result: null });
    expect(failed.body.delivered).toMatch(API_TIME);
  });

  it('validates commands and who may use each route', async () => {
    const m = await newMachine();
    const bad: [unknown, string][] = [
      [{}, 'Missing required parameter: type'],
      [{ type: 'format_disk' }, 'Invalid value for parameter: type'],
      [{ type: 'ls', params: [1] }, 'Invalid value for parameter: params'],
      [{ type: 'ls', params: 'not json' }, 'Invalid value for parameter: params'],
      [{ type: 'ls', params: { path: 5 } }, 'Invalid value for parameter: params.path'],
      [{ type: 'restore', params: { path: '/x' } }, 'Missing required parameter: params.root_id'],
      [{ type: 'mapping_create', params: { root_id: 1 } }, 'Missing required parameter: params.path'],
      [{ type: 'mapping_delete', params: { mapping_id: 'one' } }, 'Invalid value for parameter: params.mapping_id'],
      [{ type: 'subscribe', params: { root_id: 0 } }, 'Invalid value for parameter: params.root_id'],
      [{ type: 'unsubscribe', params: { root_id: 2, remove_files: 'yes' } }, 'Invalid value for parameter: params.remove_files'],
    ];
    for (const [json, description] of bad) {
      const res = await call(t, 'POST', `api/2/machine/${m.id}/commands`, { token: admin, json });
      expect(res.status, description).toBe(400);
      expect(res.body).toEqual({ error: 'invalid_request', error_description: description });
    }
    expect(commandsOf(m.id)).toEqual([]);
    for (const json of [
      { type: 'refresh_policy' },
      { type: 'mapping_create', params: { root_id: 4, path: 'D:\\Share', username: 'u', password: 'p' } },
      { type: 'mapping_delete', params: { mapping_id: 9 } },
      { type: 'subscribe', params: { root_id: 4, all_subscriptions: true } },
      { type: 'unsubscribe', params: { root_id: 4, remove_files: true } },
      { type: 'restore', params: { root_id: 4, path: '/r', to_machine_id: m.id } },
    ]) {
      expect((await call(t, 'POST', `api/2/machine/${m.id}/commands`, { token: admin, json })).status, JSON.stringify(json)).toBe(200);
    }
    expect((await poll(m)).body.results.map((c: { type: string }) => c.type)).toEqual(['refresh_policy', 'mapping_create', 'mapping_delete', 'subscribe', 'unsubscribe', 'restore']);

    // Queue: admins only. Poll and results: the machine's own token only.
    expect((await call(t, 'POST', `api/2/machine/${m.id}/commands`, { token: m.owner.token, json: { type: 'ls' } })).status).toBe(403);
    expect((await call(t, 'GET', `api/2/machine/${m.id}/commands`, { token: m.owner.token })).status).toBe(403);
    expect((await call(t, 'GET', `api/2/machine/${m.id}/commands`, { token: admin })).status).toBe(403);
    const other = await newMachine();
    expect((await call(t, 'GET', `api/2/machine/${m.id}/commands`, { token: other.token })).status).toBe(403);
    const c = await call(t, 'POST', `api/2/machine/${other.id}/commands`, { token: admin, json: { type: 'ls' } });
    expect((await call(t, 'POST', `api/2/machine/${m.id}/commands/${c.body.id}/result`, { token: m.token, json: { status: 'ok' } })).status).toBe(404);
    expect((await call(t, 'GET', `api/2/machine/${m.id}/commands/${c.body.id}`, { token: admin })).status).toBe(404);
    expect((await call(t, 'POST', `api/2/machine/${other.id}/commands/${c.body.id}/result`, { token: admin, json: { status: 'ok' } })).status).toBe(403);
    expect((await call(t, 'GET', `api/2/machine/${m.id}/commands`, { token: m.token, searchParams: { wait: '61' } })).status).toBe(400);
  });

  it('a waiting poll is woken by a new command; a waiting reader by the result', async () => {
    const m = await newMachine();
    const waiting = poll(m, { wait: '20' });
    await sleep(300);
    const q = await call(t, 'POST', `api/2/machine/${m.id}/commands`, { token: admin, json: { type: 'refresh_policy' } });
    const woke = await waiting;
    expect(woke.status).toBe(200);
    expect(woke.body.results.map((c: { id: number }) => c.id)).toEqual([q.body.id]);

    const reading = call(t, 'GET', `api/2/machine/${m.id}/commands/${q.body.id}`, { token: admin, searchParams: { wait: '20' } });
    await sleep(300);
    await call(t, 'POST', `api/2/machine/${m.id}/commands/${q.body.id}/result`, { token: m.token, json: { status: 'ok', result: 'refreshed' } });
    const read = await reading;
    expect(read.body).toMatchObject({ id: q.body.id, status: 'ok', result: 'refreshed' });

    // With nothing queued, a short wait ends empty.
    expect((await poll(m, { wait: '1' })).body).toEqual({ results: [] });
  });
});

describe('automatic refresh_policy', () => {
  it('a machine update queues one refresh_policy (coalesced until delivered); a rejected one queues none', async () => {
    const m = await newMachine();
    const session = await v1Session(ADMIN_EMAIL, ADMIN_PASSWORD);
    expect((await v1Update(session, { id: String(m.id), bandwidth_throttle: '10' })).status).toBe(200);
    expect((await call(t, 'POST', `api/2/machine/${m.id}/update`, { token: admin, form: { throttled: 'true' } })).status).toBe(200);
    expect((await v1Update(session, { id: String(m.id), throttle_exception_start: '99:99' })).status).toBe(400);
    const got = await poll(m);
    expect(got.body.results).toHaveLength(1);
    expect(got.body.results[0]).toMatchObject({ type: 'refresh_policy', params: { reason: 'machine_update' }, created_by: null });
    // Once delivered, the next change queues a new one.
    await v1Update(session, { id: String(m.id), bandwidth_throttle: '20' });
    expect((await poll(m)).body.results.map((c: { type: string }) => c.type)).toEqual(['refresh_policy']);
  });

  it("organization throttle and policy updates reach every machine of the organization; other fields don't", async () => {
    const org = await call(t, 'POST', `api/2/organization/${orgId}/organizations/create`, {
      token: admin,
      form: { name: `Refresh ${seq}`, email: 'refresh@example.test', slug: `refresh-${seq}` },
    });
    const owner = await createUser({ company_id: org.body.id });
    const a = await newMachine(owner);
    const b = await newMachine(owner);
    const outsider = await newMachine();

    const waiting = poll(a, { wait: '20' });
    await sleep(300);
    const up = await call(t, 'POST', `api/2/organization/${org.body.id}/update`, { token: admin, form: { throttled: 'true', bandwidth_throttle: '300' } });
    expect(up.status).toBe(200);
    const woke = await waiting;
    expect(woke.body.results).toHaveLength(1);
    expect(woke.body.results[0]).toMatchObject({ type: 'refresh_policy', params: { reason: 'organization_update' } });
    expect((await poll(b)).body.results.map((c: { params: unknown }) => c.params)).toEqual([{ reason: 'organization_update' }]);
    expect((await poll(outsider)).body.results).toEqual([]);

    expect((await call(t, 'POST', `api/2/organization/${org.body.id}/update`, { token: admin, form: { description: 'no throttle here' } })).status).toBe(200);
    expect((await poll(a)).body.results).toEqual([]);

    expect((await call(t, 'POST', `api/2/organization/${org.body.id}/policy/update`, { token: admin, form: { max_file_size: '10' } })).status).toBe(200);
    expect((await poll(a)).body.results.map((c: { params: unknown }) => c.params)).toEqual([{ reason: 'policy_update' }]);
    expect((await poll(b)).body.results.map((c: { params: unknown }) => c.params)).toEqual([{ reason: 'policy_update' }]);

    // A rejected organization update queues nothing.
    expect((await call(t, 'POST', `api/2/organization/${org.body.id}/update`, { token: admin, form: { throttle_exception_dow: '[7]' } })).status).toBe(400);
    expect((await poll(a)).body.results).toEqual([]);
  });
});
