// Uploads and downloads of the v2 file system API against a real reference server: the
// documented upload errors, policy (excluded extensions, max_file_size, quotas), 50
// concurrent uploads, the revision upload extension (base_revision_id), revisions, Range
// downloads and ZIP downloads.
import { randomBytes } from 'node:crypto';
import { readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import type { Got } from 'got';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PersonRow } from '../../src/server/context.js';
import { filesClient, json, newPerson, personByEmail, revisionCount, setPolicy, sha256, snapshot, upload, type Json } from '../helpers/files.js';
import { ADMIN_EMAIL, startTestServer, type TestServer } from '../helpers/server.js';

let t: TestServer;
let admin: PersonRow;
let api: Got;
let rootId: number;

beforeAll(async () => {
  t = await startTestServer();
  admin = personByEmail(t, ADMIN_EMAIL);
  api = filesClient(t, admin);
  rootId = admin.root_id!;
});

afterAll(async () => {
  await t?.stop();
});

/** Every blob file in the store (the temp dir excluded). */
function blobFiles(): string[] {
  const dir = path.join(t.dataDir, 'blobs');
  return readdirSync(dir)
    .filter((d) => d !== 'tmp')
    .flatMap((d) => readdirSync(path.join(dir, d)).map((f) => d + f));
}

function tmpFiles(): string[] {
  return readdirSync(path.join(t.dataDir, 'blobs', 'tmp'));
}

async function mkdir(api2: Got, root: number, name: string): Promise<Json> {
  const res = await api2.post(`${root}/create_folder`, { form: { name } });
  expect(res.statusCode, res.body).toBe(200);
  return json(res);
}

