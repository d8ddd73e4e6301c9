// People and organizations on the reference server (API v2 person / organization methods) and
// v1 account/info and metadata. Real server over HTTPS on loopback.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_EMAIL, ADMIN_PASSWORD, startTestServer, type TestServer } from '../helpers/server.js';
import { accessToken, call, lastMessageTo, oauthLogin } from '../helpers/server-api.js';

const PERSON_KEYS = [
  'can_share',
  'company_id',
  'company_policy',
  'display_name',
  'email',
  'first_name',
  'id',
  'last_name',
  'root_id',
  'roots',
  'space_quota',
  'space_quota_formatted',
  'space_usage',
  'space_usage_formatted',
  'type',
  'username',
];

const ORGANIZATION_KEYS = [
  'active',
  'bandwidth_throttle',
  'created',
  'default_encryption',
  'description',
  'email',
  'email_server_id',
  'email_templates',
  'hostname',
  'id',
  'name',
  'parent_id',
  'plan_id',
  'policy',
  'privacy_mode',
  'share_disclaimer',
  'slug',
  'subscription_uuid',
  'throttle_exception_days',
  'throttle_exception_dow',
  'throttle_exception_end',
  'throttle_exception_start',
  'throttle_exception_throttle',
  'throttled',
  'trial_until',
  'type',
];

let t: TestServer;
let admin: string;
let seq = 0;

interface User {
  id: number;
  email: string;
  password: string;
  token: string;
  root_id: number | null;
}

async function createUser(form: Record<string, string> = {}, by = admin): Promise<User> {
  seq++;
  const email = form.email ?? `person${seq}@example.test`;
  const password = form.password ?? `password-${seq}`;
  const res = await call(t, 'POST', 'api/2/person/create', { token: by, form: { first_name: 'Pat', last_name: `No${seq}`, ...form, email, password } });
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  return { id: res.body.id, email, password, token: await accessToken(t, email, password), root_id: res.body.root_id };
}

async function getPerson(id: number | string, token = admin) {
  return call(t, 'GET', `api/2/person/${id}`, { token });
}

async function getOrg(id: number, token = admin) {
  return call(t, 'GET', `api/2/organization/${id}`, { token });
}

beforeAll(async () => {
  t = await startTestServer();
  admin = await accessToken(t, ADMIN_EMAIL, ADMIN_PASSWORD);
});

afterAll(async () => {
  await t.stop();
});

