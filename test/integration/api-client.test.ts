// The typed API client against a real reference server (HTTPS on loopback, self-signed):
// TLS pinning, login and token refresh, and the file system methods with their typed errors.
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AxisClient, fromApiDateTime, type Tokens } from '../../src/api/client.js';
import { AuthError, AxisApiError, NetworkError, UntrustedCertificateError } from '../../src/api/errors.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD, startTestServer, type TestServer } from '../helpers/server.js';
import { accessToken, call, manualClock, type ManualClock } from '../helpers/server-api.js';

let t: TestServer;
let c: ManualClock;
let fp: string;
let client: AxisClient;
let rootId: number;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'axis-api-client-'));
const USER = { email: 'files@example.test', password: 'files-secret-Pw1' };

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

function tokenRows(kind: string): number {
  return (t.server.ctx.db.prepare(`SELECT COUNT(*) AS n FROM tokens WHERE kind = ?`).get(kind) as { n: number }).n;
}

async function apiError(p: Promise<unknown>): Promise<AxisApiError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(AxisApiError);
  return err as AxisApiError;
}

/** A client logged in as USER, keeping its tokens in memory. */
async function loggedInClient(): Promise<AxisClient> {
  let tokens: Tokens | undefined;
  const cl = new AxisClient({ server: t.url, trust: { fingerprint: fp }, tokens: { load: () => tokens, save: (x) => void (tokens = x) } });
  await cl.loginPassword(USER.email, USER.password);
  return cl;
}

beforeAll(async () => {
  c = manualClock();
  t = await startTestServer({ clock: c.clock });
  fp = t.server.fingerprint!;
  const admin = await accessToken(t, ADMIN_EMAIL, ADMIN_PASSWORD);
  const res = await call(t, 'POST', 'api/2/person/create', { token: admin, form: { email: USER.email, password: USER.password, first_name: 'File', last_name: 'Tester' } });
  expect(res.status).toBe(200);
  client = await loggedInClient();
  const person = await client.person();
  rootId = person.roots.find((r) => r.type === 'sync')!.id;
});