describe('upload', () => {
  it('stores a file and answers the file object; download returns the same bytes', async () => {
    const dir = await mkdir(api, rootId, 'Uploads');
    const content = randomBytes(200_000);
    const res = await upload(api, `${rootId}/folder/${dir.id}/upload`, content, { filename: 'data.bin', fields: { modified: '2019-12-05T14:12:11' } });
    expect(res.statusCode, res.body).toBe(200);
    const file = json(res);
    expect(file).toMatchObject({
      type: 'file',
      root_id: rootId,
      name: 'data.bin',
      path: '/Uploads/data.bin',
      is_deleted: false,
      is_locked: false,
      size: 200_000,
      size_formatted: '195.31k',
      modified: '2019-12-05T14:12:11',
      sha256: sha256(content),
    });
    const dl = await api.get(`${rootId}/${file.id}/download`, { responseType: 'buffer' });
    expect(dl.statusCode).toBe(200);
    expect(sha256(dl.body)).toBe(sha256(content));
    expect(dl.headers['content-disposition']).toBe(`attachment; filename="data.bin"; filename*=UTF-8''data.bin`);
    expect(dl.headers['content-length']).toBe('200000');
    const view = await api.get(`${rootId}/${file.id}/view`, { responseType: 'buffer' });
    expect(view.headers['content-disposition']).toMatch(/^inline; /);
    expect(Buffer.compare(view.body, content)).toBe(0);
  });

  it('takes the name from the multipart filename, or from the `name` field, NFC-normalized', async () => {
    const a = json(await upload(api, `${rootId}/upload`, 'a', { filename: 'Re\u0301sume\u0301.txt' }));
    expect(a.name).toBe('R\u00e9sum\u00e9.txt');
    const b = json(await upload(api, `${rootId}/upload`, 'b', { filename: 'ignored.txt', fields: { name: 'chosen.txt' } }));
    expect(b.name).toBe('chosen.txt');
    const dup = await upload(api, `${rootId}/upload`, 'b', { filename: 'CHOSEN.TXT' });
    expect(dup.statusCode).toBe(409);
    expect(json(dup)).toEqual({ error: 'name_conflict' });
    const dl = await api.get(`${rootId}/${a.id}/download`);
    expect(dl.headers['content-disposition']).toBe(`attachment; filename="R_sum_.txt"; filename*=UTF-8''R%C3%A9sum%C3%A9.txt`);
  });

  it('no_file_received without a file part, for a non-multipart body and for another field name', async () => {
    const expected = { error: 'no_file_received', error_description: 'Missing required file: file' };
    const form = new FormData();
    form.append('name', 'x.txt');
    const noFile = await api.post(`${rootId}/upload`, { body: form });
    expect(noFile.statusCode).toBe(400);
    expect(json(noFile)).toEqual(expected);
    const urlencoded = await api.post(`${rootId}/upload`, { form: { file: 'not a file' } });
    expect(urlencoded.statusCode).toBe(400);
    expect(json(urlencoded)).toEqual(expected);
    const other = new FormData();
    other.append('attachment', new Blob(['x']), 'x.txt');
    const wrongField = await api.post(`${rootId}/upload`, { body: other });
    expect(json(wrongField)).toEqual(expected);
    // What a browser form sends when no file was chosen: an empty filename and no content.
    const browser = new FormData();
    browser.append('file', new Blob([]), '');
    expect(json(await api.post(`${rootId}/upload`, { body: browser }))).toEqual(expected);
  });

  it('rejects bad names and excluded extensions before storing anything', async () => {
    const before = snapshot(t, rootId);
    const blobsBefore = blobFiles();
    const revisions = revisionCount(t);
    for (const filename of ['../x.txt', 'a/b.txt', 'C:\\x.txt', '..', ' lead.txt', 'trail.txt ']) {
      const res = await upload(api, `${rootId}/upload`, `content of ${filename}`, { filename });
      expect(res.statusCode, filename).toBe(400);
      expect(json(res), filename).toEqual({ error: 'invalid_name' });
    }
    for (const name of ['a\u0000b.txt', '../../etc/passwd', 'x\u0007.txt', 'n'.repeat(252) + '.txt']) {
      const res = await upload(api, `${rootId}/upload`, 'evil', { filename: 'fine.txt', fields: { name } });
      expect(res.statusCode, JSON.stringify(name)).toBe(400);
      expect(json(res)).toEqual({ error: 'invalid_name' });
    }
    const exe = await upload(api, `${rootId}/upload`, 'MZ', { filename: 'setup.EXE' });
    expect(exe.statusCode).toBe(400);
    expect(json(exe)).toEqual({ error: 'invalid_extension' });
    const badTime = await upload(api, `${rootId}/upload`, 'x', { filename: 'x.txt', fields: { modified: '2020-02-30T00:00:00' } });
    expect(json(badTime)).toEqual({ error: 'invalid_datetime_format', error_description: 'Invalid datetime format. The expected format is: YYYY-MM-DDTHH:MM:SS' });
    const late = await upload(api, `${rootId}/upload`, 'x', { filename: 'late.txt', after: { modified: '2020-01-01T00:00:00' } });
    expect(late.statusCode).toBe(400);
    expect(json(late)).toEqual({ error: 'invalid_request', error_description: 'Invalid value for parameter: modified' });
    expect(snapshot(t, rootId)).toEqual(before);
    expect(revisionCount(t)).toBe(revisions);
    // Nothing written for the rejected names (the late-field upload stored its blob before the field arrived).
    const added = blobFiles().filter((b) => !blobsBefore.includes(b));
    expect(added).toEqual([sha256(Buffer.from('x'))]);
    expect(tmpFiles()).toEqual([]);
  });

  it('blob paths come only from content hashes', async () => {
    const res = await upload(api, `${rootId}/upload`, 'payload', { filename: 'fine2.txt', fields: { name: '..%2F..%2Fescape.txt' } });
    expect(res.statusCode).toBe(200);
    expect(json(res).name).toBe('..%2F..%2Fescape.txt');
    expect(blobFiles()).toContain(sha256(Buffer.from('payload')));
    expect(readdirSync(t.dataDir).sort()).toEqual(expect.not.arrayContaining(['escape.txt']));
  });
});

