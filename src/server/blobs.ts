// Content-addressed blob store: <data>/blobs/ab/cdef… named by the SHA-256 of the content.
// Writes go to a temp file in <data>/blobs/tmp, are fsynced, then renamed into place, so a
// blob is either whole or absent; identical content is stored once.
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, createReadStream, fsync, mkdirSync, openSync, promises as fsp, renameSync, rmSync, writeSync } from 'node:fs';
import { promisify } from 'node:util';
import type { FileHandle } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import path from 'node:path';

const fsyncFd = promisify(fsync);

/** Bytes gathered from an upload before each write (see BlobStore.put), and for at most how long. */
const WRITE_BATCH = 256 * 1024;
const WRITE_HOLD_MS = 50;

/** Read size for stored content sent to clients: a whole ~1 MiB file in one or two reads. */
export const READ_CHUNK = 1024 * 1024;

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
    if (Buffer.isBuffer(source)) return this.putBuffer(source, maxBytes);
    const tmp = path.join(this.tmpDir, `${Date.now()}-${randomBytes(8).toString('hex')}`);
    const hash = createHash('sha256');
    let size = 0;
    // An error of the source while the temp file opens must not go unhandled.
    let sourceError: unknown;
    const onSourceError = (err: unknown) => {
      sourceError ??= err;
    };
    const stream = source.on('error', onSourceError);
    let fh: FileHandle;
    try {
      fh = await fsp.open(tmp, 'wx');
    } catch (err) {
      stream.off('error', onSourceError);
      throw err;
    }
    let open = true;
    try {
      if (sourceError !== undefined) throw sourceError;
      const writeAll = async (chunks: Buffer[]) => {
        const { bytesWritten } = await fh.writev(chunks);
        // A short write (rare for regular files): the rest one buffer at a time.
        let skip = bytesWritten;
        for (const chunk of chunks) {
          const from = Math.min(skip, chunk.length);
          skip -= from;
          for (let off = from; off < chunk.length; ) off += (await fh.write(chunk, off, chunk.length - off)).bytesWritten;
        }
      };
      // One write in flight while the next chunks arrive. Chunks (~16-64 KiB off the network)
      // are gathered to WRITE_BATCH and written with one writev: every fs call is a round trip
      // to the thread pool that costs more than the bytes it carries.
      let writing: Promise<void> = Promise.resolve();
      let held: Buffer[] = [];
      let heldBytes = 0;
      let heldSince = 0;
      const writeHeld = async () => {
        const chunks = held;
        held = [];
        heldBytes = 0;
        await writing;
        writing = writeAll(chunks);
        // Handled here, thrown by the next await of it (a failure while waiting for the next chunk).
        writing.catch(() => undefined);
      };
      const add = async (chunk: Buffer) => {
        size += chunk.length;
        if (size > maxBytes) throw new BlobTooLargeError(maxBytes);
        hash.update(chunk);
        if (heldBytes === 0) heldSince = Date.now();
        held.push(chunk);
        heldBytes += chunk.length;
        // A slow sender's bytes are not held back long (they reach the disk as they come).
        if (heldBytes >= WRITE_BATCH || Date.now() - heldSince >= WRITE_HOLD_MS) await writeHeld();
      };
      try {
        // Leaving the loop early (too large, write error) destroys the source.
        for await (const chunk of stream) await add(chunk as Buffer);
        if (heldBytes > 0) await writeHeld();
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
      stream.off('error', onSourceError);
    }
  }

  /**
   * put() of content already in memory (batched uploads of small files): the create, write,
   * close and rename are synchronous calls (microseconds each for a small file on a local disk,
   * where each would otherwise be a round trip to libuv's thread pool); only the fsync, which
   * waits for the disk, runs in the pool.
   */
  private async putBuffer(content: Buffer, maxBytes: number): Promise<StoredBlob> {
    if (content.length > maxBytes) throw new BlobTooLargeError(maxBytes);
    const sha256 = createHash('sha256').update(content).digest('hex');
    const dest = this.pathOf(sha256);
    const tmp = path.join(this.tmpDir, `${Date.now()}-${randomBytes(8).toString('hex')}`);
    const fd = openSync(tmp, 'wx');
    try {
      try {
        for (let off = 0; off < content.length; ) off += writeSync(fd, content, off, content.length - off);
        await fsyncFd(fd);
      } finally {
        closeSync(fd);
      }
      this.renameIntoSync(tmp, dest);
    } catch (err) {
      rmSync(tmp, { force: true });
      throw err;
    }
    return { sha256, size: content.length };
  }

  private renameIntoSync(tmp: string, dest: string): void {
    const shard = path.dirname(dest);
    if (!this.shards.has(shard)) {
      mkdirSync(shard, { recursive: true });
      this.shards.add(shard);
    }
    try {
      renameSync(tmp, dest);
    } catch (err) {
      // The shard directory was removed behind our back: make it again.
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      this.shards.delete(shard);
      mkdirSync(shard, { recursive: true });
      renameSync(tmp, dest);
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
    return createReadStream(this.pathOf(sha256), { ...range, highWaterMark: READ_CHUNK });
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