describe('person', () => {
  it('version needs no authentication; person does', async () => {
    const v = await call(t, 'GET', 'api/2/version');
    expect(v.status).toBe(200);
    expect(v.body).toEqual({ version: '2.0.9' });
    const p = await call(t, 'GET', 'api/2/person');
    expect(p.status).toBe(401);
    expect(p.body).toEqual({ error: 'access_denied' });
    const bad = await call(t, 'GET', 'api/2/person', { token: 'garbage' });
    expect(bad.status).toBe(401);
  });

  it('renders the documented person object with root objects and the company policy', async () => {
    const res = await call(t, 'GET', 'api/2/person', { token: admin });
    expect(res.status).toBe(200);
    const p = res.body;
    // The documented keys, plus the space_available extension on one's own person object (docs/protocol.md 3.5).
    expect(Object.keys(p).sort()).toEqual([...PERSON_KEYS, 'space_available'].sort());
    expect(p.space_available).toBe(2199023255552); // the default organization quota, nothing used
    expect(p).toMatchObject({
      type: 'person',
      email: ADMIN_EMAIL,
      username: '',
      company_id: 2,
      first_name: 'System',
      last_name: 'Administrator',
      display_name: 'System Administrator',
      space_quota: null,
      space_quota_formatted: null,
      space_usage: 0,
      space_usage_formatted: '0b',
      can_share: true,
    });
    expect(p.roots).toEqual([
      { type: 'root', id: p.root_id, name: 'Files', path: '/', is_locked: false, root_type: 'sync', space_used: 0, space_used_formatted: '0b' },
    ]);
    expect(p.company_policy).toMatchObject({ type: 'policy', company_id: 2, deactivate_token_frequency: 30, max_file_size: 300, user_create_shares: true });
  });

  it('create: admin only; validates fields; refuses a duplicate email', async () => {
    const u = await createUser({ space_quota: '10000', mobile_phone: '+44 20 7946 0000' });
    const res = await getPerson(u.id);
    expect(res.body).toMatchObject({ id: u.id, email: u.email, company_id: 2, space_quota: 10000, space_quota_formatted: '9.77k' });
    expect(res.body.roots).toHaveLength(1);

    const byUser = await call(t, 'POST', 'api/2/person/create', { token: u.token, form: { email: 'x1@example.test', password: 'pw-123456' } });
    expect(byUser.status).toBe(403);
    expect(byUser.body).toEqual({ error: 'forbidden' });

    const missing = await call(t, 'POST', 'api/2/person/create', { token: admin, form: { password: 'pw-123456' } });
    expect(missing.status).toBe(400);
    expect(missing.body).toEqual({ error: 'invalid_request', error_description: 'Missing required parameter: email' });
    const noPw = await call(t, 'POST', 'api/2/person/create', { token: admin, form: { email: 'x2@example.test' } });
    expect(noPw.body).toEqual({ error: 'invalid_request', error_description: 'Missing required parameter: password' });
    const badEmail = await call(t, 'POST', 'api/2/person/create', { token: admin, form: { email: 'not-an-email', password: 'pw-123456' } });
    expect(badEmail.body).toEqual({ error: 'invalid_request', error_description: 'Invalid value for parameter: email' });
    const badQuota = await call(t, 'POST', 'api/2/person/create', { token: admin, form: { email: 'x3@example.test', password: 'pw-123456', space_quota: 'lots' } });
    expect(badQuota.body).toEqual({ error: 'invalid_request', error_description: 'Invalid value for parameter: space_quota' });
    const dup = await call(t, 'POST', 'api/2/person/create', { token: admin, form: { email: u.email.toUpperCase(), password: 'pw-123456' } });
    expect(dup.status).toBe(409);
    expect(dup.body).toEqual({ error: 'conflict', error_description: 'Value already in use for parameter: email' });
    // None of the refused requests created anyone.
    for (const email of ['x1@example.test', 'x2@example.test', 'x3@example.test', 'not-an-email']) {
      expect((await getPerson(email)).status).toBe(404);
    }
  });

  it('create with generate_password mails the password; create_root=false makes no root until roots/create', async () => {
    const res = await call(t, 'POST', 'api/2/person/create', { token: admin, form: { email: 'gen@example.test', generate_password: 'true', create_root: 'false' } });
    expect(res.status).toBe(200);
    expect(res.body.root_id).toBeNull();
    expect(res.body.roots).toEqual([]);
    const mail = lastMessageTo(t, 'gen@example.test');
    const password = /Your password is: (\S+)/.exec(mail.body)?.[1];
    expect(password).toBeTruthy();
    const token = await accessToken(t, 'gen@example.test', password!);

    const root = await call(t, 'POST', `api/2/person/${res.body.id}/roots/create`, { token });
    expect(root.status).toBe(200);
    expect(root.body).toMatchObject({ type: 'root', name: 'Files', path: '/', root_type: 'sync', is_locked: false, space_used: 0 });
    const again = await call(t, 'POST', `api/2/person/${res.body.id}/roots/create`, { token: admin });
    expect(again.body.id).toBe(root.body.id);
    expect((await call(t, 'GET', 'api/2/person', { token })).body.root_id).toBe(root.body.id);
  });

  it('get by id or email: self and admins only (403), unknown → 404', async () => {
    const a = await createUser();
    const b = await createUser();
    expect((await getPerson(a.id, a.token)).body.id).toBe(a.id);
    expect((await getPerson(a.email.toUpperCase(), a.token)).body.id).toBe(a.id);
    const other = await getPerson(b.id, a.token);
    expect(other.status).toBe(403);
    expect(other.body).toEqual({ error: 'forbidden' });
    expect((await getPerson(b.email, a.token)).status).toBe(403);
    expect((await getPerson(b.email)).body.id).toBe(b.id);
    const unknown = await getPerson(999999);
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ error: 'not_found' });
    expect((await getPerson('nobody@example.test')).status).toBe(404);
    expect((await getPerson('not-a-key')).status).toBe(404);
  });

  it('site admins manage their own organization only, and never make system admins', async () => {
    const site = await createUser({ site_admin: 'true' });
    const made = await createUser({}, site.token);
    expect((await getPerson(made.id, site.token)).status).toBe(200);
    const sys = await call(t, 'POST', 'api/2/person/create', { token: site.token, form: { email: 'sys2@example.test', password: 'pw-123456', system_admin: 'true' } });
    expect(sys.status).toBe(403);
    const child = await call(t, 'POST', 'api/2/organization/2/organizations/create', { token: admin, form: { name: 'Elsewhere', slug: 'elsewhere', email: 'e@example.test' } });
    const elsewhere = await call(t, 'POST', 'api/2/person/create', { token: site.token, form: { email: 'else@example.test', password: 'pw-123456', company_id: String(child.body.id) } });
    expect(elsewhere.status).toBe(403);
    // A site admin cannot change a system admin.
    const adminId = (await call(t, 'GET', 'api/2/person', { token: admin })).body.id as number;
    expect((await call(t, 'POST', `api/2/person/${adminId}/update`, { token: site.token, form: { first_name: 'Hacked' } })).status).toBe(403);
  });

  it('update: self may change name and password; admin-only fields are refused; same password → password_unchanged', async () => {
    const u = await createUser();
    const other = await createUser();
    const res = await call(t, 'POST', `api/2/person/${u.id}/update`, { token: u.token, form: { first_name: 'New', last_name: 'Name' } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ first_name: 'New', last_name: 'Name', display_name: 'New Name' });

    const quota = await call(t, 'POST', `api/2/person/${u.id}/update`, { token: u.token, form: { space_quota: '1', first_name: 'Sneaky' } });
    expect(quota.status).toBe(403);
    const promote = await call(t, 'POST', `api/2/person/${u.id}/update`, { token: u.token, form: { site_admin: 'true' } });
    expect(promote.status).toBe(403);
    expect((await call(t, 'POST', `api/2/person/${other.id}/update`, { token: u.token, form: { first_name: 'X' } })).status).toBe(403);
    expect((await getPerson(u.id)).body).toMatchObject({ first_name: 'New', space_quota: null });

    const same = await call(t, 'POST', `api/2/person/${u.id}/update`, { token: u.token, form: { password: u.password } });
    expect(same.status).toBe(400);
    expect(same.body).toEqual({ error: 'password_unchanged' });

    // A password change ends the person's other sessions but not the one making the change.
    const otherSession = await oauthLogin(t, u.email, u.password);
    const changed = await call(t, 'POST', `api/2/person/${u.id}/update`, { token: u.token, form: { password: 'a-new-password' } });
    expect(changed.status).toBe(200);
    expect((await call(t, 'GET', 'api/2/person', { token: u.token })).status).toBe(200);
    expect((await call(t, 'GET', 'api/2/person', { token: otherSession.body.access_token })).status).toBe(401);
    expect((await oauthLogin(t, u.email, u.password)).status).toBe(400);
    expect((await oauthLogin(t, u.email, 'a-new-password')).status).toBe(200);

    const adminSet = await call(t, 'POST', `api/2/person/${u.id}/update`, { token: admin, json: { space_quota: 2048, site_admin: false } });
    expect(adminSet.body).toMatchObject({ space_quota: 2048, space_quota_formatted: '2.00k' });
    const taken = await call(t, 'POST', `api/2/person/${u.id}/update`, { token: admin, form: { email: other.email } });
    expect(taken.status).toBe(409);
  });

  it('malformed JSON and oversized fields → 400 invalid_request and nothing changed', async () => {
    const u = await createUser();
    const before = (await getPerson(u.id)).body;
    const malformed = await call(t, 'POST', `api/2/person/${u.id}/update`, { token: admin, raw: '{"first_name": "Broken"', contentType: 'application/json' });
    expect(malformed.status).toBe(400);
    expect(malformed.body.error).toBe('invalid_request');
    const huge = await call(t, 'POST', `api/2/person/${u.id}/update`, { token: admin, json: { last_name: 'Fine', first_name: 'x'.repeat(5000) } });
    expect(huge.status).toBe(400);
    expect(huge.body).toEqual({ error: 'invalid_request', error_description: 'Invalid value for parameter: first_name' });
    const nested = await call(t, 'POST', `api/2/person/${u.id}/update`, { token: admin, json: { first_name: { $ne: 1 } } });
    expect(nested.status).toBe(400);
    const tooBig = await call(t, 'POST', `api/2/person/${u.id}/update`, { token: admin, json: { first_name: 'y'.repeat(2 * 1024 * 1024) } });
    expect(tooBig.status).toBe(400);
    expect(tooBig.body.error).toBe('invalid_request');
    expect((await getPerson(u.id)).body).toEqual(before);
  });

  it('delete: admin only; the person and their tokens are gone', async () => {
    const u = await createUser();
    const other = await createUser();
    expect((await call(t, 'POST', `api/2/person/${u.id}/delete`, { token: other.token })).status).toBe(403);
    const res = await call(t, 'POST', `api/2/person/${u.id}/delete`, { token: admin, form: { remove_user_files: 'true' } });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ status: 'ok' });
    expect((await getPerson(u.id)).status).toBe(404);
    expect((await call(t, 'GET', 'api/2/person', { token: u.token })).status).toBe(401);
    expect((await oauthLogin(t, u.email, u.password)).status).toBe(400);
    expect((await call(t, 'POST', `api/2/person/${u.id}/delete`, { token: admin })).status).toBe(404);
  });
});

