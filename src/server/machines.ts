// Machines on the reference server: the documented machine object (v2 and the v1 management
// rendering), machine credentials (EXTENSION: registration, the `machine` token grant,
// revocation) and the queue of the agent command channel (EXTENSION) with its long-poll
// wake-ups. The routes are in routes/machines.ts; /oauth2/token calls `machineGrant`, and the
// organization routes call `enqueuePolicyRefresh` so that agents pick up new settings within
// seconds. See docs/protocol.md for the request and response shapes.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { ChangeHub } from './changes.js';
import type { PersonRow, ServerContext } from './context.js';
import { lookupToken, personById, sha256Hex } from './credentials.js';
import { type DB, stmt } from './db.js';
import { ApiError } from './errors.js';
import { reqString, type Fields } from './http.js';
import { apiTime } from './time.js';
import { parseDow } from './views.js';

export interface MachineRow {
  id: number;
  guid: string;
  person_id: number;
  company_id: number;
  dns_name: string;
  nickname: string | null;
  last_login: string | null;
  last_disconnect: string | null;
  security_key_hash: string | null;
  key_revoked: number;
  created: string;
  os_type: string;
  os_version: string;
  agent_version: string | null;
  locked: number;
  bandwidth_throttle: number | null;
  throttle_exception_days: string | null;
  throttle_exception_dow: string | null;
  throttle_exception_start: string | null;
  throttle_exception_end: string | null;
  throttle_exception_throttle: number | null;
  throttled: number;
  policy_id: number | null;
  machine_type: string;
  health_report_period_minutes: number | null;
  health_report_period_minutes_min: number | null;
  health_report_period_minutes_max: number | null;
  manual_collisions: number;
}

export const COMMAND_TYPES = ['refresh_policy', 'ls', 'restore', 'mapping_create', 'mapping_delete', 'subscribe', 'unsubscribe'] as const;
export type CommandType = (typeof COMMAND_TYPES)[number];

export interface CommandRow {
  id: number;
  machine_id: number;
  type: CommandType;
  params: string;
  status: 'pending' | 'delivered' | 'ok' | 'error';
  created: string;
  created_by: number | null;
  delivered: string | null;
  completed: string | null;
  result: string | null;
  error: string | null;
}

export function machineById(db: DB, id: number): MachineRow | undefined {
  return stmt(db, `SELECT * FROM machines WHERE id = ?`).get(id) as MachineRow | undefined;
}

export function machineByGuid(db: DB, guid: string): MachineRow | undefined {
  return stmt(db, `SELECT * FROM machines WHERE guid = ?`).get(guid.toLowerCase()) as MachineRow | undefined;
}

// ---- renderings ------------------------------------------------------------------------------

/** The documented v2 machine object (002). The security key is never part of it. */
export function machineObject(m: MachineRow): Record<string, unknown> {
  return {
    type: 'machine',
    id: m.id,
    dns_name: m.dns_name,
    nickname: m.nickname,
    last_login: m.last_login,
    guid: m.guid,
    created: m.created,
    os_type: m.os_type,
    os_version: m.os_version,
    agent_version: m.agent_version,
    locked: !!m.locked,
    bandwidth_throttle: m.bandwidth_throttle,
    throttle_exception_days: m.throttle_exception_days,
    throttle_exception_dow: parseDow(m.throttle_exception_dow),
    throttle_exception_start: m.throttle_exception_start,
    throttle_exception_end: m.throttle_exception_end,
    throttle_exception_throttle: m.throttle_exception_throttle,
    throttled: !!m.throttled,
    machine_type: m.machine_type,
    last_disconnect: m.last_disconnect,
    health_report_period_minutes: m.health_report_period_minutes,
    health_report_period_minutes_min: m.health_report_period_minutes_min,
    health_report_period_minutes_max: m.health_report_period_minutes_max,
    manual_collisions: !!m.manual_collisions,
  };
}

/** 001's time format ("2014-10-31T12:00:03.076000-07:00"); the server keeps UTC seconds. */
export function v1Time(s: string | null): string | null {
  return s === null ? null : `${s}.000000+00:00`;
}

/**
 * The `result` of v1 `GET /1/management/machine/<id>/`, with exactly the keys of 001's sample.
 * `security_key` is always null: the server keeps only a hash of the key.
 */
