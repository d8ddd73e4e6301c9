// The engine's edge to the local disk: confined path resolution (nothing outside the sync
// root, never through a symlink), atomic writes (temp file in the same folder, fsync,
// rename), content hashing and the directory scan that feeds the local tree.
import { createHash, randomBytes } from 'node:crypto';
import {
  close,
  closeSync,
  constants as fsConstants,
  fstatSync,
  fsync,
  futimesSync,
  linkSync,
  lstatSync,
  mkdirSync,
  openSync,
  promises as fsp,
  read,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  unlinkSync,
  writeFileSync,
  writeSync,
  type BigIntStats,
  type Stats,
} from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';

/** Prefix of the engine's own temp files; the scanner ignores them and cleans up stale ones. */
export const TEMP_PREFIX = '.axis-tmp-';

/**
 * Bytes gathered before each write of a download (see writeFileAtomic), and the largest read of
 * an upload (see readExactly). Fewer, larger calls: every fs call is a round trip to libuv's
 * thread pool (~30 us of CPU on an idle machine, several times that on a busy one), which at
 * 16-64 KiB per call cost more than the copying itself.
 */
export const WRITE_CHUNK = 256 * 1024;
const WRITE_HOLD_MS = 50;
const MAX_READ_CHUNK = 256 * 1024;
/** Files smaller than this are read for an upload with synchronous calls (see readSmallFile). */
const SYNC_READ_MAX = 256 * 1024;

const fsyncFd = promisify(fsync);
const readFd = promisify(read);

/** This process's temp file names: pid (see isStaleTempFile), a random run id, a counter (unique without a random draw each). */
const tempRun = randomBytes(4).toString('hex');
let tempCount = 0;
function tempName(): string {
  return `${TEMP_PREFIX}${process.pid}-${tempRun}${(tempCount++).toString(36)}`;
}

/** Temp files this process is writing right now (absolute paths). */
const liveTemps = new Set<string>();

/**
 * Whether a temp file is garbage: not being written by this process, and not named after
 * another live process (temp names start with the writer's pid). A download whose folder is
 * renamed meanwhile fails and cannot find its temp file to remove it; scans collect those.
 */
export function isStaleTempFile(abs: string): boolean {
  if (liveTemps.has(abs)) return false;
  const name = path.basename(abs);
  // The middle step of a case-only rename holds the user's file itself: never garbage.
  if (name.startsWith(`${TEMP_PREFIX}case-`)) return false;
  const m = /^\.axis-tmp-(\d+)-/.exec(name);
  if (!m) return true; // no writer named (older agents)
  const pid = Number(m[1]);
  if (!Number.isSafeInteger(pid) || pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'EPERM';
  }
}

export class ConfinementError extends Error {
  constructor(
    readonly relPath: string,
    reason: string,
  ) {
    super(`refusing to touch "${relPath}": ${reason}`);
  }
}

/** Splits a root-relative "/"-separated path into checked segments. */
export function segmentsOf(relPath: string): string[] {
  if (typeof relPath !== 'string' || relPath.length === 0) throw new ConfinementError(String(relPath), 'empty path');
  if (relPath.includes('\0')) throw new ConfinementError(relPath, 'contains NUL');
  if (relPath.includes('\\')) throw new ConfinementError(relPath, 'contains a backslash');
  if (relPath.startsWith('/') || /^[A-Za-z]:/.test(relPath)) throw new ConfinementError(relPath, 'absolute path');
  const segs = relPath.split('/');
  for (const s of segs) {
    if (s === '' || s === '.' || s === '..') throw new ConfinementError(relPath, `bad segment "${s}"`);
    // eslint-disable-next-line no-control-regex
    if (/[\x00-\x1f]/.test(s)) throw new ConfinementError(relPath, 'control character');
  }
  return segs;
}

/**
 * Absolute path of `relPath` inside `root`, after checking that no existing component on the
 * way is a symlink or a non-directory (so a planted symlink cannot lead outside the root).
 * `root` itself must be an absolute, real (symlink-free) path.
 */
export async function resolveInside(root: string, relPath: string, verified?: Set<string>): Promise<string> {
  return (await lstatInside(root, relPath, verified)).abs;
}