describe('v1 account/info and metadata', () => {
  let u: User;
  let session: string;
  let folderId: number;

  function addNode(n: { root_id: number; parent_id: number | null; name: string; kind: 'file' | 'folder'; size?: number; modified?: string; is_deleted?: number }): number {
    const db = t.server.ctx.db;
    const modified = n.modified ?? '2012-11-20T17:04:06';
    const info = db
      .prepare(`INSERT INTO nodes (root_id, parent_id, name, name_key, kind, is_deleted, created, modified, size) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`)
      .run(n.root_id, n.parent_id, n.name, n.name.normalize('NFC').toLowerCase(), n.kind, n.is_deleted ?? 0, modified, modified, n.size ?? 0);
    const id = Number(info.lastInsertRowid);
    if (n.kind === 'file') {
      const rev = db
        .prepare(`INSERT INTO revisions (file_id, root_id, blob, created, modified, file_size, full_size) VALUES (?, ?, ?, ?, ?, ?, ?)`)
        .run(id, n.root_id, 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855', modified, modified, n.size ?? 0, n.size ?? 0);
      db.prepare(`UPDATE nodes SET revision_id = ? WHERE id = ?`).run(Number(rev.lastInsertRowid), id);
    }
    return id;
  }

  beforeAll(async () => {
    u = await createUser({ first_name: 'Larry', last_name: 'Kubin' });
    session = (await call(t, 'POST', '1/auth/', { form: { username: u.email, password: u.password } })).body.session_token;
    const root = u.root_id!;
    folderId = addNode({ root_id: root, parent_id: null, name: 'documents', kind: 'folder' });
    addNode({ root_id: root, parent_id: null, name: 'pictures', kind: 'folder' });
    addNode({ root_id: root, parent_id: null, name: 'anchor.jpg', kind: 'file', size: 1953 });
    addNode({ root_id: root, parent_id: null, name: 'gone.txt', kind: 'file', size: 5000, is_deleted: 1 });
    addNode({ root_id: root, parent_id: folderId, name: 'abc.txt', kind: 'file', size: 12205, modified: '2015-01-01T01:02:03' });
  });

  it('account/info has exactly the documented fields', async () => {
    const res = await call(t, 'GET', '1/account/info/', { searchParams: { session_token: session } });
    expect(res.status).toBe(200);
    expect(res.body).toEqual({
      id: u.id,
      first_name: 'Larry',
      last_name: 'Kubin',
      display_name: 'Larry Kubin',
      email: u.email,
      root_id: u.root_id,
      space_usage: 1953 + 12205,
      space_usage_formatted: '13.83k',
      space_quota: null,
      space_quota_formatted: null,
      roots: [{ type: 'sync', space_used: 1953 + 12205, id: u.root_id, name: 'Files' }],
      success: true,
    });
    const noToken = await call(t, 'GET', '1/account/info/');
    expect(noToken.status).toBe(401);
    expect(noToken.body).toEqual({ status_code: 401, message: 'invalid or expired session_token', code: 'error' });
  });

  it('metadata of a root: the documented shape, live children only', async () => {
    const res = await call(t, 'GET', `1/metadata/${u.root_id}/`, { searchParams: { session_token: session } });
    expect(res.status).toBe(200);
    const { hash, contents, ...rest } = res.body;
    expect(hash).toMatch(/^[0-9a-f]{40}$/);
    expect(rest).toEqual({
      rev: 0,
      thumb_exists: false,
      modified_unix_timestamp: 0,
      path: '/',
      is_dir: true,
      client_mtime: 0,
      size: '0B',
      is_deleted: false,
      bytes: 0,
      modified: 0,
      status_code: 200,
      icon: 'folder',
      root: u.root_id,
    });
    expect(contents.map((e: { path: string }) => e.path)).toEqual(['/anchor.jpg', '/documents', '/pictures']);
    expect(contents[0]).toEqual({
      rev: expect.any(Number),
      thumb_exists: false,
      modified_unix_timestamp: 1353431046,
      path: '/anchor.jpg',
      is_dir: false,
      client_mtime: '2012-11-20T17:04:06',
      size: '1.91k',
      is_deleted: false,
      bytes: 1953,
      modified: '2012-11-20T17:04:06',
      icon: 'page_white_picture',
      root: u.root_id,
    });
    expect(contents[0].rev).toBeGreaterThan(0);
    expect(contents[1]).toMatchObject({ path: '/documents', is_dir: true, icon: 'folder', rev: 0, bytes: 0, size: '0B' });
    // Same listing without the trailing slash, and deleted entries on request.
    const noSlash = await call(t, 'GET', `1/metadata/${u.root_id}`, { searchParams: { session_token: session } });
    expect(noSlash.body.hash).toBe(hash);
    const withDeleted = await call(t, 'GET', `1/metadata/${u.root_id}/`, { searchParams: { session_token: session, include_deleted: 'true' } });
    expect(withDeleted.body.contents.find((e: { path: string }) => e.path === '/gone.txt')).toMatchObject({ is_deleted: true, bytes: 5000 });
  });

  it('metadata of a folder and of a file', async () => {
    const res = await call(t, 'GET', `1/metadata/${u.root_id}/Documents/`, { searchParams: { session_token: session } });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ path: '/documents', is_dir: true, status_code: 200, root: u.root_id });
    expect(res.body.contents).toHaveLength(1);
    expect(res.body.contents[0]).toMatchObject({ path: '/documents/abc.txt', bytes: 12205, size: '11.92k', modified_unix_timestamp: 1420074123, icon: 'page_white_text' });
    const file = await call(t, 'GET', `1/metadata/${u.root_id}/documents/abc.txt`, { searchParams: { session_token: session } });
    expect(file.body).toMatchObject({ path: '/documents/abc.txt', is_dir: false, bytes: 12205, status_code: 200 });
    expect(file.body.contents).toBeUndefined();
  });

  it('errors in the v1 shape with a matching status', async () => {
    const unknownRoot = await call(t, 'GET', '1/metadata/20/', { searchParams: { session_token: session } });
    expect(unknownRoot.status).toBe(404);
    expect(unknownRoot.body).toEqual({ status_code: 404, message: 'unknown root with id 20', code: 'error' });
    const unknownPath = await call(t, 'GET', `1/metadata/${u.root_id}/nope/`, { searchParams: { session_token: session } });
    expect(unknownPath.status).toBe(404);
    expect(unknownPath.body).toEqual({ status_code: 404, message: 'unknown path /nope', code: 'error' });
    const deleted = await call(t, 'GET', `1/metadata/${u.root_id}/gone.txt`, { searchParams: { session_token: session } });
    expect(deleted.status).toBe(404);
    const stranger = await createUser();
    const strangerSession = (await call(t, 'POST', '1/auth/', { form: { username: stranger.email, password: stranger.password } })).body.session_token;
    const forbidden = await call(t, 'GET', `1/metadata/${u.root_id}/`, { searchParams: { session_token: strangerSession } });
    expect(forbidden.status).toBe(403);
    expect(forbidden.body).toEqual({ status_code: 403, message: `access denied to root with id ${u.root_id}`, code: 'error' });
    const badToken = await call(t, 'GET', `1/metadata/${u.root_id}/`, { searchParams: { session_token: 'nope' } });
    expect(badToken.status).toBe(401);
    expect(badToken.body).toEqual({ status_code: 401, message: 'invalid or expired session_token', code: 'error' });
  });
});

