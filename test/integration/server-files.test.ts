// API v2 file system methods against a real reference server: root, folder and file metadata,
// folders, rename / move / delete, paging and sorting, search, modified_since, locks, access
// rules and malformed input.
import type { Got } from 'got';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOrganization, createRoot } from '../../src/server/accounts.js';
import type { PersonRow } from '../../src/server/context.js';
import { basicAuth, filesClient, json, newPerson, personByEmail, setPolicy, sha256, snapshot, upload, type Json } from '../helpers/files.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD, startTestServer, type TestServer } from '../helpers/server.js';

let t: TestServer;
let skewMs = 0;
let admin: PersonRow;
let api: Got;
let rootId: number;

beforeAll(async () => {
  t = await startTestServer({ clock: () => new Date(Date.now() + skewMs) });
  admin = personByEmail(t, ADMIN_EMAIL);
  api = filesClient(t, admin);
  rootId = admin.root_id!;
});

afterAll(async () => {
  await t?.stop();
});

async function mkdir(name: string, parent?: number): Promise<Json> {
  const res = await api.post(parent ? `${rootId}/folder/${parent}/create_folder` : `${rootId}/create_folder`, { form: { name } });
  expect(res.statusCode, res.body).toBe(200);
  return json(res);
}

async function put(name: string, content: string, parent?: number, fields?: Record<string, string>): Promise<Json> {
  const res = await upload(api, parent ? `${rootId}/folder/${parent}/upload` : `${rootId}/upload`, content, { filename: name, fields });
  expect(res.statusCode, res.body).toBe(200);
  return json(res);
}

async function get(path: string, searchParams?: Record<string, string | number>): Promise<{ status: number; body: Json }> {
  const res = await api.get(path, { searchParams });
  return { status: res.statusCode, body: res.body ? json(res) : {} };
}

describe('authentication and access', () => {
  it('accepts HTTP Basic and bearer tokens, refuses anonymous callers', async () => {
    const basic = await t.http.get(`api/2/files/${rootId}`, { headers: { authorization: basicAuth(ADMIN_EMAIL, ADMIN_PASSWORD) } });
    expect(basic.statusCode).toBe(200);
    expect(json(basic).type).toBe('root');
    const anon = await t.http.get(`api/2/files/${rootId}`);
    expect(anon.statusCode).toBe(401);
    expect(json(anon)).toEqual({ error: 'access_denied' });
  });

  it('403 for a root the person may not use, 404 for no such root, 410 for a deleted root', async () => {
    const other = newPerson(t);
    const otherApi = filesClient(t, other);
    const r = await otherApi.get(`${rootId}`);
    expect(r.statusCode).toBe(403);
    expect(json(r)).toEqual({ error: 'forbidden' });
    const missing = await api.get('999999');
    expect(missing.statusCode).toBe(404);
    expect(json(missing)).toEqual({ error: 'not_found' });
    const ctx = t.server.ctx;
    const gone = createRoot(ctx, { company_id: admin.company_id, person_id: other.id, name: 'Old', root_type: 'share' });
    ctx.db.prepare(`UPDATE roots SET deleted = 1 WHERE id = ?`).run(gone.id);
    const deleted = await otherApi.get(`${gone.id}/children`);
    expect(deleted.statusCode).toBe(410);
    expect(json(deleted)).toEqual({ error: 'root_deleted', error_description: 'Root was previously deleted.' });
  });

  it('admins: system admin everywhere, site admin only in their organization', async () => {
    const ctx = t.server.ctx;
    const org2 = createOrganization(ctx, { name: 'Org Two', slug: `org-two-${Date.now()}`, parent_id: null });
    const siteAdmin2 = newPerson(t, { company_id: org2.id, site_admin: true });
    const user2 = newPerson(t, { company_id: org2.id });
    const siteApi = filesClient(t, siteAdmin2);
    expect((await siteApi.get(`${user2.root_id}`)).statusCode).toBe(200);
    expect((await siteApi.get(`${rootId}`)).statusCode).toBe(403);
    expect((await api.get(`${user2.root_id}`)).statusCode).toBe(200);
    // admin_browse_files off: site admins no longer browse other people's accounts.
    setPolicy(t, org2.id, { admin_browse_files: false });
    expect((await siteApi.get(`${user2.root_id}`)).statusCode).toBe(403);
    expect((await siteApi.get(`${siteAdmin2.root_id}`)).statusCode).toBe(200);
  });

  it('members use shared roots; VIEWER members read but may not write', async () => {
    const ctx = t.server.ctx;
    const share = createRoot(ctx, { company_id: admin.company_id, person_id: null, name: 'Team', root_type: 'share' });
    const collaborator = newPerson(t);
    const viewer = newPerson(t);
    ctx.db.prepare(`INSERT INTO root_members (root_id, person_id, role) VALUES (?, ?, 'COLLABORATOR'), (?, ?, 'VIEWER')`).run(share.id, collaborator.id, share.id, viewer.id);
    const c = filesClient(t, collaborator);
    const v = filesClient(t, viewer);
    const made = await c.post(`${share.id}/create_folder`, { form: { name: 'Plans' } });
    expect(made.statusCode).toBe(200);
    const seen = await v.get(`${share.id}`, { searchParams: { include_permissions: 'true' } });
    expect(seen.statusCode).toBe(200);
    expect(json(seen).permissions).toEqual(['FILE_VIEW', 'FILE_READ']);
    expect((json(seen).children as Json[]).map((x) => x.name)).toEqual(['Plans']);
    const denied = await v.post(`${share.id}/create_folder`, { form: { name: 'Nope' } });
    expect(denied.statusCode).toBe(403);
    expect(json(denied)).toEqual({ error: 'forbidden' });
    const deniedUpload = await upload(v, `${share.id}/upload`, 'x', { filename: 'x.txt' });
    expect(deniedUpload.statusCode).toBe(403);
  });
});