/**
 * resolveInside plus the lstat of the final component (undefined: absent). `verified` is a
 * cache of folder paths (root-relative) checked before in the caller's current round: their
 * chain is not lstat'ed again (the caller re-checks uncached wherever it writes or deletes last).
 */
export async function lstatInside(root: string, relPath: string, verified?: Set<string>): Promise<{ abs: string; st: Stats | undefined }> {
  const segs = segmentsOf(relPath);
  let cur = root;
  let start = 0;
  if (verified && segs.length > 1) {
    // The longest verified folder prefix.
    for (let i = segs.length - 1; i > 0; i--) {
      const prefix = segs.slice(0, i).join('/');
      if (verified.has(prefix)) {
        start = i;
        cur = path.join(root, ...segs.slice(0, i));
        break;
      }
    }
  }
  const full = path.join(root, ...segs);
  if (path.relative(root, full).startsWith('..')) throw new ConfinementError(relPath, 'outside the root');
  // Synchronous lstats (as the scanner's): each is a few microseconds on a cached entry, where
  // a thread-pool round trip costs more than the call itself, several times per transfer.
  for (let i = start; i < segs.length; i++) {
    cur = path.join(cur, segs[i]!);
    const st = lstatSync(cur, { throwIfNoEntry: false });
    // Nothing further exists: the rest of the path would be created under `cur`'s parent.
    if (!st) return { abs: full, st: undefined };
    if (st.isSymbolicLink()) throw new ConfinementError(relPath, `"${segs.slice(0, i + 1).join('/')}" is a symbolic link`);
    if (i < segs.length - 1) {
      if (!st.isDirectory()) throw new ConfinementError(relPath, `"${segs.slice(0, i + 1).join('/')}" is not a folder`);
      verified?.add(segs.slice(0, i + 1).join('/'));
    } else return { abs: full, st };
  }
  return { abs: full, st: undefined };
}

/**
 * Folder fsyncs shared by the writes that renamed into one folder at about the same time: a
 * caller awaits `sync(dir)` after its rename; every rename made before the fsync starts is
 * covered by it, so concurrent downloads into one folder pay one fsync, not one each.
 */
export class DirSyncer {
  private readonly pending = new Map<string, Promise<void>>();

  sync(dir: string): Promise<void> {
    let p = this.pending.get(dir);
    if (!p) {
      p = new Promise<void>((resolve) => setImmediate(resolve)).then(() => {
        // From here on, later renames need a later fsync.
        this.pending.delete(dir);
        return fsyncDir(dir);
      });
      this.pending.set(dir, p);
    }
    return p;
  }
}

/** Read buffers of sha256File, reused (hashing a tree makes no garbage per chunk). */
const hashBuffers: Buffer[] = [];

export async function sha256File(file: string): Promise<string> {
  const h = createHash('sha256');
  const buf = hashBuffers.pop() ?? Buffer.allocUnsafeSlow(256 * 1024);
  // Open, fstat and close are synchronous calls (see writeFileAtomic), and so are the reads of a
  // file smaller than one read: the thread pool only carries the reads of bigger files.
  // (Non-blocking: a named pipe swapped in since the scan must not hang the process.)
  const fd = openSync(file, fsConstants.O_RDONLY | (fsConstants.O_NONBLOCK ?? 0));
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw Object.assign(new Error(`${file} is not a regular file`), { code: 'EINVAL' });
    let sync = st.size < buf.length;
    for (;;) {
      const n = sync ? readSync(fd, buf, 0, buf.length, null) : (await readFd(fd, buf, 0, buf.length, null)).bytesRead;
      if (n === 0) break;
      // A file that grew past one read goes on asynchronously.
      if (n === buf.length) sync = false;
      h.update(n === buf.length ? buf : buf.subarray(0, n));
    }
  } finally {
    closeSync(fd);
    if (hashBuffers.length < 8) hashBuffers.push(buf);
  }
  return h.digest('hex');
}

/** Staging buffers of writeFileAtomic, reused (one per download in flight, a few kept). */
const stageBuffers: Buffer[] = [];
const MAX_STAGE_BUFFERS = 8;

/** Writes all of `buf` at the file's current position. */
function writeAllSync(fd: number, buf: Buffer): void {
  for (let off = 0; off < buf.length; ) off += writeSync(fd, buf, off, buf.length - off);
}

