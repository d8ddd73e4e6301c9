// Sending stored content: Content-Disposition (attachment for /download, inline for /view),
// a strong ETag (the SHA-256), and single byte ranges (206) for resumable downloads.
import type { FastifyReply, FastifyRequest } from 'fastify';
import { promises as fsp } from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import { READ_CHUNK } from '../blobs.js';
import type { RevisionRow, ServerContext } from '../context.js';
import { ApiError, errors } from '../errors.js';

export type Disposition = 'attachment' | 'inline';

/** Types that are safe to show inline; everything else is application/octet-stream. */
const INLINE_TYPES: Record<string, string> = {
  '.txt': 'text/plain; charset=utf-8',
  '.md': 'text/plain; charset=utf-8',
  '.csv': 'text/csv; charset=utf-8',
  '.json': 'application/json',
  '.pdf': 'application/pdf',
  '.png': 'image/png',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.gif': 'image/gif',
  '.webp': 'image/webp',
  '.mp3': 'audio/mpeg',
  '.wav': 'audio/wav',
};

export function contentTypeOf(name: string): string {
  return INLINE_TYPES[path.extname(name).toLowerCase()] ?? 'application/octet-stream';
}

/** RFC 6266 / RFC 8187 Content-Disposition with an ASCII fallback and the UTF-8 name. */
export function contentDisposition(kind: Disposition, name: string): string {
  const fallback = name.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  const encoded = encodeURIComponent(name).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `${kind}; filename="${fallback}"; filename*=UTF-8''${encoded}`;
}

export interface ByteRange {
  start: number;
  end: number;
}

/**
 * Parses a Range header against a size: a single range, "unsatisfiable" (416), or undefined
 * when the header is absent, malformed or asks for several ranges (then the whole content is
 * sent, as RFC 9110 allows).
 */
export function parseRange(header: string | undefined, size: number): ByteRange | 'unsatisfiable' | undefined {
  if (!header) return undefined;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) return undefined;
  const [, a, b] = m as unknown as [string, string, string];
  if (a === '' && b === '') return undefined;
  if (size === 0) return undefined;
  if (a === '') {
    const suffix = Number(b);
    if (!Number.isSafeInteger(suffix)) return undefined;
    if (suffix === 0) return 'unsatisfiable';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(a);
  const end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  if (!Number.isSafeInteger(start) || !Number.isSafeInteger(end)) return undefined;
  if (b !== '' && Number(b) < start) return undefined;
  if (start >= size) return 'unsatisfiable';
  return { start, end };
}

/** Contents up to this size are read into memory and sent in one piece (no read stream). */
const SMALL_BODY = 64 * 1024;

export async function sendRevision(ctx: ServerContext, req: FastifyRequest, reply: FastifyReply, rev: RevisionRow, name: string, kind: Disposition): Promise<FastifyReply> {
  let fh: FileHandle | undefined;
  let size: number;
  try {
    fh = await fsp.open(ctx.blobs.pathOf(rev.blob), 'r');
    size = (await fh.stat()).size;
  } catch (err) {
    await fh?.close().catch(() => undefined);
    req.log.error({ err, blob: rev.blob }, 'blob missing from the store');
    throw errors.unknown();
  }
  // The handle is closed here unless a read stream takes it over.
  let handedOver = false;
  try {
    const etag = `"${rev.blob}"`;
    // If-Range: resume only when the content is still the one the client started with.
    const ifRange = req.headers['if-range'];
    const rangeHeader = ifRange === undefined || ifRange === etag ? req.headers.range : undefined;
    const range = parseRange(rangeHeader, size);
    reply.header('accept-ranges', 'bytes');
    reply.header('etag', etag);
    if (range === 'unsatisfiable') {
      reply.header('content-range', `bytes */${size}`);
      throw new ApiError(416, { error: 'range_not_satisfiable', error_description: `The content has ${size} bytes.` });
    }
    reply.header('content-type', kind === 'inline' ? contentTypeOf(name) : 'application/octet-stream');
    reply.header('content-disposition', contentDisposition(kind, name));
    reply.header('x-content-type-options', 'nosniff');
    const start = range ? range.start : 0;
    const length = range ? range.end - range.start + 1 : size;
    if (range) {
      reply.status(206);
      reply.header('content-range', `bytes ${range.start}-${range.end}/${size}`);
    }
    reply.header('content-length', String(length));
    if (req.method === 'HEAD') return reply.send(Readable.from([]));
    if (length <= SMALL_BODY) return reply.send(await readExactly(fh, start, length));
    handedOver = true;
    return reply.send(fh.createReadStream({ start, end: start + length - 1, highWaterMark: READ_CHUNK }));
  } finally {
    if (!handedOver) await fh.close();
  }
}

/** `length` bytes at `position` (the stored content is immutable, so a short read is an error). */
async function readExactly(fh: FileHandle, position: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, position + got);
    if (bytesRead === 0) throw new Error(`stored content ended after ${got} of ${length} bytes`);
    got += bytesRead;
  }
  return buf;
}

/** The body, or for HEAD an empty stream (so the content is not read and Content-Length stays). */
export function bodyFor(req: FastifyRequest, open: () => Readable): Readable {
  return req.method === 'HEAD' ? Readable.from([]) : open();
}
