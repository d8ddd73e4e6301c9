// The reference server's content-addressed blob store: what put() keeps, and that a refused or
// failed write leaves nothing behind (no blob, no temp file) and no unhandled stream error.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Readable } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BlobStore, BlobTooLargeError } from '../../src/server/blobs.js';

let dir: string;
let store: BlobStore;

beforeEach(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'axis-blobs-'));
  store = new BlobStore(path.join(dir, 'blobs'));
  await store.init();
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
const tmpFiles = () => readdirSync(path.join(dir, 'blobs', 'tmp'));
const blobFiles = () =>
  readdirSync(path.join(dir, 'blobs'))
    .filter((d) => d !== 'tmp')
    .flatMap((d) => readdirSync(path.join(dir, 'blobs', d)));

describe('BlobStore.put', () => {
  it('stores a stream and a buffer under their SHA-256, identical content once', async () => {
    const a = randomBytes(200_000);
    const stored = await store.put(Readable.from([a.subarray(0, 70_000), a.subarray(70_000)]));
    expect(stored).toEqual({ sha256: sha(a), size: a.length });
    expect(readFileSync(store.pathOf(stored.sha256)).equals(a)).toBe(true);
    expect(await store.put(Buffer.from(a))).toEqual(stored);
    const empty = await store.put(Buffer.alloc(0));
    expect(empty).toEqual({ sha256: sha(Buffer.alloc(0)), size: 0 });
    expect(blobFiles()).toHaveLength(2);
    expect(tmpFiles()).toEqual([]);
  });

  it('refuses content past maxBytes: nothing kept, the source destroyed', async () => {
    const source = Readable.from([randomBytes(600), randomBytes(600)]);
    await expect(store.put(source, 1000)).rejects.toBeInstanceOf(BlobTooLargeError);
    expect(source.destroyed).toBe(true);
    await expect(store.put(randomBytes(1001), 1000)).rejects.toBeInstanceOf(BlobTooLargeError);
    expect((await store.put(randomBytes(1000), 1000)).size).toBe(1000);
    expect(blobFiles()).toHaveLength(1);
    expect(tmpFiles()).toEqual([]);
  });

  it('rejects with the error of a failing source, also one that fails before the temp file is open', async () => {
    const late = new PassThrough();
    const failLate = store.put(late);
    late.write(randomBytes(100));
    setTimeout(() => late.destroy(new Error('connection lost')), 20);
    await expect(failLate).rejects.toThrow('connection lost');

    const early = new PassThrough();
    const failEarly = store.put(early);
    // Synchronously, while put() still waits for its temp file: no listener of ours may be missing.
    early.destroy(new Error('gone at once'));
    await expect(failEarly).rejects.toThrow('gone at once');
    expect(blobFiles()).toEqual([]);
    expect(tmpFiles()).toEqual([]);
  });

  it('makes a shard directory again when it was removed', async () => {
    const a = randomBytes(100);
    const first = await store.put(a);
    rmSync(path.dirname(store.pathOf(first.sha256)), { recursive: true });
    expect(await store.put(a)).toEqual(first);
    expect(readFileSync(store.pathOf(first.sha256)).equals(a)).toBe(true);
  });
});
