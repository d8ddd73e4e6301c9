// Machines: the documented v2 methods (get, status, the organization's machine list) and v1
// management methods (`/1/management/machine/<id>/`, `/1/management/machine/update/`), plus the
// project's EXTENSIONS (docs/protocol.md): v2 machine update, registration, revocation,
// disconnect, health reports, the effective policy, and the agent command channel.
//
// Permissions: the machine's owner may read it (a machine token is its owner's); admins
// (system admin, site admin of the machine's organization) may read and change it. The
// machine-only routes (disconnect, health, command poll and results) need a token issued to
// that very machine by the `machine` grant. Unknown machine → 404, otherwise not allowed → 403.
import type { FastifyRequest } from 'fastify';
import { resolveThrottleSettings, parseTimeOfDay, type ThrottleSettings } from '../../core/throttle.js';
import type { OrganizationRow, PersonRow, ServerContext } from '../context.js';
import { ApiError, errors } from '../errors.js';
import { fieldsOf, OK, optBool, optInt, optString, pathId, reqString, type Fields, type Router } from '../http.js';
import {
  COMMAND_TYPES,
  commandById,
  commandObject,
  enqueueCommand,
  enqueuePolicyRefresh,
  machineById,
  machineByGuid,
  machineHubs,
  machineIdOfRequest,
  machineObject,
  machineObjectV1,
  newSecurityKey,
  revokeMachineTokens,
  type CommandRow,
  type CommandType,
  type MachineRow,
} from '../machines.js';
import { sha256Hex } from '../credentials.js';
import { apiTime } from '../time.js';
import { conflict, optNullableInt, optText, reqText } from '../validate.js';
import { administersCompany, organizationById, parseDow, policyObject } from '../views.js';
import { PAGE_SIZE, readDow, WEEKDAYS, WEEKENDS } from './organization.js';
import { stmt } from '../db.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const OS_TYPES = ['win', 'osx', 'linux'] as const;
/** Health reports kept per machine (the newest). */
export const HEALTH_REPORTS_KEPT = 20;
const MAX_WAIT_S = 60;
const MAX_COMMANDS_PER_POLL = 100;
const MAX_LIST_ITEMS = 10_000;

// ---- machine update (001 rules) --------------------------------------------------------------

/** A rejected update field: the v2 parameter name and the v1 message. */
class FieldError extends Error {
  constructor(
    readonly param: string,
    message: string,
  ) {
    super(message);
  }
}

const MSG = {
  int: (p: string) => `${p} must be an integer`,
  positive: (p: string) => `${p} must be a positive integer`,
  bool: (p: string) => `${p} must be either 'true' or 'false'`,
  dow: 'throttle_exception_dow must be a parseable list of integers representing days of the week, with 0=Monday, 6=Sunday',
  days: "throttle_exception_days must be either 'weekdays' or 'weekends'",
  time: (p: string) => `${p} must be a time value of the form 'HH:mm' or 'HH:mm:ss'`,
  text: (p: string) => `${p} must be text of at most 255 characters`,
  minMax: 'health_report_period_minutes_min must not be greater than health_report_period_minutes_max',
};

function field<T>(param: string, message: string, read: () => T): T {
  try {
    return read();
  } catch (e) {
    if (e instanceof ApiError) throw new FieldError(param, message);
    throw e;
  }
}

function cleared(v: unknown): boolean {
  return v === null || v === '' || (typeof v === 'string' && v.toLowerCase() === 'null');
}

/**
 * The columns a machine update sets, all fields validated first (so a rejected update changes
 * nothing). Throws FieldError on the first invalid field.
 */
