// Changes to the node tree (create folder, rename, move, delete, lock, unlock). Each runs its
// checks and writes in one SQLite transaction, so concurrent requests serialize cleanly: the
// loser of a name race gets 409 name_conflict, a stale base revision 409 revision_conflict.
// Every change of a node gives it a new change sequence number (nodes.seq).
import type { RootRow, ServerContext } from '../context.js';
import { nextSeq, stmt } from '../db.js';
import { ApiError, errors } from '../errors.js';
import { optInt, type Fields } from '../http.js';
import { hasExcludedExtension } from '../policy.js';
import { apiTime } from '../time.js';
import { assertUnlocked, lockActive, lockedByOther, lockExpiry, requireWrite, type RootAccess } from './access.js';
import { validateName, type NodeKind, type ValidName } from './names.js';
import { ancestorsOf, descendantsOf, getNode, isSelfOrDescendant, requireLiveFolder, requireNode, type NodeView } from './tree.js';

export interface Scope {
  ctx: ServerContext;
  access: RootAccess;
}

/** Longest lock: ten years of minutes. */
export const MAX_LOCK_MINUTES = 5_256_000;

/** 409 revision_conflict (extension): the client's base revision is not the file's current one. */
export function revisionConflict(current: number | null, base: number): ApiError {
  return new ApiError(409, {
    error: 'revision_conflict',
    error_description: `The base revision ${base} is not the file's current revision ${current}.`,
    current_revision_id: current,
  });
}

/** The optional `base_revision_id` field (extension), 400 when it is not a positive integer. */
export function optBaseRevision(f: Fields): number | undefined {
  return optInt(f, 'base_revision_id', { min: 1 });
}

/** The root re-read inside a transaction (it may have been deleted or locked meanwhile). */
export function txRoot(s: Scope): RootRow {
  const root = stmt(s.ctx.db, `SELECT * FROM roots WHERE id = ?`).get(s.access.root.id) as RootRow | undefined;
  if (!root) throw errors.notFound();
  if (root.deleted) throw errors.rootDeleted();
  return root;
}

/** A folder (or the top level, null) that may receive new content; 404 / 409 otherwise. */
export function writableParent(s: Scope, root: RootRow, parentId: number | null, now: Date): NodeView | undefined {
  if (parentId === null) {
    assertUnlocked(s.access, root, [], now);
    return undefined;
  }
  const parent = requireLiveFolder(s.ctx.db, root.id, parentId);
  assertUnlocked(s.access, root, [...ancestorsOf(s.ctx.db, parent), parent], now);
  return parent;
}

/** The live sibling named `key` under `parentId`, other than `exceptId`. */
export function liveSibling(s: Scope, parentId: number | null, key: string, exceptId = 0): { id: number } | undefined {
  return stmt(s.ctx.db, `SELECT id FROM nodes WHERE root_id = ? AND ifnull(parent_id, 0) = ? AND name_key = ? AND is_deleted = 0 AND id != ?`)
    .get(s.access.root.id, parentId ?? 0, key, exceptId) as { id: number } | undefined;
}

export function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE';
}

/** Name checks of rename and create: name rules, then (files) the excluded extensions. */
export function checkedName(s: Scope, raw: string, kind: NodeKind): ValidName {
  const valid = validateName(raw, kind);
  if (kind === 'file' && hasExcludedExtension(valid.name, s.ctx.policyOf(s.access.root.company_id).excluded_extensions)) throw errors.invalidExtension();
  return valid;
}

export function createFolder(s: Scope, parentId: number | null, rawName: string): NodeView {
  requireWrite(s.access);
  const { name, key } = checkedName(s, rawName, 'folder');
  const db = s.ctx.db;
  return db.transaction(() => {
    const now = s.ctx.clock();
    const root = txRoot(s);
    writableParent(s, root, parentId, now);
    if (liveSibling(s, parentId, key)) throw errors.nameConflict();
    const t = apiTime(now);
    let id: number;
    try {
      const info = stmt(db, `INSERT INTO nodes (root_id, parent_id, name, name_key, kind, created, modified, size, seq) VALUES (?, ?, ?, ?, 'folder', ?, ?, 0, ?)`)
        .run(root.id, parentId, name, key, t, t, nextSeq(db));
      id = Number(info.lastInsertRowid);
    } catch (err) {
      if (isUniqueViolation(err)) throw errors.nameConflict();
      throw err;
    }
    return getNode(db, root.id, id)!;
  })();
}

/** The live node to change, with the checks every change shares (locks, base revision). */
function changeable(s: Scope, root: RootRow, id: number, kind: NodeKind, base: number | undefined, now: Date): { node: NodeView; chain: NodeView[] } {
  const node = requireNode(s.ctx.db, root.id, id, kind);
  if (node.is_deleted) throw errors.notFound();
  const chain = [...ancestorsOf(s.ctx.db, node), node];
  assertUnlocked(s.access, root, chain, now);
  if (base !== undefined && node.revision_id !== base) throw revisionConflict(node.revision_id, base);
  return { node, chain };
}

