// Extension (delta transfer): librsync signatures of stored contents, computed once per
// (content, block length) and kept in the blob store.
import { createReadStream, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { deltaBlockLen } from '../../core/delta.js';
import { signatureFile, signatureParams } from '../../native/librsync.js';
import type { ServerContext } from '../context.js';
import { stmt } from '../db.js';

export interface StoredSignature {
  sigBlob: string;
  blockLen: number;
  strongLen: number;
}

const inflight = new Map<string, Promise<StoredSignature>>();

/** The signature of content `blob` (of `size` bytes), computed on first use. */
export function signatureOf(ctx: ServerContext, blob: string, size: number, blockLen = deltaBlockLen(size)): Promise<StoredSignature> {
  const params = signatureParams(size, { blockLen });
  const row = stmt(ctx.db, `SELECT sig_blob FROM signatures WHERE blob = ? AND block_len = ? AND strong_len = ?`).get(blob, params.blockLen, params.strongLen) as
    | { sig_blob: string }
    | undefined;
  if (row) return Promise.resolve({ sigBlob: row.sig_blob, blockLen: params.blockLen, strongLen: params.strongLen });
  const key = `${blob}/${params.blockLen}/${params.strongLen}`;
  const running = inflight.get(key);
  if (running) return running;
  const job = (async () => {
    const dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'axis-sig-'));
    try {
      const tmp = path.join(dir, 'sig');
      await signatureFile(ctx.blobs.pathOf(blob), tmp, { blockLen: params.blockLen, strongLen: params.strongLen });
      const stored = await ctx.blobs.put(createReadStream(tmp));
      stmt(ctx.db, `INSERT OR IGNORE INTO signatures (blob, block_len, strong_len, sig_blob) VALUES (?, ?, ?, ?)`).run(blob, params.blockLen, params.strongLen, stored.sha256);
      return { sigBlob: stored.sha256, blockLen: params.blockLen, strongLen: params.strongLen };
    } finally {
      await fsp.rm(dir, { recursive: true, force: true });
      inflight.delete(key);
    }
  })();
  inflight.set(key, job);
  return job;
}
