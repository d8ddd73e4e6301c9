// Transfers with deltas (issue "Delta transfers"): the agent keeps the librsync signature of
// each file's synced base (made while it uploads or downloads that version), so an upload sends
// only a delta against the base the server holds, and a download asks the server for the delta
// from the base revision the agent has. Deltas are used where they pay (size thresholds, base
// present and unmodified, the addon loaded); whole files otherwise. Every result is verified
// by SHA-256 before it becomes visible (the server checks uploads; the agent checks downloads
// before the atomic rename).
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream, promises as fsp } from 'node:fs';
import path from 'node:path';
import { PassThrough, Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { deltaBlockLen, deltaWorthwhile } from '../core/delta.js';
import { createDeltaStream, createPatchStream, createSignatureStream, rsyncAvailable } from '../native/librsync.js';
import { apiErrorCode } from './remote.js';

/** Signatures of synced bases: <dir>/<rootId>/<remoteId>-<revisionId>.sig (only the newest kept). */
export class SignatureStore {
  /** Per root: remote id → the revisions whose signature files exist (read from the folder once). */
  private readonly index = new Map<number, Promise<Map<number, Set<number>>>>();

  constructor(readonly dir: string) {}

  private file(rootId: number, remoteId: number, revisionId: number): string {
    return path.join(this.dir, String(rootId), `${remoteId}-${revisionId}.sig`);
  }

  private revisionsOf(rootId: number): Promise<Map<number, Set<number>>> {
    let p = this.index.get(rootId);
    if (!p) {
      p = fsp.readdir(path.join(this.dir, String(rootId))).then(
        (names) => {
          const m = new Map<number, Set<number>>();
          for (const name of names) {
            const g = /^(\d+)-(\d+)\.sig$/.exec(name);
            if (!g) continue;
            const id = Number(g[1]);
            let revs = m.get(id);
            if (!revs) m.set(id, (revs = new Set()));
            revs.add(Number(g[2]));
          }
          return m;
        },
        () => new Map<number, Set<number>>(),
      );
      this.index.set(rootId, p);
    }
    return p;
  }

  async get(rootId: number, remoteId: number, revisionId: number): Promise<Buffer | undefined> {
    try {
      return await fsp.readFile(this.file(rootId, remoteId, revisionId));
    } catch {
      return undefined;
    }
  }

  /** A temp path in the store's folder (same file system, so put() is a rename). */
  async tempPath(rootId: number): Promise<string> {
    const d = path.join(this.dir, String(rootId));
    await fsp.mkdir(d, { recursive: true });
    return path.join(d, `.tmp-${randomBytes(6).toString('hex')}`);
  }

  /** Keeps `tmp` as the signature of (remoteId, revisionId) and drops older ones of the file (no folder listing). */
  async put(rootId: number, remoteId: number, revisionId: number, tmp: string): Promise<void> {
    const index = await this.revisionsOf(rootId);
    const target = this.file(rootId, remoteId, revisionId);
    await fsp.rename(tmp, target);
    let revs = index.get(remoteId);
    if (!revs) index.set(remoteId, (revs = new Set()));
    const older = [...revs].filter((r) => r !== revisionId);
    revs.clear();
    revs.add(revisionId);
    for (const r of older) await fsp.rm(this.file(rootId, remoteId, r), { force: true });
  }
}

export interface TransferCounters {
  bytesUp: number;
  bytesDown: number;
  deltaUploads: number;
  deltaDownloads: number;
  wholeUploads: number;
  wholeDownloads: number;
}

export function newCounters(): TransferCounters {
  return { bytesUp: 0, bytesDown: 0, deltaUploads: 0, deltaDownloads: 0, wholeUploads: 0, wholeDownloads: 0 };
}

/**
 * Counts bytes passing through (a Transform: it does not start the flow by itself).
 *
 * The caller forwards its source's errors into it (`destroy(err)`), possibly before anything
 * consumes it: a file that vanishes while a request is still waiting for a connection or a
 * token. An 'error' nobody hears would end the agent, so the stream always has a listener;
 * the error still reaches the consumer (pipe/pipeline listeners, `errored`).
 */
export function counter(onBytes: (n: number) => void): Transform {
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      onBytes(chunk.length);
      cb(null, chunk);
    },
  });
  t.on('error', () => undefined);
  return t;
}

/**
 * Files at least this large keep the signature of their synced base in the agent (made while
 * the content is transferred anyway). Smaller ones keep none: a delta upload asks the server
 * for the base's signature (extension 3.5a; about 2 % of the file's size on the wire), which
 * spares every transfer of a small or mid-size file a second pass through librsync.
 */
export const LOCAL_SIGNATURE_MIN = 8 * 1024 * 1024;

