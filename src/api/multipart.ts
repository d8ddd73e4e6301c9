// A streaming multipart/form-data encoder for uploads: the text fields first (in the given
// order — the server reads e.g. `base_revision_id` before the file part), then one file part
// whose content is streamed, never buffered whole. The total length is computed when the file
// size is known, so the request carries a Content-Length.
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';

export interface MultipartFilePart {
  /** Form field name ("file" for the documented upload). */
  field: string;
  filename: string;
  contentType?: string;
  /** Makes a fresh stream of the content (called once per request attempt). */
  open: () => Readable;
  /** Content size in bytes, when known. */
  size?: number;
}

export interface MultipartBody {
  contentType: string;
  /** Total body length in bytes, when the file size is known. */
  length?: number;
  /** A fresh body stream each call. */
  open: () => Readable;
}

const CRLF = '\r\n';

function quote(s: string): string {
  // Quoted-string per RFC 7578 §4.2 as browsers do it: escape quotes, drop line breaks.
  return s.replace(/[\r\n]/g, ' ').replace(/\\/g, '\\\\').replace(/"/g, '\\"');
}

function rfc5987(s: string): string {
  return encodeURIComponent(s).replace(/['()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

export function encodeMultipart(fields: ReadonlyArray<readonly [string, string]>, file: MultipartFilePart): MultipartBody {
  const boundary = `----axis-agent-${randomBytes(16).toString('hex')}`;
  let head = '';
  for (const [name, value] of fields) {
    head += `--${boundary}${CRLF}Content-Disposition: form-data; name="${quote(name)}"${CRLF}${CRLF}${value}${CRLF}`;
  }
  head +=
    `--${boundary}${CRLF}` +
    `Content-Disposition: form-data; name="${quote(file.field)}"; filename="${quote(file.filename)}"; filename*=UTF-8''${rfc5987(file.filename)}${CRLF}` +
    `Content-Type: ${file.contentType ?? 'application/octet-stream'}${CRLF}${CRLF}`;
  const headBuf = Buffer.from(head, 'utf8');
  const tailBuf = Buffer.from(`${CRLF}--${boundary}--${CRLF}`, 'utf8');
  return {
    contentType: `multipart/form-data; boundary=${boundary}`,
    length: file.size === undefined ? undefined : headBuf.length + file.size + tailBuf.length,
    open: () => {
      async function* generate(): AsyncGenerator<Buffer> {
        yield headBuf;
        for await (const chunk of file.open()) yield Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
        yield tailBuf;
      }
      return Readable.from(generate(), { objectMode: false });
    },
  };
}