function readMachineUpdate(f: Fields, current: MachineRow): Record<string, unknown> {
  const cols: Record<string, unknown> = {};
  for (const p of ['bandwidth_throttle', 'throttle_exception_throttle'] as const) {
    const n = field(p, MSG.int(p), () => optNullableInt(f, p, 0));
    if (n !== undefined) cols[p] = n;
  }
  for (const p of ['throttle_exception_start', 'throttle_exception_end'] as const) {
    if (f[p] === undefined) continue;
    if (cleared(f[p])) {
      cols[p] = null;
      continue;
    }
    const s = field(p, MSG.time(p), () => optString(f, p));
    if (s === undefined || parseTimeOfDay(s) === undefined) throw new FieldError(p, MSG.time(p));
    cols[p] = s;
  }
  const dow = field('throttle_exception_dow', MSG.dow, () => readDow(f, 'throttle_exception_dow'));
  let days: 'weekdays' | 'weekends' | null | undefined;
  if (f.throttle_exception_days !== undefined) {
    if (cleared(f.throttle_exception_days)) days = null;
    else {
      const s = field('throttle_exception_days', MSG.days, () => optString(f, 'throttle_exception_days'));
      if (s !== 'weekdays' && s !== 'weekends') throw new FieldError('throttle_exception_days', MSG.days);
      days = s;
    }
  }
  if (days) {
    // 001: "will set throttle_exception_dow to [0,1,2,3,4] or [5,6] respectively, and will
    // override any value sent for throttle_exception_dow"
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
  for (const p of ['throttled', 'manual_collisions', 'locked'] as const) {
    if (f[p] === undefined || f[p] === null || f[p] === '') continue;
    cols[p] = field(p, MSG.bool(p), () => optBool(f, p, false)) ? 1 : 0;
  }
  for (const p of ['health_report_period_minutes', 'health_report_period_minutes_min', 'health_report_period_minutes_max'] as const) {
    const n = field(p, MSG.positive(p), () => optNullableInt(f, p, 1));
    if (n !== undefined) cols[p] = n;
  }
  const min = 'health_report_period_minutes_min' in cols ? cols.health_report_period_minutes_min : current.health_report_period_minutes_min;
  const max = 'health_report_period_minutes_max' in cols ? cols.health_report_period_minutes_max : current.health_report_period_minutes_max;
  if (typeof min === 'number' && typeof max === 'number' && min > max) throw new FieldError('health_report_period_minutes_min', MSG.minMax);
  if (f.nickname !== undefined) {
    if (f.nickname === null || f.nickname === '') cols.nickname = null;
    else cols.nickname = field('nickname', MSG.text('nickname'), () => optText(f, 'nickname', 255));
  }
  return cols;
}

/** Writes a validated update; locking also ends the machine's sessions; agents are told to refresh. */
function applyMachineUpdate(ctx: ServerContext, m: MachineRow, cols: Record<string, unknown>): MachineRow {
  const names = Object.keys(cols);
  if (names.length) {
    ctx.db.transaction(() => {
      stmt(ctx.db, `UPDATE machines SET ${names.map((n) => `${n} = ?`).join(', ')} WHERE id = ?`).run(...names.map((n) => cols[n]), m.id);
      if (cols.locked === 1) revokeMachineTokens(ctx.db, m.id);
      enqueuePolicyRefresh(ctx, { machineId: m.id }, 'machine_update');
    })();
  }
  return machineById(ctx.db, m.id)!;
}

// ---- health reports --------------------------------------------------------------------------

interface HealthReport {
  subscriptions: { excl_files: number; rsub_id: number; synced: boolean; synced_folder: string }[];
  synced: boolean;
  transfers: Record<string, unknown>[];
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);
}

function isCount(v: unknown): v is number {
  return typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
}

function readHealthReport(body: unknown): HealthReport {
  const b = isPlainObject(body) ? body : {};
  if (b.subscriptions === undefined) throw errors.missingParam('subscriptions');
  if (b.synced === undefined) throw errors.missingParam('synced');
  const subs = b.subscriptions;
  if (!Array.isArray(subs) || subs.length > MAX_LIST_ITEMS) throw errors.invalidParam('subscriptions');
  const subscriptions = subs.map((s) => {
    if (!isPlainObject(s) || !isCount(s.rsub_id) || typeof s.synced !== 'boolean' || !isCount(s.excl_files) || typeof s.synced_folder !== 'string' || s.synced_folder.length > 4096) {
      throw errors.invalidParam('subscriptions');
    }
    return { excl_files: s.excl_files, rsub_id: s.rsub_id, synced: s.synced, synced_folder: s.synced_folder };
  });
  if (typeof b.synced !== 'boolean') throw errors.invalidParam('synced');
  const transfers = b.transfers ?? [];
  if (!Array.isArray(transfers) || transfers.length > MAX_LIST_ITEMS || !transfers.every(isPlainObject)) throw errors.invalidParam('transfers');
  return { subscriptions, synced: b.synced, transfers: transfers as Record<string, unknown>[] };
}

