// The streams an upload or download passes through (byte counters, the bandwidth shaper) get
// their source's errors forwarded into them, sometimes before anything consumes them: a file
// that vanishes while its upload request still waits for a connection. Such an error must stay
// on the stream for its consumer and never become an uncaught exception (which ends the agent;
// vitest fails the run on one). Real files, no mocks.
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