afterAll(async () => {
  client?.close();
  await t?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe('TLS', () => {
  it('refuses the self-signed certificate without a pin, with its fingerprint, before sending credentials', async () => {
    const before = tokenRows('access');
    const cl = new AxisClient({ server: t.url, retry: { limit: 0 } });
    const err = await cl.loginPassword(USER.email, USER.password).catch((e: unknown) => e);
    cl.close();
    expect(err).toBeInstanceOf(UntrustedCertificateError);
    expect((err as UntrustedCertificateError).fingerprint).toBe(fp);
    expect((err as Error).message).toContain(`--trust-fingerprint ${fp}`);
    expect(tokenRows('access')).toBe(before);
  });

  it('connects with the pin in any spelling, and refuses another pin', async () => {
    const ok = new AxisClient({ server: t.url, trust: { fingerprint: fp.replace(/:/g, '').toLowerCase() } });
    expect(await ok.version()).toMatch(/^2\./);
    ok.close();
    const other = new AxisClient({ server: t.url, trust: { fingerprint: 'ab'.repeat(32) }, retry: { limit: 0 } });
    const err = await other.version().catch((e: unknown) => e);
    other.close();
    expect(err).toBeInstanceOf(UntrustedCertificateError);
    expect((err as UntrustedCertificateError).expectedFingerprint).toBe(Array(32).fill('AB').join(':'));
    expect((err as UntrustedCertificateError).fingerprint).toBe(fp);
  });

  it('a refused connection is a NetworkError with its code', async () => {
    const cl = new AxisClient({ server: 'https://127.0.0.1:1', retry: { limit: 0 } });
    const err = await cl.version().catch((e: unknown) => e);
    cl.close();
    expect(err).toBeInstanceOf(NetworkError);
    expect((err as NetworkError).code).toBe('ECONNREFUSED');
  });
});

describe('authentication', () => {
  it('a wrong password is an AuthError invalid_credentials', async () => {
    const cl = new AxisClient({ server: t.url, trust: { fingerprint: fp } });
    const err = await cl.loginPassword(USER.email, 'wrong').catch((e: unknown) => e);
    cl.close();
    expect(err).toBeInstanceOf(AuthError);
    expect((err as AuthError).kind).toBe('invalid_credentials');
  });

  it('concurrent requests after the access token expired share one refresh', async () => {
    const cl = await loggedInClient();
    const refreshBefore = tokenRows('refresh');
    c.advance(2 * 3600 * 1000);
    const people = await Promise.all(Array.from({ length: 5 }, () => cl.person()));
    expect(people.map((p) => p.email)).toEqual(Array(5).fill(USER.email));
    expect(tokenRows('refresh')).toBe(refreshBefore + 1);
    cl.close();
  });

  it('a revoked session is an AuthError session_expired', async () => {
    const cl = await loggedInClient();
    const tokens = await cl.currentTokens();
    expect((await call(t, 'POST', 'oauth2/revoke', { form: { token: tokens!.refreshToken! } })).status).toBe(200);
    const err = await cl.person().catch((e: unknown) => e);
    cl.close();
    expect(err).toBeInstanceOf(AuthError);
    expect((err as AuthError).kind).toBe('session_expired');
  });

  it('revoke() ends the session on the server and forgets the tokens', async () => {
    const cl = await loggedInClient();
    const { refreshToken } = (await cl.currentTokens())!;
    expect(await cl.revoke()).toBe(true);
    expect(await cl.currentTokens()).toBeUndefined();
    const refresh = await call(t, 'POST', 'oauth2/token', { form: { grant_type: 'refresh_token', refresh_token: refreshToken! } });
    expect(refresh.status).toBe(400);
    cl.close();
  });
});

describe('file system', () => {
  it('uploads (buffer, path, stream), downloads (whole and a range) with matching sha256 and modified time', async () => {
    const folder = await client.createFolder(rootId, null, 'docs');
    expect(folder).toMatchObject({ type: 'folder', name: 'docs', path: '/docs' });

    const data = Buffer.from('hello, AXIS\n'.repeat(1000));
    const modified = new Date('2024-05-06T07:08:09Z');
    const f1 = await client.upload(rootId, null, 'hello.txt', data, { modified });
    expect(f1).toMatchObject({ type: 'file', name: 'hello.txt', size: data.length, sha256: sha256(data) });
    expect(fromApiDateTime(f1.modified).getTime()).toBe(modified.getTime());

    const onDisk = path.join(tmp, 'from-disk.bin');
    const disk = Buffer.alloc(300_000, 7);
    writeFileSync(onDisk, disk);
    const f2 = await client.upload(rootId, folder.id, 'from-disk.bin', onDisk);
    expect(f2).toMatchObject({ path: '/docs/from-disk.bin', size: disk.length, sha256: sha256(disk) });

    const streamed = Buffer.from('streamed content ünïcødé');
    const f3 = await client.upload(rootId, folder.id, 'ünïcødé name.txt', Readable.from([streamed]));
    expect(f3).toMatchObject({ name: 'ünïcødé name.txt', size: streamed.length });

    expect(await readAll(await client.download(rootId, f1.id))).toEqual(data);
    expect(await readAll(await client.download(rootId, f2.id))).toEqual(disk);
    const part = await client.download(rootId, f1.id, { range: { start: 7, end: 10 } });
    expect(part.partial).toBe(true);
    expect((await readAll(part)).toString()).toBe('AXIS');
  });

  it('root() and folder() answer "not modified" for an unchanged hash', async () => {
    const first = await client.root(rootId);
    expect(first.notModified).toBe(false);
    const hash = first.notModified ? '' : first.value.hash!;
    expect(hash).toBeTruthy();
    expect(await client.root(rootId, { hash })).toEqual({ notModified: true });
    await client.createFolder(rootId, null, 'changes-the-root');
    const changed = await client.root(rootId, { hash });
    expect(changed.notModified).toBe(false);

    const folder = await client.createFolder(rootId, null, 'hashed');
    const f = await client.folder(rootId, folder.id);
    expect(f.notModified).toBe(false);
    expect(await client.folder(rootId, folder.id, { hash: f.notModified ? '' : f.value.hash })).toEqual({ notModified: true });
  });

  it('pages children and iterates over all pages', async () => {
    const folder = await client.createFolder(rootId, null, 'many');
    for (let i = 0; i < 23; i++) await client.upload(rootId, folder.id, `f${String(i).padStart(2, '0')}.txt`, Buffer.from(String(i)));
    const page1 = await client.children(rootId, folder.id, { pageSize: 10 });
    expect(page1).toMatchObject({ page: 1, page_size: 10, max_page: 3, total: 23 });
    expect(page1.results).toHaveLength(10);
    const names: string[] = [];
    for await (const child of client.allChildren(rootId, folder.id, { pageSize: 10 })) names.push(child.name);
    expect(names).toEqual(Array.from({ length: 23 }, (_, i) => `f${String(i).padStart(2, '0')}.txt`));
  });

  it('new revisions against a base revision; a stale base is revision_conflict', async () => {
    const v1 = await client.upload(rootId, null, 'versioned.txt', Buffer.from('one'));
    const v2 = await client.upload(rootId, null, 'versioned.txt', Buffer.from('two'), { fileId: v1.id, baseRevisionId: v1.revision_id });
    expect(v2.id).toBe(v1.id);
    expect(v2.revision_id).not.toBe(v1.revision_id);
    expect((await readAll(await client.download(rootId, v1.id))).toString()).toBe('two');

    const stale = await apiError(client.upload(rootId, null, 'versioned.txt', Buffer.from('three'), { fileId: v1.id, baseRevisionId: v1.revision_id }));
    expect(stale.status).toBe(409);
    expect(stale.code).toBe('revision_conflict');
    expect(stale.currentRevisionId).toBe(v2.revision_id);

    const revs = await client.revisions(rootId, v1.id);
    expect(revs.total).toBe(2);
    expect(revs.results.map((r) => r.id).sort()).toEqual([v1.revision_id, v2.revision_id].sort());
    expect((await readAll(await client.download(rootId, v1.id, { revisionId: v1.revision_id }))).toString()).toBe('one');
  });

  it('typed errors: name_conflict, not_found, and the file is untouched', async () => {
    await client.upload(rootId, null, 'taken.txt', Buffer.from('first'));
    const dup = await apiError(client.upload(rootId, null, 'taken.txt', Buffer.from('second')));
    expect(dup).toMatchObject({ status: 409, code: 'name_conflict' });
    expect(dup.endpoint).toBe(`POST /api/2/files/${rootId}/upload`);
    const dupFolder = await apiError(client.createFolder(rootId, null, 'docs'));
    expect(dupFolder.code).toBe('name_conflict');
    const missing = await apiError(client.file(rootId, 999_999));
    expect(missing).toMatchObject({ status: 404, code: 'not_found' });
    const missingDownload = await apiError(client.download(rootId, 999_999));
    expect(missingDownload.code).toBe('not_found');
  });

  it('rename, move, delete, modified_since, search, lock and unlock', async () => {
    const since = new Date(c.now() - 1000);
    const dest = await client.createFolder(rootId, null, 'dest');
    const f = await client.upload(rootId, null, 'move-me.txt', Buffer.from('x'));
    await client.rename(rootId, f, 'moved.txt', { baseRevisionId: f.revision_id });
    await client.move(rootId, f, dest.id);
    const moved = await client.file(rootId, f.id);
    expect(moved.path).toBe('/dest/moved.txt');

    expect((await client.search(rootId, 'moved')).map((r) => r.id)).toContain(f.id);
    expect((await client.modifiedSince(rootId, since)).map((r) => r.id)).toContain(f.id);

    // Users may lock only when the organization's policy allows it.
    expect(await apiError(client.lock(rootId, f, { durationMinutes: 5 }))).toMatchObject({ status: 403, code: 'forbidden' });
    const admin = await accessToken(t, ADMIN_EMAIL, ADMIN_PASSWORD);
    const org = t.server.admin.defaultOrganizationId;
    expect((await call(t, 'POST', `api/2/organization/${org}/policy/update`, { token: admin, form: { user_lock_files: 'true' } })).status).toBe(200);
    await client.lock(rootId, f, { durationMinutes: 5 });
    expect((await client.file(rootId, f.id)).is_locked).toBe(true);
    await client.unlock(rootId, f);
    expect((await client.file(rootId, f.id)).is_locked).toBe(false);

    await client.delete(rootId, f, { baseRevisionId: f.revision_id });
    expect((await client.file(rootId, f.id)).is_deleted).toBe(true);
  });

  it('change feed (extension): lists changes after a cursor, long-polls, and can be aborted', async () => {
    const all = await client.changes(rootId, { cursor: 0, limit: 5000 });
    expect(all.has_more).toBe(false);
    expect(all.results.length).toBeGreaterThan(0);
    for (const ch of all.results) expect(ch.seq).toBeLessThanOrEqual(all.cursor);

    const poll = client.changes(rootId, { cursor: all.cursor, timeout: 20 });
    const f = await client.upload(rootId, null, 'fed.txt', Buffer.from('feed'));
    const next = await poll;
    expect(next.results.map((r) => r.id)).toContain(f.id);
    expect(next.results.find((r) => r.id === f.id)).toMatchObject({ type: 'file', parent_id: null, sha256: sha256(Buffer.from('feed')) });

    const ac = new AbortController();
    const waiting = client.changes(rootId, { cursor: next.cursor, timeout: 20, signal: ac.signal });
    setTimeout(() => ac.abort(), 100);
    const err = await waiting.catch((e: unknown) => e);
    expect(err).not.toBeInstanceOf(NetworkError);
    expect((err as Error).name).toBe('AbortError');
  });
});