// ---- commands --------------------------------------------------------------------------------

type ParamKind = 'string' | 'id' | 'bool';
const COMMAND_PARAMS: Record<CommandType, { required: Record<string, ParamKind>; optional: Record<string, ParamKind> }> = {
  refresh_policy: { required: {}, optional: {} },
  ls: { required: {}, optional: { path: 'string', username: 'string', password: 'string' } },
  restore: { required: { root_id: 'id', path: 'string' }, optional: { to_machine_id: 'id' } },
  mapping_create: { required: { root_id: 'id', path: 'string' }, optional: { username: 'string', password: 'string' } },
  mapping_delete: { required: { mapping_id: 'id' }, optional: {} },
  subscribe: { required: { root_id: 'id' }, optional: { all_subscriptions: 'bool' } },
  unsubscribe: { required: { root_id: 'id' }, optional: { remove_files: 'bool' } },
};

function validParam(kind: ParamKind, v: unknown): boolean {
  switch (kind) {
    case 'string':
      return typeof v === 'string' && v.length <= 4096;
    case 'id':
      return typeof v === 'number' && Number.isSafeInteger(v) && v >= 1;
    case 'bool':
      return typeof v === 'boolean';
  }
}

function readCommandParams(type: CommandType, raw: unknown): Record<string, unknown> {
  let params: unknown = raw ?? {};
  if (typeof params === 'string') {
    try {
      params = params === '' ? {} : (JSON.parse(params) as unknown);
    } catch {
      throw errors.invalidParam('params');
    }
  }
  if (!isPlainObject(params) || JSON.stringify(params).length > 64 * 1024) throw errors.invalidParam('params');
  const spec = COMMAND_PARAMS[type];
  for (const [k, kind] of Object.entries(spec.required)) {
    if (params[k] === undefined) throw errors.missingParam(`params.${k}`);
    if (!validParam(kind, params[k])) throw errors.invalidParam(`params.${k}`);
  }
  for (const [k, kind] of Object.entries(spec.optional)) {
    if (params[k] !== undefined && !validParam(kind, params[k])) throw errors.invalidParam(`params.${k}`);
  }
  return params;
}

// ---- routes ----------------------------------------------------------------------------------

function throttleFields(o: Pick<MachineRow | OrganizationRow, 'throttled' | 'bandwidth_throttle' | 'throttle_exception_dow' | 'throttle_exception_days' | 'throttle_exception_start' | 'throttle_exception_end' | 'throttle_exception_throttle'>) {
  return {
    throttled: !!o.throttled,
    bandwidth_throttle: o.bandwidth_throttle,
    throttle_exception_dow: parseDow(o.throttle_exception_dow),
    throttle_exception_days: o.throttle_exception_days,
    throttle_exception_start: o.throttle_exception_start,
    throttle_exception_end: o.throttle_exception_end,
    throttle_exception_throttle: o.throttle_exception_throttle,
  } satisfies ThrottleSettings;
}

function waitSeconds(f: Fields): number {
  return optInt(f, 'wait', { min: 0, max: MAX_WAIT_S }) ?? 0;
}