describe('root metadata', () => {
  it('returns the documented root object with children and a hash, and 304 for an unchanged hash', async () => {
    const ctx = t.server.ctx;
    const person = newPerson(t);
    const p = filesClient(t, person);
    const root = person.root_id!;
    const first = await p.get(`${root}`);
    expect(first.statusCode).toBe(200);
    const body = json(first);
    expect(body).toEqual({
      type: 'root',
      id: root,
      name: 'Files',
      path: '/',
      is_locked: false,
      root_type: 'sync',
      space_used: 0,
      space_used_formatted: '0b',
      children: [],
      hash: expect.stringMatching(/^[0-9a-f]{40}$/),
    });
    const same = await p.get(`${root}`, { searchParams: { hash: body.hash as string } });
    expect(same.statusCode).toBe(304);
    const up = await upload(p, `${root}/upload`, 'hello', { filename: 'a.txt' });
    expect(up.statusCode).toBe(200);
    const changed = await p.get(`${root}`, { searchParams: { hash: body.hash as string } });
    expect(changed.statusCode).toBe(200);
    const b2 = json(changed);
    expect(b2.hash).not.toBe(body.hash);
    expect(b2.space_used).toBe(5);
    expect((b2.children as Json[]).map((c) => c.name)).toEqual(['a.txt']);
    const bare = json(await p.get(`${root}`, { searchParams: { include_children: 'false', include_permissions: 'true' } }));
    expect(bare.children).toBeUndefined();
    expect(bare.hash).toBeUndefined();
    expect(bare.permissions).toEqual(['FILE_VIEW', 'FILE_READ', 'FILE_WRITE']);
    const bad = await p.get(`${root}`, { searchParams: { include_children: 'maybe' } });
    expect(bad.statusCode).toBe(400);
    expect(json(bad)).toEqual({ error: 'invalid_request', error_description: 'Invalid value for parameter: include_children' });
    expect(ctx.db.prepare(`SELECT COUNT(*) AS c FROM nodes WHERE root_id = ?`).get(root)).toEqual({ c: 1 });
  });
});

