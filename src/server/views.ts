// The documented JSON objects of API v2 (person, organization, policy, root) rendered from
// database rows, plus the space accounting they share with v1's account/info.
import type { OrganizationRow, PersonRow, RootRow, ServerContext } from './context.js';
import { type DB, stmt } from './db.js';
import { lockActive } from './files/access.js';
import type { Policy } from './policy.js';
import { formatSize } from './time.js';

/** Bytes of the live (not deleted) files of a root (the running counter root_usage, see db.ts). */
export function rootSpaceUsed(db: DB, rootId: number): number {
  const row = stmt(db, `SELECT bytes FROM root_usage WHERE root_id = ?`).get(rootId) as { bytes: number } | undefined;
  return row ? Number(row.bytes) : 0;
}

/** The root object without children (list form): type, id, name, path, is_locked, root_type, space_used(+_formatted). */
/** The documented root object (lock expiry applied at `now`); the files API adds `permissions`. */
export function rootObject(db: DB, root: RootRow, now: Date): Record<string, unknown> {
  const used = rootSpaceUsed(db, root.id);
  return {
    type: 'root',
    id: root.id,
    name: root.name,
    path: '/',
    is_locked: lockActive(root, now),
    root_type: root.root_type,
    space_used: used,
    space_used_formatted: formatSize(used),
  };
}

/** Roots a person owns or is subscribed to (not deleted), in id order. */
export function rootsOfPerson(db: DB, personId: number): RootRow[] {
  return stmt(db, 
      `SELECT * FROM roots WHERE deleted = 0 AND (person_id = ? OR id IN (SELECT root_id FROM root_members WHERE person_id = ?)) ORDER BY id`,
    )
    .all(personId, personId) as RootRow[];
}

/** Space used by a person: the live files of the live roots they own (sync, backup, own shares); the running counter person_usage (db.ts). */
export function personSpaceUsage(db: DB, personId: number): number {
  const row = stmt(db, `SELECT bytes FROM person_usage WHERE person_id = ?`).get(personId) as { bytes: number } | undefined;
  return row ? Number(row.bytes) : 0;
}

/**
 * Extension (docs/protocol.md, "space_available"): the bytes this person can still upload into
 * their own roots, the tighter of what is left of their `space_quota` and of their
 * organization's policy `space_quota`; null when neither is set. Shown to the person
 * themselves (GET /api/2/person) so the agent can skip uploads that cannot fit without
 * revealing the organization's usage.
 */
export function spaceAvailable(ctx: ServerContext, p: PersonRow): number | null {
  const left: number[] = [];
  if (typeof p.space_quota === 'number' && p.space_quota > 0) left.push(p.space_quota - personSpaceUsage(ctx.db, p.id));
  const orgQuota = Number(ctx.policyOf(p.company_id).space_quota);
  if (Number.isFinite(orgQuota) && orgQuota > 0) {
    const row = stmt(ctx.db, `SELECT bytes FROM org_usage WHERE company_id = ?`).get(p.company_id) as { bytes: number } | undefined;
    left.push(orgQuota - (row ? Number(row.bytes) : 0));
  }
  return left.length === 0 ? null : Math.max(0, Math.min(...left));
}

export function displayName(p: Pick<PersonRow, 'first_name' | 'last_name' | 'email'>): string {
  const name = `${p.first_name} ${p.last_name}`.trim();
  return name || p.email;
}

/** The documented policy object: type "policy", company_id, the policy fields, space_quota_formatted. */
export function policyObject(companyId: number, policy: Policy): Record<string, unknown> {
  return { type: 'policy', company_id: companyId, ...policy, space_quota_formatted: formatSize(policy.space_quota) };
}

export function personObject(ctx: ServerContext, p: PersonRow): Record<string, unknown> {
  const policy = ctx.policyOf(p.company_id);
  const usage = personSpaceUsage(ctx.db, p.id);
  return {
    type: 'person',
    id: p.id,
    email: p.email,
    username: p.username,
    company_id: p.company_id,
    first_name: p.first_name,
    last_name: p.last_name,
    display_name: displayName(p),
    root_id: p.root_id,
    roots: rootsOfPerson(ctx.db, p.id).map((r) => rootObject(ctx.db, r, ctx.clock())),
    space_quota: p.space_quota,
    space_quota_formatted: p.space_quota === null ? null : formatSize(p.space_quota),
    space_usage: usage,
    space_usage_formatted: formatSize(usage),
    can_share: policy.user_create_shares,
    company_policy: policyObject(p.company_id, policy),
  };
}

/** Stored throttle_exception_dow (JSON list) as a list of integers, or null. */
export function parseDow(s: string | null): number[] | null {
  if (s === null || s === '') return null;
  try {
    const v = JSON.parse(s) as unknown;
    return Array.isArray(v) ? v.filter((x): x is number => typeof x === 'number') : null;
  } catch {
    return null;
  }
}

export function organizationObject(ctx: ServerContext, o: OrganizationRow): Record<string, unknown> {
  return {
    type: 'organization',
    id: o.id,
    parent_id: o.parent_id,
    name: o.name,
    slug: o.slug,
    description: o.description,
    email: o.email,
    hostname: o.hostname,
    policy: policyObject(o.id, ctx.policyOf(o.id)),
    created: o.created,
    email_server_id: null,
    bandwidth_throttle: o.bandwidth_throttle,
    throttle_exception_start: o.throttle_exception_start,
    throttle_exception_end: o.throttle_exception_end,
    throttle_exception_dow: parseDow(o.throttle_exception_dow),
    throttle_exception_days: o.throttle_exception_days,
    throttle_exception_throttle: o.throttle_exception_throttle,
    throttled: !!o.throttled,
    active: !!o.active,
    plan_id: null,
    trial_until: o.trial_until,
    subscription_uuid: null,
    share_disclaimer: null,
    default_encryption: 1,
    email_templates: false,
    privacy_mode: false,
  };
}

export function organizationById(db: DB, id: number): OrganizationRow | undefined {
  return stmt(db, `SELECT * FROM organizations WHERE id = ?`).get(id) as OrganizationRow | undefined;
}

export function rootById(db: DB, id: number): RootRow | undefined {
  return stmt(db, `SELECT * FROM roots WHERE id = ?`).get(id) as RootRow | undefined;
}

// ---- who may do what -------------------------------------------------------------------------

/** System admin, or site admin of that organization. */
export function administersCompany(me: PersonRow, companyId: number): boolean {
  return !!me.system_admin || (!!me.site_admin && me.company_id === companyId);
}

/** May `me` change or delete `target`: system admin, or site admin of target's organization (not for system admins). */
export function administersPerson(me: PersonRow, target: PersonRow): boolean {
  if (me.system_admin) return true;
  return !!me.site_admin && me.company_id === target.company_id && !target.system_admin;
}

/** May `me` read `target`: themself, a system admin, or a site admin of target's organization. */
export function canReadPerson(me: PersonRow, target: PersonRow): boolean {
  return me.id === target.id || administersCompany(me, target.company_id);
}

/** May `me` read a root's files: owner, subscriber, system admin, or site admin of its organization when admins may browse files. */
export function canAccessRoot(ctx: ServerContext, me: PersonRow, root: RootRow): boolean {
  if (root.person_id === me.id || me.system_admin) return true;
  const member = stmt(ctx.db, `SELECT 1 FROM root_members WHERE root_id = ? AND person_id = ?`).get(root.id, me.id);
  if (member) return true;
  return !!me.site_admin && me.company_id === root.company_id && ctx.policyOf(root.company_id).admin_browse_files;
}
