// The batch transfer extension of the reference server: POST …/batch/upload (each item with the
// checks, errors and side effects of its single-file upload, in order) and POST
// …/batch/download (framed stream, per-item errors), their limits, and their access checks.
import { randomBytes } from 'node:crypto';
import type { Got, Response } from 'got';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filesClient, json, newPerson, revisionCount, rootOf, sha256, snapshot, upload, type Json } from '../helpers/files.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let t: TestServer;
let api: Got;
let rootId: number;
let companyId: number;

beforeAll(async () => {
  t = await startTestServer();
  const p = newPerson(t);
  api = filesClient(t, p);
  rootId = rootOf(t, p).id;
  companyId = p.company_id;
});
afterAll(async () => t?.stop());

interface Item {
  folder_id?: number | null;
  name?: string;
  file_id?: number;
  base_revision_id?: number;
  modified?: string;
  size?: number;
}

/** POST …/batch/upload: the manifest (sizes from the contents unless given), then one part per content. */
function batchUpload(g: Got, root: number, items: Item[], contents: Buffer[], manifest?: string): Promise<Response<string>> {
  const form = new FormData();
  form.append('manifest', manifest ?? JSON.stringify({ items: items.map((it, i) => ({ folder_id: null, size: contents[i]?.length, ...it })) }));
  for (const c of contents) form.append('file', new Blob([c]), 'blob');
  return g.post(`${root}/batch/upload`, { body: form });
}

interface Frame {
  header: Json & { file_id: number; size?: number; sha256?: string; revision_id?: number };
  content: Buffer;
}

/** Splits an application/vnd.axis.batch body into its frames. */
function frames(body: Buffer): Frame[] {
  const out: Frame[] = [];
  let pos = 0;
  while (pos < body.length) {
    const nl = body.indexOf(0x0a, pos);
    expect(nl).toBeGreaterThan(pos);
    const header = JSON.parse(body.subarray(pos, nl).toString('utf8')) as Frame['header'];
    const size = header.error ? 0 : header.size!;
    out.push({ header, content: body.subarray(nl + 1, nl + 1 + size) });
    pos = nl + 1 + size;
  }
  expect(pos).toBe(body.length);
  return out;
}

const orgUsage = () => (t.server.ctx.db.prepare(`SELECT bytes FROM org_usage WHERE company_id = ?`).get(companyId) as { bytes: number }).bytes;

async function mkdir(name: string): Promise<number> {
  const res = await api.post(`${rootId}/create_folder`, { form: { name } });
  expect(res.statusCode, res.body).toBe(200);
  return json(res).id as number;
}

async function download(g: Got, path: string): Promise<Buffer> {
  const res = await g.get(path, { responseType: 'buffer' });
  expect(res.statusCode).toBe(200);
  return res.body;
}