describe('folders', () => {
  it('creates folders at the top and inside folders, with the documented folder object', async () => {
    const a = await mkdir('Alpha');
    expect(a).toEqual({ type: 'folder', id: expect.any(Number), root_id: rootId, name: 'Alpha', path: '/Alpha', is_deleted: false, is_locked: false });
    const b = await mkdir('Beta', a.id as number);
    expect(b.path).toBe('/Alpha/Beta');
    const got = await get(`${rootId}/folder/${b.id}`, { include_ancestors: 'true' });
    expect(got.status).toBe(200);
    expect(got.body.children).toEqual([]);
    expect(got.body.hash).toMatch(/^[0-9a-f]{40}$/);
    const ancestors = got.body.ancestors as Json[];
    expect(ancestors.map((x) => [x.type, x.path])).toEqual([
      ['root', '/'],
      ['folder', '/Alpha'],
    ]);
    const again = await api.get(`${rootId}/folder/${b.id}`, { searchParams: { include_ancestors: 'true', hash: got.body.hash as string } });
    expect(again.statusCode).toBe(304);
  });

  it('folder errors: missing name, invalid_name, name_too_long, name_conflict (case-insensitive)', async () => {
    const missing = await api.post(`${rootId}/create_folder`, { form: {} });
    expect(missing.statusCode).toBe(400);
    expect(json(missing)).toEqual({ error: 'invalid_request', error_description: 'Missing required parameter: name' });
    const before = snapshot(t, rootId);
    for (const bad of ['.', '..', 'a/b', '../x', 'C:\\x', 'nul\u0000byte', 'tab\there', ' lead', 'trail ', '\u0085next']) {
      const res = await api.post(`${rootId}/create_folder`, { json: { name: bad } });
      expect(res.statusCode, JSON.stringify(bad)).toBe(400);
      expect(json(res)).toEqual({ error: 'invalid_name' });
    }
    const long = await api.post(`${rootId}/create_folder`, { form: { name: 'é'.repeat(128) } }); // 256 bytes
    expect(long.statusCode).toBe(400);
    expect(json(long)).toEqual({ error: 'name_too_long' });
    expect(snapshot(t, rootId)).toEqual(before);
    const ok = await api.post(`${rootId}/create_folder`, { form: { name: 'é'.repeat(127) + 'a' } }); // 255 bytes
    expect(ok.statusCode).toBe(200);
    await mkdir('Gamma');
    const dup = await api.post(`${rootId}/create_folder`, { form: { name: 'gAMMA' } });
    expect(dup.statusCode).toBe(409);
    expect(json(dup)).toEqual({ error: 'name_conflict' });
  });

  it('stores names NFC-normalized and compares them case-insensitively', async () => {
    const nfd = 'Cafe\u0301';
    const made = await mkdir(nfd);
    expect(made.name).toBe('Caf\u00e9');
    const dup = await api.post(`${rootId}/create_folder`, { form: { name: 'CAF\u00c9' } });
    expect(dup.statusCode).toBe(409);
  });

  it('renames (case-only too), refuses conflicts, moves, refuses moving into itself', async () => {
    const top = await mkdir('Top');
    const sub = await mkdir('Sub', top.id as number);
    const deep = await mkdir('Deep', sub.id as number);
    const caseOnly = await api.post(`${rootId}/folder/${top.id}/rename`, { form: { name: 'TOP' } });
    expect(caseOnly.statusCode).toBe(200);
    expect(json(caseOnly)).toEqual({ status: 'ok' });
    expect((await get(`${rootId}/folder/${deep.id}`)).body.path).toBe('/TOP/Sub/Deep');
    await mkdir('Other');
    const conflict = await api.post(`${rootId}/folder/${top.id}/rename`, { form: { name: 'other' } });
    expect(conflict.statusCode).toBe(409);
    expect(json(conflict)).toEqual({ error: 'name_conflict' });
    const long = await api.post(`${rootId}/folder/${top.id}/rename`, { form: { name: 'x'.repeat(256) } });
    expect(json(long)).toEqual({ error: 'name_too_long' });
    const before = snapshot(t, rootId);
    for (const dest of [top.id, sub.id, deep.id]) {
      const res = await api.post(`${rootId}/folder/${top.id}/move`, { form: { to_folder_id: String(dest) } });
      expect(res.statusCode).toBe(400);
      expect(json(res)).toEqual({ error: 'invalid_request', error_description: 'Invalid value for parameter: to_folder_id' });
    }
    const badId = await api.post(`${rootId}/folder/${top.id}/move`, { form: { to_folder_id: '../1' } });
    expect(badId.statusCode).toBe(400);
    const noDest = await api.post(`${rootId}/folder/${top.id}/move`, { form: { to_folder_id: '99999999' } });
    expect(noDest.statusCode).toBe(404);
    expect(snapshot(t, rootId)).toEqual(before);
    // Move Deep to the top level (to_folder_id omitted), then into Other.
    expect((await api.post(`${rootId}/folder/${deep.id}/move`)).statusCode).toBe(200);
    expect((await get(`${rootId}/folder/${deep.id}`)).body.path).toBe('/Deep');
    const dupAtDest = await mkdir('Deep', sub.id as number);
    const clash = await api.post(`${rootId}/folder/${dupAtDest.id}/move`, { form: {} });
    expect(clash.statusCode).toBe(409);
    expect(json(clash)).toEqual({ error: 'name_conflict' });
  });

  it('deletes a folder and everything below it', async () => {
    const f = await mkdir('Doomed');
    const inner = await mkdir('Inner', f.id as number);
    const file = await put('note.txt', 'bye', inner.id as number);
    const seqBefore = (t.server.ctx.db.prepare(`SELECT seq FROM nodes WHERE id = ?`).get(file.id) as { seq: number }).seq;
    const res = await api.post(`${rootId}/folder/${f.id}/delete`);
    expect(res.statusCode).toBe(200);
    expect(json(res)).toEqual({ status: 'ok' });
    expect((await get(`${rootId}/folder/${f.id}`)).body.is_deleted).toBe(true);
    expect((await get(`${rootId}/folder/${inner.id}`)).body.is_deleted).toBe(true);
    const fileNow = (await get(`${rootId}/${file.id}`)).body;
    expect(fileNow.is_deleted).toBe(true);
    expect(fileNow.path).toBe('/Doomed/Inner/note.txt');
    const seqAfter = (t.server.ctx.db.prepare(`SELECT seq FROM nodes WHERE id = ?`).get(file.id) as { seq: number }).seq;
    expect(seqAfter).toBeGreaterThan(seqBefore);
    const live = json(await api.get(`${rootId}/children`, { searchParams: { include_deleted: 'false', page_size: 100 } }));
    expect((live.results as Json[]).some((c) => c.id === f.id)).toBe(false);
    const all = json(await api.get(`${rootId}/children`, { searchParams: { page_size: 100 } }));
    expect((all.results as Json[]).some((c) => c.id === f.id)).toBe(true);
    // The name is free again; deleted folders take no new content; delete is idempotent.
    await mkdir('Doomed');
    const into = await upload(api, `${rootId}/folder/${inner.id}/upload`, 'x', { filename: 'x.txt' });
    expect(into.statusCode).toBe(404);
    expect((await api.post(`${rootId}/folder/${f.id}/delete`)).statusCode).toBe(200);
  });
});