export class ContentMismatchError extends Error {
  constructor(
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`downloaded content hash ${actual} does not match the expected ${expected}`);
  }
}

/** The file at the target changed while it was being replaced (see swapIntoPlace); nothing was lost. */
export class TargetChangedError extends Error {}

/**
 * Writes `source` to `root/relPath` atomically: into a temp file in the same folder, fsynced,
 * hash-verified against `expectedSha256` (if given), mtime set, then renamed over the target
 * and the folder fsynced. A crash at any point leaves either the old file or the new one.
 * `beforeRename` runs just before the rename (the executor re-checks its preconditions there);
 * `lastCheck` runs synchronously right before the swap, on the target's lstat (undefined: absent).
 */
export async function writeFileAtomic(
  root: string,
  relPath: string,
  source: Readable,
  opts: {
    expectedSha256?: string;
    mtimeMs?: number;
    beforeRename?: () => Promise<void>;
    lastCheck?: (st: Stats | undefined) => void;
    createParents?: boolean;
    /** Folders verified in this round (see lstatInside), for the first check only. */
    verified?: Set<string>;
    /** Shared folder fsyncs (see DirSyncer); default: one fsync of the folder per write. */
    dirSyncer?: DirSyncer;
  } = {},
): Promise<{ sha256: string; size: number; stat: Stats }> {
  const target = await resolveInside(root, relPath, opts.verified);
  const dir = path.dirname(target);
  // The sync engine passes createParents: false: a folder the user just removed or renamed must
  // not come back (under its old name) because a download was under way.
  if (opts.createParents !== false) await fsp.mkdir(dir, { recursive: true });
  const tmp = path.join(dir, tempName());
  const hash = createHash('sha256');
  let size = 0;
  liveTemps.add(tmp);
  try {
    let stat: Stats;
    let sha256: string;
    const fd = openSync(tmp, 'wx', 0o644);
    try {
      // Only the fsync, which waits for the disk, is a round trip to libuv's thread pool: the
      // create, the writes (copies into the page cache, WRITE_CHUNK at a time), the mtime, the
      // fstat and the close (after the fsync, nothing left to flush) are synchronous calls of
      // microseconds, where each round trip would cost more CPU than the work itself.
      // Chunks are copied into a staging buffer (from a small pool) and written from there:
      // a network chunk is garbage as soon as it is hashed and copied, instead of being held
      // (and outliving a young-generation collection) until a write, and no buffer is
      // allocated per write. V8 schedules its full collections by the bytes of buffers
      // allocated as well as by its heap, so buffers made per chunk cost major GCs.
      // A first chunk is held as it is (a small file usually comes in one: written from it, no
      // copy, no stage); the stage is taken when a second one comes.
      let first: Buffer | undefined;
      let stage: Buffer | undefined;
      let staged = 0;
      let stagedSince = 0;
      const writeStaged = () => {
        if (first) writeAllSync(fd, first);
        else writeAllSync(fd, stage!.subarray(0, staged));
        first = undefined;
        staged = 0;
      };
      try {
        for await (const c of source) {
          const chunk = Buffer.isBuffer(c) ? c : Buffer.from(c as Uint8Array);
          hash.update(chunk);
          size += chunk.length;
          // A chunk at least as big as the stage goes to the disk as it is.
          if (chunk.length >= WRITE_CHUNK) {
            if (staged > 0) writeStaged();
            writeAllSync(fd, chunk);
            continue;
          }
          if (staged === 0) {
            stagedSince = Date.now();
            first = chunk;
            staged = chunk.length;
          } else {
            if (first) {
              stage ??= stageBuffers.pop() ?? Buffer.allocUnsafeSlow(WRITE_CHUNK);
              first.copy(stage, 0);
              first = undefined;
            }
            let from = 0;
            while (from < chunk.length) {
              const n = chunk.copy(stage!, staged, from);
              staged += n;
              from += n;
              if (staged === WRITE_CHUNK) writeStaged();
            }
          }
          // (A slow download's bytes are not held back long.)
          if (staged > 0 && Date.now() - stagedSince >= WRITE_HOLD_MS) writeStaged();
        }
        if (staged > 0) writeStaged();
      } finally {
        if (stage && stageBuffers.length < MAX_STAGE_BUFFERS) stageBuffers.push(stage);
      }
      sha256 = hash.digest('hex');
      if (opts.expectedSha256 && opts.expectedSha256 !== sha256) throw new ContentMismatchError(opts.expectedSha256, sha256);
      if (opts.mtimeMs !== undefined) futimesSync(fd, new Date(), new Date(opts.mtimeMs));
      await fsyncFd(fd);
      // The file keeps its inode, size and mtime when it is linked or renamed into place.
      stat = fstatSync(fd);
    } finally {
      closeSync(fd);
    }
    await opts.beforeRename?.();
    // Re-check confinement right before the rename (uncached): the folder may have changed meanwhile.
    await resolveInside(root, relPath);
    swapIntoPlace(tmp, target, opts.lastCheck);
    // The rename is durable once its folder is fsynced: only then may the caller commit.
    await (opts.dirSyncer ? opts.dirSyncer.sync(dir) : fsyncDir(dir));
    return { sha256, size, stat };
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw err;
  } finally {
    liveTemps.delete(tmp);
  }
}