describe('policy', () => {
  it('max_file_size (MB) → 409 policy_error, the upload is not kept', async () => {
    const person = newPerson(t, {});
    const ctx = t.server.ctx;
    // Own organization for this test so the policy change stays local.
    const org = ctx.db.prepare(`INSERT INTO organizations (parent_id, name, slug, created, policy) VALUES (NULL, 'Small', ?, '2020-01-01T00:00:00', ?)`).run(
      `small-${Date.now()}`,
      JSON.stringify({ max_file_size: 1 }),
    );
    const orgId = Number(org.lastInsertRowid);
    ctx.db.prepare(`UPDATE persons SET company_id = ? WHERE id = ?`).run(orgId, person.id);
    ctx.db.prepare(`UPDATE roots SET company_id = ? WHERE id = ?`).run(orgId, person.root_id);
    const p = filesClient(t, person);
    const root = person.root_id!;
    const blobsBefore = blobFiles();
    const big = randomBytes(1024 * 1024 + 1);
    const tooBig = await upload(p, `${root}/upload`, big, { filename: 'big.bin' });
    expect(tooBig.statusCode).toBe(409);
    expect(json(tooBig).error).toBe('policy_error');
    expect(blobFiles()).toEqual(blobsBefore);
    expect(tmpFiles()).toEqual([]);
    expect(snapshot(t, root)).toEqual([]);
    const exact = await upload(p, `${root}/upload`, big.subarray(0, 1024 * 1024), { filename: 'exact.bin' });
    expect(exact.statusCode).toBe(200);
    // The connection still works after a refused upload.
    expect((await p.get(`${root}/children`)).statusCode).toBe(200);

    // Organization space_quota: the current size of live files counts.
    setPolicy(t, orgId, { space_quota: 1024 * 1024 + 100 });
    expect((await upload(p, `${root}/upload`, Buffer.alloc(100), { filename: 'fits.bin' })).statusCode).toBe(200);
    const over = await upload(p, `${root}/upload`, Buffer.alloc(1), { filename: 'over.bin' });
    expect(over.statusCode).toBe(409);
    expect(json(over).error).toBe('policy_error');
    // Deleting a file frees its space.
    const fits = (json(await p.get(`${root}/children`)).results as Json[]).find((c) => c.name === 'fits.bin')!;
    expect((await p.post(`${root}/${fits.id}/delete`)).statusCode).toBe(200);
    expect((await upload(p, `${root}/upload`, Buffer.alloc(1), { filename: 'over.bin' })).statusCode).toBe(200);
    expect(json(await p.get(`${root}`, { searchParams: { include_children: 'false' } })).space_used).toBe(1024 * 1024 + 1);
  });

  it("the root owner's space_quota → 409 policy_error", async () => {
    const person = newPerson(t, { space_quota: 1000 });
    const p = filesClient(t, person);
    const root = person.root_id!;
    expect((await upload(p, `${root}/upload`, Buffer.alloc(600), { filename: 'a.bin' })).statusCode).toBe(200);
    const over = await upload(p, `${root}/upload`, Buffer.alloc(600), { filename: 'b.bin' });
    expect(over.statusCode).toBe(409);
    expect(json(over).error).toBe('policy_error');
    expect((await upload(p, `${root}/upload`, Buffer.alloc(400), { filename: 'c.bin' })).statusCode).toBe(200);
    // A new revision only counts by how much it grows the file.
    const a = (json(await p.get(`${root}/children`)).results as Json[]).find((c) => c.name === 'a.bin')!;
    const smaller = await upload(p, `${root}/${a.id}/upload`, Buffer.alloc(500), { fields: { base_revision_id: String(a.revision_id) } });
    expect(smaller.statusCode).toBe(200);
    const bigger = await upload(p, `${root}/${a.id}/upload`, Buffer.alloc(700), { fields: { base_revision_id: String(json(smaller).revision_id) } });
    expect(bigger.statusCode).toBe(409);
    expect(json(bigger).error).toBe('policy_error');
    const fits = await upload(p, `${root}/${a.id}/upload`, Buffer.alloc(600), { fields: { base_revision_id: String(json(smaller).revision_id) } });
    expect(fits.statusCode).toBe(200);
  });
});