describe('files: metadata, rename, move, delete', () => {
  it('file metadata with ancestors and permissions; 404 for ids of the wrong kind or root', async () => {
    const folder = await mkdir('Docs');
    const file = await put('report.txt', 'twelve bytes', folder.id as number);
    expect(file).toEqual({
      type: 'file',
      id: expect.any(Number),
      revision_id: expect.any(Number),
      root_id: rootId,
      name: 'report.txt',
      path: '/Docs/report.txt',
      is_deleted: false,
      created: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/),
      modified: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/),
      size: 12,
      size_formatted: '12b',
      is_locked: false,
      sha256: sha256(Buffer.from('twelve bytes')),
    });
    const full = await get(`${rootId}/${file.id}`, { include_ancestors: 'true', include_permissions: 'true' });
    expect(full.body.permissions).toEqual(['FILE_VIEW', 'FILE_READ', 'FILE_WRITE']);
    expect((full.body.ancestors as Json[]).map((a) => a.type)).toEqual(['root', 'folder']);
    expect((await get(`${rootId}/${folder.id}`)).status).toBe(404);
    expect((await get(`${rootId}/folder/${file.id}`)).status).toBe(404);
    const other = newPerson(t);
    expect((await get(`${other.root_id}/${file.id}`)).status).toBe(404);
    expect((await get(`${rootId}/not-a-number`)).status).toBe(404);
    expect((await get(`${rootId}/99999999`)).status).toBe(404);
  });

  it('renames and moves files with the documented errors', async () => {
    const dir = await mkdir('Moves');
    const f = await put('one.txt', '1');
    await put('two.txt', '2');
    const caseOnly = await api.post(`${rootId}/${f.id}/rename`, { form: { name: 'ONE.txt' } });
    expect(caseOnly.statusCode).toBe(200);
    expect((await get(`${rootId}/${f.id}`)).body.name).toBe('ONE.txt');
    const before = snapshot(t, rootId);
    const conflict = await api.post(`${rootId}/${f.id}/rename`, { form: { name: 'Two.TXT' } });
    expect(conflict.statusCode).toBe(409);
    expect(json(conflict)).toEqual({ error: 'name_conflict' });
    const ext = await api.post(`${rootId}/${f.id}/rename`, { form: { name: 'one.exe' } });
    expect(ext.statusCode).toBe(400);
    expect(json(ext)).toEqual({ error: 'invalid_extension' });
    for (const bad of ['../x', 'a/b', 'C:\\x', 'a\u0000b', '', ' x']) {
      const res = await api.post(`${rootId}/${f.id}/rename`, { json: { name: bad } });
      expect(res.statusCode).toBe(400);
      expect(json(res).error).toBe(bad === '' ? 'invalid_request' : 'invalid_name');
    }
    expect(json(await api.post(`${rootId}/${f.id}/rename`, { form: { name: 'y'.repeat(256) } }))).toEqual({ error: 'invalid_name' });
    expect(snapshot(t, rootId)).toEqual(before);
    const moved = await api.post(`${rootId}/${f.id}/move`, { form: { to_folder_id: String(dir.id) } });
    expect(moved.statusCode).toBe(200);
    expect((await get(`${rootId}/${f.id}`)).body.path).toBe('/Moves/ONE.txt');
    await put('one.txt', 'other', undefined);
    const clash = await api.post(`${rootId}/${f.id}/move`);
    expect(clash.statusCode).toBe(409);
    expect(json(clash)).toEqual({ error: 'name_conflict' });
    const toFile = await api.post(`${rootId}/${f.id}/move`, { form: { to_folder_id: String(f.id) } });
    expect(toFile.statusCode).toBe(404);
  });

  it('deletes files; a deleted file keeps its metadata and revisions', async () => {
    const f = await put('gone.txt', 'soon gone');
    const del = await api.post(`${rootId}/${f.id}/delete`);
    expect(del.statusCode).toBe(200);
    expect(json(del)).toEqual({ status: 'ok' });
    const meta = await get(`${rootId}/${f.id}`);
    expect(meta.body.is_deleted).toBe(true);
    const revs = await get(`${rootId}/${f.id}/revisions`);
    expect(revs.body.total).toBe(1);
    const rename = await api.post(`${rootId}/${f.id}/rename`, { form: { name: 'back.txt' } });
    expect(rename.statusCode).toBe(404);
    const again = await put('gone.txt', 'new content');
    expect(again.id).not.toBe(f.id);
    const related = await get(`${rootId}/${again.id}/revisions`, { include_related: 'true' });
    expect(related.body.total).toBe(2);
    expect((related.body.results as Json[]).map((r) => r.file_id)).toEqual([again.id, f.id]);
  });
});