describe('organization', () => {
  it('get: the documented organization object with its policy object; admins only', async () => {
    const res = await getOrg(2);
    expect(res.status).toBe(200);
    expect(Object.keys(res.body).sort()).toEqual(ORGANIZATION_KEYS);
    expect(res.body).toMatchObject({
      type: 'organization',
      id: 2,
      parent_id: 1,
      name: 'Default Organization',
      slug: 'default-organization',
      active: true,
      throttled: false,
      throttle_exception_dow: null,
      trial_until: null,
    });
    expect(res.body.created).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/);
    expect(res.body.policy).toMatchObject({ type: 'policy', company_id: 2, space_quota: 2199023255552, deactivate_token_frequency: 30, require_two_step_auth: false });
    const u = await createUser();
    const denied = await getOrg(2, u.token);
    expect(denied.status).toBe(403);
    expect(denied.body).toEqual({ error: 'forbidden' });
    const unknown = await getOrg(4242);
    expect(unknown.status).toBe(404);
    expect(unknown.body).toEqual({ error: 'not_found' });
  });

  it('update: fields and throttle rules (weekdays/weekends override dow)', async () => {
    const org = await call(t, 'POST', 'api/2/organization/2/organizations/create', { token: admin, form: { name: 'Throttle Co', slug: 'throttle-co', email: 'tc@example.test' } });
    expect(org.status).toBe(200);
    const id = org.body.id as number;
    const res = await call(t, 'POST', `api/2/organization/${id}/update`, {
      token: admin,
      form: {
        description: 'line one\nline two',
        bandwidth_throttle: '512',
        throttle_exception_dow: '[0,1,2,3]',
        throttle_exception_start: '18:00',
        throttle_exception_end: '07:30:15',
        throttle_exception_throttle: '0',
        throttled: 'true',
      },
    });
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      description: 'line one\nline two',
      bandwidth_throttle: 512,
      throttle_exception_dow: [0, 1, 2, 3],
      throttle_exception_days: null,
      throttle_exception_start: '18:00',
      throttle_exception_end: '07:30:15',
      throttle_exception_throttle: 0,
      throttled: true,
    });
    const weekends = await call(t, 'POST', `api/2/organization/${id}/update`, { token: admin, json: { throttle_exception_days: 'weekends', throttle_exception_dow: [1] } });
    expect(weekends.body).toMatchObject({ throttle_exception_days: 'weekends', throttle_exception_dow: [5, 6] });
    const weekdays = await call(t, 'POST', `api/2/organization/${id}/update`, { token: admin, form: { throttle_exception_days: 'weekdays' } });
    expect(weekdays.body.throttle_exception_dow).toEqual([0, 1, 2, 3, 4]);
    const list = await call(t, 'POST', `api/2/organization/${id}/update`, { token: admin, form: { throttle_exception_dow: '6,2' } });
    expect(list.body).toMatchObject({ throttle_exception_dow: [2, 6], throttle_exception_days: null });
    const cleared = await call(t, 'POST', `api/2/organization/${id}/update`, { token: admin, json: { bandwidth_throttle: null, throttled: false } });
    expect(cleared.body).toMatchObject({ bandwidth_throttle: null, throttled: false });
  });

  it('update: every documented validation error changes nothing', async () => {
    const org = await call(t, 'POST', 'api/2/organization/2/organizations/create', { token: admin, form: { name: 'Strict Co', slug: 'strict-co', email: 's@example.test' } });
    const id = org.body.id as number;
    const before = (await getOrg(id)).body;
    const cases: [Record<string, string>, string][] = [
      [{ throttle_exception_dow: '[0,7]' }, 'throttle_exception_dow'],
      [{ throttle_exception_dow: 'mondays' }, 'throttle_exception_dow'],
      [{ throttle_exception_dow: '[0.5]' }, 'throttle_exception_dow'],
      [{ throttle_exception_days: 'holidays' }, 'throttle_exception_days'],
      [{ throttle_exception_start: '25:00' }, 'throttle_exception_start'],
      [{ throttle_exception_end: '7:30' }, 'throttle_exception_end'],
      [{ bandwidth_throttle: 'fast' }, 'bandwidth_throttle'],
      [{ throttle_exception_throttle: '-1' }, 'throttle_exception_throttle'],
      [{ throttled: 'maybe' }, 'throttled'],
      [{ slug: 'Not A Slug' }, 'slug'],
      [{ email: 'nope' }, 'email'],
      [{ hostname: 'bad host' }, 'hostname'],
    ];
    for (const [form, param] of cases) {
      const res = await call(t, 'POST', `api/2/organization/${id}/update`, { token: admin, form: { name: 'Renamed', bandwidth_throttle: '1', ...form } });
      expect(res.status, JSON.stringify(form)).toBe(400);
      expect(res.body).toEqual({ error: 'invalid_request', error_description: `Invalid value for parameter: ${param}` });
    }
    const badDate = await call(t, 'POST', `api/2/organization/${id}/update`, { token: admin, form: { name: 'Renamed', trial_until: '2030-01-01' } });
    expect(badDate.status).toBe(400);
    expect(badDate.body).toEqual({ error: 'invalid_datetime_format', error_description: 'Invalid datetime format. The expected format is: YYYY-MM-DDTHH:MM:SS' });
    const taken = await call(t, 'POST', `api/2/organization/${id}/update`, { token: admin, form: { name: 'Renamed', slug: 'default-organization' } });
    expect(taken.status).toBe(409);
    expect(taken.body).toEqual({ error: 'conflict', error_description: 'Value already in use for parameter: slug' });
    const malformed = await call(t, 'POST', `api/2/organization/${id}/update`, { token: admin, raw: '{"name": "Renamed",', contentType: 'application/json' });
    expect(malformed.status).toBe(400);
    expect(malformed.body.error).toBe('invalid_request');
    const huge = await call(t, 'POST', `api/2/organization/${id}/update`, { token: admin, form: { name: 'Renamed', description: 'd'.repeat(5000) } });
    expect(huge.body).toEqual({ error: 'invalid_request', error_description: 'Invalid value for parameter: description' });
    expect((await getOrg(id)).body).toEqual(before);
  });

  it('policy update: typed fields, returns the organization; a bad field changes nothing', async () => {
    const org = await call(t, 'POST', 'api/2/organization/2/organizations/create', { token: admin, form: { name: 'Policy Co', slug: 'policy-co', email: 'p@example.test' } });
    const id = org.body.id as number;
    const res = await call(t, 'POST', `api/2/organization/${id}/policy/update`, {
      token: admin,
      form: { max_file_size: '10', user_create_shares: 'false', excluded_extensions: '*.mp3, .ogg', deactivate_token_frequency: '7', purge_deleted_frequency: '' },
    });
    expect(res.status).toBe(200);
    expect(res.body.type).toBe('organization');
    expect(res.body.policy).toMatchObject({ type: 'policy', company_id: id, max_file_size: 10, user_create_shares: false, excluded_extensions: '*.mp3,.ogg', deactivate_token_frequency: 7, purge_deleted_frequency: '' });
    // Other fields keep their defaults.
    expect(res.body.policy.locked_extensions).toContain('.docx');

    const before = (await getOrg(id)).body;
    const cases: [Record<string, string>, string][] = [
      [{ max_file_size: 'big' }, 'max_file_size'],
      [{ user_create_shares: 'perhaps' }, 'user_create_shares'],
      [{ space_quota: '-5' }, 'space_quota'],
      [{ deactivate_token_frequency: '0' }, 'deactivate_token_frequency'],
      [{ excluded_extensions: 'mp3' }, 'excluded_extensions'],
      [{ monthly_cost_currency: 'EURO' }, 'monthly_cost_currency'],
    ];
    for (const [form, param] of cases) {
      const bad = await call(t, 'POST', `api/2/organization/${id}/policy/update`, { token: admin, form: { trim_revisions: 'true', ...form } });
      expect(bad.status).toBe(400);
      expect(bad.body).toEqual({ error: 'invalid_request', error_description: `Invalid value for parameter: ${param}` });
    }
    expect((await getOrg(id)).body).toEqual(before);

    // A person of the organization sees the new policy as company_policy.
    const u = await createUser({ company_id: String(id) });
    const me = await call(t, 'GET', 'api/2/person', { token: u.token });
    expect(me.body).toMatchObject({ can_share: false, company_policy: { max_file_size: 10, company_id: id } });
  });

  it('site admins read and update their own organization, but not limits, trials or other organizations', async () => {
    const org = await call(t, 'POST', 'api/2/organization/2/organizations/create', { token: admin, form: { name: 'Site Co', slug: 'site-co', email: 'site@example.test' } });
    const id = org.body.id as number;
    const site = await createUser({ company_id: String(id), site_admin: 'true' });
    expect((await getOrg(id, site.token)).status).toBe(200);
    expect((await getOrg(2, site.token)).status).toBe(403);
    const upd = await call(t, 'POST', `api/2/organization/${id}/update`, { token: site.token, form: { description: 'ours' } });
    expect(upd.body.description).toBe('ours');
    const trial = await call(t, 'POST', `api/2/organization/${id}/update`, { token: site.token, form: { trial_until: '2099-01-01T00:00:00' } });
    expect(trial.status).toBe(403);
    const pol = await call(t, 'POST', `api/2/organization/${id}/policy/update`, { token: site.token, form: { user_lock_files: 'true' } });
    expect(pol.body.policy.user_lock_files).toBe(true);
    const quota = await call(t, 'POST', `api/2/organization/${id}/policy/update`, { token: site.token, form: { space_quota: '1', user_lock_files: 'false' } });
    expect(quota.status).toBe(403);
    expect((await getOrg(id)).body.policy).toMatchObject({ user_lock_files: true, space_quota: 2199023255552 });
    expect((await call(t, 'POST', `api/2/organization/${id}/organizations/create`, { token: site.token, form: { name: 'Sub', slug: 'sub', email: 'sub@example.test' } })).status).toBe(403);
    const persons = await call(t, 'GET', `api/2/organization/${id}/persons`, { token: site.token });
    expect(persons.body).toMatchObject({ offset: 0, total: 1 });
    expect(persons.body.results[0]).toMatchObject({ type: 'person', id: site.id });
  });

  it('create child organizations: required fields; lists page 100 at a time', async () => {
    const parent = await call(t, 'POST', 'api/2/organization/2/organizations/create', {
      token: admin,
      form: { name: 'Parent Co', slug: 'parent-co', email: 'parent@example.test', description: 'top', trial_until: '2099-12-31T23:59:59', max_file_size: '5' },
    });
    expect(parent.status).toBe(200);
    expect(parent.body).toMatchObject({ parent_id: 2, name: 'Parent Co', slug: 'parent-co', email: 'parent@example.test', description: 'top', trial_until: '2099-12-31T23:59:59' });
    expect(parent.body.policy.max_file_size).toBe(5);
    const pid = parent.body.id as number;
    for (const [form, param] of [
      [{ slug: 'a', email: 'a@example.test' }, 'name'],
      [{ name: 'A', email: 'a@example.test' }, 'slug'],
      [{ name: 'A', slug: 'a' }, 'email'],
    ] as [Record<string, string>, string][]) {
      const res = await call(t, 'POST', `api/2/organization/${pid}/organizations/create`, { token: admin, form });
      expect(res.status).toBe(400);
      expect(res.body).toEqual({ error: 'invalid_request', error_description: `Missing required parameter: ${param}` });
    }
    const dupName = await call(t, 'POST', `api/2/organization/${pid}/organizations/create`, { token: admin, form: { name: 'Parent Co', slug: 'other', email: 'o@example.test' } });
    expect(dupName.status).toBe(409);

    for (let i = 0; i < 102; i++) {
      const res = await call(t, 'POST', `api/2/organization/${pid}/organizations/create`, { token: admin, form: { name: `Child ${i}`, slug: `child-${i}`, email: `c${i}@example.test` } });
      expect(res.status).toBe(200);
    }
    const page1 = await call(t, 'GET', `api/2/organization/${pid}/organizations`, { token: admin });
    expect(page1.body.offset).toBe(0);
    expect(page1.body.total).toBe(102);
    expect(page1.body.results).toHaveLength(100);
    expect(page1.body.results[0]).toMatchObject({ type: 'organization', name: 'Child 0', parent_id: pid });
    const page2 = await call(t, 'GET', `api/2/organization/${pid}/organizations`, { token: admin, searchParams: { offset: '100' } });
    expect(page2.body).toMatchObject({ offset: 100, total: 102 });
    expect(page2.body.results.map((o: { name: string }) => o.name)).toEqual(['Child 100', 'Child 101']);
    const badOffset = await call(t, 'GET', `api/2/organization/${pid}/organizations`, { token: admin, searchParams: { offset: '-1' } });
    expect(badOffset.body).toEqual({ error: 'invalid_request', error_description: 'Invalid value for parameter: offset' });
  });

  it('lists an organization’s persons and roots', async () => {
    const org = await call(t, 'POST', 'api/2/organization/2/organizations/create', { token: admin, form: { name: 'List Co', slug: 'list-co', email: 'l@example.test' } });
    const id = org.body.id as number;
    const a = await createUser({ company_id: String(id) });
    const b = await createUser({ company_id: String(id), create_root: 'false' });
    const persons = await call(t, 'GET', `api/2/organization/${id}/persons`, { token: admin });
    expect(persons.body).toMatchObject({ offset: 0, total: 2 });
    expect(persons.body.results.map((p: { id: number }) => p.id)).toEqual([a.id, b.id]);
    expect(Object.keys(persons.body.results[0]).sort()).toEqual(PERSON_KEYS);
    const roots = await call(t, 'GET', `api/2/organization/${id}/roots`, { token: admin });
    expect(roots.body).toEqual({
      offset: 0,
      results: [{ type: 'root', id: a.root_id, name: 'Files', path: '/', is_locked: false, root_type: 'sync', space_used: 0, space_used_formatted: '0b' }],
      total: 1,
    });
    expect((await call(t, 'GET', `api/2/organization/${id}/roots`, { token: a.token })).status).toBe(403);
  });
});