/** Whether a file of `size` bytes keeps its signature locally (see LOCAL_SIGNATURE_MIN). */
export function keepsLocalSignature(size: number): boolean {
  return size >= LOCAL_SIGNATURE_MIN && deltaWorthwhile(size, size);
}

function sigStream(size: number) {
  return createSignatureStream({ fileSize: size, blockLen: deltaBlockLen(size) });
}

export interface DeltaUploadApi {
  upload(
    rootId: number,
    folderId: number | null,
    name: string,
    source: string,
    opts: { modified?: Date; baseRevisionId?: number; fileId?: number; delta?: { sha256: string } },
  ): Promise<{ id: number; revision_id: number; sha256?: string | undefined; size: number }>;
  /** Extension (3.5a): the librsync signature of a revision's content. */
  revisionSignature?(rootId: number, fileId: number, revisionId: number): Promise<Buffer>;
}

export class FileChangedError extends Error {}

/**
 * Uploads a new revision of `fileId` from `abs` as a delta against `baseRevisionId` when the
 * agent has that base's signature; returns undefined when a delta cannot be used (the caller
 * then uploads the whole file). The delta and the new signature are made in one read.
 */
export async function tryDeltaUpload(
  api: DeltaUploadApi,
  sigs: SignatureStore,
  counters: TransferCounters,
  a: { rootId: number; fileId: number; baseRevisionId: number; baseSize: number; abs: string; name: string; size: number; sha256: string; modified: Date },
): Promise<{ id: number; revision_id: number; sha256?: string; size: number } | undefined> {
  if (!rsyncAvailable() || !deltaWorthwhile(a.size, a.baseSize)) return undefined;
  let sig = await sigs.get(a.rootId, a.fileId, a.baseRevisionId);
  if (!sig && !keepsLocalSignature(a.baseSize) && api.revisionSignature) {
    // A smaller base has no local signature: the server's (a failure means a whole upload).
    sig = await api.revisionSignature(a.rootId, a.fileId, a.baseRevisionId).catch(() => undefined);
    if (sig) counters.bytesDown += sig.length;
  }
  if (!sig) return undefined;
  const keepSig = keepsLocalSignature(a.size);
  const deltaTmp = await sigs.tempPath(a.rootId);
  const newSigTmp = await sigs.tempPath(a.rootId);
  try {
    const hash = createHash('sha256');
    const src = createReadStream(a.abs, { highWaterMark: 1 << 20 });
    const toDelta = new PassThrough({ highWaterMark: 1 << 20 });
    // Only a file big enough to keep its signature gets the second branch: an unconsumed
    // branch that a read error destroys would end the process with an uncaught 'error'.
    const toSig = keepSig ? new PassThrough({ highWaterMark: 1 << 20 }) : undefined;
    src.on('data', (c: string | Buffer) => {
      hash.update(c);
    });
    src.pipe(toDelta);
    if (toSig) src.pipe(toSig);
    // A file deleted or unreadable at open: both branches fail, and their pipelines reject.
    src.on('error', (err) => {
      toDelta.destroy(err);
      toSig?.destroy(err);
    });
    await Promise.all([
      pipeline(toDelta, createDeltaStream(sig), createWriteStream(deltaTmp)),
      toSig ? pipeline(toSig, sigStream(a.size), createWriteStream(newSigTmp)) : undefined,
    ]);
    if (hash.digest('hex') !== a.sha256) throw new FileChangedError(`${a.name} changed while its delta was computed`);
    const deltaSize = (await fsp.stat(deltaTmp)).size;
    if (deltaSize > a.size * 0.8) return undefined;
    let file;
    try {
      file = await api.upload(a.rootId, null, a.name, deltaTmp, { fileId: a.fileId, baseRevisionId: a.baseRevisionId, modified: a.modified, delta: { sha256: a.sha256 } });
    } catch (err) {
      const code = apiErrorCode(err);
      if (code === 'delta_unsupported' || code === 'invalid_delta' || code === 'delta_mismatch' || code === 'invalid_request') return undefined;
      throw err;
    }
    counters.bytesUp += deltaSize;
    counters.deltaUploads++;
    if (keepSig) await sigs.put(a.rootId, a.fileId, file.revision_id, newSigTmp);
    return file;
  } finally {
    await fsp.rm(deltaTmp, { force: true });
    await fsp.rm(newSigTmp, { force: true });
  }
}

/**
 * For a whole-file upload: tees the bytes sent into a signature (no second read of the file).
 * `keep` stores it for the revision the server made of exactly those bytes; `discard` drops it.
 */
