// Content-addressed blob store: <data>/blobs/ab/cdef… named by the SHA-256 of the content.
// Writes go to a temp file in <data>/blobs/tmp, are fsynced, then renamed into place, so a
// blob is either whole or absent; identical content is stored once.
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
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

  /** Shard directories known to exist (saves a mkdir per blob). */
  private readonly shards = new Set<string>();

  /** Streams `source` into the store. Rejects with BlobTooLargeError past `maxBytes` (nothing kept). */
  async put(source: Readable | Buffer, maxBytes = Number.POSITIVE_INFINITY): Promise<StoredBlob> {
    const tmp = path.join(this.tmpDir, `${Date.now()}-${randomBytes(8).toString('hex')}`);
    const hash = createHash('sha256');
    let size = 0;
    // An error of the source while the temp file opens must not go unhandled.
    let sourceError: unknown;
    const onSourceError = (err: unknown) => {
      sourceError ??= err;
    };
    const stream = Buffer.isBuffer(source) ? undefined : source.on('error', onSourceError);
    let fh: FileHandle;
    try {
      fh = await fsp.open(tmp, 'wx');
    } catch (err) {
      stream?.off('error', onSourceError);
      throw err;
    }
    let open = true;
    try {
      if (sourceError !== undefined) throw sourceError;
      const writeAll = async (chunk: Buffer) => {
        for (let off = 0; off < chunk.length; ) off += (await fh.write(chunk, off, chunk.length - off)).bytesWritten;
      };
      // One write in flight while the next chunk arrives.
      let writing: Promise<void> = Promise.resolve();
      const add = async (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBytes) throw new BlobTooLargeError(maxBytes);
        hash.update(chunk);
        await writing;
        writing = writeAll(chunk);
        // Handled here, thrown by the next await of it (a failure while waiting for the next chunk).
        writing.catch(() => undefined);
      };
      try {
        if (!stream) await add(source as Buffer);
        // Leaving the loop early (too large, write error) destroys the source.
        else for await (const chunk of stream) await add(chunk as Buffer);
      } finally {
        // Nothing may write to the temp file once it is closed or removed.
        await writing.catch(() => undefined);
      }
      await writing;
      await fh.sync();
      open = false;
      await fh.close();
      const sha256 = hash.digest('hex');
      const dest = this.pathOf(sha256);
      await this.renameInto(tmp, dest);
      return { sha256, size };
    } catch (err) {
      if (open) await fh.close().catch(() => undefined);
      await fsp.rm(tmp, { force: true });
      throw err;
    } finally {
      stream?.off('error', onSourceError);
    }
  }

  private async renameInto(tmp: string, dest: string): Promise<void> {
    const shard = path.dirname(dest);
    if (!this.shards.has(shard)) {
      await fsp.mkdir(shard, { recursive: true });
      this.shards.add(shard);
    }
    try {
      await fsp.rename(tmp, dest);
    } catch (err) {
      // The shard directory was removed behind our back: make it again.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      this.shards.delete(shard);
      await fsp.mkdir(shard, { recursive: true });
      await fsp.rename(tmp, dest);
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