export function machineObjectV1(m: MachineRow): Record<string, unknown> {
  return {
    id: m.id,
    dns_name: m.dns_name,
    nickname: m.nickname,
    last_login: v1Time(m.last_login),
    last_disconnect: v1Time(m.last_disconnect),
    guid: m.guid,
    security_key: null,
    created: v1Time(m.created),
    os_type: m.os_type,
    os_version: m.os_version,
    agent_version: m.agent_version,
    locked: !!m.locked,
    bandwidth_throttle: m.bandwidth_throttle,
    throttle_exception_days: m.throttle_exception_days,
    throttle_exception_start: m.throttle_exception_start,
    throttle_exception_end: m.throttle_exception_end,
    throttle_exception_throttle: m.throttle_exception_throttle,
    throttled: !!m.throttled,
    policy_id: m.policy_id,
    machine_type: m.machine_type,
    health_report_period_minutes: m.health_report_period_minutes,
    manual_collisions: !!m.manual_collisions,
    throttle_exception_dow: parseDow(m.throttle_exception_dow),
  };
}

export function commandObject(c: CommandRow): Record<string, unknown> {
  return {
    id: c.id,
    machine_id: c.machine_id,
    type: c.type,
    params: JSON.parse(c.params) as unknown,
    status: c.status,
    created: c.created,
    created_by: c.created_by,
    delivered: c.delivered,
    completed: c.completed,
    result: c.result === null ? null : (JSON.parse(c.result) as unknown),
    error: c.error,
  };
}

// ---- credentials -----------------------------------------------------------------------------

/** A new security key: 48 random bytes, base64url (64 characters). */
export function newSecurityKey(): string {
  return randomBytes(48).toString('base64url');
}

function sameHash(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && x.length > 0 && timingSafeEqual(x, y);
}

/** Every token the machine grant issued for the machine (and their refreshes) stops working. */
export function revokeMachineTokens(db: DB, machineId: number): void {
  stmt(db, `UPDATE tokens SET revoked = 1 WHERE family IN (SELECT family FROM machine_token_families WHERE machine_id = ?)`).run(machineId);
}

/**
 * EXTENSION grant of `POST /oauth2/token`: `grant_type=machine` with `guid` and `security_key`.
 * Returns the machine's owner and a new token family marked as the machine's; the caller issues
 * the standard token pair in that family. Records `last_login`.
 *   - missing field → 400 invalid_request (Missing required parameter: guid | security_key)
 *   - unknown guid or wrong key → 400 invalid_grant "Invalid machine credentials"
 *   - right key, but the key was revoked or the machine is locked → 401 access_denied
 */
export function machineGrant(ctx: ServerContext, f: Fields): { person: PersonRow; family: string } {
  const guid = reqString(f, 'guid');
  const key = reqString(f, 'security_key');
  const invalid = () => new ApiError(400, { error: 'invalid_grant', error_description: 'Invalid machine credentials' });
  const m = machineByGuid(ctx.db, guid);
  const presented = sha256Hex(key);
  if (!m || !m.security_key_hash || !sameHash(presented, m.security_key_hash)) throw invalid();
  if (m.locked) throw new ApiError(401, { error: 'access_denied', error_description: 'The machine is locked.' });
  if (m.key_revoked) throw new ApiError(401, { error: 'access_denied', error_description: 'The machine\'s security key has been revoked.' });
  const person = personById(ctx.db, m.person_id);
  if (!person) throw invalid();
  const family = `machine-${randomBytes(16).toString('hex')}`;
  ctx.db.transaction(() => {
    stmt(ctx.db, `INSERT INTO machine_token_families (family, machine_id) VALUES (?, ?)`).run(family, m.id);
    stmt(ctx.db, `UPDATE machines SET last_login = ?, company_id = ? WHERE id = ?`).run(apiTime(ctx.clock()), person.company_id, m.id);
  })();
  return { person, family };
}

/** The token a request was authenticated with (Bearer, or ?session_token= without an Authorization header). */
function presentedToken(req: FastifyRequest): string | undefined {
  const auth = req.headers.authorization;
  if (auth) {
    const [scheme, value] = auth.split(/\s+/, 2);
    return scheme?.toLowerCase() === 'bearer' ? value : undefined;
  }
  const q = (req.query ?? {}) as Record<string, unknown>;
  const s = q.session_token;
  if (typeof s === 'string') return s;
  return Array.isArray(s) && typeof s[0] === 'string' ? s[0] : undefined;
}