describe('children: paging and sorting', () => {
  let folderId: number;
  beforeAll(async () => {
    folderId = (await mkdir('Paging')).id as number;
    for (let i = 0; i < 25; i++) {
      const name = `f${String(i).padStart(2, '0')}.txt`;
      // sizes descend with the name so that name and size orders differ
      await put(name, 'x'.repeat(100 - i), folderId, { modified: `2020-01-${String(1 + ((i * 7) % 25)).padStart(2, '0')}T00:00:00` });
    }
  });

  it('pages with the documented envelope', async () => {
    const p1 = await get(`${rootId}/folder/${folderId}/children`, { page_size: 10 });
    expect(p1.status).toBe(200);
    expect(p1.body).toMatchObject({ page: 1, page_size: 10, max_page: 3, total: 25 });
    expect((p1.body.results as Json[]).map((r) => r.name)).toEqual(Array.from({ length: 10 }, (_, i) => `f${String(i).padStart(2, '0')}.txt`));
    const p3 = await get(`${rootId}/folder/${folderId}/children`, { page_size: 10, page: 3 });
    expect((p3.body.results as Json[]).length).toBe(5);
    const dflt = await get(`${rootId}/folder/${folderId}/children`);
    expect(dflt.body).toMatchObject({ page: 1, page_size: 20, max_page: 2, total: 25 });
  });

  it('sorts by name, size and modified in both directions', async () => {
    const names = (b: Json) => (b.results as Json[]).map((r) => r.name as string);
    const byNameDesc = await get(`${rootId}/folder/${folderId}/children`, { sort_order: 'desc', page_size: 3 });
    expect(names(byNameDesc.body)).toEqual(['f24.txt', 'f23.txt', 'f22.txt']);
    const bySize = await get(`${rootId}/folder/${folderId}/children`, { sort_by: 'size', page_size: 3 });
    expect((bySize.body.results as Json[]).map((r) => r.size)).toEqual([76, 77, 78]);
    const byModified = await get(`${rootId}/folder/${folderId}/children`, { sort_by: 'modified', sort_order: 'desc', page_size: 100 });
    const mods = (byModified.body.results as Json[]).map((r) => r.modified as string);
    expect(mods).toEqual([...mods].sort().reverse());
    expect(mods[0]).toBe('2020-01-25T00:00:00');
  });

  it('rejects invalid paging and sorting values', async () => {
    for (const [param, value] of [
      ['page', '0'],
      ['page', 'x'],
      ['page_size', '0'],
      ['page_size', '101'],
      ['sort_by', 'date'],
      ['sort_order', 'up'],
      ['include_deleted', 'yes'],
    ] as const) {
      const res = await get(`${rootId}/folder/${folderId}/children`, { [param]: value });
      expect(res.status, `${param}=${value}`).toBe(400);
      expect(res.body).toEqual({ error: 'invalid_request', error_description: `Invalid value for parameter: ${param}` });
    }
  });
});