/**
 * A read stream of `abs` that fails unless it yields exactly `size` bytes. An upload declares
 * its length before it sends the file: one that grows or shrinks meanwhile must abort the
 * request at once (else the server waits for bytes that never come, until a timeout).
 * `onChange` says what happened ("grew", "shrank", "disappeared", ...).
 */
export function readExactly(abs: string, size: number, onChange: (why: string) => void): Readable | FileChunks {
  let reported = false;
  const report = (why: string) => {
    if (!reported) onChange(why);
    reported = true;
  };
  if (size < SYNC_READ_MAX) return readSmallFile(abs, size, report);
  return new FileChunks(abs, size, report);
}

/** Read buffers of FileChunks, lent out while an upload is sent and handed back by release(). */
const readBuffers: Buffer[] = [];
/** (Eight: enough for two big uploads in flight; more sat idle in RSS through the small-file phase.) */
const MAX_READ_BUFFERS = 8;

/**
 * readExactly of a bigger file: MAX_READ_CHUNK reads into buffers from a small pool. A buffer
 * made per read is garbage a moment later, and V8 schedules its full collections by the bytes
 * of buffers made as well as by its heap: an upload of 1 GiB in fresh buffers cost ~100 major
 * collections. The buffers are lent to the consumer; release() hands them back to the pool,
 * to be called only when nothing can read them any more (the server answered that it stored
 * every byte). Without release() they are simply garbage, as before.
 */
export class FileChunks extends Readable {
  private fd: number | undefined;
  private pos = 0;
  private lent: Buffer[] = [];
  /** A read in the thread pool: the fd is closed only once it has returned (see _destroy). */
  private reading = false;
  private closeWhenRead: (() => void) | undefined;

  constructor(
    private readonly abs: string,
    private readonly size: number,
    private readonly report: (why: string) => void,
  ) {
    super({ highWaterMark: MAX_READ_CHUNK });
  }

  override _construct(done: (err?: Error | null) => void): void {
    try {
      this.fd = openForUpload(this.abs);
      done();
    } catch (err) {
      this.report(whyUnreadable(err));
      done(err as Error);
    }
  }

  override _read(): void {
    const buf = readBuffers.pop() ?? Buffer.allocUnsafeSlow(MAX_READ_CHUNK);
    // One byte more than is left: a short read is the end, a full one past `size` means it grew.
    const want = Math.min(buf.length, this.size - this.pos + 1);
    this.reading = true;
    read(this.fd!, buf, 0, want, this.pos, (err, n) => {
      this.reading = false;
      if (this.destroyed) {
        this.giveBack(buf);
        return this.closeWhenRead?.();
      }
      if (err) {
        this.giveBack(buf);
        this.report(whyUnreadable(err));
        return this.destroy(err);
      }
      if (this.pos + n > this.size) {
        this.giveBack(buf);
        this.report('grew');
        return this.destroy(new Error(`${this.abs} grew while it was read`));
      }
      if (n < want && this.pos + n < this.size) {
        this.giveBack(buf);
        this.report('shrank');
        return this.destroy(new Error(`${this.abs} shrank while it was read`));
      }
      if (n === 0) {
        this.giveBack(buf);
        this.push(null);
        return;
      }
      this.pos += n;
      this.lent.push(buf);
      this.push(buf.subarray(0, n));
      // A short read was the end (checked above: all `size` bytes came).
      if (n < want) this.push(null);
    });
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    const close = () => {
      if (this.fd !== undefined) closeSync(this.fd);
      this.fd = undefined;
      done(err);
    };
    // Closing the fd under a pending read could let the read land on another file given the
    // same number meanwhile: close once it has returned.
    if (this.reading) this.closeWhenRead = close;
    else close();
  }

