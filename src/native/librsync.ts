// librsync (rsync delta algorithm) for the engine and the server: streaming signature, delta
// and patch, byte-compatible with librsync's formats (the `rdiff` tool reads and writes the
// same files).
//
// The work happens in the native addon native/build/Release/axis_rsync.node (see
// native/README.md), on libuv's thread pool: the event loop never blocks on a large file,
// and memory stays bounded whatever the file size (fixed-size buffers; each stream awaits
// one native step at a time and honours backpressure on both sides).
//
// The addon is optional at run time. Importing this module never throws: the addon is loaded
// on first use; when it cannot be loaded rsyncAvailable() is false, rsyncLoadError() says
// why (say it once in status/log), and callers fall back to whole-file transfers. The
// stream factories then throw RsyncUnavailableError and the file helpers reject with it.
import { createRequire } from 'node:module';
import { createReadStream, createWriteStream, existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import { Transform, type Readable, type TransformCallback, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';

/** Strong (per-block) hash of a signature; rdiff's `-H`. */
export type SignatureHash = 'blake2' | 'md4';
/** Weak rolling checksum of a signature; rdiff's `-R`. */
export type SignatureRollsum = 'rabinkarp' | 'rollsum';

/** librsync's signature magic numbers (first four bytes of a signature, big-endian). */
export const SIGNATURE_MAGIC = {
  MD4: 0x72730136,
  BLAKE2: 0x72730137,
  RK_MD4: 0x72730146,
  RK_BLAKE2: 0x72730147,
} as const;
/** First four bytes of a librsync delta ("rs\x026"). */
export const DELTA_MAGIC = 0x72730236;

export interface SignatureParams {
  /** Bytes per block. */
  blockLen: number;
  /** Bytes of the strong hash kept per block. */
  strongLen: number;
  hash: SignatureHash;
  rollsum: SignatureRollsum;
  /** The magic number the signature starts with. */
  magic: number;
}

export interface SignatureOptions {
  /**
   * Size of the file the signature describes, when known: blockLen and strongLen are then
   * chosen for it (block length about √size, strong sum as long as librsync recommends for
   * that many blocks). Unknown size: librsync's defaults (2048-byte blocks, 12-byte sums).
   */
  fileSize?: number;
  /** Fixed block length instead of the size-based one. */
  blockLen?: number;
  /** Strong sum length: 'min' (default) = the shortest librsync deems safe, 'max', or bytes. */
  strongLen?: number | 'min' | 'max';
  hash?: SignatureHash;
  rollsum?: SignatureRollsum;
}

/** Counters of a finished job (librsync's rs_stats_t). */
export interface RsyncStats {
  op: 'signature' | 'delta' | 'patch';
  litCmds: number;
  litBytes: number;
  litCmdBytes: number;
  copyCmds: number;
  copyBytes: number;
  copyCmdBytes: number;
  sigBlocks: number;
  falseMatches: number;
  blockLen: number;
  inBytes: number;
  outBytes: number;
}

export interface RsyncInfo {
  available: boolean;
  /** Why the addon is not available. */
  error?: string;
  addonPath?: string;
  librsyncVersion?: string;
  /** How librsync is linked into the addon. */
  linkage?: 'static' | 'dynamic';
  napiVersion?: number;
}

/** Thrown (streams) or rejected (file helpers) when the native addon is not loaded. */
export class RsyncUnavailableError extends Error {
  readonly code = 'ERR_RSYNC_UNAVAILABLE';
  constructor(reason: string) {
    super(`librsync is not available: ${reason}`);
    this.name = 'RsyncUnavailableError';
  }
}

/**
 * Errors from the native jobs are plain Errors with `code`: an rs_result name such as
 * 'RS_BAD_MAGIC', 'RS_CORRUPT', 'RS_INPUT_ENDED' (truncated input), 'RS_IO_ERROR' (basis
 * file unreadable), or 'ERR_RSYNC_*' for misuse; `rsResult` carries librsync's number.
 */
export interface RsyncError extends Error {
  code: string;
  rsResult?: number;
}

export function isRsyncError(err: unknown): err is RsyncError {
  if (!(err instanceof Error)) return false;
  const code: unknown = (err as Error & { code?: unknown }).code;
  return typeof code === 'string' && /^(RS_|ERR_RSYNC_)/.test(code);
}

// ---- the native addon ------------------------------------------------------------------

interface FeedResult {
  output: Buffer;
  needInput: boolean;
  done: boolean;
}

interface FileFeedResult extends FeedResult {
  /** File bytes handed to the job by this step. */
  consumed: number;
  /** The file ended within this step. */
  eof: boolean;
}

interface NativeJob {
  feed(input: Buffer | null, eof: boolean): Promise<FeedResult>;
  /** feed() with the input read by the addon itself (pread on the pool); absent in older builds. */
  feedFile?(path: string, offset: number, maxBytes: number): Promise<FileFeedResult>;
  close(): void;
  stats(): RsyncStats;
  readonly busy: boolean;
}

interface NativeAddon {
  Job: {
    new (kind: 'signature', blockLen: number, strongLen: number, magic: number): NativeJob;
    new (kind: 'delta', signature: Buffer): NativeJob;
    new (kind: 'patch', basisPath: string): NativeJob;
  };
  sigArgs(fileSize: number, magic: number, blockLen: number, strongLen: number): { magic: number; blockLen: number; strongLen: number };
  librsyncVersion: string;
  linkage: 'static' | 'dynamic';
  napiVersion: number;
  outputChunkSize: number;
}

const ADDON_FILE = 'axis_rsync.node';

interface LoadState {
  addon?: NativeAddon;
  addonPath?: string;
  error?: string;
}
let loaded: LoadState | undefined;

function packageRoot(): string | undefined {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 8; i++) {
    if (existsSync(path.join(dir, 'package.json'))) return dir;
    const up = path.dirname(dir);
    if (up === dir) break;
    dir = up;
  }
  return undefined;
}

function addonCandidates(): string[] {
  const override = process.env.AXIS_RSYNC_ADDON;
  if (override) return [path.resolve(override)];
  const root = packageRoot();
  if (!root) return [];
  const built = path.join(root, 'native', 'build', 'Release', ADDON_FILE);
  // Packaged Electron app: .node files are unpacked next to the asar (asarUnpack).
  const unpacked = built.replace(/([\\/])app\.asar([\\/])/, '$1app.asar.unpacked$2');
  return unpacked === built ? [built] : [unpacked, built];
}

function load(): LoadState {
  if (loaded) return loaded;
  const override = process.env.AXIS_RSYNC_ADDON;
  if (override && /^(off|0|false|disabled?)$/i.test(override)) {
    loaded = { error: `disabled by AXIS_RSYNC_ADDON=${override}` };
    return loaded;
  }
  const candidates = addonCandidates();
  const problems: string[] = [];
  const require = createRequire(import.meta.url);
  for (const file of candidates) {
    if (!existsSync(file)) {
      problems.push(`${file} does not exist`);
      continue;
    }
    try {
      const addon = require(file) as NativeAddon;
      if (typeof addon?.Job !== 'function' || typeof addon.sigArgs !== 'function') {
        problems.push(`${file} is not the axis_rsync addon`);
        continue;
      }
      loaded = { addon, addonPath: file };
      return loaded;
    } catch (err) {
      problems.push(`${file}: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  loaded = {
    error:
      (problems.length > 0 ? problems.join('; ') : 'package root not found') +
      ' (build it with scripts/build-native.js; it needs librsync, see native/README.md)',
  };
  return loaded;
}

function addon(): NativeAddon {
  const state = load();
  if (!state.addon) throw new RsyncUnavailableError(state.error ?? 'not loaded');
  return state.addon;
}

/** True when the native addon is loaded (loads it on first call). */
export function rsyncAvailable(): boolean {
  return load().addon !== undefined;
}

/** Why the addon could not be loaded, or undefined when it is available. */
export function rsyncLoadError(): string | undefined {
  return load().error;
}

/** Everything a status page or log line needs about the delta engine. */
export function rsyncInfo(): RsyncInfo {
  const state = load();
  if (!state.addon) return { available: false, error: state.error };
  return {
    available: true,
    addonPath: state.addonPath,
    librsyncVersion: state.addon.librsyncVersion,
    linkage: state.addon.linkage,
    napiVersion: state.addon.napiVersion,
  };
}

// ---- signature parameters --------------------------------------------------------------

function magicOf(hash: SignatureHash, rollsum: SignatureRollsum): number {
  if (hash === 'blake2') return rollsum === 'rabinkarp' ? SIGNATURE_MAGIC.RK_BLAKE2 : SIGNATURE_MAGIC.BLAKE2;
  return rollsum === 'rabinkarp' ? SIGNATURE_MAGIC.RK_MD4 : SIGNATURE_MAGIC.MD4;
}

function describeMagic(magic: number): { hash: SignatureHash; rollsum: SignatureRollsum } | undefined {
  switch (magic) {
    case SIGNATURE_MAGIC.RK_BLAKE2:
      return { hash: 'blake2', rollsum: 'rabinkarp' };
    case SIGNATURE_MAGIC.BLAKE2:
      return { hash: 'blake2', rollsum: 'rollsum' };
    case SIGNATURE_MAGIC.RK_MD4:
      return { hash: 'md4', rollsum: 'rabinkarp' };
    case SIGNATURE_MAGIC.MD4:
      return { hash: 'md4', rollsum: 'rollsum' };
    default:
      return undefined;
  }
}

// floor(log2(v)) for v >= 1, 0 for v < 2 (librsync's rs_long_ln2).
function ln2(v: number): number {
  let n = 0;
  while (v >= 2) {
    v = Math.floor(v / 2);
    n++;
  }
  return n;
}

function isqrt(v: number): number {
  let n = Math.floor(Math.sqrt(v));
  while (n * n > v) n--;
  while ((n + 1) * (n + 1) <= v) n++;
  return n;
}

/** Same rules as librsync 2.3's rs_sig_args(), for when the addon is not loaded. */
function sigArgsJs(fileSize: number, maxStrong: number, blockLen: number, strong: number | 'min' | 'max'): { blockLen: number; strongLen: number } {
  const known = fileSize >= 0;
  const bl = blockLen > 0 ? blockLen : !known ? 2048 : fileSize <= 256 * 256 ? 256 : isqrt(fileSize) - (isqrt(fileSize) % 128);
  const min = known ? 2 + Math.floor((ln2(fileSize + 2 ** 24) + ln2(Math.floor(fileSize / bl) + 1) + 7) / 8) : 12;
  const sl = strong === 'max' ? maxStrong : strong === 'min' ? Math.min(min, maxStrong) : strong;
  return { blockLen: bl, strongLen: sl };
}

/**
 * Signature parameters for a file of `fileSize` bytes (undefined = unknown): librsync's
 * rs_sig_args() when the addon is loaded, the same rules in JS otherwise.
 */
export function signatureParams(fileSize: number | undefined, opts: Omit<SignatureOptions, 'fileSize'> = {}): SignatureParams {
  const hash = opts.hash ?? 'blake2';
  const rollsum = opts.rollsum ?? 'rabinkarp';
  const magic = magicOf(hash, rollsum);
  const maxStrong = hash === 'blake2' ? 32 : 16;
  const size = fileSize === undefined ? -1 : fileSize;
  if (!Number.isSafeInteger(size) || size < -1) throw new RangeError(`fileSize must be a non-negative integer, got ${fileSize}`);
  const blockLen = opts.blockLen ?? 0;
  if (!Number.isInteger(blockLen) || blockLen < 0 || blockLen > 2 ** 30) throw new RangeError(`blockLen must be an integer in 1..2^30, got ${opts.blockLen}`);
  const strong = opts.strongLen ?? 'min';
  if (typeof strong === 'number' && (!Number.isInteger(strong) || strong < 1 || strong > maxStrong)) {
    throw new RangeError(`strongLen must be 1..${maxStrong} for ${hash}, got ${strong}`);
  }
  const state = load();
  if (state.addon) {
    const r = state.addon.sigArgs(size, magic, blockLen, strong === 'min' ? -1 : strong === 'max' ? 0 : strong);
    return { blockLen: r.blockLen, strongLen: r.strongLen, hash, rollsum, magic: r.magic };
  }
  return { ...sigArgsJs(size, maxStrong, blockLen, strong), hash, rollsum, magic };
}

/** Parameters stored in a signature's 12-byte header, and its block count when complete. */
export function parseSignatureHeader(signature: Buffer): SignatureParams & { blockCount: number | undefined } {
  if (signature.length < 12) throw new RangeError('signature shorter than its 12-byte header');
  const magic = signature.readUInt32BE(0);
  const kind = describeMagic(magic);
  if (!kind) throw new RangeError(`not a librsync signature (magic 0x${magic.toString(16)})`);
  const blockLen = signature.readUInt32BE(4);
  const strongLen = signature.readUInt32BE(8);
  const body = signature.length - 12;
  const per = 4 + strongLen;
  return { magic, ...kind, blockLen, strongLen, blockCount: body % per === 0 ? body / per : undefined };
}

// ---- jobs and streams ------------------------------------------------------------------

/** Largest piece handed to one native step; bigger chunks are sliced (no copy). */
const FEED_SLICE = 1 << 20;

/**
 * One librsync job driven step by step. Each feed() runs on the thread pool; at most one may
 * be pending. Prefer the streams below; this is for callers that drive the bytes themselves.
 */
export class RsyncJob {
  private constructor(private readonly native: NativeJob) {}

  static signature(opts: SignatureOptions = {}): RsyncJob {
    const a = addon();
    const p = signatureParams(opts.fileSize, opts);
    return new RsyncJob(new a.Job('signature', p.blockLen, p.strongLen, p.magic));
  }

  /** A delta job against `signature` (a whole librsync signature, e.g. from signatureFile). */
  static delta(signature: Buffer): RsyncJob {
    if (!Buffer.isBuffer(signature)) throw new TypeError('signature must be a Buffer');
    return new RsyncJob(new (addon().Job)('delta', signature));
  }

  /** A patch job reading the basis file by path (positional reads on the thread pool). */
  static patch(basisPath: string): RsyncJob {
    return new RsyncJob(new (addon().Job)('patch', path.resolve(basisPath)));
  }

  /**
   * Hands `input` to the job (null: none) and resolves with the output produced. When
   * `needInput` is false and `done` is false, call feed(null, eof) again to collect more
   * output before giving new input. Do not modify `input` until the promise settles.
   */
  feed(input: Buffer | null, eof = false): Promise<FeedResult> {
    return this.native.feed(input, eof);
  }

  /** Frees the native job (deferred until a running feed finishes). Idempotent. */
  close(): void {
    this.native.close();
  }

  stats(): RsyncStats {
    return this.native.stats();
  }
}

/** A Transform over an RsyncJob: bytes in, librsync output out. */
export class RsyncTransform extends Transform {
  private waitingForRead: (() => void) | undefined;
  private finalStats: RsyncStats | undefined;

  constructor(private readonly job: RsyncJob) {
    super({ readableHighWaterMark: FEED_SLICE, writableHighWaterMark: FEED_SLICE });
  }

  /** Counters of the job, once the stream has finished. */
  stats(): RsyncStats | undefined {
    return this.finalStats;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.run(chunk, false).then(() => callback(), callback);
  }

  override _flush(callback: TransformCallback): void {
    this.run(undefined, true).then(() => {
      this.finalStats = this.job.stats();
      this.job.close();
      callback();
    }, callback);
  }

  override _read(size: number): void {
    const resume = this.waitingForRead;
    this.waitingForRead = undefined;
    resume?.();
    super._read(size);
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    this.job.close();
    const resume = this.waitingForRead;
    this.waitingForRead = undefined;
    resume?.();
    callback(error);
  }

  private async run(chunk: Buffer | undefined, eof: boolean): Promise<void> {
    const pieces: (Buffer | null)[] = [];
    if (chunk) for (let off = 0; off < chunk.length; off += FEED_SLICE) pieces.push(chunk.subarray(off, off + FEED_SLICE));
    if (eof) pieces.push(null);
    for (const piece of pieces) {
      if (this.destroyed) return;
      let r = await this.job.feed(piece, eof && piece === null);
      await this.pushOutput(r.output);
      while (!r.needInput && !r.done) {
        if (this.destroyed) return;
        r = await this.job.feed(null, eof && piece === null);
        await this.pushOutput(r.output);
      }
    }
  }

  // Pushes output and, when the readable side is full, waits until it is read: a patch
  // whose few delta bytes expand to gigabytes never buffers more than ~one output chunk.
  private async pushOutput(out: Buffer): Promise<void> {
    if (out.length === 0 || this.destroyed) return;
    if (!this.push(out)) {
      await new Promise<void>((resolve) => {
        this.waitingForRead = resolve;
      });
    }
  }
}

/** Transform: basis file bytes in, librsync signature out. */
export function createSignatureStream(opts: SignatureOptions = {}): RsyncTransform {
  return new RsyncTransform(RsyncJob.signature(opts));
}

/** Transform: new file bytes in, delta against `signature` out. */
export function createDeltaStream(signature: Buffer): RsyncTransform {
  return new RsyncTransform(RsyncJob.delta(signature));
}

/** Transform: delta bytes in, new file bytes out, copying from the basis file at `basisPath`. */
export function createPatchStream(basisPath: string): RsyncTransform {
  return new RsyncTransform(RsyncJob.patch(basisPath));
}

// ---- file helpers ----------------------------------------------------------------------

const READ_CHUNK = 1 << 20;
/**
 * File bytes one native feedFile() step reads, in 256 KiB preads each hashed while still in
 * the CPU cache (~50 ms of work on the thread pool at rdiff's speed).
 */
const FILE_SLICE = 16 << 20;

/**
 * The output of `job` run over the file at `file`, read by the addon itself (no JS buffers or
 * copies, one thread-pool hop per FILE_SLICE: as fast as rdiff); the job is closed at the end,
 * its counters go to `done`. Used by the file helpers when the addon has feedFile().
 */
async function* fileJobOutput(job: NativeJob, file: string, done: (stats: RsyncStats) => void): AsyncGenerator<Buffer> {
  try {
    let offset = 0;
    for (;;) {
      const step = await job.feedFile!(file, offset, FILE_SLICE);
      offset += step.consumed;
      let r: FeedResult = step;
      if (r.output.length > 0) yield r.output;
      while (!r.needInput && !r.done) {
        r = await job.feed(null, false);
        if (r.output.length > 0) yield r.output;
      }
      if (step.eof) break;
    }
    let r = await job.feed(null, true);
    if (r.output.length > 0) yield r.output;
    while (!r.done) {
      r = await job.feed(null, true);
      if (r.output.length > 0) yield r.output;
    }
    done(job.stats());
  } finally {
    job.close();
  }
}

function sinkOf(out: string | Writable): Writable {
  return typeof out === 'string' ? createWriteStream(out) : out;
}


export interface SignatureFileResult {
  params: SignatureParams;
  stats: RsyncStats | undefined;
  /** The signature, when no `out` was given. */
  signature?: Buffer;
}

/**
 * Signature of the file at `basisPath`, with parameters chosen for its size. Written to
 * `out` (path or stream) or, without `out`, returned as a Buffer.
 */
export async function signatureFile(basisPath: string, out?: string | Writable, opts: Omit<SignatureOptions, 'fileSize'> = {}): Promise<SignatureFileResult> {
  addon();
  const { size } = await fsp.stat(basisPath);
  const params = signatureParams(size, opts);
  const native = new (addon().Job)('signature', params.blockLen, params.strongLen, params.magic);
  if (typeof native.feedFile === 'function') {
    let stats: RsyncStats | undefined;
    const output = fileJobOutput(native, path.resolve(basisPath), (s) => (stats = s));
    if (out === undefined) {
      const parts: Buffer[] = [];
      for await (const part of output) parts.push(part);
      return { params, stats, signature: Buffer.concat(parts) };
    }
    await pipeline(output, sinkOf(out));
    return { params, stats };
  }
  native.close();
  const sig = createSignatureStream({ ...opts, fileSize: size, blockLen: params.blockLen, strongLen: params.strongLen });
  const input = createReadStream(basisPath, { highWaterMark: READ_CHUNK });
  if (out === undefined) {
    const parts: Buffer[] = [];
    await pipeline(input, sig, async (source: AsyncIterable<Buffer>) => {
      for await (const part of source) parts.push(part);
    });
    return { params, stats: sig.stats(), signature: Buffer.concat(parts) };
  }
  await pipeline(input, sig, sinkOf(out));
  return { params, stats: sig.stats() };
}

/** Delta turning the basis described by `signature` (path or Buffer) into `newPath`. */
export async function deltaFile(signature: string | Buffer, newPath: string, out: string | Writable): Promise<RsyncStats | undefined> {
  addon();
  const sig = typeof signature === 'string' ? await fsp.readFile(signature) : signature;
  if (!Buffer.isBuffer(sig)) throw new TypeError('signature must be a Buffer');
  const native = new (addon().Job)('delta', sig);
  if (typeof native.feedFile === 'function') {
    let stats: RsyncStats | undefined;
    await pipeline(fileJobOutput(native, path.resolve(newPath), (s) => (stats = s)), sinkOf(out));
    return stats;
  }
  native.close();
  const delta = createDeltaStream(sig);
  await pipeline(createReadStream(newPath, { highWaterMark: READ_CHUNK }), delta, sinkOf(out));
  return delta.stats();
}

/**
 * Applies `delta` (path or stream) to the basis file, writing the result to `out`. When `out`
 * is a path it must not be the basis itself; a failed patch removes it.
 */
export async function patchFile(basisPath: string, delta: string | Readable, out: string | Writable): Promise<RsyncStats | undefined> {
  addon();
  if (typeof out === 'string' && path.resolve(out) === path.resolve(basisPath)) {
    throw new Error('patchFile: the output must not overwrite the basis file it reads from');
  }
  const patch = createPatchStream(basisPath);
  const input = typeof delta === 'string' ? createReadStream(delta, { highWaterMark: READ_CHUNK }) : delta;
  try {
    await pipeline(input, patch, sinkOf(out));
  } catch (err) {
    if (typeof out === 'string') await fsp.rm(out, { force: true });
    throw err;
  }
  return patch.stats();
}
