// EXTENSION: batched transfers of small files (see docs/protocol.md "Batch transfer").
//   POST /api/2/files/<root_id>/batch/upload    multipart: field `manifest` (JSON), then one
//        `file` part per item → {"results":[{"file":{…}} | {"error":{"status":n,"error":…}}]}
//   POST /api/2/files/<root_id>/batch/download  JSON {"items":[{"file_id","revision_id"?}]}
//        → application/vnd.axis.batch: per item one JSON header line, then `size` bytes.
// Each item gets exactly the checks, side effects and errors of its single-file route: uploads
// go through files/upload.ts (stageContent, storeContent, commitContent), downloads through the same node and revision
// lookups as GET …/<file_id>/download and …/revisions/<revision_id>/download.
import type { Multipart } from '@fastify/multipart';
import type { FastifyRequest } from 'fastify';
import { closeSync, openSync, readSync } from 'node:fs';
import { Readable } from 'node:stream';
import { READ_CHUNK } from '../blobs.js';
import type { RevisionRow, ServerContext } from '../context.js';
import { ApiError, errors } from '../errors.js';
import { pathId, type Fields, type Router } from '../http.js';
import { openRoot } from '../files/access.js';
import { abandonBody, drain, multipartError } from '../files/fields.js';
import type { Scope } from '../files/ops.js';
import { fileObject, type Json } from '../files/render.js';
import { getRevision, PathResolver, requireNode } from '../files/tree.js';
import { commitContent, stageContent, storeContent, type StagedContent, type UploadTarget } from '../files/upload.js';
import type { StoredBlob } from '../blobs.js';

const BASE = '/api/2/files/:root_id/batch';

const KIB = 1024;
const MIB = 1024 * KIB;
export const BATCH_LIMITS = {
  items: 256,
  uploadItemBytes: MIB,
  uploadTotalBytes: 32 * MIB,
  downloadTotalBytes: 64 * MIB,
} as const;

export interface UploadItem {
  folder_id: number | null;
  name: string;
  file_id?: number;
  base_revision_id?: number;
  modified?: string;
  size: number;
}

export interface DownloadItem {
  file_id: number;
  revision_id?: number;
}

function invalid(description: string): ApiError {
  return new ApiError(400, { error: 'invalid_request', error_description: description });
}

const isId = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 1;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The item list of a manifest or download request: an array of 1..256 objects. */
function itemsOf(body: unknown): Record<string, unknown>[] {
  if (!isObject(body) || !Array.isArray(body.items)) throw invalid('Expected {"items":[…]}.');
  const items = body.items as unknown[];
  if (items.length < 1 || items.length > BATCH_LIMITS.items) throw invalid(`A batch has 1 to ${BATCH_LIMITS.items} items.`);
  return items.map((it, i) => {
    if (!isObject(it)) throw invalid(`Item ${i} is not an object.`);
    return it;
  });
}

/** Parses and checks an upload manifest (shape and limits); throws 400 invalid_request. */
export function parseManifest(text: string): UploadItem[] {
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    throw invalid('The manifest is not valid JSON.');
  }
  let total = 0;
  return itemsOf(body).map((it, i) => {
    const bad = (field: string) => invalid(`Item ${i}: invalid ${field}.`);
    const folderId = it.folder_id ?? null;
    if (folderId !== null && !isId(folderId)) throw bad('folder_id');
    if (it.file_id !== undefined && !isId(it.file_id)) throw bad('file_id');
    if (it.base_revision_id !== undefined && !isId(it.base_revision_id)) throw bad('base_revision_id');
    if (it.file_id === undefined && typeof it.name !== 'string') throw bad('name');
    if (it.name !== undefined && typeof it.name !== 'string') throw bad('name');
    if (it.modified !== undefined && typeof it.modified !== 'string') throw bad('modified');
    const size = it.size;
    if (typeof size !== 'number' || !Number.isSafeInteger(size) || size < 0) throw bad('size');
    if (size > BATCH_LIMITS.uploadItemBytes) throw invalid(`Item ${i}: larger than ${BATCH_LIMITS.uploadItemBytes} bytes.`);
    total += size;
    if (total > BATCH_LIMITS.uploadTotalBytes) throw invalid(`The items add up to more than ${BATCH_LIMITS.uploadTotalBytes} bytes.`);
    return {
      folder_id: folderId as number | null,
      name: (it.name as string | undefined) ?? '',
      file_id: it.file_id as number | undefined,
      base_revision_id: it.base_revision_id as number | undefined,
      modified: it.modified as string | undefined,
      size,
    };
  });
}

const FRAME_BATCH = 256 * KIB;
/** Blobs of one batch upload written at once. */
const STORE_CONCURRENCY = 8;

/**
 * The stored content of a revision, which must have exactly `size` bytes: one open, one read
 * (of one byte more, to notice a longer file) and one close, instead of a stream's four calls.
 * The calls are synchronous: for a file of at most READ_CHUNK in the page cache each takes
 * microseconds, where a round trip to libuv's thread pool costs more CPU than the read itself.
 */