export function renameNode(s: Scope, id: number, kind: NodeKind, rawName: string, base?: number): void {
  requireWrite(s.access);
  const { name, key } = checkedName(s, rawName, kind);
  const db = s.ctx.db;
  db.transaction(() => {
    const now = s.ctx.clock();
    const root = txRoot(s);
    const { node } = changeable(s, root, id, kind, base, now);
    if (node.name === name) return;
    // A case-only rename keeps the same key: the node itself is no conflict.
    if (liveSibling(s, node.parent_id, key, node.id)) throw errors.nameConflict();
    try {
      stmt(db, `UPDATE nodes SET name = ?, name_key = ?, modified = ?, seq = ? WHERE id = ?`).run(name, key, apiTime(now), nextSeq(db), node.id);
    } catch (err) {
      if (isUniqueViolation(err)) throw errors.nameConflict();
      throw err;
    }
  })();
}

export function moveNode(s: Scope, id: number, kind: NodeKind, toFolderId: number | undefined, base?: number): void {
  requireWrite(s.access);
  const db = s.ctx.db;
  db.transaction(() => {
    const now = s.ctx.clock();
    const root = txRoot(s);
    const { node } = changeable(s, root, id, kind, base, now);
    const dest = toFolderId ?? null;
    if (dest !== null) {
      requireLiveFolder(db, root.id, dest);
      if (kind === 'folder' && isSelfOrDescendant(db, root.id, node.id, dest)) throw errors.invalidParam('to_folder_id');
    }
    writableParent(s, root, dest, now);
    if (node.parent_id === dest) return;
    if (liveSibling(s, dest, node.name_key, node.id)) throw errors.nameConflict();
    try {
      stmt(db, `UPDATE nodes SET parent_id = ?, modified = ?, seq = ? WHERE id = ?`).run(dest, apiTime(now), nextSeq(db), node.id);
    } catch (err) {
      if (isUniqueViolation(err)) throw errors.nameConflict();
      throw err;
    }
  })();
}

/** Marks a file, or a folder and everything below it, deleted. Deleting a deleted node is a no-op. */
export function deleteNode(s: Scope, id: number, kind: NodeKind, base?: number): void {
  requireWrite(s.access);
  const db = s.ctx.db;
  db.transaction(() => {
    const now = s.ctx.clock();
    const root = txRoot(s);
    const existing = requireNode(db, root.id, id, kind);
    if (existing.is_deleted) return;
    const { node } = changeable(s, root, id, kind, base, now);
    const live = kind === 'folder' ? descendantsOf(db, node.id).filter((d) => !d.is_deleted) : [];
    for (const d of live) if (lockedByOther(d, s.access.person.id, now)) throw errors.resourceLocked();
    const t = apiTime(now);
    const mark = stmt(db, `UPDATE nodes SET is_deleted = 1, is_locked = 0, lock_expires = NULL, lock_person_id = NULL, modified = ?, seq = ? WHERE id = ?`);
    mark.run(t, nextSeq(db), node.id);
    for (const d of live) mark.run(t, nextSeq(db), d.id);
  })();
}

/** `duration` in minutes (optional: without it the lock lasts until unlocked). */
export function lockDuration(f: Fields): number | undefined {
  return optInt(f, 'duration', { min: 1, max: MAX_LOCK_MINUTES });
}

function requireMayLock(s: Scope): void {
  requireWrite(s.access);
  if (!s.access.isAdmin && !s.ctx.policyOf(s.access.root.company_id).user_lock_files) throw errors.forbidden();
}

export function lockNode(s: Scope, id: number, kind: NodeKind, minutes: number | undefined): void {
  requireMayLock(s);
  const db = s.ctx.db;
  db.transaction(() => {
    const now = s.ctx.clock();
    const root = txRoot(s);
    const { node } = changeable(s, root, id, kind, undefined, now);
    stmt(db, `UPDATE nodes SET is_locked = 1, lock_expires = ?, lock_person_id = ?, seq = ? WHERE id = ?`).run(lockExpiry(now, minutes), s.access.person.id, nextSeq(db), node.id);
  })();
}

export function unlockNode(s: Scope, id: number, kind: NodeKind): void {
  requireWrite(s.access);
  const db = s.ctx.db;
  db.transaction(() => {
    const now = s.ctx.clock();
    const root = txRoot(s);
    const node = requireNode(db, root.id, id, kind);
    if (node.is_deleted) throw errors.notFound();
    if (!node.is_locked) return;
    if (lockedByOther(node, s.access.person.id, now) && !s.access.isAdmin) throw errors.resourceLocked();
    stmt(db, `UPDATE nodes SET is_locked = 0, lock_expires = NULL, lock_person_id = NULL, seq = ? WHERE id = ?`).run(nextSeq(db), node.id);
  })();
}

export function lockRoot(s: Scope, minutes: number | undefined): void {
  requireMayLock(s);
  const db = s.ctx.db;
  db.transaction(() => {
    const now = s.ctx.clock();
    const root = txRoot(s);
    assertUnlocked(s.access, root, [], now);
    stmt(db, `UPDATE roots SET is_locked = 1, lock_expires = ?, lock_person_id = ? WHERE id = ?`).run(lockExpiry(now, minutes), s.access.person.id, root.id);
  })();
}

export function unlockRoot(s: Scope): void {
  requireWrite(s.access);
  const db = s.ctx.db;
  db.transaction(() => {
    const now = s.ctx.clock();
    const root = txRoot(s);
    if (!root.is_locked) return;
    if (lockActive(root, now) && root.lock_person_id !== s.access.person.id && !s.access.isAdmin) throw errors.resourceLocked();
    stmt(db, `UPDATE roots SET is_locked = 0, lock_expires = NULL, lock_person_id = NULL WHERE id = ?`).run(root.id);
  })();
}