describe('concurrency', () => {
  it('50 concurrent uploads to one folder lose nothing and tear nothing', async () => {
    const dir = await mkdir(api, rootId, 'Concurrent');
    const jobs = Array.from({ length: 50 }, (_, i) => {
      // 40 distinct names, then 10 uploads that race for 5 of those names.
      const name = i < 40 ? `file-${i}.bin` : `file-${(i - 40) % 5}.bin`;
      return { name, content: randomBytes(20_000 + i * 1000) };
    });
    const results = await Promise.all(jobs.map((j) => upload(api, `${rootId}/folder/${dir.id}/upload`, j.content, { filename: j.name })));
    const winners = new Map<string, Buffer>();
    for (const [i, res] of results.entries()) {
      const job = jobs[i]!;
      if (res.statusCode === 200) {
        expect(winners.has(job.name), `two winners for ${job.name}`).toBe(false);
        winners.set(job.name, job.content);
        expect(json(res).sha256).toBe(sha256(job.content));
      } else {
        expect(res.statusCode).toBe(409);
        expect(json(res)).toEqual({ error: 'name_conflict' });
      }
    }
    expect(winners.size).toBe(40);
    expect(results.filter((r) => r.statusCode === 409).length).toBe(10);
    const listing = json(await api.get(`${rootId}/folder/${dir.id}/children`, { searchParams: { page_size: 100 } }));
    expect(listing.total).toBe(40);
    await Promise.all(
      (listing.results as Json[]).map(async (f) => {
        const dl = await api.get(`${rootId}/${f.id}/download`, { responseType: 'buffer' });
        expect(sha256(dl.body)).toBe(sha256(winners.get(f.name as string)!));
        expect(f.sha256).toBe(sha256(dl.body));
      }),
    );
    expect(tmpFiles()).toEqual([]);
  });

  it('concurrent revision uploads against one base: exactly one wins', async () => {
    const file = json(await upload(api, `${rootId}/upload`, 'base', { filename: 'contended.txt' }));
    const contents = Array.from({ length: 10 }, (_, i) => Buffer.from(`edit ${i} `.repeat(1000)));
    const results = await Promise.all(
      contents.map((c) => upload(api, `${rootId}/${file.id}/upload`, c, { fields: { base_revision_id: String(file.revision_id) } })),
    );
    const ok = results.filter((r) => r.statusCode === 200);
    expect(ok.length).toBe(1);
    const winner = json(ok[0]!);
    for (const r of results.filter((x) => x.statusCode !== 200)) {
      expect(r.statusCode).toBe(409);
      expect(json(r)).toMatchObject({ error: 'revision_conflict', current_revision_id: winner.revision_id });
    }
    const revs = json(await api.get(`${rootId}/${file.id}/revisions`));
    expect(revs.total).toBe(2);
    const dl = await api.get(`${rootId}/${file.id}/download`, { responseType: 'buffer' });
    expect(sha256(dl.body)).toBe(winner.sha256);
  });
});