function readStored(file: string, size: number, revisionId: number): Buffer {
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.allocUnsafe(size + 1);
    let got = 0;
    for (;;) {
      const n = readSync(fd, buf, got, buf.length - got, got);
      if (n === 0) break;
      got += n;
      if (got > size) break;
    }
    if (got !== size) throw new Error(`stored content of revision ${revisionId} has ${got > size ? 'more than ' : ''}${got} bytes, not ${size}`);
    return buf.subarray(0, size);
  } finally {
    closeSync(fd);
  }
}

/** An error of a single-file route as a batch result entry. */
function errorEntry(err: unknown): { status: number; [k: string]: unknown } {
  if (err instanceof ApiError) return { status: err.status, ...err.body };
  throw err;
}

/**
 * A part's content: at most `size` + 1 bytes are kept (enough to tell that it is too long);
 * the rest is read and dropped so the next part can be parsed.
 */
async function readPart(file: Readable, size: number): Promise<{ content: Buffer; received: number }> {
  const chunks: Buffer[] = [];
  let kept = 0;
  let received = 0;
  for await (const chunk of file) {
    const b = chunk as Buffer;
    received += b.length;
    if (kept <= size) {
      const take = b.subarray(0, size + 1 - kept);
      chunks.push(take);
      kept += take.length;
    }
  }
  return { content: Buffer.concat(chunks, kept), received };
}

