// Who may use a root, with which permissions, and the lock rules of roots, folders and files.
import type { PersonRow, RootRow, ServerContext } from '../context.js';
import { errors } from '../errors.js';
import { stmt } from '../db.js';

export type Permission = 'FILE_VIEW' | 'FILE_READ' | 'FILE_WRITE';

export const ALL_PERMISSIONS: readonly Permission[] = ['FILE_VIEW', 'FILE_READ', 'FILE_WRITE'];
export const READ_PERMISSIONS: readonly Permission[] = ['FILE_VIEW', 'FILE_READ'];

/** Member roles that may only read (Team Share subscribers with role VIEWER). */
const READ_ONLY_ROLES = new Set(['VIEWER']);

export interface RootAccess {
  root: RootRow;
  person: PersonRow;
  permissions: readonly Permission[];
  canWrite: boolean;
  /** System admin, or site admin of the root's organization: may break other people's locks. */
  isAdmin: boolean;
}

/** The access `person` has to `root`, or undefined when none. */
export function accessOf(ctx: ServerContext, person: PersonRow, root: RootRow): Omit<RootAccess, 'root' | 'person'> | undefined {
  const isAdmin = person.system_admin === 1 || (person.site_admin === 1 && person.company_id === root.company_id);
  if (root.person_id === person.id || person.system_admin === 1) return { permissions: ALL_PERMISSIONS, canWrite: true, isAdmin };
  // Site admins: the roots of their organization while its policy lets admins browse files
  // (admin_browse_files; the same rule as views.canAccessRoot).
  if (isAdmin && ctx.policyOf(root.company_id).admin_browse_files) return { permissions: ALL_PERMISSIONS, canWrite: true, isAdmin };
  const member = stmt(ctx.db, `SELECT role FROM root_members WHERE root_id = ? AND person_id = ?`).get(root.id, person.id) as { role: string } | undefined;
  if (!member) return undefined;
  const readOnly = READ_ONLY_ROLES.has(member.role.toUpperCase());
  return { permissions: readOnly ? READ_PERMISSIONS : ALL_PERMISSIONS, canWrite: !readOnly, isAdmin };
}

/**
 * Opens a root for a request: 404 not_found when there is no such root, 403 forbidden when the
 * person has no access to it, 410 root_deleted when it was deleted.
 */
export function openRoot(ctx: ServerContext, person: PersonRow, rootId: number): RootAccess {
  const root = stmt(ctx.db, `SELECT * FROM roots WHERE id = ?`).get(rootId) as RootRow | undefined;
  if (!root) throw errors.notFound();
  const access = accessOf(ctx, person, root);
  if (!access) throw errors.forbidden();
  if (root.deleted) throw errors.rootDeleted();
  return { root, person, ...access };
}

/** 403 forbidden unless the person may change the root's contents. */
export function requireWrite(access: RootAccess): void {
  if (!access.canWrite) throw errors.forbidden();
}

export interface Lockable {
  is_locked: number;
  lock_expires: string | null;
  lock_person_id: number | null;
}

/** Whether a lock is in force at `now` (a lock without expiry lasts until unlocked). */
export function lockActive(l: Lockable, now: Date): boolean {
  if (!l.is_locked) return false;
  return l.lock_expires === null || new Date(l.lock_expires).getTime() > now.getTime();
}

export function lockedByOther(l: Lockable, personId: number, now: Date): boolean {
  return lockActive(l, now) && l.lock_person_id !== personId;
}

/**
 * 409 resource_locked when the root, or any of `chain` (a node and its ancestor folders),
 * is locked by someone other than the caller.
 */
export function assertUnlocked(access: RootAccess, root: RootRow, chain: readonly Lockable[], now: Date): void {
  if (lockedByOther(root, access.person.id, now)) throw errors.resourceLocked();
  for (const n of chain) if (lockedByOther(n, access.person.id, now)) throw errors.resourceLocked();
}

/** Lock expiry for a duration in minutes (undefined = until unlocked). */
export function lockExpiry(now: Date, minutes: number | undefined): string | null {
  return minutes === undefined ? null : new Date(now.getTime() + minutes * 60_000).toISOString();
}