describe('revision upload extension (base_revision_id)', () => {
  it('uploads a new revision against the current one; refuses a stale or missing base', async () => {
    const v1 = json(await upload(api, `${rootId}/upload`, 'version 1', { filename: 'versioned.txt' }));
    const res = await upload(api, `${rootId}/${v1.id}/upload`, 'version 2!', {
      fields: { base_revision_id: String(v1.revision_id), modified: '2021-06-01T10:00:00' },
      filename: 'whatever-the-client-calls-it.bin',
    });
    expect(res.statusCode, res.body).toBe(200);
    const v2 = json(res);
    expect(v2).toMatchObject({ id: v1.id, name: 'versioned.txt', size: 10, modified: '2021-06-01T10:00:00', sha256: sha256(Buffer.from('version 2!')) });
    expect(v2.revision_id).not.toBe(v1.revision_id);

    const before = snapshot(t, rootId);
    const stale = await upload(api, `${rootId}/${v1.id}/upload`, 'version 3', { fields: { base_revision_id: String(v1.revision_id) } });
    expect(stale.statusCode).toBe(409);
    expect(json(stale)).toEqual({
      error: 'revision_conflict',
      error_description: `The base revision ${v1.revision_id} is not the file's current revision ${v2.revision_id}.`,
      current_revision_id: v2.revision_id,
    });
    const missing = await upload(api, `${rootId}/${v1.id}/upload`, 'version 3');
    expect(json(missing)).toEqual({ error: 'invalid_request', error_description: 'Missing required parameter: base_revision_id' });
    const bad = await upload(api, `${rootId}/${v1.id}/upload`, 'version 3', { fields: { base_revision_id: 'latest' } });
    expect(json(bad)).toEqual({ error: 'invalid_request', error_description: 'Invalid value for parameter: base_revision_id' });
    // The same precondition on rename, move and delete.
    for (const r of [
      await api.post(`${rootId}/${v1.id}/rename`, { form: { name: 'renamed.txt', base_revision_id: String(v1.revision_id) } }),
      await api.post(`${rootId}/${v1.id}/move`, { form: { base_revision_id: String(v1.revision_id) } }),
      await api.post(`${rootId}/${v1.id}/delete`, { form: { base_revision_id: String(v1.revision_id) } }),
    ]) {
      expect(r.statusCode).toBe(409);
      expect(json(r)).toMatchObject({ error: 'revision_conflict', current_revision_id: v2.revision_id });
    }
    expect(snapshot(t, rootId)).toEqual(before);
    expect((await api.post(`${rootId}/${v1.id}/rename`, { form: { name: 'renamed.txt', base_revision_id: String(v2.revision_id) } })).statusCode).toBe(200);

    // Revisions: newest first, metadata and content of each.
    const list = json(await api.get(`${rootId}/${v1.id}/revisions`));
    expect(list).toMatchObject({ page: 1, page_size: 20, max_page: 1, total: 2 });
    const [r2, r1] = list.results as Json[];
    expect(r2).toEqual({
      type: 'revision',
      id: v2.revision_id,
      file_id: v1.id,
      root_id: rootId,
      created: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$/),
      modified: '2021-06-01T10:00:00',
      full_size: 10,
      full_size_formatted: '10b',
      delta_size: null,
      delta_size_formatted: null,
      file_size: 10,
      file_size_formatted: '10b',
      sha256: sha256(Buffer.from('version 2!')),
    });
    expect(json(await api.get(`${rootId}/${v1.id}/revisions/${r1!.id}`))).toEqual(r1);
    const old = await api.get(`${rootId}/${v1.id}/revisions/${r1!.id}/download`);
    expect(old.body).toBe('version 1');
    expect(old.headers['content-disposition']).toMatch(/^attachment; filename="renamed.txt"/);
    expect((await api.get(`${rootId}/${v1.id}/revisions/${r1!.id}/view`)).headers['content-disposition']).toMatch(/^inline; /);
    const paged = json(await api.get(`${rootId}/${v1.id}/revisions`, { searchParams: { page_size: 1, page: 2 } }));
    expect(paged).toMatchObject({ page: 2, page_size: 1, max_page: 2, total: 2 });
    expect((paged.results as Json[])[0]!.id).toBe(r1!.id);
    // A revision of another file is not found.
    const other = json(await upload(api, `${rootId}/upload`, 'other', { filename: 'other-file.txt' }));
    expect((await api.get(`${rootId}/${other.id}/revisions/${r1!.id}`)).statusCode).toBe(404);
    expect((await api.get(`${rootId}/${other.id}/revisions/${r1!.id}/download`)).statusCode).toBe(404);
    // Every change moved the file's change sequence number forward.
    const seq = (id: number) => (t.server.ctx.db.prepare(`SELECT seq FROM nodes WHERE id = ?`).get(id) as { seq: number }).seq;
    expect(seq(v1.id as number)).toBeGreaterThan(0);
    expect(seq(other.id as number)).toBeGreaterThan(seq(v1.id as number));
  });
});