export function registerBatchRoutes(r: Router, ctx: ServerContext): void {
  const scope = (req: FastifyRequest): Scope => {
    const { person } = ctx.requirePrincipal(req);
    return { ctx, access: openRoot(ctx, person, pathId(req, 'root_id')) };
  };

  r.post(`${BASE}/upload`, async (req) => {
    let parts: Array<{ content: Buffer; received: number }>;
    let manifest: UploadItem[];
    let s: Scope;
    try {
      s = scope(req);
      // The same permission check as the single upload makes first (403 for read-only members).
      if (!s.access.canWrite) throw errors.forbidden();
      if (!req.isMultipart()) throw invalid('Expected multipart/form-data: the field manifest, then one file part per item.');
      ({ manifest, parts } = await readBatch(req));
    } catch (err) {
      if (req.isMultipart()) abandonBody(req);
      throw multipartError(err);
    }
    // Every part is read and matches the manifest's count. Each item gets the single upload's
    // checks, then the items' blobs are stored concurrently (their fsyncs overlap), then the
    // items are committed in manifest order, each in its own (nested) transaction that repeats
    // every check: the results are those of applying the items one after the other.
    const staged = manifest.map((item, i): { staged: StagedContent; stored?: StoredBlob } | { error: Json } => {
      const part = parts[i]!;
      try {
        if (part.received !== item.size) {
          throw invalid(`Item ${i}: the file part has ${part.received} bytes, the manifest says ${item.size}.`);
        }
        return { staged: stageContent(s, targetOf(s, item), fieldsOf(item)) };
      } catch (err) {
        return { error: errorEntry(err) };
      }
    });
    let next = 0;
    let failure: { err: unknown } | undefined;
    const storer = async () => {
      while (next < staged.length) {
        const i = next++;
        const st = staged[i]!;
        if ('error' in st) continue;
        try {
          st.stored = await storeContent(s, st.staged, parts[i]!.content);
        } catch (err) {
          if (err instanceof ApiError) staged[i] = { error: errorEntry(err) };
          else failure ??= { err };
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(STORE_CONCURRENCY, staged.length) }, storer));
    // A failure that is not the item's (the disk) fails the request, as it would the single upload.
    if (failure) throw failure.err;
    const paths = new PathResolver(ctx.db, s.access.root.id);
    const results: Json[] = [];
    // The items' transactions run inside one for the whole batch (each item's is a savepoint
    // there: an item that fails rolls back its own changes only), so the batch costs one commit
    // instead of one per item. Nothing is answered before it is committed.
    ctx.db.transaction(() => {
      for (const st of staged) {
        if ('error' in st) {
          results.push({ error: st.error });
          continue;
        }
        try {
          const node = commitContent(s, st.staged, st.stored!);
          results.push({ file: fileObject(node, paths.pathOf(node), { now: ctx.clock() }) });
        } catch (err) {
          results.push({ error: errorEntry(err) });
        }
      }
    })();
    return { results };
  });

  /** Reads the manifest (checked before any file part) and then every file part. */
  async function readBatch(req: FastifyRequest): Promise<{ manifest: UploadItem[]; parts: Array<{ content: Buffer; received: number }> }> {
    const n = BATCH_LIMITS.items;
    const iter = req.parts({
      preservePath: true,
      // One more field and file than allowed, so that the extra one gets its own message below.
      limits: { fieldSize: MIB, fields: 2, files: n + 1, parts: n + 3, fileSize: Number.MAX_SAFE_INTEGER },
    }) as AsyncIterable<Multipart>;
    let manifest: UploadItem[] | undefined;
    const parts: Array<{ content: Buffer; received: number }> = [];
    for await (const part of iter) {
      if (!manifest) {
        if (part.type !== 'field' || part.fieldname !== 'manifest') {
          if (part.type === 'file') await drain(part.file);
          throw invalid('The first part must be the field manifest.');
        }
        if (part.valueTruncated) throw invalid('The manifest is too large.');
        manifest = parseManifest(typeof part.value === 'string' ? part.value : JSON.stringify(part.value));
        continue;
      }
      if (part.type !== 'file' || part.fieldname !== 'file') {
        if (part.type === 'file') await drain(part.file);
        throw invalid(`Unexpected part ${part.fieldname}: after the manifest only file parts are allowed.`);
      }
      const item = manifest[parts.length];
      if (!item) {
        await drain(part.file);
        throw invalid(`More file parts than the ${manifest.length} items of the manifest.`);
      }
      parts.push(await readPart(part.file, item.size));
    }
    if (!manifest) throw invalid('Missing required field: manifest');
    if (parts.length !== manifest.length) throw invalid(`${parts.length} file parts for the ${manifest.length} items of the manifest.`);
    return { manifest, parts };
  }

  /** Where an item goes: like POST R/upload, POST F/upload, or POST R/<file_id>/upload. */
  function targetOf(s: Scope, item: UploadItem): UploadTarget {
    if (item.file_id !== undefined) return { kind: 'revision', fileId: requireNode(ctx.db, s.access.root.id, item.file_id, 'file').id };
    if (item.folder_id === null) return { kind: 'new', parentId: null };
    return { kind: 'new', parentId: requireNode(ctx.db, s.access.root.id, item.folder_id, 'folder').id };
  }

  /** The multipart fields the single route would have received for this item. */
  function fieldsOf(item: UploadItem): Fields {
    const f: Fields = {};
    if (item.file_id === undefined) f.name = item.name;
    if (item.base_revision_id !== undefined) f.base_revision_id = String(item.base_revision_id);
    if (item.modified !== undefined) f.modified = item.modified;
    return f;
  }

  r.post(`${BASE}/download`, async (req, reply) => {
    const s = scope(req);
    const items = itemsOf(req.body).map((it, i): DownloadItem => {
      if (!isId(it.file_id)) throw invalid(`Item ${i}: invalid file_id.`);
      if (it.revision_id !== undefined && !isId(it.revision_id)) throw invalid(`Item ${i}: invalid revision_id.`);
      return { file_id: it.file_id, revision_id: it.revision_id as number | undefined };
    });
    // The same lookups as the single download routes, per item.
    const resolved = items.map((it): { rev: RevisionRow } | { error: Json } => {
      try {
        const file = requireNode(ctx.db, s.access.root.id, it.file_id, 'file');
        const revId = it.revision_id ?? file.revision_id;
        const rev = revId === null ? undefined : getRevision(ctx.db, file.id, revId);
        if (!rev) throw errors.notFound();
        return { rev };
      } catch (err) {
        return { error: errorEntry(err) };
      }
    });
    let total = 0;
    for (const r of resolved) if ('rev' in r) total += r.rev.file_size;
    if (total > BATCH_LIMITS.downloadTotalBytes) throw invalid(`The files add up to more than ${BATCH_LIMITS.downloadTotalBytes} bytes.`);

    // Frames go out in pieces of about FRAME_BATCH bytes (many small files per socket write),
    // and each item's content is read with one read of its known size.
    async function* pieces(): AsyncGenerator<Buffer> {
      for (const [i, r] of resolved.entries()) {
        const fileId = items[i]!.file_id;
        if ('error' in r) {
          yield Buffer.from(`${JSON.stringify({ file_id: fileId, error: r.error })}\n`);
          continue;
        }
        const { rev } = r;
        yield Buffer.from(`${JSON.stringify({ file_id: fileId, revision_id: rev.id, size: rev.file_size, sha256: rev.blob })}\n`);
        // The header promised `size` bytes; anything else would corrupt the stream for the reader.
        if (rev.file_size <= READ_CHUNK) {
          yield readStored(ctx.blobs.pathOf(rev.blob), rev.file_size, rev.id);
          continue;
        }
        let sent = 0;
        for await (const chunk of ctx.blobs.read(rev.blob)) {
          sent += (chunk as Buffer).length;
          yield chunk as Buffer;
        }
        if (sent !== rev.file_size) throw new Error(`stored content of revision ${rev.id} has ${sent} bytes, not ${rev.file_size}`);
      }
    }
    async function* frames(): AsyncGenerator<Buffer> {
      let held: Buffer[] = [];
      let heldBytes = 0;
      for await (const b of pieces()) {
        held.push(b);
        heldBytes += b.length;
        if (heldBytes >= FRAME_BATCH) {
          yield Buffer.concat(held, heldBytes);
          held = [];
          heldBytes = 0;
        }
      }
      if (heldBytes > 0) yield Buffer.concat(held, heldBytes);
    }
    reply.header('content-type', 'application/vnd.axis.batch');
    reply.header('x-content-type-options', 'nosniff');
    return reply.send(Readable.from(frames(), { objectMode: false }));
  });
}
