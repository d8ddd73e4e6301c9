// The librsync binding (native/ + src/native/librsync.ts): round trips through
// signature → delta → patch with our binding and the `rdiff` CLI mixed in every combination,
// byte-identical signatures, a multi-GB sparse file, the event loop staying free, bounded
// memory, error reporting, and the wrapper's behaviour when the addon is missing.
//
// In CI (CI=true) the addon must load: the first test fails otherwise. Outside CI without
// the addon only the error-path tests are defined.
import { execFile } from 'node:child_process';
import { randomFillSync } from 'node:crypto';
import { mkdtempSync, promises as fsp, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import * as rs from '../../src/native/librsync.js';
import type { SignatureHash, SignatureParams, SignatureRollsum } from '../../src/native/librsync.js';

const run = promisify(execFile);
const inCI = process.env.CI === 'true';
const available = rs.rsyncAvailable();
const tmp = mkdtempSync(path.join(os.tmpdir(), 'axis-rsync-test-'));
let seq = 0;
const tmpFile = (tag: string) => path.join(tmp, `${++seq}-${tag}`);

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Imports a fresh copy of the wrapper with AXIS_RSYNC_ADDON set to `value`. */
async function wrapperWithAddon(value: string): Promise<typeof rs> {
  const saved = process.env.AXIS_RSYNC_ADDON;
  process.env.AXIS_RSYNC_ADDON = value;
  try {
    vi.resetModules();
    const fresh = (await import('../../src/native/librsync.js')) as typeof rs;
    fresh.rsyncAvailable(); // loads (and caches) with the override in place
    return fresh;
  } finally {
    if (saved === undefined) delete process.env.AXIS_RSYNC_ADDON;
    else process.env.AXIS_RSYNC_ADDON = saved;
  }
}

describe('loading the addon', () => {
  it(inCI ? 'loads in CI (required)' : 'loads, or says why not', () => {
    if (inCI || available) {
      expect(rs.rsyncLoadError(), 'the librsync addon must build and load in CI').toBeUndefined();
      expect(available).toBe(true);
      const info = rs.rsyncInfo();
      expect(info.librsyncVersion).toMatch(/^librsync 2\.[3-9]/);
      expect(info.napiVersion).toBeLessThanOrEqual(9);
      expect(['static', 'dynamic']).toContain(info.linkage);
    } else {
      expect(rs.rsyncLoadError()).toMatch(/axis_rsync\.node|disabled/);
      expect(rs.rsyncInfo()).toMatchObject({ available: false });
    }
  });

  it('without the addon: importing works, availability says why, streams and helpers refuse with ERR_RSYNC_UNAVAILABLE', async () => {
    const missing = path.join(tmp, 'no-such-dir', 'axis_rsync.node');
    const w = await wrapperWithAddon(missing);
    expect(w.rsyncAvailable()).toBe(false);
    expect(w.rsyncLoadError()).toContain(missing);
    expect(w.rsyncInfo()).toEqual({ available: false, error: w.rsyncLoadError() });
    expect(() => w.createSignatureStream()).toThrow(w.RsyncUnavailableError);
    expect(() => w.createDeltaStream(Buffer.alloc(12))).toThrow(/librsync is not available/);
    expect(() => w.createPatchStream(missing)).toThrow(w.RsyncUnavailableError);
    const file = tmpFile('plain');
    writeFileSync(file, 'hello');
    await expect(w.signatureFile(file)).rejects.toMatchObject({ code: 'ERR_RSYNC_UNAVAILABLE' });
    await expect(w.deltaFile(Buffer.alloc(12), file, tmpFile('d'))).rejects.toMatchObject({ code: 'ERR_RSYNC_UNAVAILABLE' });
    await expect(w.patchFile(file, file, tmpFile('p'))).rejects.toMatchObject({ code: 'ERR_RSYNC_UNAVAILABLE' });
    // Parameters are still computable (JS port of rs_sig_args), e.g. for protocol checks.
    expect(w.signatureParams(2 ** 30)).toMatchObject({ blockLen: 32768, hash: 'blake2', rollsum: 'rabinkarp', magic: w.SIGNATURE_MAGIC.RK_BLAKE2 });
  });

  it('a file that is not a loadable addon is reported with the loader message; "off" disables it', async () => {
    const bogus = tmpFile('bogus.node');
    writeFileSync(bogus, 'not an ELF/Mach-O/PE file');
    const w = await wrapperWithAddon(bogus);
    expect(w.rsyncAvailable()).toBe(false);
    expect(w.rsyncLoadError()).toContain(bogus);
    const off = await wrapperWithAddon('off');
    expect(off.rsyncAvailable()).toBe(false);
    expect(off.rsyncLoadError()).toBe('disabled by AXIS_RSYNC_ADDON=off');
  });
});

// ---- helpers for the round trips --------------------------------------------------------

/** Deterministic pseudo-random bytes (xorshift32) over an alphabet of `alphabet` symbols. */
function bytes(seed: number, length: number, alphabet = 256): Buffer {
  const out = Buffer.allocUnsafe(length);
  let x = seed | 0 || 0x9e3779b9;
  for (let i = 0; i < length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = (x >>> 0) % alphabet;
  }
  return out;
}

type Edit =
  | { kind: 'insert'; at: number; len: number; seed: number }
  | { kind: 'delete'; at: number; len: number }
  | { kind: 'overwrite'; at: number; len: number; seed: number }
  | { kind: 'append'; len: number; seed: number }
  | { kind: 'truncate'; keep: number };

function applyEdits(basis: Buffer, edits: Edit[]): Buffer {
  let b = basis;
  for (const e of edits) {
    const at = 'at' in e ? e.at % (b.length + 1) : 0;
    switch (e.kind) {
      case 'insert':
        b = Buffer.concat([b.subarray(0, at), bytes(e.seed, e.len), b.subarray(at)]);
        break;
      case 'delete':
        b = Buffer.concat([b.subarray(0, at), b.subarray(Math.min(b.length, at + e.len))]);
        break;
      case 'overwrite': {
        const c = Buffer.from(b);
        bytes(e.seed, Math.min(e.len, c.length - at)).copy(c, at);
        b = c;
        break;
      }
      case 'append':
        b = Buffer.concat([b, bytes(e.seed, e.len)]);
        break;
      case 'truncate':
        b = b.subarray(0, Math.floor(b.length * e.keep));
        break;
    }
  }
  return b;
}

const editArb: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 5000 }), seed: fc.integer() }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 20000 }) }),
  fc.record({ kind: fc.constant('overwrite' as const), at: fc.nat(), len: fc.integer({ min: 1, max: 3000 }), seed: fc.integer() }),
  fc.record({ kind: fc.constant('append' as const), len: fc.integer({ min: 1, max: 10000 }), seed: fc.integer() }),
  fc.record({ kind: fc.constant('truncate' as const), keep: fc.double({ min: 0, max: 1, noNaN: true }) }),
);

