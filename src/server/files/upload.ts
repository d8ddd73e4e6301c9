// Uploads: a new file into a root or folder (documented), or a new revision of an existing
// file against a base revision (extension). Multipart fields must come before the `file`
// part; everything that can be checked is checked before a byte is stored (name, extension,
// modified, base revision, locks, size and quota limits). The content is then streamed into
// the blob store under its SHA-256, and the rows are written in one transaction that repeats
// the checks, so concurrent uploads never lose a revision: a name race loses with 409
// name_conflict, a stale base with 409 revision_conflict.
import type { FastifyRequest } from 'fastify';
import type { Multipart } from '@fastify/multipart';
import { BlobTooLargeError, type StoredBlob } from '../blobs.js';
import type { RootRow } from '../context.js';
import { nextSeq, stmt } from '../db.js';
import { ApiError, errors } from '../errors.js';
import { optBool, reqInt, type Fields } from '../http.js';
import { createPatchStream, rsyncAvailable } from '../../native/librsync.js';
import { hasExcludedExtension } from '../policy.js';
import { apiTime, parseApiDatetime } from '../time.js';
import { personSpaceUsage } from '../views.js';
import { assertUnlocked, requireWrite } from './access.js';
import { abandonBody, drain, multipartError } from './fields.js';
import { checkedName, isUniqueViolation, liveSibling, revisionConflict, txRoot, writableParent, type Scope } from './ops.js';
import { ancestorsOf, getNode, requireNode, type NodeView } from './tree.js';

export type UploadTarget = { kind: 'new'; parentId: number | null } | { kind: 'revision'; fileId: number };

const MB = 1024 * 1024;

interface Limit {
  bytes: number;
  reason: string;
}