describe('batch upload', () => {
  it('applies each item like its single upload: new files and revisions stored, failures reported per item', async () => {
    const folderId = await mkdir('Batch');
    expect((await upload(api, `${rootId}/folder/${folderId}/upload`, 'taken', { filename: 'taken.txt' })).statusCode).toBe(200);
    const doc = json(await upload(api, `${rootId}/upload`, 'version 1', { filename: 'doc.txt' }));
    const rev2 = json(await upload(api, `${rootId}/${doc.id}/upload`, 'version two', { fields: { base_revision_id: String(doc.revision_id) } }));
    const usageBefore = orgUsage();
    const revisionsBefore = revisionCount(t);

    const a = randomBytes(3000);
    const b = randomBytes(10);
    const v3 = Buffer.from('version three, from a batch');
    const items: Item[] = [
      { folder_id: folderId, name: 'a.bin' },
      { folder_id: folderId, name: 'taken.txt' },
      { file_id: doc.id as number, base_revision_id: doc.revision_id as number },
      { folder_id: null, name: 'setup.exe' },
      { file_id: doc.id as number, base_revision_id: rev2.revision_id as number, modified: '2021-03-04T05:06:07' },
      { folder_id: null, name: 'b.bin', modified: '2019-12-05T14:12:11' },
      { folder_id: 999_999, name: 'nowhere.txt' },
    ];
    const contents = [a, Buffer.from('dup'), Buffer.from('stale'), Buffer.from('MZ'), v3, b, Buffer.from('x')];
    const res = await batchUpload(api, rootId, items, contents);
    expect(res.statusCode, res.body).toBe(200);
    const { results } = json(res) as { results: Json[] };
    expect(results).toHaveLength(7);

    // Stored items: the file object of the single upload, with the right content.
    const fa = results[0]!.file as Json;
    expect(fa).toMatchObject({ type: 'file', name: 'a.bin', path: '/Batch/a.bin', size: 3000, sha256: sha256(a), is_deleted: false });
    expect(sha256(await download(api, `${rootId}/${fa.id}/download`))).toBe(sha256(a));
    const fdoc = results[4]!.file as Json;
    expect(fdoc).toMatchObject({ id: doc.id, name: 'doc.txt', size: v3.length, sha256: sha256(v3), modified: '2021-03-04T05:06:07' });
    expect(fdoc.revision_id).not.toBe(rev2.revision_id);
    expect((await download(api, `${rootId}/${doc.id}/download`)).toString()).toBe(v3.toString());
    const fb = results[5]!.file as Json;
    expect(fb).toMatchObject({ name: 'b.bin', path: '/b.bin', size: 10, sha256: sha256(b), modified: '2019-12-05T14:12:11' });
    // The same object GET …/<file_id> answers.
    const meta = json(await api.get(`${rootId}/${fb.id}`));
    expect(fb).toEqual(meta);

    // Failed items: exactly the status and body of the single route for the same request.
    const single = async (path: string, content: string, fields: Record<string, string>, filename = 'blob') => {
      const r = await upload(api, path, content, { filename, fields });
      return { status: r.statusCode, ...json(r) };
    };
    expect(results[1]).toEqual({ error: await single(`${rootId}/folder/${folderId}/upload`, 'dup', { name: 'taken.txt' }) });
    expect(results[1]).toEqual({ error: { status: 409, error: 'name_conflict' } });
    // Items apply in order: when item 2 ran, the current revision was rev2 (item 4 came later).
    const stale = await single(`${rootId}/${doc.id}/upload`, 'stale', { base_revision_id: String(doc.revision_id) });
    const describe = (current: unknown) => `The base revision ${String(doc.revision_id)} is not the file's current revision ${String(current)}.`;
    expect(stale).toEqual({ status: 409, error: 'revision_conflict', error_description: describe(fdoc.revision_id), current_revision_id: fdoc.revision_id });
    expect(results[2]).toEqual({ error: { ...stale, error_description: describe(rev2.revision_id), current_revision_id: rev2.revision_id } });
    expect(results[3]).toEqual({ error: await single(`${rootId}/upload`, 'MZ', { name: 'setup.exe' }) });
    expect(results[3]).toEqual({ error: { status: 400, error: 'invalid_extension' } });
    expect(results[6]).toEqual({ error: await single(`${rootId}/folder/999999/upload`, 'x', { name: 'nowhere.txt' }) });
    expect(results[6]).toEqual({ error: { status: 404, error: 'not_found' } });

    // Side effects of exactly the three stored items: revisions and usage counters.
    expect(revisionCount(t)).toBe(revisionsBefore + 3);
    expect(orgUsage()).toBe(usageBefore + a.length + b.length + v3.length - 'version two'.length);
    // The change feed saw them.
    const changes = json(await api.get(`${rootId}/changes`, { searchParams: { cursor: 0, limit: 1000 } }));
    const names = (changes.results as Json[]).map((c) => c.name);
    expect(names).toEqual(expect.arrayContaining(['a.bin', 'b.bin', 'doc.txt']));
  });

  it('applies items in order: the second of two same names in one batch is a name_conflict', async () => {
    const res = await batchUpload(api, rootId, [{ name: 'twice.txt' }, { name: 'TWICE.txt' }], [Buffer.from('one'), Buffer.from('two')]);
    const { results } = json(res) as { results: Json[] };
    expect((results[0]!.file as Json).name).toBe('twice.txt');
    expect(results[1]).toEqual({ error: { status: 409, error: 'name_conflict' } });
  });

  it('checks the space quota item after item: items that fit alone but not together, the later one refused', async () => {
    // The items' blobs are stored concurrently after checks that each see the space free; the
    // commits, in manifest order, check again and refuse what no longer fits.
    const p = newPerson(t, { space_quota: 1000 });
    const g = filesClient(t, p);
    const root = rootOf(t, p).id;
    const [a, b, c] = [randomBytes(600), randomBytes(600), randomBytes(300)];
    const res = await batchUpload(g, root, [{ name: 'a.bin' }, { name: 'b.bin' }, { name: 'c.bin' }], [a, b, c]);
    expect(res.statusCode, res.body).toBe(200);
    const { results } = json(res) as { results: Json[] };
    expect((results[0]!.file as Json).sha256).toBe(sha256(a));
    expect(results[1]).toEqual({ error: { status: 409, error: 'policy_error', error_description: "The account's space quota would be exceeded." } });
    expect((results[2]!.file as Json).sha256).toBe(sha256(c));
    const names = (t.server.ctx.db.prepare(`SELECT name FROM nodes WHERE root_id = ? AND is_deleted = 0`).all(root) as { name: string }[]).map((r) => r.name);
    expect(names.sort()).toEqual(['a.bin', 'c.bin']);
  });

  it('a part whose size differs from the manifest fails that item only', async () => {
    const res = await batchUpload(api, rootId, [{ name: 'short.txt', size: 5 }, { name: 'fine.txt' }, { name: 'long.txt', size: 2 }], [
      Buffer.from('1234'),
      Buffer.from('fine'),
      Buffer.from('12345'),
    ]);
    expect(res.statusCode).toBe(200);
    const { results } = json(res) as { results: Json[] };
    expect(results[0]).toEqual({ error: { status: 400, error: 'invalid_request', error_description: 'Item 0: the file part has 4 bytes, the manifest says 5.' } });
    expect((results[1]!.file as Json).name).toBe('fine.txt');
    expect(results[2]).toEqual({ error: { status: 400, error: 'invalid_request', error_description: 'Item 2: the file part has 5 bytes, the manifest says 2.' } });
    const names = (t.server.ctx.db.prepare(`SELECT name FROM nodes WHERE root_id = ?`).all(rootId) as { name: string }[]).map((r) => r.name);
    expect(names).toContain('fine.txt');
    expect(names).not.toContain('short.txt');
    expect(names).not.toContain('long.txt');
  });

  it('refuses broken limits, manifests and part counts with 400 invalid_request and stores nothing', async () => {
    const before = snapshot(t, rootId);
    const revisions = revisionCount(t);
    const expect400 = async (res: Response<string>, description: RegExp) => {
      expect(res.statusCode, res.body).toBe(400);
      const body = json(res);
      expect(body.error).toBe('invalid_request');
      expect(body.error_description).toMatch(description);
    };
    const many = Array.from({ length: 257 }, (_, i) => Buffer.from(`n${i}`));
    await expect400(await batchUpload(api, rootId, many.map((_, i) => ({ name: `many-${i}.txt` })), many), /1 to 256 items/);
    await expect400(await batchUpload(api, rootId, [], []), /1 to 256 items/);
    await expect400(await batchUpload(api, rootId, [], [Buffer.from('x')], '{"items": [ {"name": "x.txt", '), /not valid JSON/);
    await expect400(await batchUpload(api, rootId, [], [Buffer.from('x')], JSON.stringify({ items: [{ name: 'x.txt' }] })), /invalid size/);
    await expect400(await batchUpload(api, rootId, [], [Buffer.from('x')], JSON.stringify({ items: [{ name: 5, size: 1 }] })), /invalid name/);
    await expect400(await batchUpload(api, rootId, [], [Buffer.from('x')], JSON.stringify([{ name: 'x.txt', size: 1 }])), /items/);
    // Over the per-item limit (the manifest is refused before the part is read).
    await expect400(await batchUpload(api, rootId, [{ name: 'big.bin', size: 1024 * 1024 + 1 }], [Buffer.from('x')]), /larger than 1048576 bytes/);
    // Over the total: 33 items of 1 MiB declared.
    const total = Array.from({ length: 33 }, (_, i) => ({ name: `t${i}`, size: 1024 * 1024 }));
    await expect400(await batchUpload(api, rootId, total, [Buffer.from('x')]), /more than 33554432 bytes/);
    // Fewer and more parts than items: not even the first item is stored.
    await expect400(await batchUpload(api, rootId, [{ name: 'p1.txt' }, { name: 'p2.txt', size: 1 }], [Buffer.from('p1')]), /1 file parts for the 2 items/);
    await expect400(await batchUpload(api, rootId, [{ name: 'q1.txt' }], [Buffer.from('q1'), Buffer.from('q2')]), /More file parts/);
    // The manifest must come first.
    const form = new FormData();
    form.append('file', new Blob(['x']), 'x');
    form.append('manifest', JSON.stringify({ items: [{ name: 'x.txt', size: 1 }] }));
    await expect400(await api.post(`${rootId}/batch/upload`, { body: form }), /first part must be the field manifest/);
    const extra = new FormData();
    extra.append('manifest', JSON.stringify({ items: [{ name: 'x.txt', size: 1 }] }));
    extra.append('file', new Blob(['x']), 'x');
    extra.append('name', 'late.txt');
    await expect400(await api.post(`${rootId}/batch/upload`, { body: extra }), /Unexpected part name/);
    const big = new FormData();
    big.append('manifest', JSON.stringify({ items: [{ name: 'x.txt', size: 1 }], pad: 'p'.repeat(1024 * 1024) }));
    big.append('file', new Blob(['x']), 'x');
    await expect400(await api.post(`${rootId}/batch/upload`, { body: big }), /manifest is too large/);
    await expect400(await api.post(`${rootId}/batch/upload`, { json: { items: [] } }), /multipart/);
    expect(snapshot(t, rootId)).toEqual(before);
    expect(revisionCount(t)).toBe(revisions);
  });

  it("another person's root: the same error as the single upload, nothing stored", async () => {
    const other = newPerson(t);
    const otherRoot = rootOf(t, other).id;
    const before = snapshot(t, otherRoot);
    const res = await batchUpload(api, otherRoot, [{ name: 'intruder.txt' }], [Buffer.from('x')]);
    const single = await upload(api, `${otherRoot}/upload`, 'x', { filename: 'intruder.txt' });
    expect(single.statusCode).toBe(403);
    expect(res.statusCode).toBe(single.statusCode);
    expect(json(res)).toEqual(json(single));
    expect(snapshot(t, otherRoot)).toEqual(before);
    // A read-only member (VIEWER) of the root: 403 like the single upload; downloads allowed.
    const viewer = newPerson(t);
    t.server.ctx.db.prepare(`INSERT INTO root_members (root_id, person_id, role) VALUES (?, ?, 'VIEWER')`).run(otherRoot, viewer.id);
    const viewerApi = filesClient(t, viewer);
    const asViewer = await batchUpload(viewerApi, otherRoot, [{ name: 'viewer.txt' }], [Buffer.from('x')]);
    const singleViewer = await upload(viewerApi, `${otherRoot}/upload`, 'x', { filename: 'viewer.txt' });
    expect(singleViewer.statusCode).toBe(403);
    expect({ status: asViewer.statusCode, body: json(asViewer) }).toEqual({ status: 403, body: json(singleViewer) });
    expect(snapshot(t, otherRoot)).toEqual(before);
    // Unauthenticated: 401 like every /api/2 call.
    const anon = await t.http.post(`api/2/files/${rootId}/batch/upload`, { json: {} });
    expect(anon.statusCode).toBe(401);
  });
});