describe('search and modified_since', () => {
  it('finds files and folders by part of the name, case-insensitively', async () => {
    const d = await mkdir('Quarterly');
    await put('quarterly-report.txt', 'q', d.id as number);
    await put('100%_done.txt', 'p');
    const res = await get(`${rootId}/search`, { q: 'QUARTERLY' });
    expect(res.status).toBe(200);
    expect((res.body.results as Json[]).map((r) => r.path).sort()).toEqual(['/Quarterly', '/Quarterly/quarterly-report.txt']);
    const pct = await get(`${rootId}/search`, { q: '%_' });
    expect((pct.body.results as Json[]).map((r) => r.name)).toEqual(['100%_done.txt']);
    const missing = await get(`${rootId}/search`);
    expect(missing.body).toEqual({ error: 'invalid_request', error_description: 'Missing required parameter: q' });
  });

  it('lists files changed on the server since a time, deleted ones unless excluded', async () => {
    const person = newPerson(t);
    const p = filesClient(t, person);
    const root = person.root_id!;
    skewMs = -3600_000; // an hour ago
    const old = json(await upload(p, `${root}/upload`, 'old', { filename: 'old.txt' }));
    const moved = json(await upload(p, `${root}/upload`, 'moved', { filename: 'moved.txt' }));
    const removed = json(await upload(p, `${root}/upload`, 'removed', { filename: 'removed.txt' }));
    skewMs = 0;
    const since = new Date(Date.now() - 60_000).toISOString().slice(0, 19);
    // A new file whose client mtime is years old still counts as changed now.
    const fresh = json(await upload(p, `${root}/upload`, 'fresh', { filename: 'fresh.txt', fields: { modified: '2001-02-03T04:05:06' } }));
    expect(fresh.modified).toBe('2001-02-03T04:05:06');
    expect((await p.post(`${root}/${moved.id}/rename`, { form: { name: 'renamed.txt' } })).statusCode).toBe(200);
    expect((await p.post(`${root}/${removed.id}/delete`)).statusCode).toBe(200);
    const res = await p.get(`${root}/modified_since`, { searchParams: { since } });
    expect(res.statusCode).toBe(200);
    const ids = (json(res).results as Json[]).map((r) => r.id).sort();
    expect(ids).toEqual([fresh.id, moved.id, removed.id].sort());
    expect(ids).not.toContain(old.id);
    const live = json(await p.get(`${root}/modified_since`, { searchParams: { since, include_deleted: 'false' } }));
    expect((live.results as Json[]).map((r) => r.id)).not.toContain(removed.id);
    for (const bad of ['2020-01-01', '2020-13-01T00:00:00', 'yesterday', '2020-01-01 00:00:00']) {
      const r = await p.get(`${root}/modified_since`, { searchParams: { since: bad } });
      expect(r.statusCode).toBe(400);
      expect(json(r)).toEqual({ error: 'invalid_datetime_format', error_description: 'Invalid datetime format. The expected format is: YYYY-MM-DDTHH:MM:SS' });
    }
    const none = await p.get(`${root}/modified_since`);
    expect(json(none)).toEqual({ error: 'invalid_request', error_description: 'Missing required parameter: since' });
  });
});