/** Splits `data` into chunks of `size` (at most ~2000 chunks) as a Readable. */
function chunked(data: Buffer, size: number): Readable {
  const step = Math.max(size, Math.ceil(data.length / 2000), 1);
  const parts: Buffer[] = [];
  for (let off = 0; off < data.length; off += step) parts.push(data.subarray(off, off + step));
  return Readable.from(parts);
}

async function through(source: Readable, transform: rs.RsyncTransform): Promise<Buffer> {
  const parts: Buffer[] = [];
  await pipeline(source, transform, async (out: AsyncIterable<Buffer>) => {
    for await (const p of out) parts.push(p);
  });
  return Buffer.concat(parts);
}

async function rdiff(...args: string[]): Promise<void> {
  await run('rdiff', ['-f', ...args], { maxBuffer: 1 << 20 });
}

function rdiffSigArgs(p: SignatureParams): string[] {
  return ['-b', String(p.blockLen), '-S', String(p.strongLen), '-H', p.hash, '-R', p.rollsum];
}

// ---- with the addon ---------------------------------------------------------------------

if (available) {
  describe('librsync binding', () => {
    beforeAll(async () => {
      try {
        await run('rdiff', ['--version']);
      } catch {
        throw new Error('the `rdiff` CLI is needed for the interoperability tests (Debian: apt-get install rdiff)');
      }
    });

    it('chooses signature parameters per file size like rs_sig_args (block ≈ √size, recommended strong length)', async () => {
      expect(rs.signatureParams(0)).toMatchObject({ blockLen: 256, strongLen: rs.signatureParams(0).strongLen });
      expect(rs.signatureParams(1e9)).toMatchObject({ blockLen: 31616, strongLen: 8 });
      expect(rs.signatureParams(2 ** 30).blockLen).toBe(32768);
      expect(rs.signatureParams(undefined)).toMatchObject({ blockLen: 2048, strongLen: 12 });
      expect(rs.signatureParams(1e6, { strongLen: 'max' }).strongLen).toBe(32);
      expect(rs.signatureParams(1e6, { hash: 'md4', strongLen: 'max' }).strongLen).toBe(16);
      expect(() => rs.signatureParams(10, { strongLen: 33 })).toThrow(RangeError);
      // The JS port used without the addon agrees with librsync on every size.
      const js = await wrapperWithAddon('off');
      fc.assert(
        fc.property(
          fc.oneof(fc.integer({ min: 0, max: 1 << 20 }), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER >>> 4 })),
          fc.option(fc.integer({ min: 1, max: 1 << 20 }), { nil: undefined }),
          fc.constantFrom<'min' | 'max'>('min', 'max'),
          fc.constantFrom<SignatureHash>('blake2', 'md4'),
          (size, blockLen, strongLen, hash) => {
            expect(js.signatureParams(size, { blockLen, strongLen, hash })).toEqual(rs.signatureParams(size, { blockLen, strongLen, hash }));
          },
        ),
        { numRuns: 300 },
      );
    });

    it('round-trips random files and edits through every mix of our binding and rdiff, with identical signatures', async () => {
      const fileArb = fc.record({
        seed: fc.integer(),
        size: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 255 }), fc.integer({ min: 256, max: 150_000 })),
        alphabet: fc.constantFrom(2, 7, 256),
      });
      const paramsArb = fc.record({
        blockLen: fc.option(fc.integer({ min: 1, max: 5000 }), { nil: undefined }),
        strongLen: fc.oneof(fc.constantFrom<'min' | 'max'>('min', 'max'), fc.integer({ min: 1, max: 16 })),
        hash: fc.constantFrom<SignatureHash>('blake2', 'blake2', 'md4'),
        rollsum: fc.constantFrom<SignatureRollsum>('rabinkarp', 'rabinkarp', 'rollsum'),
      });
      await fc.assert(
        fc.asyncProperty(fileArb, fc.array(editArb, { maxLength: 6 }), paramsArb, fc.integer({ min: 1, max: 70_000 }), async (file, edits, opts, chunk) => {
          const basis = bytes(file.seed, file.size, file.alphabet);
          const target = applyEdits(basis, edits);
          const basisPath = tmpFile('basis');
          const newPath = tmpFile('new');
          await fsp.writeFile(basisPath, basis);
          await fsp.writeFile(newPath, target);
          const params = rs.signatureParams(basis.length, opts);

          // Signatures: ours (streamed in random chunks) and rdiff's are the same bytes.
          const oursSig = await through(chunked(basis, chunk), rs.createSignatureStream({ ...opts, fileSize: basis.length }));
          const rdiffSigPath = tmpFile('rdiff.sig');
          await rdiff(...rdiffSigArgs(params), 'signature', basisPath, rdiffSigPath);
          const rdiffSig = await fsp.readFile(rdiffSigPath);
          expect(oursSig.equals(rdiffSig)).toBe(true);
          expect(rs.parseSignatureHeader(oursSig)).toMatchObject({ blockLen: params.blockLen, strongLen: params.strongLen, blockCount: Math.ceil(basis.length / params.blockLen) });

          const sigs = { ours: oursSig, rdiff: rdiffSig };
          for (const [sigBy, sig] of Object.entries(sigs)) {
            const sigPath = tmpFile(`${sigBy}.sig`);
            await fsp.writeFile(sigPath, sig);
            const oursDelta = await through(chunked(target, chunk), rs.createDeltaStream(sig));
            const rdiffDeltaPath = tmpFile('rdiff.delta');
            await rdiff('delta', sigPath, newPath, rdiffDeltaPath);
            const deltas = { ours: oursDelta, rdiff: await fsp.readFile(rdiffDeltaPath) };
            for (const [deltaBy, delta] of Object.entries(deltas)) {
              const combo = `sig:${sigBy} delta:${deltaBy}`;
              const oursOut = await through(chunked(delta, Math.max(1, chunk >> 4)), rs.createPatchStream(basisPath));
              expect(oursOut.equals(target), `${combo} patch:ours`).toBe(true);
              const deltaPath = tmpFile('delta');
              const outPath = tmpFile('out');
              await fsp.writeFile(deltaPath, delta);
              await rdiff('patch', basisPath, deltaPath, outPath);
              expect((await fsp.readFile(outPath)).equals(target), `${combo} patch:rdiff`).toBe(true);
            }
          }
        }),
        {
          numRuns: 25,
          examples: [
            [{ seed: 1, size: 0, alphabet: 256 }, [], { blockLen: undefined, strongLen: 'min', hash: 'blake2', rollsum: 'rabinkarp' }, 1000], // empty → empty
            [{ seed: 2, size: 0, alphabet: 256 }, [{ kind: 'append', len: 3000, seed: 5 }], { blockLen: undefined, strongLen: 'min', hash: 'blake2', rollsum: 'rabinkarp' }, 7], // empty → data
            [{ seed: 3, size: 5000, alphabet: 256 }, [{ kind: 'truncate', keep: 0 }], { blockLen: undefined, strongLen: 'max', hash: 'blake2', rollsum: 'rabinkarp' }, 333], // data → empty
            [{ seed: 4, size: 100, alphabet: 256 }, [{ kind: 'overwrite', at: 50, len: 1, seed: 9 }], { blockLen: undefined, strongLen: 'min', hash: 'blake2', rollsum: 'rabinkarp' }, 1], // smaller than one block
            [{ seed: 5, size: 120_000, alphabet: 256 }, [], { blockLen: undefined, strongLen: 'min', hash: 'blake2', rollsum: 'rabinkarp' }, 65536], // identical
            [{ seed: 6, size: 100_000, alphabet: 2 }, [{ kind: 'insert', at: 1, len: 10, seed: 1 }, { kind: 'delete', at: 50_000, len: 999 }], { blockLen: 64, strongLen: 4, hash: 'md4', rollsum: 'rollsum' }, 4096],
          ],
        },
      );
    });

    it('file helpers: signature sized for the file, delta of an unchanged file is all copies, patch reproduces the file', async () => {
      const basis = bytes(42, 300_000);
      const target = Buffer.concat([basis.subarray(0, 100_000), Buffer.from('inserted'), basis.subarray(100_000)]);
      const basisPath = tmpFile('basis');
      const newPath = tmpFile('new');
      await fsp.writeFile(basisPath, basis);
      await fsp.writeFile(newPath, target);

      const { params, signature, stats: sigStats } = await rs.signatureFile(basisPath);
      expect(params).toEqual(rs.signatureParams(basis.length));
      expect(sigStats).toMatchObject({ op: 'signature', inBytes: basis.length, outBytes: signature!.length, sigBlocks: Math.ceil(basis.length / params.blockLen) });
      const sigPath = tmpFile('sig');
      await rs.signatureFile(basisPath, sigPath);
      expect((await fsp.readFile(sigPath)).equals(signature!)).toBe(true);

      const samePath = tmpFile('same.delta');
      const same = await rs.deltaFile(sigPath, basisPath, samePath);
      expect(same).toMatchObject({ op: 'delta', litBytes: 0, copyBytes: basis.length, inBytes: basis.length });

      const deltaPath = tmpFile('delta');
      const stats = await rs.deltaFile(signature!, newPath, deltaPath);
      expect(stats!.copyBytes).toBeGreaterThan(basis.length - 2 * params.blockLen);
      expect(stats!.litBytes).toBeLessThan(2 * params.blockLen + 8);
      const outPath = tmpFile('out');
      const patchStats = await rs.patchFile(basisPath, deltaPath, outPath);
      expect((await fsp.readFile(outPath)).equals(target)).toBe(true);
      expect(patchStats).toMatchObject({ op: 'patch', inBytes: (await fsp.stat(deltaPath)).size, outBytes: target.length });
      await expect(rs.patchFile(basisPath, deltaPath, basisPath)).rejects.toThrow(/must not overwrite the basis/);
    });

    it('reports bad input with librsync result codes and messages', async () => {
      const basisPath = tmpFile('basis');
      await fsp.writeFile(basisPath, bytes(7, 10_000));
      const { signature } = await rs.signatureFile(basisPath);
      const newPath = tmpFile('new');
      await fsp.writeFile(newPath, bytes(8, 10_000));
      const deltaPath = tmpFile('delta');
      await rs.deltaFile(signature!, newPath, deltaPath);
      const delta = await fsp.readFile(deltaPath);

      // Not a signature: garbage, and a well-formed header with a wrong magic number.
      await expect(through(Readable.from([Buffer.from('x')]), rs.createDeltaStream(Buffer.from('definitely not a signature')))).rejects.toMatchObject({
        code: 'RS_CORRUPT',
        message: expect.stringMatching(/invalid signature.*implausible/),
      });
      const badMagic = Buffer.from(signature!);
      badMagic.writeUInt32BE(0x12345678, 0);
      await expect(through(Readable.from([Buffer.from('x')]), rs.createDeltaStream(badMagic))).rejects.toMatchObject({
        code: 'RS_BAD_MAGIC',
        message: expect.stringMatching(/invalid signature.*magic/),
      });
      expect(() => rs.parseSignatureHeader(badMagic)).toThrow(/not a librsync signature/);
      // Truncated delta.
      await expect(through(Readable.from([delta.subarray(0, delta.length - 3)]), rs.createPatchStream(basisPath))).rejects.toMatchObject({ code: 'RS_INPUT_ENDED' });
      // Trailing bytes after the delta's end command.
      await expect(through(Readable.from([delta, Buffer.from('junk')]), rs.createPatchStream(basisPath))).rejects.toMatchObject({
        code: 'RS_CORRUPT',
        message: expect.stringContaining('after the end of the delta'),
      });
      // Basis missing: the path is in the message.
      const gone = path.join(tmp, 'gone');
      await expect(rs.patchFile(gone, deltaPath, tmpFile('out'))).rejects.toMatchObject({ code: 'RS_IO_ERROR', message: expect.stringContaining(gone) });
      // Basis shorter than the delta's copy commands expect.
      const sameDelta = tmpFile('same.delta');
      await rs.deltaFile(signature!, basisPath, sameDelta);
      const short = tmpFile('short');
      await fsp.writeFile(short, bytes(7, 5_000));
      const outPath = tmpFile('out');
      await expect(rs.patchFile(short, sameDelta, outPath)).rejects.toMatchObject({ code: 'RS_INPUT_ENDED', message: expect.stringContaining('shorter than the delta expects') });
      await expect(fsp.stat(outPath)).rejects.toMatchObject({ code: 'ENOENT' }); // failed output removed
      // Misuse of a job.
      const job = rs.RsyncJob.signature({ fileSize: 10 });
      const pending = job.feed(Buffer.alloc(10), false);
      expect(() => job.feed(null, true)).toThrow(expect.objectContaining({ code: 'ERR_RSYNC_BUSY' }));
      await pending;
      job.close();
      expect(() => job.feed(null, true)).toThrow(expect.objectContaining({ code: 'ERR_RSYNC_CLOSED' }));
      // close() during a running step is deferred until the step finishes.
      const busy = rs.RsyncJob.signature({ fileSize: 8 << 20 });
      const step = busy.feed(Buffer.alloc(8 << 20, 1), true);
      busy.close();
      await expect(step).resolves.toMatchObject({ done: true });
      expect(() => busy.feed(null, true)).toThrow(expect.objectContaining({ code: 'ERR_RSYNC_CLOSED' }));
      expect(() => rs.signatureParams(-5)).toThrow(RangeError);
    });

    it('stops producing output when the consumer stops reading, and aborts cleanly', async () => {
      // A 4 MiB basis copied 100 times: 18 bytes of delta per 4 MiB of output.
      const basisPath = tmpFile('basis');
      await fsp.writeFile(basisPath, bytes(21, 4 << 20));
      const copy = Buffer.alloc(17);
      copy[0] = 0x54; // COPY_N8_N8
      copy.writeBigUInt64BE(0n, 1);
      copy.writeBigUInt64BE(BigInt(4 << 20), 9);
      const delta = Buffer.concat([Buffer.from([0x72, 0x73, 0x02, 0x36]), ...Array.from({ length: 100 }, () => copy), Buffer.from([0])]);

      const patch = rs.createPatchStream(basisPath);
      let received = 0;
      const stall = new Writable({
        highWaterMark: 1 << 20,
        write(chunk: Buffer, _enc, cb) {
          received += chunk.length;
          if (received < 3 << 20) cb(); // then never acknowledges: a consumer that stopped
        },
      });
      const ac = new AbortController();
      const done = pipeline(Readable.from([delta]), patch, stall, { signal: ac.signal });
      while (received < 3 << 20) await new Promise((r) => setImmediate(r));
      // Give an unbounded producer every chance to run away.
      for (let i = 0; i < 50; i++) await new Promise((r) => setTimeout(r, 2));
      expect(patch.readableLength + stall.writableLength).toBeLessThanOrEqual(3 << 20);
      expect(received).toBeLessThan(8 << 20);
      ac.abort();
      await expect(done).rejects.toMatchObject({ name: 'AbortError' });
      expect(patch.destroyed).toBe(true);
    });

    it('runs several jobs at once (one thread-pool step each) with the same results as one at a time', async () => {
      const files = await Promise.all(
        [1, 2, 3, 4].map(async (i) => {
          const p = tmpFile(`par${i}`);
          await fsp.writeFile(p, bytes(300 + i, 200_000 + i * 1000));
          return p;
        }),
      );
      const together = await Promise.all(files.map((p) => rs.signatureFile(p)));
      for (const [i, p] of files.entries()) {
        const alone = await rs.signatureFile(p);
        expect(together[i]!.signature!.equals(alone.signature!)).toBe(true);
      }
    });

    it('keeps the event loop running while a large signature is computed on the thread pool', async () => {
      const size = 256 << 20;
      const data = Buffer.alloc(size, 0x5a);
      const job = rs.RsyncJob.signature({ fileSize: size });
      let ticks = 0;
      const timer = setInterval(() => ticks++, 2);
      let settled = false;
      let ticksWhilePending = 0;
      try {
        const p = job.feed(data, true).then((r) => {
          settled = true;
          ticksWhilePending = ticks;
          return r;
        });
        // One 256 MiB step: had it run on the JS thread, feed() would only return after the
        // work and the promise would settle within these few turns of the loop.
        for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
        expect(settled).toBe(false);
        let r = await p;
        // A signature job's output buffer is small (64 KiB): a full one is drained with feed(null).
        const out = [Buffer.from(r.output)];
        while (!r.done) {
          r = await job.feed(null);
          out.push(Buffer.from(r.output));
        }
        expect(rs.parseSignatureHeader(Buffer.concat(out)).blockCount).toBe(size / rs.signatureParams(size).blockLen);
      } finally {
        clearInterval(timer);
        job.close();
      }
      expect(ticksWhilePending).toBeGreaterThanOrEqual(3);
    });

    // 2 GiB took ~25 s here (2 shared cores; rdiff alone needs ~5 s per pass over 2 GiB), so
    // the full signature → delta → patch pass uses a 256 MiB sparse file, and offsets past
    // 2^32 are covered by the hand-made delta below (patch reads only what the delta copies).
    const SPARSE = 256 * 2 ** 20;
    it(`round-trips a ${SPARSE / 2 ** 20} MiB sparse file with a few edits in bounded memory, with rdiff's delta too`, async () => {
      const basisPath = tmpFile('sparse-basis');
      const newPath = tmpFile('sparse-new');
      const islands = [0, Math.floor(SPARSE * 0.35) + 123, Math.floor(SPARSE * 0.75) + 7, SPARSE - 65536];
      const basisFh = await fsp.open(basisPath, 'w');
      const newFh = await fsp.open(newPath, 'w');
      try {
        await basisFh.truncate(SPARSE);
        await newFh.truncate(SPARSE);
        for (const [i, at] of islands.entries()) {
          const island = bytes(100 + i, 65536);
          await basisFh.write(island, 0, island.length, at);
          await newFh.write(island, 0, island.length, at);
        }
        await newFh.write(bytes(1, 3000), 0, 3000, islands[1]! + 1000); // overwrite inside an island
        await newFh.write(bytes(2, 100), 0, 100, SPARSE / 2 + 5); // overwrite in a hole
        await newFh.write(bytes(3, 10_000), 0, 10_000, SPARSE); // append
      } finally {
        await basisFh.close();
        await newFh.close();
      }
      const newSize = SPARSE + 10_000;

      const rss0 = process.memoryUsage().rss;
      let rssMax = rss0;
      const sample = () => (rssMax = Math.max(rssMax, process.memoryUsage().rss));
      const { signature, params } = await rs.signatureFile(basisPath);
      expect(params.blockLen).toBe(16384); // √(256 MiB), a multiple of 128
      sample();
      const sigPath = tmpFile('sparse.sig');
      await fsp.writeFile(sigPath, signature!);
      const deltaPath = tmpFile('sparse.delta');
      const stats = await rs.deltaFile(signature!, newPath, deltaPath);
      sample();
      expect(stats!.litBytes).toBeLessThan(10 * params.blockLen);
      const rdiffDeltaPath = tmpFile('sparse.rdiff.delta');
      await rdiff('delta', sigPath, newPath, rdiffDeltaPath);

      // Patch both deltas, comparing the output with the expected file as it streams by.
      const expected = await fsp.open(newPath, 'r');
      try {
        for (const d of [deltaPath, rdiffDeltaPath]) {
          let offset = 0;
          let mismatch: number | undefined;
          const compare = new Writable({
            highWaterMark: 1 << 20,
            write(chunk: Buffer, _enc, cb) {
              const want = Buffer.allocUnsafe(chunk.length);
              expected.read(want, 0, chunk.length, offset).then(({ bytesRead }) => {
                if (mismatch === undefined && (bytesRead !== chunk.length || !want.equals(chunk))) mismatch = offset;
                offset += chunk.length;
                if ((offset & ((64 << 20) - 1)) < chunk.length) sample();
                cb();
              }, cb);
            },
          });
          await rs.patchFile(basisPath, d, compare);
          expect(mismatch).toBeUndefined();
          expect(offset).toBe(newSize);
        }
      } finally {
        await expected.close();
      }
      // Nothing close to the file size was ever held in memory.
      expect(rssMax - rss0).toBeLessThan(160 << 20);
    });

    it('patches from offsets past 4 GiB (6 GiB sparse basis), like rdiff', async () => {
      const GiB = 2 ** 30;
      const basisPath = tmpFile('huge-basis');
      const fh = await fsp.open(basisPath, 'w');
      const high = bytes(11, 70_000); // straddles nothing, lives past 5 GiB
      const edge = bytes(12, 200); // straddles the 4 GiB boundary
      const longFrom = 4 * GiB - 150 * 2 ** 20;
      const longLen = 300 * 2 ** 20; // crosses 4 GiB
      const inLong = bytes(13, 300); // inside the long copy, near its end
      try {
        await fh.truncate(6 * GiB);
        await fh.write(high, 0, high.length, 5 * GiB + 12345);
        await fh.write(edge, 0, edge.length, 4 * GiB - 100);
        await fh.write(inLong, 0, inLong.length, longFrom + longLen - 1000);
      } finally {
        await fh.close();
      }
      // A librsync delta by hand: magic, COPY_N8_N8 (0x54), LITERAL_N4 (0x43), END (0x00).
      const copy = (pos: number, len: number) => {
        const b = Buffer.alloc(17);
        b[0] = 0x54;
        b.writeBigUInt64BE(BigInt(pos), 1);
        b.writeBigUInt64BE(BigInt(len), 9);
        return b;
      };
      const lit = Buffer.from('literal bytes');
      const litCmd = Buffer.alloc(5);
      litCmd[0] = 0x43;
      litCmd.writeUInt32BE(lit.length, 1);
      const delta = Buffer.concat([
        Buffer.from([0x72, 0x73, 0x02, 0x36]),
        copy(5 * GiB + 12345, high.length),
        litCmd,
        lit,
        copy(4 * GiB - 100, edge.length),
        copy(longFrom, longLen),
        Buffer.from([0]),
      ]);
      const deltaPath = tmpFile('huge.delta');
      await fsp.writeFile(deltaPath, delta);
      const head = Buffer.concat([high, lit, edge]);
      const total = head.length + longLen;
      // Expected output: zeros except these (the long copy passes over the 4 GiB-boundary
      // island and the one near its end).
      const islands: [number, Buffer][] = [
        [0, head],
        [head.length + (4 * GiB - 100 - longFrom), edge],
        [head.length + longLen - 1000, inLong],
      ];

      // rdiff is the reference for the parts that come from high offsets.
      const rdiffOut = tmpFile('huge.rdiff.head');
      await run('sh', ['-c', 'rdiff patch "$1" "$2" - | head -c "$3" > "$4"', 'sh', basisPath, deltaPath, String(head.length), rdiffOut]);
      expect((await fsp.readFile(rdiffOut)).equals(head)).toBe(true);

      let offset = 0;
      let bad: number | undefined;
      const zero = Buffer.alloc(1 << 20);
      const check = new Writable({
        highWaterMark: 1 << 20,
        write(chunk: Buffer, _enc, cb) {
          for (let i = 0; i < chunk.length && bad === undefined; ) {
            const at = offset + i;
            const inside = islands.find(([o, b]) => at >= o && at < o + b.length);
            const next = islands.find(([o]) => o > at)?.[0] ?? total;
            const want = inside ? inside[1].subarray(at - inside[0]) : zero.subarray(0, Math.min(zero.length, next - at));
            const n = Math.min(want.length, chunk.length - i);
            if (!chunk.subarray(i, i + n).equals(want.subarray(0, n))) bad = at;
            i += n;
          }
          offset += chunk.length;
          cb();
        },
      });
      const stats = await rs.patchFile(basisPath, deltaPath, check);
      expect(bad).toBeUndefined();
      expect(offset).toBe(total);
      expect(stats).toMatchObject({ copyCmds: 3, copyBytes: high.length + edge.length + longLen, litBytes: lit.length });
    });

    it('file helpers read the file in the addon (feedFile) across slices and output buffers, byte-compatible with rdiff', async () => {
      // 40 MiB of random bytes against the signature of an empty file: all literal, so the
      // delta output is as large as the input and crosses several 16 MiB slices and output buffers.
      const data = Buffer.alloc(40 << 20);
      randomFillSync(data);
      const newPath = tmpFile('big.new');
      const emptyPath = tmpFile('empty.basis');
      writeFileSync(newPath, data);
      writeFileSync(emptyPath, Buffer.alloc(0));
      const sigPath = tmpFile('empty.sig');
      await rs.signatureFile(emptyPath, sigPath);
      const deltaPath = tmpFile('big.delta');
      const stats = await rs.deltaFile(sigPath, newPath, deltaPath);
      expect(stats?.litBytes).toBe(data.length);
      const ours = tmpFile('big.ours');
      await rs.patchFile(emptyPath, deltaPath, ours);
      expect((await fsp.readFile(ours)).equals(data)).toBe(true);
      const theirs = tmpFile('big.rdiff');
      await run('rdiff', ['patch', emptyPath, deltaPath, theirs]);
      expect((await fsp.readFile(theirs)).equals(data)).toBe(true);
      // The signature of the 40 MiB file read by the addon equals rdiff's with the same parameters.
      const params = rs.signatureParams(data.length);
      const sigOurs = await rs.signatureFile(newPath);
      const sigRdiff = tmpFile('big.rdiff.sig');
      await run('rdiff', ['signature', '-b', String(params.blockLen), '-S', String(params.strongLen), '-H', 'blake2', '-R', 'rabinkarp', newPath, sigRdiff]);
      expect(sigOurs.signature!.equals(await fsp.readFile(sigRdiff))).toBe(true);
    });

    it('file helpers reject a missing input file with its error and write no output', async () => {
      const sig = (await rs.signatureFile(tmpFile('none.basis')).catch((e: Error) => e)) as Error;
      expect(sig).toBeInstanceOf(Error);
      expect(String((sig as NodeJS.ErrnoException).code ?? sig.message)).toMatch(/ENOENT/);
      const emptyPath = tmpFile('empty2.basis');
      writeFileSync(emptyPath, Buffer.alloc(0));
      const { signature } = await rs.signatureFile(emptyPath);
      const out = tmpFile('missing.delta');
      const err = (await rs.deltaFile(signature!, tmpFile('missing.new'), out).catch((e: Error) => e)) as Error;
      expect(err).toBeInstanceOf(Error);
      expect(`${(err as NodeJS.ErrnoException).code ?? ''} ${err.message}`).toMatch(/ENOENT|no such file/i);
    });
  });
}
