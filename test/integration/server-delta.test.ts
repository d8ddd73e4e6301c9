// The delta transfer extension: server signatures, delta uploads verified by hash, and
// server-computed deltas for downloads (librsync formats, via our binding).
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import type { Got } from 'got';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDeltaStream, createPatchStream, rsyncAvailable } from '../../src/native/librsync.js';
import { filesClient, json, newPerson, revisionCount, rootOf, upload } from '../helpers/files.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let t: TestServer;
let api: Got;
let rootId: number;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'axis-delta-'));
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

const v1 = randomBytes(300 * 1024);
const v2 = Buffer.concat([v1.subarray(0, 1000), Buffer.from('x'.repeat(100)), v1.subarray(1000, 150_000), randomBytes(4096), v1.subarray(154_096)]);
let fileId: number;
let rev1: number;

const delta = (signature: Buffer, content: Buffer) => buffer(Readable.from([content]).pipe(createDeltaStream(signature)));

beforeAll(async () => {
  expect(rsyncAvailable()).toBe(true);
  t = await startTestServer();
  const p = newPerson(t);
  api = filesClient(t, p);
  rootId = rootOf(t, p).id;
  const up = json(await upload(api, `${rootId}/upload`, v1, { filename: 'big.bin' }));
  fileId = up.id as number;
  rev1 = up.revision_id as number;
});
afterAll(async () => t?.stop());

describe('delta transfer extension', () => {
  let signature: Buffer;

  it('serves the signature of a revision', async () => {
    const res = await api.get(`${rootId}/${fileId}/revisions/${rev1}/signature`, { responseType: 'buffer' });
    expect(res.statusCode).toBe(200);
    signature = res.body;
    expect(signature.readUInt32BE(0)).toBe(0x72730147);
    expect(Number(res.headers['x-axis-block-len'])).toBe(signature.readUInt32BE(4));
  });

  it('refuses a delta whose result does not hash as declared, and changes nothing', async () => {
    const d = await delta(signature, v2);
    const before = revisionCount(t);
    const res = await upload(api, `${rootId}/${fileId}/upload`, d, { fields: { base_revision_id: String(rev1), delta: 'true', sha256: sha(v1) } });
    expect(res.statusCode).toBe(400);
    expect(json(res).error).toBe('delta_mismatch');
    expect(revisionCount(t)).toBe(before);
  });

  it('refuses garbage as a delta', async () => {
    const res = await upload(api, `${rootId}/${fileId}/upload`, randomBytes(100), { fields: { base_revision_id: String(rev1), delta: 'true', sha256: sha(v2) } });
    expect(res.statusCode).toBe(400);
    expect(json(res).error).toBe('invalid_delta');
  });

  it('requires the declared hash', async () => {
    const res = await upload(api, `${rootId}/${fileId}/upload`, Buffer.alloc(0), { fields: { base_revision_id: String(rev1), delta: 'true' } });
    expect(res.statusCode).toBe(400);
    expect(json(res)).toEqual({ error: 'invalid_request', error_description: 'Missing required parameter: sha256' });
  });

  let rev2: number;
  it('applies a delta upload against the base revision and records delta_size', async () => {
    const d = await delta(signature, v2);
    expect(d.length).toBeLessThan(20 * 1024);
    const res = await upload(api, `${rootId}/${fileId}/upload`, d, { fields: { base_revision_id: String(rev1), delta: 'true', sha256: sha(v2) } });
    expect(res.statusCode, res.body).toBe(200);
    const file = json(res);
    expect(file.sha256).toBe(sha(v2));
    expect(file.size).toBe(v2.length);
    rev2 = file.revision_id as number;
    const rev = json(await api.get(`${rootId}/${fileId}/revisions/${rev2}`));
    expect(rev.delta_size).toBe(d.length);
    expect(rev.file_size).toBe(v2.length);
    const body = await api.get(`${rootId}/${fileId}/download`, { responseType: 'buffer' });
    expect(sha(body.body)).toBe(sha(v2));
  });

  it('computes a download delta from a base revision the client holds', async () => {
    const res = await api.get(`${rootId}/${fileId}/delta`, { searchParams: { base_revision_id: rev1 }, responseType: 'buffer' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['x-axis-revision-id']).toBe(String(rev2));
    expect(res.headers['x-axis-sha256']).toBe(sha(v2));
    expect(res.body.length).toBeLessThan(20 * 1024);
    const basis = path.join(tmp, 'basis');
    writeFileSync(basis, v1);
    const patched = await buffer(Readable.from([res.body]).pipe(createPatchStream(basis)));
    expect(sha(patched)).toBe(sha(v2));
  });

  it('answers the documented errors for bad parameters', async () => {
    expect((await api.get(`${rootId}/${fileId}/delta`)).statusCode).toBe(400);
    expect(json(await api.get(`${rootId}/${fileId}/delta`, { searchParams: { base_revision_id: 999999 } }))).toEqual({ error: 'not_found' });
    expect(json(await api.get(`${rootId}/${fileId}/revisions/999999/signature`))).toEqual({ error: 'not_found' });
  });
});