/** A policy or quota number: stored values may be strings; missing, invalid or ≤ 0 means no limit. */
function positive(v: unknown): number | undefined {
  const n = Number(v);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

/**
 * Bytes counted against the organization's quota: the current size of every live file in its
 * live roots (the same accounting as a person's space_usage and a root's space_used), read
 * from the running counter (db.ts, org_usage).
 */
export function organizationUsage(s: Scope, companyId: number): number {
  const row = stmt(s.ctx.db, `SELECT bytes FROM org_usage WHERE company_id = ?`).get(companyId) as { bytes: number } | undefined;
  return row ? Number(row.bytes) : 0;
}

/**
 * The limits an upload into `root` is under: `max_file_size` (MB) of the organization's
 * policy, what is left of its `space_quota`, and what is left of the root owner's
 * `space_quota` when set. `replacing` is the size of the revision a new revision replaces
 * (it stops counting). Throws 409 policy_error when a quota is already used up.
 */
function uploadLimits(s: Scope, root: RootRow, replacing: number): Limit[] {
  const policy = s.ctx.policyOf(root.company_id);
  const limits: Limit[] = [];
  const maxMb = positive(policy.max_file_size);
  if (maxMb !== undefined) limits.push({ bytes: Math.floor(maxMb * MB), reason: `The file is larger than the maximum file size of ${maxMb} MB.` });
  const orgQuota = positive(policy.space_quota);
  if (orgQuota !== undefined) limits.push({ bytes: orgQuota - organizationUsage(s, root.company_id) + replacing, reason: "The organization's space quota would be exceeded." });
  if (root.person_id !== null) {
    const owner = stmt(s.ctx.db, `SELECT space_quota FROM persons WHERE id = ?`).get(root.person_id) as { space_quota: number | null } | undefined;
    const personQuota = positive(owner?.space_quota);
    if (personQuota !== undefined) limits.push({ bytes: personQuota - personSpaceUsage(s.ctx.db, root.person_id) + replacing, reason: "The account's space quota would be exceeded." });
  }
  for (const l of limits) if (l.bytes < 0) throw errors.policyError(l.reason);
  return limits;
}

function tightest(limits: Limit[]): Limit | undefined {
  let best: Limit | undefined;
  for (const l of limits) if (!best || l.bytes < best.bytes) best = l;
  return best;
}

interface Prepared {
  /** New files: the checked name. */
  name?: { name: string; key: string };
  modified?: string;
  base?: number;
  limit?: Limit;
  /** Extension: the file part is a librsync delta against the base revision's content. */
  delta?: { basisBlob: string; sha256: string };
}

/** Checks made once the fields before the file part are known, before any byte is stored. */
function prepare(s: Scope, target: UploadTarget, fields: Fields, filename: string | undefined): Prepared {
  const p: Prepared = {};
  const root = s.access.root;
  const now = s.ctx.clock();
  if (target.kind === 'new') {
    const raw = typeof fields.name === 'string' && fields.name !== '' ? fields.name : filename;
    if (raw === undefined) throw errors.invalidName();
    p.name = checkedName(s, raw, 'file');
  } else {
    p.base = reqInt(fields, 'base_revision_id', { min: 1 });
    if (optBool(fields, 'delta', false)) {
      const sha = typeof fields.sha256 === 'string' ? fields.sha256.toLowerCase() : '';
      if (!sha) throw errors.missingParam('sha256');
      if (!/^[0-9a-f]{64}$/.test(sha)) throw errors.invalidParam('sha256');
      if (!rsyncAvailable()) throw new ApiError(400, { error: 'delta_unsupported', error_description: 'This server cannot apply deltas; upload the whole file.' });
      const base = stmt(s.ctx.db, `SELECT blob FROM revisions WHERE id = ? AND file_id = ?`).get(p.base, target.fileId) as { blob: string } | undefined;
      if (!base) throw errors.invalidParam('base_revision_id');
      p.delta = { basisBlob: base.blob, sha256: sha };
    }
    // The policy may have excluded the file's extension since it was created.
    const file = liveFile(s, target.fileId);
    if (hasExcludedExtension(file.name, s.ctx.policyOf(root.company_id).excluded_extensions)) throw errors.invalidExtension();
  }
  if (typeof fields.modified === 'string' && fields.modified !== '') {
    if (!parseApiDatetime(fields.modified)) throw errors.invalidDatetime();
    p.modified = fields.modified;
  }
  // Advisory checks (repeated in the transaction): save the client a useless transfer.
  let replacing = 0;
  if (target.kind === 'new') {
    writableParent(s, root, target.parentId, now);
    if (liveSibling(s, target.parentId, p.name!.key)) throw errors.nameConflict();
  } else {
    const file = liveFile(s, target.fileId);
    assertUnlocked(s.access, root, [...ancestorsOf(s.ctx.db, file), file], now);
    if (file.revision_id !== p.base) throw revisionConflict(file.revision_id, p.base!);
    replacing = file.size;
  }
  p.limit = tightest(uploadLimits(s, root, replacing));
  return p;
}

function liveFile(s: Scope, fileId: number): NodeView {
  const file = requireNode(s.ctx.db, s.access.root.id, fileId, 'file');
  if (file.is_deleted) throw errors.notFound();
  return file;
}

/** Writes the node and revision rows for a stored blob (one transaction, all checks repeated). */
function commit(s: Scope, target: UploadTarget, p: Prepared, blob: StoredBlob, deltaSize: number | null): NodeView {
  const db = s.ctx.db;
  return db.transaction(() => {
    const now = s.ctx.clock();
    const t = apiTime(now);
    const root = txRoot(s);
    let fileId: number;
    let replacing = 0;
    if (target.kind === 'new') {
      writableParent(s, root, target.parentId, now);
      if (liveSibling(s, target.parentId, p.name!.key)) throw errors.nameConflict();
      try {
        const info = stmt(db, `INSERT INTO nodes (root_id, parent_id, name, name_key, kind, created, modified, size, seq) VALUES (?, ?, ?, ?, 'file', ?, ?, 0, 0)`)
          .run(root.id, target.parentId, p.name!.name, p.name!.key, t, t);
        fileId = Number(info.lastInsertRowid);
      } catch (err) {
        if (isUniqueViolation(err)) throw errors.nameConflict();
        throw err;
      }
    } else {
      const file = liveFile(s, target.fileId);
      assertUnlocked(s.access, root, [...ancestorsOf(db, file), file], now);
      if (file.revision_id !== p.base) throw revisionConflict(file.revision_id, p.base!);
      fileId = file.id;
      replacing = file.size;
    }
    for (const l of uploadLimits(s, root, replacing)) if (blob.size > l.bytes) throw errors.policyError(l.reason);
    const rev = stmt(db, 
        `INSERT INTO revisions (file_id, root_id, blob, created, modified, file_size, full_size, delta_size, person_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(fileId, root.id, blob.sha256, t, p.modified ?? t, blob.size, blob.size, deltaSize, s.access.person.id);
    stmt(db, `UPDATE nodes SET revision_id = ?, size = ?, modified = ?, seq = ? WHERE id = ?`).run(Number(rev.lastInsertRowid), blob.size, t, nextSeq(db), fileId);
    return getNode(db, root.id, fileId)!;
  })();
}

/**
 * Handles an upload request end to end and returns the file node as written. Throws the
 * documented errors (no_file_received, invalid_name, invalid_extension, name_conflict,
 * policy_error, resource_locked, not_found) and, for revisions, revision_conflict.
 */
export async function handleUpload(s: Scope, req: FastifyRequest, target: UploadTarget): Promise<NodeView> {
  requireWrite(s.access);
  if (target.kind === 'revision') liveFile(s, target.fileId);
  else writableParent(s, s.access.root, target.parentId, s.ctx.clock());
  if (!req.isMultipart()) throw errors.noFileReceived();

  const fields: Fields = {};
  let prepared: Prepared | undefined;
  let stored: StoredBlob | undefined;
  let deltaSize: number | null = null;
  try {
    const parts = req.parts({ preservePath: true, limits: { fileSize: Number.MAX_SAFE_INTEGER } }) as AsyncIterable<Multipart>;
    for await (const part of parts) {
      if (part.type === 'field') {
        // Fields must precede the file: a field after it could no longer be checked in time.
        if (stored || part.valueTruncated || Object.hasOwn(fields, part.fieldname)) throw errors.invalidParam(part.fieldname);
        fields[part.fieldname] = typeof part.value === 'string' ? part.value : JSON.stringify(part.value);
        continue;
      }
      // A file part under another name, or with an empty filename and no `name` field (what a
      // browser form sends when no file was chosen), is no file.
      const unnamed = part.filename === '' && !(typeof fields.name === 'string' && fields.name !== '');
      if (part.fieldname !== 'file' || stored || (target.kind === 'new' && unnamed)) {
        await drain(part.file);
        continue;
      }
      prepared = prepare(s, target, fields, part.filename || undefined);
      let streamError: unknown;
      part.file.on('error', (err) => {
        streamError = err;
      });
      try {
        const max = prepared.limit ? Math.max(0, prepared.limit.bytes) : undefined;
        if (prepared.delta) {
          // Extension: patch the base revision's content with the delta as it arrives; the
          // result must hash to what the client declared, or nothing is kept.
          const counted = { bytes: 0 };
          const patched = part.file
            .on('data', (c: Buffer) => {
              counted.bytes += c.length;
            })
            .pipe(createPatchStream(s.ctx.blobs.pathOf(prepared.delta.basisBlob)));
          part.file.on('error', (err) => patched.destroy(err));
          try {
            stored = await s.ctx.blobs.put(patched, max);
          } catch (err) {
            if (err instanceof BlobTooLargeError) throw err;
            if (streamError !== undefined) throw err;
            throw new ApiError(400, { error: 'invalid_delta', error_description: `The delta cannot be applied to revision ${prepared.base}: ${(err as Error).message}` });
          }
          deltaSize = counted.bytes;
          if (stored.sha256 !== prepared.delta.sha256) {
            throw new ApiError(400, { error: 'delta_mismatch', error_description: `The patched content hashes to ${stored.sha256}, not the declared ${prepared.delta.sha256}; nothing was changed.` });
          }
        } else stored = await s.ctx.blobs.put(part.file, max);
      } catch (err) {
        if (err instanceof BlobTooLargeError) throw errors.policyError(prepared.limit?.reason);
        if (streamError !== undefined && err === streamError) throw multipartError(err);
        throw err;
      }
    }
  } catch (err) {
    abandonBody(req);
    throw multipartError(err);
  }
  if (!stored || !prepared) throw errors.noFileReceived();
  return commit(s, target, prepared, stored, deltaSize);
}

/** An upload of content in memory that passed the checks before the transfer (see stageContent). */
export interface StagedContent {
  target: UploadTarget;
  prepared: Prepared;
}

/**
 * Extension (batch upload, routes/batch.ts): uploads whose fields and content are already read,
 * in three steps so that a batch can check every item, then store the items' blobs
 * concurrently, then commit the items in order. Together the steps make the same checks, side
 * effects and errors as handleUpload for the same fields (no delta uploads): permission,
 * target, name, extension, modified, base revision, locks, size and quota limits, then the
 * blob and the rows. The checks made before the transfer are advisory: commitContent repeats
 * all of them in its transaction.
 */
export function stageContent(s: Scope, target: UploadTarget, fields: Fields): StagedContent {
  requireWrite(s.access);
  if (target.kind === 'revision') liveFile(s, target.fileId);
  else writableParent(s, s.access.root, target.parentId, s.ctx.clock());
  return { target, prepared: prepare(s, target, fields, undefined) };
}

export async function storeContent(s: Scope, staged: StagedContent, content: Buffer): Promise<StoredBlob> {
  const { limit } = staged.prepared;
  try {
    return await s.ctx.blobs.put(content, limit ? Math.max(0, limit.bytes) : undefined);
  } catch (err) {
    if (err instanceof BlobTooLargeError) throw errors.policyError(limit?.reason);
    throw err;
  }
}

export function commitContent(s: Scope, staged: StagedContent, stored: StoredBlob): NodeView {
  return commit(s, staged.target, staged.prepared, stored, null);
}
