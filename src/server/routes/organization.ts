// API v2 organization methods: get, update (with 001's throttle field rules), policy update,
// child organizations, and the persons / roots / organizations lists (offset paging, 100 a page).
import type { FastifyRequest } from 'fastify';
import { createOrganization } from '../accounts.js';
import type { OrganizationRow, PersonRow, RootRow, ServerContext } from '../context.js';
import { errors } from '../errors.js';
import { fieldsOf, optBool, optInt, optString, pathId, type Fields, type Router } from '../http.js';
import { enqueuePolicyRefresh, refreshAfterOrganizationUpdate } from '../machines.js';
import type { Policy } from '../policy.js';
import { apiTime, parseApiDatetime } from '../time.js';
import { conflict, optEmail, optNullableInt, optText, reqEmail, reqText } from '../validate.js';
import { administersCompany, organizationById, organizationObject, personObject, rootObject } from '../views.js';
import { stmt } from '../db.js';

export const PAGE_SIZE = 100;

// ---- policy fields ---------------------------------------------------------------------------

type PolicyKind =
  | { t: 'bool' }
  | { t: 'int'; min: number }
  /** integer or null ("" / "null" → null) */
  | { t: 'intOrNull'; min: number }
  /** integer or "" (the documented "never" / default) */
  | { t: 'intOrEmpty'; min: number }
  | { t: 'extensions' }
  | { t: 'currency' };

const bool: PolicyKind = { t: 'bool' };

export const POLICY_FIELDS: { [K in keyof Policy]: PolicyKind } = {
  ad_enabled: bool,
  admin_browse_files: bool,
  admin_browse_remote: bool,
  admin_create_users: bool,
  backups_enabled: bool,
  branding_enabled: bool,
  change_password_frequency: { t: 'intOrNull', min: 1 },
  deactivate_token_frequency: { t: 'intOrEmpty', min: 1 },
  excluded_extensions: { t: 'extensions' },
  file_server_enabled: bool,
  locked_extensions: { t: 'extensions' },
  max_file_size: { t: 'int', min: 0 },
  monthly_cost_cents: { t: 'int', min: 0 },
  monthly_cost_currency: { t: 'currency' },
  num_orgs_maximum: { t: 'int', min: 0 },
  num_users_maximum: { t: 'int', min: 0 },
  psa_enabled: bool,
  purge_deleted: bool,
  purge_deleted_frequency: { t: 'intOrEmpty', min: 1 },
  require_mobile_lock: bool,
  require_two_step_auth: bool,
  secure_shares: bool,
  service_plans_enabled: bool,
  space_quota: { t: 'int', min: 0 },
  trial_length_days: { t: 'int', min: 0 },
  trim_revisions: bool,
  trim_revisions_x: { t: 'intOrEmpty', min: 1 },
  user_bulk_resolve_warnings: bool,
  user_create_backups: bool,
  user_create_shares: bool,
  user_lock_files: bool,
  user_overwrite_collisions: bool,
  user_purge_deleted: bool,
  user_trim_revisions: bool,
  web_preview_enabled: bool,
  webdav_enabled: bool,
};

/** Limits, billing and licensed features: only a system admin may change these. */
export const SYSTEM_ADMIN_POLICY_FIELDS: ReadonlySet<keyof Policy> = new Set<keyof Policy>([
  'space_quota',
  'num_users_maximum',
  'num_orgs_maximum',
  'trial_length_days',
  'monthly_cost_cents',
  'monthly_cost_currency',
  'service_plans_enabled',
  'ad_enabled',
  'backups_enabled',
  'branding_enabled',
  'file_server_enabled',
  'psa_enabled',
  'webdav_enabled',
]);

const EXTENSION = /^\*?\.[A-Za-z0-9$._~+-]+$/;

