// The byte paths of uploads and downloads reuse their buffers (FileChunks lends pooled read
// buffers, writeFileAtomic copies network chunks into pooled staging buffers; see
// docs/architecture.md, "Per-file I/O"). Reuse must never mix one file's bytes into another's:
// real files, concurrent transfers, chunk sizes on both sides of the staging size.
import { createHash } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import os from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { FileChunks, WRITE_CHUNK, readExactly, writeFileAtomic } from '../../src/engine/localfs.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'axis-localfs-buffers-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Deterministic, position-dependent bytes (a misplaced or stale chunk cannot look right). */
function pattern(size: number, seed: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function readAll(src: Readable): Promise<Buffer[]> {
  const chunks: Buffer[] = [];
  await pipeline(
    src,
    new Writable({
      write(c: Buffer, _e, cb) {
        chunks.push(c);
        cb();
      },
    }),
  );
  return chunks;
}

describe('FileChunks (uploads of files of 256 KiB and more)', () => {
  it('reuses its read buffers once released, and every file still reads exactly', async () => {
    const a = path.join(tmp, 'a.bin');
    const b = path.join(tmp, 'b.bin');
    const dataA = pattern(1_100_000, 1);
    const dataB = pattern(900_001, 2);
    writeFileSync(a, dataA);
    writeFileSync(b, dataB);
    const srcA = readExactly(a, dataA.length, () => undefined);
    expect(srcA).toBeInstanceOf(FileChunks);
    const chunksA = await readAll(srcA);
    expect(Buffer.concat(chunksA).equals(dataA)).toBe(true);
    const buffersA = new Set(chunksA.map((c) => c.buffer));
    (srcA as FileChunks).release();
    const chunksB = await readAll(readExactly(b, dataB.length, () => undefined));
    expect(Buffer.concat(chunksB).equals(dataB)).toBe(true);
    // The pool gave B the buffers A released (what saves the garbage).
    expect(chunksB.some((c) => buffersA.has(c.buffer))).toBe(true);
  });

  it('concurrent reads never share a buffer', async () => {
    const files = Array.from({ length: 6 }, (_, i) => {
      const f = path.join(tmp, `c${i}.bin`);
      const d = pattern(300_000 + i * 123_457, 10 + i);
      writeFileSync(f, d);
      return { f, d };
    });
    const results = await Promise.all(
      files.map(async ({ f, d }) => {
        const src = readExactly(f, d.length, () => undefined) as FileChunks;
        const chunks = await readAll(src);
        const ok = Buffer.concat(chunks).equals(d);
        src.release();
        return ok;
      }),
    );
    expect(results).toEqual(files.map(() => true));
  });

  it('does not follow a symlink put in place of the file, nor hang on a named pipe', async () => {
    const outside = path.join(tmp, 'outside-big.bin');
    writeFileSync(outside, pattern(400_000, 3));
    const link = path.join(tmp, 'big-link.bin');
    symlinkSync(outside, link);
    const why: string[] = [];
    await expect(readAll(readExactly(link, 400_000, (w) => why.push(w)))).rejects.toThrow(/ELOOP|symbolic link/);
    expect(why).toHaveLength(1);
    const fifo = path.join(tmp, 'big-fifo');
    execFileSync('mkfifo', [fifo]);
    await expect(readAll(readExactly(fifo, 400_000, () => undefined))).rejects.toThrow(/no longer a regular file/);
  });

  it.runIf(process.platform === 'linux')('destroyed while a read is pending, it closes its file once the read has returned', async () => {
    const f = path.join(tmp, 'destroyed.bin');
    writeFileSync(f, pattern(1_000_000, 5));
    const openFds = () => readdirSync('/proc/self/fd').length;
    const before = openFds();
    const src = readExactly(f, 1_000_000, () => undefined) as FileChunks;
    const errors: unknown[] = [];
    src.on('error', (e) => errors.push(e));
    await new Promise<void>((resolve) => src.once('readable', () => resolve()));
    expect(openFds()).toBe(before + 1);
    // Taking the first chunk starts the next read; the stream is destroyed while it is pending.
    expect(src.read()).not.toBeNull();
    const closed = new Promise<void>((resolve) => src.once('close', () => resolve()));
    src.destroy();
    // Still open: the pending read's callback cannot have run yet (it comes from the event loop).
    expect(openFds()).toBe(before + 1);
    await closed;
    expect(errors).toEqual([]);
    expect(openFds()).toBe(before);
  });

  it('a file that ends exactly at a read boundary and then grows by one byte is "grew"', async () => {
    const f = path.join(tmp, 'boundary.bin');
    writeFileSync(f, pattern(2 * WRITE_CHUNK + 1, 4));
    const why: string[] = [];
    await expect(readAll(readExactly(f, 2 * WRITE_CHUNK, (w) => why.push(w)))).rejects.toThrow(/grew while it was read/);
    expect(why).toEqual(['grew']);
  });
});

describe('writeFileAtomic staging (downloads)', () => {
  /** A source yielding `data` in the given chunk sizes (cycled), each chunk a fresh copy, pausing between chunks. */
  function chunked(data: Buffer, sizes: number[]): Readable {
    return Readable.from(
      (async function* () {
        let i = 0;
        for (let off = 0; off < data.length; i++) {
          const n = Math.min(sizes[i % sizes.length]!, data.length - off);
          yield Buffer.from(data.subarray(off, off + n));
          off += n;
          await new Promise((r) => setImmediate(r));
        }
      })(),
    );
  }

  it('concurrent downloads with chunks smaller and bigger than the stage all land byte for byte', async () => {
    const root = path.join(tmp, 'root');
    const plans = [
      { name: 'tiny.bin', data: pattern(1, 20), sizes: [1] },
      { name: 'small.bin', data: pattern(70_000, 21), sizes: [16_384] },
      { name: 'mixed.bin', data: pattern(1_300_000, 22), sizes: [100, WRITE_CHUNK + 7, 5, 65_536, WRITE_CHUNK, 1] },
      { name: 'exact.bin', data: pattern(2 * WRITE_CHUNK, 23), sizes: [WRITE_CHUNK - 1, 1] },
      { name: 'big-chunks.bin', data: pattern(3 * WRITE_CHUNK + 3, 24), sizes: [3 * WRITE_CHUNK] },
      { name: 'odd.bin', data: pattern(777_777, 25), sizes: [12_345, 54_321] },
      { name: 'empty.bin', data: Buffer.alloc(0), sizes: [1] },
    ];
    // Twice: the second round runs on staging buffers the first one gave back.
    for (let round = 0; round < 2; round++) {
      const results = await Promise.all(
        plans.map((p) => writeFileAtomic(root, `r${round}/${p.name}`, chunked(p.data, p.sizes), { expectedSha256: sha(p.data) })),
      );
      plans.forEach((p, i) => {
        expect(results[i]!.size).toBe(p.data.length);
        expect(readFileSync(path.join(root, `r${round}`, p.name)).equals(p.data)).toBe(true);
      });
    }
  });
});
