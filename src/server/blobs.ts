// Content-addressed blob store: <data>/blobs/ab/cdef… named by the SHA-256 of the content.
// Writes go to a temp file in <data>/blobs/tmp, are fsynced, then renamed into place, so a
// blob is either whole or absent; identical content is stored once.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fsp } from 'node:fs';
import { once } from 'node:events';
import type { Readable } from 'node:stream';
import path from 'node:path';

export interface StoredBlob {
  sha256: string;
  size: number;
}

export class BlobTooLargeError extends Error {
  constructor(readonly limit: number) {
    super(`blob larger than ${limit} bytes`);
  }
}

export class BlobStore {
  private readonly tmpDir: string;

  constructor(readonly dir: string) {
    this.tmpDir = path.join(dir, 'tmp');
  }

  async init(): Promise<void> {
    await fsp.mkdir(this.tmpDir, { recursive: true });
    // Temp files left by a crash are garbage: nothing references them.
    for (const name of await fsp.readdir(this.tmpDir)) await fsp.rm(path.join(this.tmpDir, name), { force: true });
  }

  pathOf(sha256: string): string {
    if (!/^[0-9a-f]{64}$/.test(sha256)) throw new Error(`not a sha256: ${sha256}`);
    return path.join(this.dir, sha256.slice(0, 2), sha256.slice(2));
  }

  /** Streams `source` into the store. Rejects with BlobTooLargeError past `maxBytes` (nothing kept). */
  async put(source: Readable | Buffer, maxBytes = Number.POSITIVE_INFINITY): Promise<StoredBlob> {
    const tmp = path.join(this.tmpDir, `${Date.now()}-${randomBytes(8).toString('hex')}`);
    const hash = createHash('sha256');
    let size = 0;
    const out = createWriteStream(tmp, { flags: 'wx' });
    try {
      await new Promise<void>((resolve, reject) => {
        out.on('error', reject);
        const write = (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) throw new BlobTooLargeError(maxBytes);
          hash.update(chunk);
          return out.write(chunk);
        };
        if (Buffer.isBuffer(source)) {
          try {
            write(source);
          } catch (err) {
            reject(err);
            return;
          }
          out.end(resolve);
          return;
        }
        source.on('error', reject);
        source.on('data', (chunk: Buffer) => {
          try {
            if (!write(chunk)) {
              source.pause();
              out.once('drain', () => source.resume());
            }
          } catch (err) {
            source.destroy();
            reject(err);
          }
        });
        source.on('end', () => out.end(resolve));
      });
      const fh = await fsp.open(tmp, 'r+');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      const sha256 = hash.digest('hex');
      const dest = this.pathOf(sha256);
      await fsp.mkdir(path.dirname(dest), { recursive: true });
      await fsp.rename(tmp, dest);
      return { sha256, size };
    } catch (err) {
      // The file may still be opening: wait for the stream to close before removing it, or
      // the pending open could re-create it after the removal.
      if (!out.closed) {
        const closed = once(out, 'close').catch(() => undefined);
        out.destroy();
        await closed;
      }
      await fsp.rm(tmp, { force: true });
      throw err;
    }
  }

  read(sha256: string, range?: { start: number; end: number }): Readable {
    return createReadStream(this.pathOf(sha256), range);
  }

  async has(sha256: string): Promise<boolean> {
    try {
      await fsp.access(this.pathOf(sha256));
      return true;
    } catch {
      return false;
    }
  }
}