/** The policy fields present in `f`, validated (400 invalid_request on the first bad one). */
export function readPolicyFields(f: Fields): Partial<Policy> {
  const out: Record<string, unknown> = {};
  for (const [name, kind] of Object.entries(POLICY_FIELDS) as [keyof Policy, PolicyKind][]) {
    if (f[name] === undefined) continue;
    switch (kind.t) {
      case 'bool':
        if (f[name] === null || f[name] === '') throw errors.invalidParam(name);
        out[name] = optBool(f, name, false);
        break;
      case 'int': {
        const n = optInt(f, name, { min: kind.min });
        if (n === undefined) throw errors.invalidParam(name);
        out[name] = n;
        break;
      }
      case 'intOrNull': {
        const n = optNullableInt(f, name, kind.min);
        if (n !== undefined) out[name] = n;
        break;
      }
      case 'intOrEmpty': {
        const n = optNullableInt(f, name, kind.min);
        if (n !== undefined) out[name] = n === null ? '' : n;
        break;
      }
      case 'extensions': {
        const s = f[name] === null ? '' : (optString(f, name) ?? '');
        const items = s.split(',').map((x) => x.trim()).filter((x) => x !== '');
        if (items.some((x) => !EXTENSION.test(x))) throw errors.invalidParam(name);
        out[name] = items.join(',');
        break;
      }
      case 'currency': {
        const s = f[name] === null ? '' : (optString(f, name) ?? '');
        if (!/^[A-Za-z]{0,3}$/.test(s)) throw errors.invalidParam(name);
        out[name] = s.toUpperCase();
        break;
      }
    }
  }
  return out as Partial<Policy>;
}

// ---- organization fields ---------------------------------------------------------------------