  /** Hands the lent buffers back to the pool: only once no one can still read them. */
  release(): void {
    for (const b of this.lent) this.giveBack(b);
    this.lent = [];
  }

  private giveBack(buf: Buffer): void {
    if (readBuffers.length < MAX_READ_BUFFERS) readBuffers.push(buf);
  }
}

/**
 * readExactly of a small file: read at once with synchronous calls (open, fstat, one read of
 * one byte more than expected, close: microseconds on a local disk, where each would otherwise be a
 * round trip to libuv's thread pool), as a stream of one chunk or an errored stream.
 */
function readSmallFile(abs: string, size: number, report: (why: string) => void): Readable {
  let fd: number | undefined;
  try {
    fd = openForUpload(abs);
    const buf = Buffer.allocUnsafe(size + 1);
    let got = 0;
    for (;;) {
      const n = readSync(fd, buf, got, buf.length - got, got);
      if (n === 0 || (got += n) > size) break;
    }
    if (got > size) {
      report('grew');
      return errored(new Error(`${abs} grew while it was read`));
    }
    if (got < size) {
      report('shrank');
      return errored(new Error(`${abs} shrank while it was read`));
    }
    return Readable.from([buf.subarray(0, size)]);
  } catch (err) {
    report(whyUnreadable(err));
    return errored(err as Error);
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/**
 * Opens a file to be uploaded: non-blocking (a named pipe put at the path must not hang the
 * process in open()), no symlink followed (one put there since the scan could point outside the
 * root), and it must be a regular file.
 */
function openForUpload(abs: string): number {
  const fd = openSync(abs, fsConstants.O_RDONLY | (fsConstants.O_NONBLOCK ?? 0) | (fsConstants.O_NOFOLLOW ?? 0));
  try {
    if (!fstatSync(fd).isFile()) throw Object.assign(new Error(`${abs} is no longer a regular file`), { code: 'EINVAL' });
  } catch (err) {
    closeSync(fd);
    throw err;
  }
  return fd;
}

/** What readExactly's onChange says of a file that could not be opened or read. */
function whyUnreadable(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e.code === 'ENOENT' ? 'disappeared' : `could not be read (${e.message})`;
}

/** A stream that fails with `err` (emitted on the next tick: the caller can still listen). */
function errored(err: Error): Readable {
  const r = new Readable({ read() {} });
  r.destroy(err);
  return r;
}

/**
 * The last look at `target` and the swap, in synchronous calls back to back (nothing else of
 * this process runs in between), so a change by someone else can only slip in within
 * microseconds:
 * - a new file is hard-linked into place, which fails if anything appeared at the name
 *   (TargetChangedError); file systems without hard links fall back to a rename;
 * - a file being replaced is held open across the rename: if it was written through a handle
 *   opened before the swap (an editor writing in place), its content is put back at the target
 *   and TargetChangedError thrown, so the write is not lost with the replaced file.
 */
function swapIntoPlace(tmp: string, target: string, lastCheck?: (st: Stats | undefined) => void): void {
  let fd: number | undefined;
  try {
    // Nothing at the name (a new file, most downloads): nothing to hold open; the link below
    // fails if anything appears meanwhile.
    const absent = !lstatSync(target, { throwIfNoEntry: false });
    // (Windows: not held open; replacing a file that is open may be refused there.)
    if (!absent && process.platform !== 'win32') {
      try {
        fd = openSync(target, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT' && code !== 'ELOOP' && code !== 'EISDIR') throw err;
      }
    }
    // What the held file looks like before the last check: any write from here on is noticed.
    const held = fd !== undefined ? fstatSync(fd, { bigint: true }) : undefined;
    const heldId = fd !== undefined ? fileId(fstatSync(fd)) : undefined;
    let st: Stats | undefined;
    if (!absent) {
      try {
        st = lstatSync(target);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    lastCheck?.(st);
    if (!st) {
      try {
        linkSync(tmp, target);
        unlinkSync(tmp);
        return;
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EEXIST') throw new TargetChangedError(`${target} appeared while it was being written`);
        if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'ENOSYS' && code !== 'EMLINK') throw err;
      }
      renameSync(tmp, target);
      return;
    }
    if (fd === undefined || !held) {
      renameSync(tmp, target);
      return;
    }
    if (heldId !== fileId(st)) throw new TargetChangedError(`${target} was replaced while it was being written`);
    renameSync(tmp, target);
    const after = fstatSync(fd, { bigint: true });
    // (Not ctime: the rename itself changes the replaced file's link count, hence its ctime.)
    if (after.mtimeNs !== held.mtimeNs || after.size !== held.size) {
      // Written during the swap: that content only lives in the handle now. Put it back.
      const content = readFileSync(fd);
      const back = `${tmp}-back`;
      writeFileSync(back, content, { flag: 'wx', mode: Number(held.mode) & 0o777 });
      renameSync(back, target);
      throw new TargetChangedError(`${target} was written while it was being replaced; the written content was kept`);
    }
    // A write may still land in the replaced file through a handle opened before: watched a
    // little longer (see guardLateWrites), its content kept next to the target.
    guardLateWrites(fd, held, target, false);
    fd = undefined;
  } finally {
    // Closing the replaced file's last handle frees it (slow on some file systems): off the
    // main thread; every check above is done.
    if (fd !== undefined) close(fd, () => undefined);
  }
}

/**
 * Deletes the file `abs` unless it changes at the last moment: `lastCheck` on its lstat and the
 * unlink back to back (synchronous), and the file held open across the unlink so that a write
 * through a handle opened before (an editor writing in place) is noticed; that content is then
 * put back (under the same name, or a "(kept …)" name if something new took it) and
 * TargetChangedError thrown.
 */
export function removeFileChecked(abs: string, lastCheck: (st: Stats | undefined) => void): void {
  let fd: number | undefined;
  try {
    if (process.platform !== 'win32') {
      try {
        fd = openSync(abs, fsConstants.O_RDONLY | fsConstants.O_NOFOLLOW);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOENT' && code !== 'ELOOP' && code !== 'EISDIR') throw err;
      }
    }
    const held = fd !== undefined ? fstatSync(fd, { bigint: true }) : undefined;
    const heldId = fd !== undefined ? fileId(fstatSync(fd)) : undefined;
    const st = lstatSync(abs, { throwIfNoEntry: false });
    lastCheck(st);
    if (fd === undefined || !held) {
      unlinkSync(abs);
      return;
    }
    if (!st || heldId !== fileId(st)) throw new TargetChangedError(`${abs} was replaced while it was being deleted`);
    unlinkSync(abs);
    const after = fstatSync(fd, { bigint: true });
    if (after.mtimeNs !== held.mtimeNs || after.size !== held.size) {
      putBack(fd, Number(held.mode) & 0o777, abs, true);
      throw new TargetChangedError(`${abs} was written while it was being deleted; the written content was kept`);
    }
    // A write may still land in the deleted file through a handle opened before: watched a
    // little longer (see guardLateWrites), its content put back under the name.
    guardLateWrites(fd, held, abs, true);
    fd = undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** When a deleted or replaced file's handle is looked at again (ms after), and how long at most. */
const LATE_WRITE_FIRST_MS = 100;
const LATE_WRITE_EVERY_MS = 250;
const LATE_WRITE_MAX_MS = 5000;
/** Handles held at most at once (a mass delete must not run out of file descriptors). */
const LATE_WRITE_MAX_HELD = 256;
const lateWriteGuards = new Set<Promise<void>>();

/** Resolves once every file held by guardLateWrites has been looked at for the last time. */
export async function lateWritesSettled(): Promise<void> {
  while (lateWriteGuards.size > 0) await Promise.all([...lateWriteGuards]);
}

/**
 * The checks around a delete or a replace see writes that land up to the swap; a program that
 * opened the file before and writes a moment later (a save racing the sync, microseconds apart)
 * writes into a file that no longer has a name, and its content would be lost. The handle is
 * kept open and looked at again LATE_WRITE_FIRST_MS later: if the file changed, it is watched
 * until it stops changing (at most LATE_WRITE_MAX_MS) and its content is put back: under its
 * name after a delete (a "(kept …)" name if something took it), under a "(kept …)" name next to
 * a file that replaced it. The watcher then reports it like any new file.
 */
function guardLateWrites(fd: number, held: BigIntStats, abs: string, sameName: boolean): void {
  if (lateWriteGuards.size >= LATE_WRITE_MAX_HELD) {
    close(fd, () => undefined);
    return;
  }
  const started = Date.now();
  let last = held;
  let settle!: () => void;
  const done = new Promise<void>((r) => (settle = r));
  lateWriteGuards.add(done);
  const finish = () => {
    lateWriteGuards.delete(done);
    close(fd, () => undefined);
    settle();
  };
  const differ = (a: BigIntStats, b: BigIntStats) => a.mtimeNs !== b.mtimeNs || a.size !== b.size;
  const check = () => {
    let now: BigIntStats;
    try {
      now = fstatSync(fd, { bigint: true });
    } catch {
      finish();
      return;
    }
    const changed = differ(now, held);
    const moving = differ(now, last);
    last = now;
    if (!changed) {
      finish();
      return;
    }
    if (moving && Date.now() - started < LATE_WRITE_MAX_MS) {
      setTimeout(check, LATE_WRITE_EVERY_MS).unref();
      return;
    }
    try {
      putBack(fd, Number(held.mode) & 0o777, abs, sameName);
    } catch {
      // (Nowhere to put it: the folder cannot be made again. Nothing more can be done.)
    }
    finish();
  };
  setTimeout(check, LATE_WRITE_FIRST_MS).unref();
}

/** The content of `fd` as a file at `abs` (sameName, if free) or at a "(kept …)" name beside it. */
function putBack(fd: number, mode: number, abs: string, sameName: boolean): void {
  const dir = path.dirname(abs);
  const back = path.join(dir, `${TEMP_PREFIX}${process.pid}-${randomBytes(6).toString('hex')}`);
  const content = readFileSync(fd);
  try {
    writeFileSync(back, content, { flag: 'wx', mode });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    // Its folder was removed meanwhile (the same delete went on): made again for it.
    mkdirSync(dir, { recursive: true });
    writeFileSync(back, content, { flag: 'wx', mode });
  }
  if (sameName) {
    try {
      linkSync(back, abs);
      rmSync(back, { force: true });
      return;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
        rmSync(back, { force: true });
        throw err;
      }
    }
  }
  const { stem, ext } = splitName(path.basename(abs));
  renameSync(back, path.join(dir, `${stem} (kept ${randomBytes(3).toString('hex')})${ext}`));
}

function splitName(name: string): { stem: string; ext: string } {
  const dot = name.lastIndexOf('.');
  return dot > 0 ? { stem: name.slice(0, dot), ext: name.slice(dot) } : { stem: name, ext: '' };
}

export async function fsyncDir(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  // (Open and close synchronous, as in writeFileAtomic: only the fsync waits for the disk.)
  const fd = openSync(dir, 'r');
  try {
    await fsyncFd(fd);
  } catch {
    // Some file systems refuse fsync on directories; the rename is still atomic.
  } finally {
    closeSync(fd);
  }
}

/** Stable identity of a file across renames: device + inode (file index on Windows). */
export function fileId(st: Stats): string {
  return `${st.dev}:${st.ino}`;
}

export interface ScannedEntry {
  path: string;
  kind: 'file' | 'folder';
  size: number;
  mtimeMs: number;
  inode: string;
  /** Content hash; reused from `previous` when size, mtime and inode are unchanged. */
  sha256?: string;
}

export interface ScanProblem {
  path: string;
  reason: string;
}

export interface ScanOptions {
  /** True for names the scan must skip (junk, excluded, our temp files). */
  ignore: (name: string, relPath: string, kind: 'file' | 'folder') => boolean;
  /** What the last scan knew, to avoid re-hashing unchanged files. */
  previous?: (relPath: string) => { size: number; mtimeMs: number; inode: string; sha256?: string } | undefined;
  /** Hash files (true) or leave sha256 undefined for new/changed files (false). */
  hash?: boolean;
  /** Called with the absolute path of each temp file (TEMP_PREFIX) the walk skips. */
  onTempFile?: (abs: string) => void;
  onProgress?: (p: { scanned: number; hashed: number; hashedBytes: number }) => void;
}

/**
 * One entry of a scan: lstat (synchronous: much cheaper than a thread-pool round trip per
 * entry, and a folder's entries are done back to back), ignore rules, and the content hash
 * unless `previous` still matches (size, mtime, inode). Undefined: not a syncable entry (absent,
 * ignored, a symlink or special file; problems say why where it matters).
 */
export async function scanEntry(
  abs: string,
  rel: string,
  opts: ScanOptions,
  problems: ScanProblem[],
  progress: { scanned: number; hashed: number; hashedBytes: number } = { scanned: 0, hashed: 0, hashedBytes: 0 },
): Promise<ScannedEntry | undefined> {
  const name = rel.slice(rel.lastIndexOf('/') + 1);
  if (name.startsWith(TEMP_PREFIX)) {
    opts.onTempFile?.(abs);
    return undefined;
  }
  let st: Stats | undefined;
  try {
    st = lstatSync(abs, { throwIfNoEntry: false });
  } catch (err) {
    problems.push({ path: rel, reason: (err as Error).message });
    return undefined;
  }
  if (!st) return undefined;
  if (st.isSymbolicLink()) {
    problems.push({ path: rel, reason: 'symbolic links are not synced' });
    return undefined;
  }
  const kind = st.isDirectory() ? 'folder' : st.isFile() ? 'file' : undefined;
  if (!kind) {
    problems.push({ path: rel, reason: 'not a regular file or folder' });
    return undefined;
  }
  if (opts.ignore(name, rel, kind)) return undefined;
  const entry: ScannedEntry = { path: rel, kind, size: kind === 'file' ? st.size : 0, mtimeMs: Math.trunc(st.mtimeMs), inode: fileId(st) };
  if (kind === 'file') {
    const prev = opts.previous?.(rel);
    if (prev && prev.sha256 && prev.size === entry.size && prev.mtimeMs === entry.mtimeMs && prev.inode === entry.inode) {
      entry.sha256 = prev.sha256;
    } else if (opts.hash !== false) {
      try {
        entry.sha256 = await sha256File(abs);
        progress.hashed++;
        progress.hashedBytes += entry.size;
      } catch (err) {
        problems.push({ path: rel, reason: `cannot read file: ${(err as Error).message}` });
        return undefined;
      }
    }
  }
  return entry;
}

/**
 * Walks `root` (not following symlinks) and returns every file and folder under it; with
 * `under` (a folder's root-relative path, its chain checked by the caller), only what is below
 * that folder.
 */
export async function scanTree(root: string, opts: ScanOptions, under = ''): Promise<{ entries: ScannedEntry[]; problems: ScanProblem[] }> {
  const entries: ScannedEntry[] = [];
  const problems: ScanProblem[] = [];
  const progress = { scanned: 0, hashed: 0, hashedBytes: 0 };
  const walk = async (dirAbs: string, dirRel: string): Promise<void> => {
    let names: string[];
    try {
      names = await fsp.readdir(dirAbs);
    } catch (err) {
      problems.push({ path: dirRel || '/', reason: `cannot read folder: ${(err as Error).message}` });
      return;
    }
    names.sort();
    for (const name of names) {
      const rel = dirRel ? `${dirRel}/${name}` : name;
      const abs = path.join(dirAbs, name);
      const entry = await scanEntry(abs, rel, opts, problems, progress);
      if (!entry) continue;
      entries.push(entry);
      progress.scanned++;
      if (progress.scanned % 500 === 0) opts.onProgress?.({ ...progress });
      if (entry.kind === 'folder') await walk(abs, rel);
    }
  };
  await walk(under === '' ? root : path.join(root, ...under.split('/')), under);
  opts.onProgress?.({ ...progress });
  return { entries, problems };
}