describe('Range downloads', () => {
  it('serves single byte ranges (206), suffix ranges, If-Range and 416', async () => {
    const content = randomBytes(10_000);
    const file = json(await upload(api, `${rootId}/upload`, content, { filename: 'ranged.bin' }));
    const url = `${rootId}/${file.id}/download`;
    const mid = await api.get(url, { headers: { range: 'bytes=100-199' }, responseType: 'buffer' });
    expect(mid.statusCode).toBe(206);
    expect(mid.headers['content-range']).toBe('bytes 100-199/10000');
    expect(mid.headers['accept-ranges']).toBe('bytes');
    expect(Buffer.compare(mid.body, content.subarray(100, 200))).toBe(0);
    const rest = await api.get(url, { headers: { range: 'bytes=9000-' }, responseType: 'buffer' });
    expect(rest.statusCode).toBe(206);
    expect(Buffer.compare(rest.body, content.subarray(9000))).toBe(0);
    const tail = await api.get(url, { headers: { range: 'bytes=-10' }, responseType: 'buffer' });
    expect(Buffer.compare(tail.body, content.subarray(9990))).toBe(0);
    const etag = mid.headers.etag!;
    expect(etag).toBe(`"${sha256(content)}"`);
    const same = await api.get(url, { headers: { range: 'bytes=5000-', 'if-range': etag }, responseType: 'buffer' });
    expect(same.statusCode).toBe(206);
    const changed = await api.get(url, { headers: { range: 'bytes=5000-', 'if-range': '"something-else"' }, responseType: 'buffer' });
    expect(changed.statusCode).toBe(200);
    expect(changed.body.length).toBe(10_000);
    const beyond = await api.get(url, { headers: { range: 'bytes=10000-' } });
    expect(beyond.statusCode).toBe(416);
    expect(beyond.headers['content-range']).toBe('bytes */10000');
    expect(json(beyond).error).toBe('range_not_satisfiable');
    const head = await api.head(url);
    expect(head.statusCode).toBe(200);
    expect(head.headers['content-length']).toBe('10000');
    const multi = await api.get(url, { headers: { range: 'bytes=0-1,5-6' }, responseType: 'buffer' });
    expect(multi.statusCode).toBe(200);
    expect(multi.body.length).toBe(10_000);
  });

  it('streams large contents whole and by range, empty contents, HEAD without a body', async () => {
    const content = randomBytes(300_000);
    const file = json(await upload(api, `${rootId}/upload`, content, { filename: 'large.bin' }));
    const url = `${rootId}/${file.id}/download`;
    const whole = await api.get(url, { responseType: 'buffer' });
    expect(whole.statusCode).toBe(200);
    expect(whole.headers['content-length']).toBe('300000');
    expect(sha256(whole.body)).toBe(sha256(content));
    const part = await api.get(url, { headers: { range: 'bytes=1000-200999' }, responseType: 'buffer' });
    expect(part.statusCode).toBe(206);
    expect(part.headers['content-length']).toBe('200000');
    expect(Buffer.compare(part.body, content.subarray(1000, 201_000))).toBe(0);
    const head = await api.head(`${rootId}/${file.id}/view`);
    expect(head.statusCode).toBe(200);
    expect(head.headers['content-length']).toBe('300000');
    expect(head.headers.etag).toBe(`"${sha256(content)}"`);
    expect(head.body).toBe('');
    const empty = json(await upload(api, `${rootId}/upload`, Buffer.alloc(0), { filename: 'empty.txt' }));
    const got0 = await api.get(`${rootId}/${empty.id}/view`, { responseType: 'buffer' });
    expect(got0.statusCode).toBe(200);
    expect(got0.headers['content-length']).toBe('0');
    expect(got0.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(got0.body.length).toBe(0);
  });

  it('a content missing from the blob store → 500 unknown; the server keeps answering', async () => {
    const content = randomBytes(2000);
    const file = json(await upload(api, `${rootId}/upload`, content, { filename: 'lost.bin' }));
    const blob = path.join(t.dataDir, 'blobs', sha256(content).slice(0, 2), sha256(content).slice(2));
    rmSync(blob);
    const res = await api.get(`${rootId}/${file.id}/download`);
    expect(res.statusCode).toBe(500);
    expect(json(res)).toEqual({ error: 'unknown' });
    // Stored again (same content), it downloads again.
    const again = json(await upload(api, `${rootId}/upload`, content, { filename: 'found.bin' }));
    expect(Buffer.compare((await api.get(`${rootId}/${again.id}/download`, { responseType: 'buffer' })).body, content)).toBe(0);
    expect((await api.get(`${rootId}/${file.id}/download`)).statusCode).toBe(200);
  });
});

/** Minimal ZIP reader for the test: entries from the central directory, data checked by CRC. */
function readZip(buf: Buffer): Map<string, Buffer | 'dir'> {
  const eocd = buf.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  expect(eocd).toBeGreaterThanOrEqual(0);
  const count = buf.readUInt16LE(eocd + 10);
  let p = buf.readUInt32LE(eocd + 16);
  const out = new Map<string, Buffer | 'dir'>();
  for (let i = 0; i < count; i++) {
    expect(buf.readUInt32LE(p)).toBe(0x02014b50);
    const crc = buf.readUInt32LE(p + 16);
    const size = buf.readUInt32LE(p + 24);
    const nameLen = buf.readUInt16LE(p + 28);
    const extraLen = buf.readUInt16LE(p + 30);
    const commentLen = buf.readUInt16LE(p + 32);
    const local = buf.readUInt32LE(p + 42);
    const name = buf.subarray(p + 46, p + 46 + nameLen).toString('utf8');
    expect(buf.readUInt32LE(local)).toBe(0x04034b50);
    const dataStart = local + 30 + buf.readUInt16LE(local + 26) + buf.readUInt16LE(local + 28);
    const data = buf.subarray(dataStart, dataStart + size);
    if (name.endsWith('/')) out.set(name, 'dir');
    else {
      expect(zlib.crc32(data) >>> 0, name).toBe(crc);
      out.set(name, Buffer.from(data));
    }
    p += 46 + nameLen + extraLen + commentLen;
  }
  return out;
}

describe('ZIP downloads', () => {
  it('downloads a root, a folder, and a selection as a valid archive', async () => {
    const person = newPerson(t);
    const p = filesClient(t, person);
    const root = person.root_id!;
    const docs = await mkdir(p, root, 'Docs');
    await p.post(`${root}/folder/${docs.id}/create_folder`, { form: { name: 'Empty' } });
    const a = randomBytes(5000);
    const b = Buffer.from('héllo wörld');
    await upload(p, `${root}/folder/${docs.id}/upload`, a, { filename: 'a.bin' });
    const top = json(await upload(p, `${root}/upload`, b, { filename: 'ünïcode.txt' }));
    const gone = json(await upload(p, `${root}/upload`, 'deleted', { filename: 'gone.txt' }));
    await p.post(`${root}/${gone.id}/delete`);
    const res = await p.get(`${root}/download`, { responseType: 'buffer' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toBe('application/zip');
    expect(res.headers['content-disposition']).toBe(`attachment; filename="Files.zip"; filename*=UTF-8''Files.zip`);
    const head = await p.head(`${root}/download`);
    expect(head.statusCode).toBe(200);
    expect(head.headers['content-type']).toBe('application/zip');
    const entries = readZip(res.body);
    expect([...entries.keys()].sort()).toEqual(['Docs/', 'Docs/Empty/', 'Docs/a.bin', 'ünïcode.txt']);
    expect(Buffer.compare(entries.get('Docs/a.bin') as Buffer, a)).toBe(0);
    expect((entries.get('ünïcode.txt') as Buffer).toString()).toBe('héllo wörld');
    const folder = readZip((await p.get(`${root}/folder/${docs.id}/download`, { responseType: 'buffer' })).body);
    expect([...folder.keys()].sort()).toEqual(['Empty/', 'a.bin']);
    const picked = readZip((await p.get(`${root}/download`, { searchParams: { file_ids: String(top.id) }, responseType: 'buffer' })).body);
    expect([...picked.keys()]).toEqual(['ünïcode.txt']);
    const notChild = await p.get(`${root}/download`, { searchParams: { file_ids: String(gone.id) } });
    expect(json(notChild)).toEqual({ error: 'invalid_request', error_description: 'Invalid value for parameter: file_ids' });
    const empty = newPerson(t);
    const emptyZip = await filesClient(t, empty).get(`${empty.root_id}/download`, { responseType: 'buffer' });
    expect(emptyZip.body.length).toBe(22);
    expect(readZip(emptyZip.body).size).toBe(0);
  });
});