const SLUG = /^[a-z0-9]+(?:-[a-z0-9]+)*$/;
const HOSTNAME = /^(?=.{1,253}$)[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i;
const TIME_OF_DAY = /^(?:[01]\d|2[0-3]):[0-5]\d(?::[0-5]\d)?$/;

export const WEEKDAYS = [0, 1, 2, 3, 4];
export const WEEKENDS = [5, 6];

function optSlug(f: Fields, name: string): string | undefined {
  const s = optString(f, name);
  if (s === undefined) return undefined;
  if (s.length > 100 || !SLUG.test(s)) throw errors.invalidParam(name);
  return s;
}

function optHostname(f: Fields, name: string): string | undefined {
  if (f[name] === null) return '';
  const s = optString(f, name);
  if (s === undefined) return undefined;
  if (s !== '' && !HOSTNAME.test(s)) throw errors.invalidParam(name);
  return s.toLowerCase();
}

/** "YYYY-MM-DDTHH:MM:SS" (UTC) → stored text; "" / null → null (no trial); otherwise 400 invalid_datetime_format. */
function optDatetime(f: Fields, name: string): string | null | undefined {
  if (f[name] === null) return null;
  const s = optString(f, name);
  if (s === undefined) return undefined;
  if (s === '') return null;
  const d = parseApiDatetime(s);
  if (!d) throw errors.invalidDatetime();
  return apiTime(d);
}

/** 001: "a parseable list of integers representing days of the week, with 0=Monday, 6=Sunday", e.g. [0,1,2,3]. */
export function readDow(f: Fields, name: string): number[] | null | undefined {
  const v = f[name];
  if (v === undefined) return undefined;
  if (v === null || v === '' || v === 'null') return null;
  let items: unknown[];
  if (Array.isArray(v)) items = v;
  else if (typeof v === 'string') {
    const s = v.trim();
    if (s.length > 100) throw errors.invalidParam(name);
    if (s.startsWith('[')) {
      try {
        const parsed = JSON.parse(s) as unknown;
        if (!Array.isArray(parsed)) throw errors.invalidParam(name);
        items = parsed;
      } catch {
        throw errors.invalidParam(name);
      }
    } else items = s.split(',');
  } else if (typeof v === 'number') items = [v];
  else throw errors.invalidParam(name);
  if (items.length > 7) throw errors.invalidParam(name);
  const days = items.map((x) => {
    const t = typeof x === 'string' ? x.trim() : x;
    if (typeof t === 'number' && Number.isInteger(t) && t >= 0 && t <= 6) return t;
    if (typeof t === 'string' && /^[0-6]$/.test(t)) return Number(t);
    throw errors.invalidParam(name);
  });
  return [...new Set(days)].sort((a, b) => a - b);
}

function optTimeOfDay(f: Fields, name: string): string | null | undefined {
  if (f[name] === null) return null;
  const s = optString(f, name);
  if (s === undefined) return undefined;
  if (s === '') return null;
  if (!TIME_OF_DAY.test(s)) throw errors.invalidParam(name);
  return s;
}

/** Columns of `organizations` set from the update / create fields (validated, not yet written). */
function readOrganizationFields(f: Fields, creating: boolean): Record<string, unknown> {
  const cols: Record<string, unknown> = {};
  const name = creating ? reqText(f, 'name') : optText(f, 'name');
  if (name !== undefined) {
    if (name.trim() === '') throw errors.invalidParam('name');
    cols.name = name;
  }
  const email = creating && f.contact_email === undefined ? reqEmail(f, 'email') : (optEmail(f, 'email') ?? optEmail(f, 'contact_email'));
  if (email !== undefined) cols.email = email;
  const slug = optSlug(f, 'slug');
  if (creating && slug === undefined) throw errors.missingParam('slug');
  if (slug !== undefined) cols.slug = slug;
  const description = optText(f, 'description', 4096, true);
  if (description !== undefined) cols.description = description;
  const hostname = optHostname(f, 'hostname');
  if (hostname !== undefined) cols.hostname = hostname;
  const trial = optDatetime(f, 'trial_until');
  if (trial !== undefined) cols.trial_until = trial;

  const bw = optNullableInt(f, 'bandwidth_throttle');
  if (bw !== undefined) cols.bandwidth_throttle = bw;
  const exThrottle = optNullableInt(f, 'throttle_exception_throttle');
  if (exThrottle !== undefined) cols.throttle_exception_throttle = exThrottle;
  const start = optTimeOfDay(f, 'throttle_exception_start');
  if (start !== undefined) cols.throttle_exception_start = start;
  const end = optTimeOfDay(f, 'throttle_exception_end');
  if (end !== undefined) cols.throttle_exception_end = end;
  const dow = readDow(f, 'throttle_exception_dow');
  let days: string | null | undefined;
  if (f.throttle_exception_days === null) days = null;
  else {
    const s = optString(f, 'throttle_exception_days');
    if (s === '' || s?.toLowerCase() === 'null') days = null;
    else if (s !== undefined) {
      if (s !== 'weekdays' && s !== 'weekends') throw errors.invalidParam('throttle_exception_days');
      days = s;
    }
  }
  if (days) {
    // "will override any value sent for throttle_exception_dow"
    cols.throttle_exception_days = days;
    cols.throttle_exception_dow = JSON.stringify(days === 'weekdays' ? WEEKDAYS : WEEKENDS);
  } else {
    if (days === null) cols.throttle_exception_days = null;
    if (dow !== undefined) {
      cols.throttle_exception_dow = dow === null ? null : JSON.stringify(dow);
      // An explicit day list replaces an earlier weekdays/weekends choice.
      cols.throttle_exception_days = null;
    }
  }
  if (f.throttled !== undefined && f.throttled !== null && f.throttled !== '') cols.throttled = optBool(f, 'throttled', false) ? 1 : 0;
  return cols;
}

function assertUnique(ctx: ServerContext, cols: Record<string, unknown>, exceptId: number): void {
  if (typeof cols.slug === 'string' && stmt(ctx.db, `SELECT 1 FROM organizations WHERE slug = ? AND id != ?`).get(cols.slug, exceptId)) throw conflict('slug');
  if (typeof cols.name === 'string' && stmt(ctx.db, `SELECT 1 FROM organizations WHERE name = ? AND id != ?`).get(cols.name, exceptId)) throw conflict('name');
  if (typeof cols.hostname === 'string' && cols.hostname !== '' && stmt(ctx.db, `SELECT 1 FROM organizations WHERE hostname = ? AND id != ?`).get(cols.hostname, exceptId)) {
    throw conflict('hostname');
  }
}

function updateColumns(ctx: ServerContext, id: number, cols: Record<string, unknown>): void {
  const names = Object.keys(cols);
  if (!names.length) return;
  stmt(ctx.db, `UPDATE organizations SET ${names.map((n) => `${n} = ?`).join(', ')} WHERE id = ?`).run(...names.map((n) => cols[n]), id);
}

function writePolicy(ctx: ServerContext, id: number, changes: Partial<Policy>): void {
  if (!Object.keys(changes).length) return;
  const row = stmt(ctx.db, `SELECT policy FROM organizations WHERE id = ?`).get(id) as { policy: string };
  const stored = JSON.parse(row.policy) as Partial<Policy>;
  stmt(ctx.db, `UPDATE organizations SET policy = ? WHERE id = ?`).run(JSON.stringify({ ...stored, ...changes }), id);
}

function assertPolicyChangesAllowed(me: PersonRow, changes: Partial<Policy>): void {
  if (me.system_admin) return;
  for (const k of Object.keys(changes) as (keyof Policy)[]) if (SYSTEM_ADMIN_POLICY_FIELDS.has(k)) throw errors.forbidden();
}

function offsetOf(req: FastifyRequest): number {
  return optInt(fieldsOf(req), 'offset', { min: 0 }) ?? 0;
}

export function registerOrganizationRoutes(r: Router, ctx: ServerContext): void {
  /** The organization of the path, readable/changeable by a system admin or its site admin. */
  const orgFor = (req: FastifyRequest): { me: PersonRow; org: OrganizationRow } => {
    const me = ctx.requirePrincipal(req).person;
    const org = organizationById(ctx.db, pathId(req, 'id'));
    if (!org) throw errors.notFound();
    if (!administersCompany(me, org.id)) throw errors.forbidden();
    return { me, org };
  };
  const reload = (id: number) => organizationObject(ctx, organizationById(ctx.db, id)!);

  r.get('/api/2/organization/:id', async (req) => organizationObject(ctx, orgFor(req).org));

  r.post('/api/2/organization/:id/update', async (req) => {
    const { me, org } = orgFor(req);
    const f = fieldsOf(req);
    const cols = readOrganizationFields(f, false);
    if (!me.system_admin && 'trial_until' in cols) throw errors.forbidden();
    assertUnique(ctx, cols, org.id);
    updateColumns(ctx, org.id, cols);
    refreshAfterOrganizationUpdate(ctx, org.id, Object.keys(cols));
    return reload(org.id);
  });

  r.post('/api/2/organization/:id/policy/update', async (req) => {
    const { me, org } = orgFor(req);
    const changes = readPolicyFields(fieldsOf(req));
    assertPolicyChangesAllowed(me, changes);
    writePolicy(ctx, org.id, changes);
    if (Object.keys(changes).length) enqueuePolicyRefresh(ctx, { companyId: org.id }, 'policy_update');
    return reload(org.id);
  });

  r.post('/api/2/organization/:id/organizations/create', async (req) => {
    const { me, org } = orgFor(req);
    if (!me.system_admin) throw errors.forbidden();
    const f = fieldsOf(req);
    const cols = readOrganizationFields(f, true);
    const policy = readPolicyFields(f);
    const parentId = optInt(f, 'parent_id', { min: 1 }) ?? org.id;
    if (!organizationById(ctx.db, parentId)) throw errors.invalidParam('parent_id');
    optText(f, 'share_disclaimer', 4096, true);
    assertUnique(ctx, cols, 0);
    const created = ctx.db.transaction(() => {
      const row = createOrganization(ctx, { name: cols.name as string, slug: cols.slug as string, parent_id: parentId, policy });
      const { name: _n, slug: _s, ...rest } = cols;
      updateColumns(ctx, row.id, rest);
      return row;
    })();
    return reload(created.id);
  });

  r.get('/api/2/organization/:id/organizations', async (req) => {
    const { org } = orgFor(req);
    const offset = offsetOf(req);
    const total = (stmt(ctx.db, `SELECT COUNT(*) AS n FROM organizations WHERE parent_id = ?`).get(org.id) as { n: number }).n;
    const rows = stmt(ctx.db, `SELECT * FROM organizations WHERE parent_id = ? ORDER BY id LIMIT ? OFFSET ?`).all(org.id, PAGE_SIZE, offset) as OrganizationRow[];
    return { offset, results: rows.map((o) => organizationObject(ctx, o)), total };
  });

  r.get('/api/2/organization/:id/persons', async (req) => {
    const { org } = orgFor(req);
    const offset = offsetOf(req);
    const total = (stmt(ctx.db, `SELECT COUNT(*) AS n FROM persons WHERE company_id = ?`).get(org.id) as { n: number }).n;
    const rows = stmt(ctx.db, `SELECT * FROM persons WHERE company_id = ? ORDER BY id LIMIT ? OFFSET ?`).all(org.id, PAGE_SIZE, offset) as PersonRow[];
    return { offset, results: rows.map((p) => personObject(ctx, p)), total };
  });

  r.get('/api/2/organization/:id/roots', async (req) => {
    const { org } = orgFor(req);
    const offset = offsetOf(req);
    const total = (stmt(ctx.db, `SELECT COUNT(*) AS n FROM roots WHERE company_id = ? AND deleted = 0`).get(org.id) as { n: number }).n;
    const rows = stmt(ctx.db, `SELECT * FROM roots WHERE company_id = ? AND deleted = 0 ORDER BY id LIMIT ? OFFSET ?`).all(org.id, PAGE_SIZE, offset) as RootRow[];
    return { offset, results: rows.map((root) => rootObject(ctx.db, root, ctx.clock())), total };
  });
}
