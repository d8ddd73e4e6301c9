// POST fields of the file system methods: form, JSON, query string or multipart alike.
import type { FastifyRequest } from 'fastify';
import type { Readable } from 'node:stream';
import { ApiError, errors } from '../errors.js';
import { fieldsOf, type Fields } from '../http.js';

/** Reads and discards a stream (a part nobody wants). */
export async function drain(stream: Readable): Promise<void> {
  for await (const _chunk of stream) {
    // discard
  }
}

/**
 * Stops reading a multipart request early (after an error): the rest of the body is read and
 * dropped so the client can finish sending and then read the error response.
 */
export function abandonBody(req: FastifyRequest): void {
  req.raw.unpipe();
  req.raw.resume();
}

/** A multipart parse failure (truncated or malformed body) as a 400, anything else unchanged. */
export function multipartError(err: unknown): unknown {
  if (err instanceof ApiError) return err;
  const e = err as { statusCode?: number; code?: string; message?: string };
  if ((e.statusCode !== undefined && e.statusCode >= 400 && e.statusCode < 500) || /multipart|terminated early|Unexpected end/i.test(e.message ?? '')) {
    return new ApiError(400, { error: 'invalid_request', error_description: 'Malformed multipart body.' });
  }
  return err;
}

/** Query parameters and POST fields; multipart bodies too (their file parts are ignored). */
export async function postFields(req: FastifyRequest): Promise<Fields> {
  if (!req.isMultipart()) return fieldsOf(req);
  const out: Fields = { ...((req.query ?? {}) as Fields) };
  const seen = new Set<string>();
  try {
    for await (const part of req.parts()) {
      if (part.type === 'file') {
        await drain(part.file);
        continue;
      }
      if (part.valueTruncated || seen.has(part.fieldname)) throw errors.invalidParam(part.fieldname);
      seen.add(part.fieldname);
      out[part.fieldname] = part.value;
    }
  } catch (err) {
    abandonBody(req);
    throw multipartError(err);
  }
  return out;
}