export function registerMachineRoutes(r: Router, ctx: ServerContext): void {
  const isAdmin = (me: PersonRow, m: MachineRow) => administersCompany(me, m.company_id);
  const canRead = (me: PersonRow, m: MachineRow) => m.person_id === me.id || isAdmin(me, m);

  /** The machine in the path and the caller; 404 unknown machine, 403 when `allowed` says no. */
  const load = (req: FastifyRequest, allowed: (me: PersonRow, m: MachineRow) => boolean): { me: PersonRow; m: MachineRow } => {
    const me = ctx.requirePrincipal(req).person;
    const m = machineById(ctx.db, pathId(req, 'id'));
    if (!m) throw errors.notFound();
    if (!allowed(me, m)) throw errors.forbidden();
    return { me, m };
  };
  /** Only a token the machine grant issued to this machine. */
  const loadAsMachine = (req: FastifyRequest) => load(req, (_me, m) => machineIdOfRequest(ctx, req) === m.id);

  // -- documented v2 ---------------------------------------------------------------------------

  r.get('/api/2/machine/:id', async (req) => machineObject(load(req, canRead).m));

  r.get('/api/2/machine/:id/status', async (req) => {
    const { m } = load(req, canRead);
    const row = stmt(ctx.db, `SELECT report FROM machine_health WHERE machine_id = ? ORDER BY id DESC LIMIT 1`).get(m.id) as { report: string } | undefined;
    const report: HealthReport = row ? (JSON.parse(row.report) as HealthReport) : { subscriptions: [], synced: false, transfers: [] };
    return { results: { subscriptions: report.subscriptions, synced: report.synced, transfers: report.transfers } };
  });

  r.get('/api/2/organization/:id/machines', async (req) => {
    const me = ctx.requirePrincipal(req).person;
    const org = organizationById(ctx.db, pathId(req, 'id'));
    if (!org) throw errors.notFound();
    if (!administersCompany(me, org.id)) throw errors.forbidden();
    const offset = optInt(fieldsOf(req), 'offset', { min: 0 }) ?? 0;
    const total = (stmt(ctx.db, `SELECT COUNT(*) AS n FROM machines WHERE company_id = ?`).get(org.id) as { n: number }).n;
    const rows = stmt(ctx.db, `SELECT * FROM machines WHERE company_id = ? ORDER BY id LIMIT ? OFFSET ?`).all(org.id, PAGE_SIZE, offset) as MachineRow[];
    return { offset, results: rows.map(machineObject), total };
  });

  // -- documented v1 management ----------------------------------------------------------------

  const v1Caller = (req: FastifyRequest): PersonRow => {
    try {
      return ctx.requirePrincipal(req).person;
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) throw errors.v1(401, 'invalid or expired session_token');
      throw e;
    }
  };
  const v1Machine = (idText: string | undefined): MachineRow => {
    const m = idText !== undefined && /^\d{1,15}$/.test(idText) ? machineById(ctx.db, Number(idText)) : undefined;
    if (!m) throw errors.v1(404, `unknown machine with id ${String(idText).slice(0, 40)}`);
    return m;
  };

  const v1Get = async (req: FastifyRequest) => {
    const me = v1Caller(req);
    const m = v1Machine((req.params as { id: string }).id);
    if (!canRead(me, m)) throw errors.v1(403, `access denied to machine with id ${m.id}`);
    return { status_code: 200, code: 'success', result: machineObjectV1(m) };
  };
  r.get('/1/management/machine/:id/', v1Get);
  r.get('/1/management/machine/:id', v1Get);

  const v1Update = async (req: FastifyRequest) => {
    const me = v1Caller(req);
    const f = fieldsOf(req);
    if (f.id === undefined || f.id === null || f.id === '') throw errors.v1(400, 'missing required field id');
    if (typeof f.id !== 'string' && typeof f.id !== 'number') throw errors.v1(400, 'id must be an integer');
    const idText = String(f.id);
    if (!/^\d{1,15}$/.test(idText)) throw errors.v1(400, 'id must be an integer');
    const m = v1Machine(idText);
    if (!isAdmin(me, m)) throw errors.v1(403, `access denied to machine with id ${m.id}`);
    let cols: Record<string, unknown>;
    try {
      cols = readMachineUpdate(f, m);
    } catch (e) {
      if (e instanceof FieldError) throw errors.v1(400, e.message);
      throw e;
    }
    const updated = applyMachineUpdate(ctx, m, cols);
    return { status_code: 200, code: 'success', id: m.id, uri: `/1/management/machine/${m.id}/`, result: machineObjectV1(updated) };
  };
  r.post('/1/management/machine/update/', v1Update);
  r.post('/1/management/machine/update', v1Update);

  // -- EXTENSION: v2 update --------------------------------------------------------------------

  r.post('/api/2/machine/:id/update', async (req) => {
    const { m } = load(req, isAdmin);
    let cols: Record<string, unknown>;
    try {
      cols = readMachineUpdate(fieldsOf(req), m);
    } catch (e) {
      if (e instanceof FieldError) throw errors.invalidParam(e.param);
      throw e;
    }
    return machineObject(applyMachineUpdate(ctx, m, cols));
  });

  // -- EXTENSION: registration, revocation, disconnect -----------------------------------------

  r.post('/api/2/machine/register', async (req) => {
    const me = ctx.requirePrincipal(req).person;
    const f = fieldsOf(req);
    const guid = reqString(f, 'guid');
    if (!UUID.test(guid)) throw errors.invalidParam('guid');
    const dnsName = reqText(f, 'dns_name', 255);
    const osType = reqString(f, 'os_type');
    if (!(OS_TYPES as readonly string[]).includes(osType)) throw errors.invalidParam('os_type');
    const osVersion = reqText(f, 'os_version', 255);
    const agentVersion = reqText(f, 'agent_version', 255);
    const nicknameText = optText(f, 'nickname', 255);
    const nickname = nicknameText === undefined || nicknameText === '' ? undefined : nicknameText;
    const key = newSecurityKey();
    const now = apiTime(ctx.clock());
    const id = ctx.db.transaction(() => {
      const existing = machineByGuid(ctx.db, guid);
      if (existing) {
        if (existing.person_id !== me.id) throw conflict('guid');
        if (existing.locked) throw errors.forbidden();
        stmt(ctx.db, 
            `UPDATE machines SET dns_name = ?, os_type = ?, os_version = ?, agent_version = ?, nickname = COALESCE(?, nickname),
             security_key_hash = ?, key_revoked = 0, company_id = ? WHERE id = ?`,
          )
          .run(dnsName, osType, osVersion, agentVersion, nickname ?? null, sha256Hex(key), me.company_id, existing.id);
        // The old key is replaced: sessions opened with it end.
        revokeMachineTokens(ctx.db, existing.id);
        return existing.id;
      }
      const info = stmt(ctx.db, 
          `INSERT INTO machines (guid, person_id, company_id, dns_name, nickname, security_key_hash, created, os_type, os_version, agent_version)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        )
        .run(guid.toLowerCase(), me.id, me.company_id, dnsName, nickname ?? null, sha256Hex(key), now, osType, osVersion, agentVersion);
      return Number(info.lastInsertRowid);
    })();
    return { machine: machineObject(machineById(ctx.db, id)!), security_key: key };
  });

  r.post('/api/2/machine/:id/revoke', async (req) => {
    const { m } = load(req, canRead);
    ctx.db.transaction(() => {
      stmt(ctx.db, `UPDATE machines SET key_revoked = 1 WHERE id = ?`).run(m.id);
      revokeMachineTokens(ctx.db, m.id);
    })();
    return OK;
  });

  r.post('/api/2/machine/:id/disconnect', async (req) => {
    const { m } = loadAsMachine(req);
    stmt(ctx.db, `UPDATE machines SET last_disconnect = ? WHERE id = ?`).run(apiTime(ctx.clock()), m.id);
    return OK;
  });

  // -- EXTENSION: health reports ---------------------------------------------------------------

  r.post('/api/2/machine/:id/health', async (req) => {
    const { m } = loadAsMachine(req);
    const report = readHealthReport(req.body);
    ctx.db.transaction(() => {
      stmt(ctx.db, `INSERT INTO machine_health (machine_id, created, report) VALUES (?, ?, ?)`).run(m.id, apiTime(ctx.clock()), JSON.stringify(report));
      stmt(ctx.db, `DELETE FROM machine_health WHERE machine_id = ? AND id NOT IN (SELECT id FROM machine_health WHERE machine_id = ? ORDER BY id DESC LIMIT ?)`)
        .run(m.id, m.id, HEALTH_REPORTS_KEPT);
    })();
    return OK;
  });

  // -- EXTENSION: the effective policy of a machine --------------------------------------------

  r.get('/api/2/machine/:id/policy', async (req) => {
    const { m } = load(req, canRead);
    const org = organizationById(ctx.db, m.company_id);
    const machine = throttleFields(m);
    const organization = org ? throttleFields(org) : null;
    return {
      machine_id: m.id,
      company_id: m.company_id,
      throttle: resolveThrottleSettings(machine, organization),
      machine_throttle: machine,
      organization_throttle: organization,
      health_report_period_minutes: m.health_report_period_minutes,
      health_report_period_minutes_min: m.health_report_period_minutes_min,
      health_report_period_minutes_max: m.health_report_period_minutes_max,
      manual_collisions: !!m.manual_collisions,
      locked: !!m.locked,
      company_policy: policyObject(m.company_id, ctx.policyOf(m.company_id)),
    };
  });

  // -- EXTENSION: command channel --------------------------------------------------------------

  r.post('/api/2/machine/:id/commands', async (req) => {
    const { me, m } = load(req, isAdmin);
    const f = fieldsOf(req);
    const type = reqString(f, 'type');
    if (!(COMMAND_TYPES as readonly string[]).includes(type)) throw errors.invalidParam('type');
    const params = readCommandParams(type as CommandType, f.params);
    return commandObject(enqueueCommand(ctx, m.id, type as CommandType, params, me.id));
  });

  r.get('/api/2/machine/:id/commands', async (req, reply) => {
    const f = fieldsOf(req);
    const wait = waitSeconds(f);
    const includeDelivered = optBool(f, 'include_delivered', false);
    const { m } = loadAsMachine(req);
    const take = (): CommandRow[] =>
      ctx.db.transaction(() => {
        const rows = stmt(ctx.db, `SELECT * FROM machine_commands WHERE machine_id = ? AND status IN ('pending', ?) ORDER BY id LIMIT ?`)
          .all(m.id, includeDelivered ? 'delivered' : 'pending', MAX_COMMANDS_PER_POLL) as CommandRow[];
        // HEAD (answered for every GET route) only looks: it must not consume commands.
        if (req.method === 'HEAD') return rows;
        const now = apiTime(ctx.clock());
        const mark = stmt(ctx.db, `UPDATE machine_commands SET status = 'delivered', delivered = ? WHERE id = ? AND status = 'pending'`);
        for (const c of rows) {
          if (c.status !== 'pending') continue;
          mark.run(now, c.id);
          c.status = 'delivered';
          c.delivered = now;
        }
        return rows;
      })();
    let rows = take();
    if (rows.length === 0 && wait > 0) {
      const abort = new AbortController();
      req.raw.once('close', () => abort.abort());
      const woke = await machineHubs(ctx).commands.wait(m.id, wait * 1000, abort.signal);
      if (abort.signal.aborted) return reply;
      // The machine may have been locked or revoked meanwhile.
      loadAsMachine(req);
      if (woke) rows = take();
    }
    return { results: rows.map(commandObject) };
  });

  const commandOf = (req: FastifyRequest, m: MachineRow): CommandRow => {
    const c = commandById(ctx.db, pathId(req, 'cmd_id'));
    if (!c || c.machine_id !== m.id) throw errors.notFound();
    return c;
  };

  r.get('/api/2/machine/:id/commands/:cmd_id', async (req, reply) => {
    const wait = waitSeconds(fieldsOf(req));
    const { m } = load(req, canRead);
    let c = commandOf(req, m);
    if ((c.status === 'pending' || c.status === 'delivered') && wait > 0) {
      const abort = new AbortController();
      req.raw.once('close', () => abort.abort());
      await machineHubs(ctx).results.wait(c.id, wait * 1000, abort.signal);
      if (abort.signal.aborted) return reply;
      c = commandOf(req, load(req, canRead).m);
    }
    return commandObject(c);
  });

  r.post('/api/2/machine/:id/commands/:cmd_id/result', async (req) => {
    const { m } = loadAsMachine(req);
    const c = commandOf(req, m);
    const f = fieldsOf(req);
    const status = reqString(f, 'status');
    if (status !== 'ok' && status !== 'error') throw errors.invalidParam('status');
    let message: string | null = null;
    if (status === 'error') {
      message = optText(f, 'error', 4096, true) ?? null;
      if (!message) throw errors.missingParam('error');
    }
    const result = f.result === undefined ? null : JSON.stringify(f.result);
    if (c.status === 'ok' || c.status === 'error') {
      throw new ApiError(409, { error: 'conflict', error_description: 'The command already has a result.' });
    }
    const now = apiTime(ctx.clock());
    const done = stmt(ctx.db, 
        `UPDATE machine_commands SET status = ?, result = ?, error = ?, completed = ?, delivered = COALESCE(delivered, ?)
         WHERE id = ? AND status IN ('pending', 'delivered')`,
      )
      .run(status, result, message, now, now, c.id);
    if (done.changes !== 1) throw new ApiError(409, { error: 'conflict', error_description: 'The command already has a result.' });
    machineHubs(ctx).results.notify(c.id);
    return commandObject(commandById(ctx.db, c.id)!);
  });
}