export async function signWhileUploading(
  sigs: SignatureStore,
  a: { rootId: number; size: number },
  content: Readable,
): Promise<{ stream: Readable; keep: (fileId: number, revisionId: number) => Promise<void>; discard: () => Promise<void> }> {
  if (!rsyncAvailable() || !keepsLocalSignature(a.size)) return { stream: content, keep: async () => undefined, discard: async () => undefined };
  const t = await teeSignature(sigs, a.rootId, a.size, content);
  return {
    stream: t.stream,
    keep: async (fileId, revisionId) => {
      if (await t.done) await sigs.put(a.rootId, fileId, revisionId, t.tmp);
      await fsp.rm(t.tmp, { force: true });
    },
    discard: t.discard,
  };
}

export interface DeltaDownloadApi {
  downloadDelta(rootId: number, fileId: number, baseRevisionId: number, opts: { revisionId?: number }): Promise<Readable & { headers?: Readonly<Record<string, unknown>> }>;
}

/**
 * The new content of a download as a stream: patched from the local base at `basisAbs` with a
 * server-computed delta when possible (undefined otherwise). Signature of the result is
 * written alongside; call `commit` once the result is verified and renamed into place.
 */
export async function tryDeltaDownload(
  api: Partial<DeltaDownloadApi>,
  counters: TransferCounters,
  a: { rootId: number; fileId: number; baseRevisionId: number; revisionId: number; basisAbs: string; baseSize: number; size: number },
): Promise<Readable | undefined> {
  if (!api.downloadDelta || !rsyncAvailable() || !deltaWorthwhile(a.size, a.baseSize)) return undefined;
  let body;
  try {
    body = await api.downloadDelta(a.rootId, a.fileId, a.baseRevisionId, { revisionId: a.revisionId });
  } catch (err) {
    const code = apiErrorCode(err);
    if (code === 'delta_unsupported' || code === 'not_found' || code === 'invalid_request') return undefined;
    throw err;
  }
  counters.deltaDownloads++;
  const count = counter((n) => (counters.bytesDown += n));
  const patch = createPatchStream(a.basisAbs);
  body.on('error', (err) => patch.destroy(err));
  count.on('error', (err) => patch.destroy(err));
  // A missing or changed basis fails at once: keep the error on the stream for its consumer
  // instead of crashing the process when nothing listens yet.
  patch.on('error', () => undefined);
  return body.pipe(count).pipe(patch);
}

/**
 * Tees `content` (of a file of `size` bytes) into a signature written to the store's temp
 * folder; returns the stream to consume and a function that keeps the signature for
 * (fileId, revisionId) once the content was verified and committed.
 */
export async function withSignature(
  sigs: SignatureStore,
  a: { rootId: number; fileId: number; revisionId: number; size: number },
  content: Readable,
): Promise<{ stream: Readable; keep: () => Promise<void>; discard: () => Promise<void> }> {
  if (!rsyncAvailable() || !keepsLocalSignature(a.size)) return { stream: content, keep: async () => undefined, discard: async () => undefined };
  const t = await teeSignature(sigs, a.rootId, a.size, content);
  return {
    stream: t.stream,
    keep: async () => {
      if (await t.done) await sigs.put(a.rootId, a.fileId, a.revisionId, t.tmp);
      await fsp.rm(t.tmp, { force: true });
    },
    discard: t.discard,
  };
}

/** Bytes each side of a signature tee may hold before the source waits. */
const TEE_BUFFER = 256 * 1024;

/** `content` split in two: the stream to consume and a signature written to a temp file. */
async function teeSignature(
  sigs: SignatureStore,
  rootId: number,
  size: number,
  content: Readable,
): Promise<{ stream: Readable; tmp: string; done: Promise<boolean>; discard: () => Promise<void> }> {
  const tmp = await sigs.tempPath(rootId);
  // Small buffers: one such pair per running transfer (16 at once for small files).
  const out = new PassThrough({ highWaterMark: TEE_BUFFER });
  const toSig = new PassThrough({ highWaterMark: TEE_BUFFER });
  content.pipe(out);
  content.pipe(toSig);
  content.on('error', (err) => {
    out.destroy(err);
    toSig.destroy(err);
  });
  // The error stays on `out` for its consumer; one that has stopped listening (a request that
  // already failed) must not turn it into an uncaught exception.
  out.on('error', () => undefined);
  // Failed already (while the temp path was made): pass the error on, or `out` never ends.
  if (content.errored) {
    out.destroy(content.errored);
    toSig.destroy(content.errored);
  }
  const done = pipeline(toSig, sigStream(size), createWriteStream(tmp)).then(
    () => true,
    () => false,
  );
  return {
    stream: out,
    tmp,
    done,
    discard: async () => {
      toSig.destroy();
      await done;
      await fsp.rm(tmp, { force: true });
    },
  };
}