describe('batch download', () => {
  let files: { id: number; revision_id: number; content: Buffer }[];
  let firstRevision: { id: number; content: Buffer };

  beforeAll(async () => {
    files = [];
    for (const size of [0, 1, 70_000, 300_000]) {
      const content = randomBytes(size);
      const f = json(await upload(api, `${rootId}/upload`, content, { filename: `dl-${size}.bin` }));
      files.push({ id: f.id as number, revision_id: f.revision_id as number, content });
    }
    const last = files[3]!;
    firstRevision = { id: last.revision_id, content: last.content };
    const next = randomBytes(1234);
    const f = json(await upload(api, `${rootId}/${last.id}/upload`, next, { fields: { base_revision_id: String(last.revision_id) } }));
    files[3] = { id: last.id, revision_id: f.revision_id as number, content: next };
  });

  it('streams one header line and the bytes per item, with a missing file in the middle as an error frame', async () => {
    const items = [
      { file_id: files[0]!.id },
      { file_id: files[2]!.id },
      { file_id: 999_999 },
      { file_id: files[1]!.id },
      { file_id: files[3]!.id },
      { file_id: files[3]!.id, revision_id: firstRevision.id },
    ];
    const res = await api.post(`${rootId}/batch/download`, { json: { items }, responseType: 'buffer' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/vnd.axis.batch');
    const got = frames(res.body);
    expect(got).toHaveLength(6);
    const expected = [files[0]!, files[2]!, undefined, files[1]!, files[3]!, { id: files[3]!.id, revision_id: firstRevision.id, content: firstRevision.content }];
    for (const [i, f] of expected.entries()) {
      if (!f) continue;
      expect(got[i]!.header).toEqual({ file_id: f.id, revision_id: f.revision_id, size: f.content.length, sha256: sha256(f.content) });
      expect(Buffer.compare(got[i]!.content, f.content), `item ${i}`).toBe(0);
    }
    // The error frame carries what the single download answers.
    const single = await api.get(`${rootId}/999999/download`);
    expect(got[2]!.header).toEqual({ file_id: 999_999, error: { status: single.statusCode, ...json(single) } });
    expect(got[2]!.header.error).toEqual({ status: 404, error: 'not_found' });
  });

  it('an unknown revision of an existing file is a per-item not_found', async () => {
    const res = await api.post(`${rootId}/batch/download`, { json: { items: [{ file_id: files[1]!.id, revision_id: 999_999 }, { file_id: files[1]!.id }] }, responseType: 'buffer' });
    const got = frames(res.body);
    const single = await api.get(`${rootId}/${files[1]!.id}/revisions/999999/download`);
    expect(got[0]!.header).toEqual({ file_id: files[1]!.id, error: { status: single.statusCode, ...json(single) } });
    expect(got[1]!.content.length).toBe(1);
  });

  it('refuses bad requests and more than 64 MiB in all with 400 invalid_request', async () => {
    for (const body of [{ items: [] }, { items: Array.from({ length: 257 }, () => ({ file_id: files[1]!.id })) }, { items: [{ file_id: 'x' }] }, { nope: 1 }]) {
      const res = await api.post(`${rootId}/batch/download`, { json: body });
      expect(res.statusCode, JSON.stringify(body).slice(0, 60)).toBe(400);
      expect(json(res).error).toBe('invalid_request');
    }
    // 256 × the first revision (300 000 bytes) = 76.8 MB.
    const res = await api.post(`${rootId}/batch/download`, { json: { items: Array.from({ length: 256 }, () => ({ file_id: files[3]!.id, revision_id: firstRevision.id })) } });
    expect(res.statusCode).toBe(400);
    expect(json(res)).toEqual({ error: 'invalid_request', error_description: 'The files add up to more than 67108864 bytes.' });
  });

  it("another person's root: the same error as the single download", async () => {
    const other = newPerson(t);
    const otherApi = filesClient(t, other);
    const otherRoot = rootOf(t, other).id;
    const f = json(await upload(otherApi, `${otherRoot}/upload`, 'secret', { filename: 'secret.txt' }));
    const res = await api.post(`${otherRoot}/batch/download`, { json: { items: [{ file_id: f.id }] } });
    const single = await api.get(`${otherRoot}/${f.id}/download`);
    expect(single.statusCode).toBe(403);
    expect(res.statusCode).toBe(403);
    expect(json(res)).toEqual(json(single));
    // A file id of another root through one's own root: not_found, as the single route says.
    const cross = await api.post(`${rootId}/batch/download`, { json: { items: [{ file_id: f.id }] }, responseType: 'buffer' });
    expect(frames(cross.body)[0]!.header).toEqual({ file_id: f.id, error: { status: 404, error: 'not_found' } });
  });
});