describe('locks', () => {
  it('a lock by one person blocks the others until unlocked or expired', async () => {
    const ctx = t.server.ctx;
    const share = createRoot(ctx, { company_id: admin.company_id, person_id: null, name: 'Locks', root_type: 'share' });
    const alice = newPerson(t);
    const bob = newPerson(t);
    ctx.db.prepare(`INSERT INTO root_members (root_id, person_id) VALUES (?, ?), (?, ?)`).run(share.id, alice.id, share.id, bob.id);
    const a = filesClient(t, alice);
    const b = filesClient(t, bob);
    const file = json(await upload(a, `${share.id}/upload`, 'locked', { filename: 'doc.txt' }));
    // user_lock_files is off by default: users may not lock.
    const refused = await a.post(`${share.id}/${file.id}/lock`);
    expect(refused.statusCode).toBe(403);
    setPolicy(t, admin.company_id, { user_lock_files: true });
    const lock = await a.post(`${share.id}/${file.id}/lock`, { form: { duration: '10' } });
    expect(lock.statusCode).toBe(200);
    expect(json(lock)).toEqual({ status: 'ok' });
    expect(json(await b.get(`${share.id}/${file.id}`)).is_locked).toBe(true);
    const before = snapshot(t, share.id);
    for (const res of [
      await b.post(`${share.id}/${file.id}/rename`, { form: { name: 'x.txt' } }),
      await b.post(`${share.id}/${file.id}/delete`),
      await b.post(`${share.id}/${file.id}/lock`),
      await b.post(`${share.id}/${file.id}/unlock`),
      await upload(b, `${share.id}/${file.id}/upload`, 'new', { fields: { base_revision_id: String(file.revision_id) } }),
    ]) {
      expect(res.statusCode).toBe(409);
      expect(json(res)).toEqual({ error: 'resource_locked' });
    }
    expect(snapshot(t, share.id)).toEqual(before);
    // The owner of the lock may still change the file.
    expect((await a.post(`${share.id}/${file.id}/rename`, { form: { name: 'doc2.txt' } })).statusCode).toBe(200);
    const badDuration = await a.post(`${share.id}/${file.id}/lock`, { form: { duration: '-5' } });
    expect(json(badDuration)).toEqual({ error: 'invalid_request', error_description: 'Invalid value for parameter: duration' });
    // Expiry: eleven minutes later the lock is gone.
    skewMs = 11 * 60_000;
    try {
      expect(json(await b.get(`${share.id}/${file.id}`)).is_locked).toBe(false);
      expect((await b.post(`${share.id}/${file.id}/rename`, { form: { name: 'doc3.txt' } })).statusCode).toBe(200);
    } finally {
      skewMs = 0;
    }
    // Folder lock covers the content below it; root lock covers everything.
    const folder = json(await a.post(`${share.id}/create_folder`, { form: { name: 'Locked dir' } }));
    expect((await a.post(`${share.id}/folder/${folder.id}/lock`)).statusCode).toBe(200);
    const inside = await upload(b, `${share.id}/folder/${folder.id}/upload`, 'x', { filename: 'x.txt' });
    expect(inside.statusCode).toBe(409);
    expect(json(inside)).toEqual({ error: 'resource_locked' });
    expect((await a.post(`${share.id}/folder/${folder.id}/unlock`)).statusCode).toBe(200);
    expect((await upload(b, `${share.id}/folder/${folder.id}/upload`, 'x', { filename: 'x.txt' })).statusCode).toBe(200);
    expect((await a.post(`${share.id}/lock`, { form: { duration: '5' } })).statusCode).toBe(200);
    expect(json(await b.get(`${share.id}`)).is_locked).toBe(true);
    const bobsRoots = async () =>
      json(await t.http.get(`${t.url}/api/2/person`, { headers: { authorization: basicAuth(bob.email, 'user-password-1') } })).roots as Json[];
    expect((await bobsRoots()).find((r) => r.id === share.id)?.is_locked).toBe(true);
    // The root lock expires too, and every rendering of the root says so.
    skewMs = 6 * 60_000;
    try {
      expect(json(await b.get(`${share.id}`)).is_locked).toBe(false);
      expect((await bobsRoots()).find((r) => r.id === share.id)?.is_locked).toBe(false);
    } finally {
      skewMs = 0;
    }
    expect(json(await b.post(`${share.id}/create_folder`, { form: { name: 'Nope' } }))).toEqual({ error: 'resource_locked' });
    // An admin may break someone else's lock.
    expect((await api.post(`${share.id}/unlock`)).statusCode).toBe(200);
    expect((await b.post(`${share.id}/create_folder`, { form: { name: 'Yes' } })).statusCode).toBe(200);
    setPolicy(t, admin.company_id, { user_lock_files: false });
  });
});

describe('malformed requests', () => {
  it('answers 404 for malformed ids and 405 for the wrong method', async () => {
    for (const path of ['abc', '-1', '1.5', `${rootId}/folder/abc`, `${rootId}/folder/1e3/children`, `${rootId}/x/revisions`, '99999999999999999999']) {
      const res = await api.get(path);
      expect(res.statusCode, path).toBe(404);
      expect(json(res)).toEqual({ error: 'not_found' });
    }
    const wrong = await api.get(`${rootId}/create_folder`);
    expect(wrong.statusCode).toBe(405);
    expect(json(wrong)).toEqual({ error: 'method_not_allowed' });
  });

  it('rejects array and oversized parameter values', async () => {
    const arr = await api.post(`${rootId}/create_folder`, { json: { name: ['a', 'b'] } });
    expect(arr.statusCode).toBe(400);
    expect(json(arr)).toEqual({ error: 'invalid_request', error_description: 'Invalid value for parameter: name' });
    const twice = await api.get(`${rootId}/children`, { searchParams: new URLSearchParams([['page', '1'], ['page', '2']]) });
    expect(json(twice)).toEqual({ error: 'invalid_request', error_description: 'Invalid value for parameter: page' });
  });
});