/** The machine whose token authenticated the request (call after requirePrincipal), if any. */
export function machineIdOfRequest(ctx: ServerContext, req: FastifyRequest): number | undefined {
  const token = presentedToken(req);
  if (!token) return undefined;
  const row = lookupToken(ctx.db, ctx.clock, token, ['access', 'session']);
  if (!row?.family) return undefined;
  const fam = stmt(ctx.db, `SELECT machine_id FROM machine_token_families WHERE family = ?`).get(row.family) as { machine_id: number } | undefined;
  return fam?.machine_id;
}

// ---- command channel -------------------------------------------------------------------------

interface MachineHubs {
  /** Keyed by machine id: new commands were queued. */
  commands: ChangeHub;
  /** Keyed by command id: a result was reported. */
  results: ChangeHub;
}

const hubs = new WeakMap<ServerContext, MachineHubs>();

export function machineHubs(ctx: ServerContext): MachineHubs {
  let h = hubs.get(ctx);
  if (!h) {
    h = { commands: new ChangeHub(), results: new ChangeHub() };
    hubs.set(ctx, h);
  }
  return h;
}

export function commandById(db: DB, id: number): CommandRow | undefined {
  return stmt(db, `SELECT * FROM machine_commands WHERE id = ?`).get(id) as CommandRow | undefined;
}

/** Queues a command for a machine and wakes its long poll. */
export function enqueueCommand(ctx: ServerContext, machineId: number, type: CommandType, params: Record<string, unknown>, createdBy: number | null): CommandRow {
  const info = stmt(ctx.db, `INSERT INTO machine_commands (machine_id, type, params, created, created_by) VALUES (?, ?, ?, ?, ?)`)
    .run(machineId, type, JSON.stringify(params), apiTime(ctx.clock()), createdBy);
  // Listeners resume in a later microtask, i.e. after any enclosing transaction has committed.
  machineHubs(ctx).commands.notify(machineId);
  return commandById(ctx.db, Number(info.lastInsertRowid))!;
}

/** Why a refresh_policy was queued ('owner_moved' comes from the persons trigger in db.ts). */
export type PolicyRefreshReason = 'machine_update' | 'organization_update' | 'policy_update' | 'owner_moved';

/**
 * Queues `refresh_policy` ({"reason": …}) for one machine or for every machine of an
 * organization, unless that machine already has an undelivered refresh_policy (coalesced).
 * Returns the ids of the machines that got a new command.
 */
export function enqueuePolicyRefresh(ctx: ServerContext, target: { machineId: number } | { companyId: number }, reason: PolicyRefreshReason): number[] {
  const where = 'machineId' in target ? 'm.id = ?' : 'm.company_id = ?';
  const rows = stmt(ctx.db, 
      `INSERT INTO machine_commands (machine_id, type, params, created, created_by)
       SELECT m.id, 'refresh_policy', ?, ?, NULL FROM machines m
       WHERE ${where} AND NOT EXISTS (SELECT 1 FROM machine_commands c WHERE c.machine_id = m.id AND c.type = 'refresh_policy' AND c.status = 'pending')
       RETURNING machine_id`,
    )
    .all(JSON.stringify({ reason }), apiTime(ctx.clock()), 'machineId' in target ? target.machineId : target.companyId) as { machine_id: number }[];
  const hub = machineHubs(ctx).commands;
  for (const r of rows) hub.notify(r.machine_id);
  return rows.map((r) => r.machine_id);
}

const THROTTLE_COLUMNS: ReadonlySet<string> = new Set([
  'throttled',
  'bandwidth_throttle',
  'throttle_exception_dow',
  'throttle_exception_days',
  'throttle_exception_start',
  'throttle_exception_end',
  'throttle_exception_throttle',
]);

/** After an organization update: its machines refresh their policy when a throttle field was written. */
export function refreshAfterOrganizationUpdate(ctx: ServerContext, companyId: number, columns: readonly string[]): void {
  if (columns.some((c) => THROTTLE_COLUMNS.has(c))) enqueuePolicyRefresh(ctx, { companyId }, 'organization_update');
}
