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
import { counter } from '../../src/engine/transfer.js';
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
