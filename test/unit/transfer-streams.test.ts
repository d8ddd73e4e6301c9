// The streams an upload or download passes through (byte counters, the bandwidth shaper) get
// their source's errors forwarded into them, sometimes before anything consumes them: a file
// that vanishes while its upload request still waits for a connection. Such an error must stay
// on the stream for its consumer and never become an uncaught exception (which ends the agent;
// vitest fails the run on one). Real files, no mocks.
import { execFileSync } from 'node:child_process';
import { createReadStream, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Writable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { LOCAL_SIGNATURE_MIN, SignatureStore, counter, tryDeltaUpload, type TransferCounters } from '../../src/engine/transfer.js';
import { signatureFile } from '../../src/native/librsync.js';
import { BandwidthLimiter } from '../../src/engine/limiter.js';
import { readExactly } from '../../src/engine/localfs.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'axis-transfer-streams-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** Resolves on 'close' (events.once would reject on the 'error' that comes first). */
const closed = (s: NodeJS.EventEmitter) => new Promise<void>((r) => s.once('close', () => r()));

const sink = () =>
  new Writable({
    write(_c, _e, cb) {
      cb();
    },
  });

describe('errors before a consumer listens', () => {
  it('a counter keeps its source error for a consumer that comes later', async () => {
    const c = counter(() => undefined);
    const src = readExactly(path.join(tmp, 'vanished.bin'), 10, () => undefined);
    src.on('error', (err) => c.destroy(err));
    src.pipe(c);
    await closed(c);
    expect((c.errored as NodeJS.ErrnoException | null)?.code).toBe('ENOENT');
    // The consumer that comes later still sees it.
    await expect(pipeline(c, sink())).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('the shaper keeps the error of a file that vanished before its request read it', async () => {
    const l = new BandwidthLimiter();
    const shaped = l.shape('up', createReadStream(path.join(tmp, 'vanished-too.bin')));
    await closed(shaped);
    expect((shaped.errored as NodeJS.ErrnoException | null)?.code).toBe('ENOENT');
    l.close();
  });

  it('counts what passes when nothing fails', async () => {
    const file = path.join(tmp, 'ok.bin');
    writeFileSync(file, Buffer.alloc(100_000, 7));
    let n = 0;
    await pipeline(readExactly(file, 100_000, () => undefined), counter((k) => (n += k)), sink());
    expect(n).toBe(100_000);
  });
});

describe('a delta upload of a file that vanished', () => {
  // Seen in the seeded random test: the file of a queued upload was deleted before its delta
  // was read; the branch that would have made the new signature (not kept for a file this
  // small) got the read error with nobody listening, and the agent died. The base's signature
  // is real and kept locally (an 8 MiB base keeps one); no request may be made.
  it('rejects with the read error instead of ending the process', async () => {
    const base = path.join(tmp, 'base.bin');
    writeFileSync(base, Buffer.alloc(LOCAL_SIGNATURE_MIN, 3));
    const sigs = new SignatureStore(path.join(tmp, 'sigs'));
    const sigTmp = await sigs.tempPath(1);
    await signatureFile(base, sigTmp);
    await sigs.put(1, 1, 1, sigTmp);
    const api = {
      upload: (): never => {
        throw new Error('no upload may start for a file that cannot be read');
      },
    };
    const counters: TransferCounters = { bytesUp: 0, bytesDown: 0, deltaUploads: 0, deltaDownloads: 0, wholeUploads: 0, wholeDownloads: 0 };
    const uncaught: unknown[] = [];
    const onUncaught = (err: unknown) => uncaught.push(err);
    process.on('uncaughtException', onUncaught);
    try {
      await expect(
        tryDeltaUpload(api, sigs, counters, {
          rootId: 1,
          fileId: 1,
          baseRevisionId: 1,
          baseSize: LOCAL_SIGNATURE_MIN,
          abs: path.join(tmp, 'gone.bin'),
          name: 'gone.bin',
          size: 200_000,
          sha256: '0'.repeat(64),
          modified: new Date(),
        }),
      ).rejects.toMatchObject({ code: 'ENOENT' });
      await new Promise((r) => setTimeout(r, 50));
    } finally {
      process.off('uncaughtException', onUncaught);
    }
    expect(uncaught).toEqual([]);
  });
});

describe('readExactly', () => {
  // Small files are read at once (synchronously), bigger ones streamed: the same outcomes.
  const read = async (file: string, size: number) => {
    const why: string[] = [];
    const chunks: Buffer[] = [];
    const out = new Writable({
      write(c: Buffer, _e, cb) {
        chunks.push(c);
        cb();
      },
    });
    const result = await pipeline(readExactly(file, size, (w) => why.push(w)), out).then(
      () => 'ok',
      (err: Error) => err.message,
    );
    return { result, why, content: Buffer.concat(chunks) };
  };

  for (const size of [0, 1000, 200_000, 300_000, 2_000_000]) {
    it(`${size} bytes: exactly the file, or "grew" / "shrank" / "disappeared" when it is not the scanned size`, async () => {
      const file = path.join(tmp, `exact-${size}.bin`);
      const data = Buffer.alloc(size, 5);
      writeFileSync(file, data);
      const ok = await read(file, size);
      expect(ok.result).toBe('ok');
      expect(ok.why).toEqual([]);
      expect(ok.content.equals(data)).toBe(true);
      const grew = await read(file, Math.max(0, size - 1));
      expect(grew.why).toEqual(size === 0 ? [] : ['grew']);
      if (size > 0) expect(grew.result).toMatch(/grew while it was read/);
      const shrank = await read(file, size + 1);
      expect(shrank.why).toEqual(['shrank']);
      expect(shrank.result).toMatch(/shrank while it was read/);
      rmSync(file);
      const gone = await read(file, size);
      expect(gone.why).toEqual(['disappeared']);
      expect(gone.result).toMatch(/ENOENT/);
    });
  }

  it('does not follow a symlink put in place of the file, nor hang on a named pipe', async () => {
    const outside = path.join(tmp, 'outside-secret.txt');
    writeFileSync(outside, 'secret');
    const link = path.join(tmp, 'link.txt');
    symlinkSync(outside, link);
    const viaLink = await read(link, 6);
    expect(viaLink.result).not.toBe('ok');
    expect(viaLink.content.length).toBe(0);
    const fifo = path.join(tmp, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const viaFifo = await read(fifo, 6);
    expect(viaFifo.result).toMatch(/no longer a regular file/);
  });
});
