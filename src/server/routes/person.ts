// API v2 person methods ("Person" in the v2 reference) and the unauthenticated version method.
import { randomBytes } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { createPerson, createRoot } from '../accounts.js';
import type { PersonRow, ServerContext } from '../context.js';
import { hashPassword, personById, sha256Hex, verifyPassword } from '../credentials.js';
import { errors } from '../errors.js';
import { fieldsOf, OK, optBool, optInt, optString, pathId, reqString, type Fields, type Router } from '../http.js';
import {
  backupKeyMatches,
  checkCode,
  clearFailures,
  decodePending,
  deliverCode,
  encodePending,
  hashBackupKey,
  isLimited,
  isTwoStepMode,
  newBackupKey,
  newTotpSecret,
  recordFailure,
  sendMessage,
  totpUri,
} from '../twostep.js';
import { conflict, optEmail, optNullableInt, optPhone, optText, reqEmail } from '../validate.js';
import { administersCompany, administersPerson, canReadPerson, organizationById, personObject, rootById, rootObject, spaceAvailable } from '../views.js';
import { stmt } from '../db.js';

export const API_VERSION = '2.0.9';

function personByEmail(ctx: ServerContext, email: string): PersonRow | undefined {
  return stmt(ctx.db, `SELECT * FROM persons WHERE email = ?`).get(email) as PersonRow | undefined;
}

function emailTaken(ctx: ServerContext, email: string, exceptId: number): boolean {
  return !!stmt(ctx.db, `SELECT 1 FROM persons WHERE email = ? AND id != ?`).get(email, exceptId);
}

/** The token the request was made with (Bearer or ?session_token=), if any. */
function presentedToken(req: FastifyRequest): string | undefined {
  const auth = req.headers.authorization;
  if (auth) {
    const [scheme, value] = auth.split(/\s+/, 2);
    return scheme?.toLowerCase() === 'bearer' ? value : undefined;
  }
  const q = (req.query ?? {}) as Record<string, unknown>;
  return typeof q.session_token === 'string' ? q.session_token : undefined;
}

/** After a password change: every other token of the person stops working (the caller's own lineage stays). */
function revokeOtherTokens(ctx: ServerContext, personId: number, keep: string | undefined): void {
  const row = keep ? (stmt(ctx.db, `SELECT token_hash, family FROM tokens WHERE token_hash = ?`).get(sha256Hex(keep)) as { token_hash: string; family: string | null } | undefined) : undefined;
  stmt(ctx.db, `UPDATE tokens SET revoked = 1 WHERE person_id = ? AND token_hash != ? AND (family IS NULL OR family != ?)`)
    .run(personId, row?.token_hash ?? '', row?.family ?? '');
}

function present(f: Fields, name: string): boolean {
  return f[name] !== undefined && f[name] !== null && f[name] !== '';
}

function targetPerson(ctx: ServerContext, req: FastifyRequest): PersonRow {
  const target = personById(ctx.db, pathId(req, 'id'));
  if (!target) throw errors.notFound();
  return target;
}

function otherSystemAdmins(ctx: ServerContext, personId: number): number {
  return (stmt(ctx.db, `SELECT COUNT(*) AS n FROM persons WHERE system_admin = 1 AND id != ?`).get(personId) as { n: number }).n;
}

export function registerPersonRoutes(r: Router, ctx: ServerContext): void {
  r.get('/api/2/version', async () => ({ version: API_VERSION }));

  r.get('/api/2/person', async (req) => {
    const me = ctx.requirePrincipal(req).person;
    return { ...personObject(ctx, me), space_available: spaceAvailable(ctx, me) };
  });

  r.get('/api/2/person/:key', async (req) => {
    const me = ctx.requirePrincipal(req).person;
    const key = (req.params as { key: string }).key;
    let target: PersonRow | undefined;
    if (/^\d{1,15}$/.test(key)) target = personById(ctx.db, Number(key));
    else if (key.includes('@') && key.length <= 254) target = personByEmail(ctx, key);
    if (!target) throw errors.notFound();
    if (!canReadPerson(me, target)) throw errors.forbidden();
    return personObject(ctx, target);
  });

  r.post('/api/2/person/create', async (req) => {
    const me = ctx.requirePrincipal(req).person;
    const f = fieldsOf(req);
    const companyId = optInt(f, 'company_id', { min: 1 }) ?? me.company_id;
    if (!organizationById(ctx.db, companyId)) throw errors.invalidParam('company_id');
    if (!administersCompany(me, companyId)) throw errors.forbidden();
    const policy = ctx.policyOf(companyId);
    if (!me.system_admin && !policy.admin_create_users) throw errors.forbidden();

    const email = reqEmail(f, 'email');
    const generate = optBool(f, 'generate_password', false);
    let password = optString(f, 'password');
    if (password === undefined || password === '') {
      if (!generate) throw errors.missingParam('password');
      password = randomBytes(12).toString('base64url');
    }
    const first = optText(f, 'first_name') ?? '';
    const last = optText(f, 'last_name') ?? '';
    const spaceQuota = optInt(f, 'space_quota', { min: 0 });
    const phone = optPhone(f, 'mobile_phone');
    const siteAdmin = optBool(f, 'site_admin', false);
    const systemAdmin = optBool(f, 'system_admin', false);
    const createRootFlag = optBool(f, 'create_root', true);
    for (const flag of ['webdav', 'send_welcome_email', 'quota_50', 'quota_80', 'quota_85', 'quota_90', 'quota_95', 'quota_100']) optBool(f, flag, false);
    if (systemAdmin && !me.system_admin) throw errors.forbidden();
    if (emailTaken(ctx, email, 0)) throw conflict('email');
    if (policy.num_users_maximum > 0) {
      const n = (stmt(ctx.db, `SELECT COUNT(*) AS n FROM persons WHERE company_id = ?`).get(companyId) as { n: number }).n;
      if (n >= policy.num_users_maximum) throw errors.policyError('The organization has reached its maximum number of users.');
    }

    const person = createPerson(ctx, {
      company_id: companyId,
      email,
      password,
      first_name: first,
      last_name: last,
      site_admin: siteAdmin,
      system_admin: systemAdmin,
      space_quota: spaceQuota ?? null,
      mobile_phone: phone ?? null,
      create_root: createRootFlag,
    });
    if (generate) {
      sendMessage(ctx, {
        person_id: person.id,
        channel: 'email',
        recipient: person.email,
        subject: 'Your AXIS CloudSync account',
        body: `An AXIS CloudSync account was created for ${person.email}. Your password is: ${password}`,
      });
    }
    return personObject(ctx, person);
  });

  r.post('/api/2/person/:id/update', async (req) => {
    const me = ctx.requirePrincipal(req).person;
    const target = targetPerson(ctx, req);
    const admin = administersPerson(me, target);
    if (!admin && me.id !== target.id) throw errors.forbidden();
    const f = fieldsOf(req);

    const first = optText(f, 'first_name');
    const last = optText(f, 'last_name');
    const username = optText(f, 'username', 150);
    const email = optEmail(f, 'email');
    const password = optString(f, 'password');
    if (password === '') throw errors.invalidParam('password');
    const phone = optPhone(f, 'mobile_phone');
    const spaceQuota = optNullableInt(f, 'space_quota');
    const siteAdmin = present(f, 'site_admin') ? optBool(f, 'site_admin', false) : undefined;
    const systemAdmin = present(f, 'system_admin') ? optBool(f, 'system_admin', false) : undefined;
    const companyId = optInt(f, 'company_id', { min: 1 });

    // Fields only an administrator may change.
    if (!admin && (spaceQuota !== undefined || siteAdmin !== undefined || systemAdmin !== undefined || (companyId !== undefined && companyId !== target.company_id))) {
      throw errors.forbidden();
    }
    if (systemAdmin !== undefined && !!systemAdmin !== !!target.system_admin && !me.system_admin) throw errors.forbidden();
    if (systemAdmin === false && target.system_admin && otherSystemAdmins(ctx, target.id) === 0) throw errors.forbidden();
    if (companyId !== undefined && companyId !== target.company_id) {
      if (!me.system_admin) throw errors.forbidden();
      if (!organizationById(ctx.db, companyId)) throw errors.invalidParam('company_id');
    }
    if (username !== undefined && username !== '' && stmt(ctx.db, `SELECT 1 FROM persons WHERE username = ? AND id != ?`).get(username, target.id)) {
      throw conflict('username');
    }
    if (email !== undefined && emailTaken(ctx, email, target.id)) throw conflict('email');
    if (password !== undefined && verifyPassword(password, target.password_hash)) throw errors.passwordUnchanged();

    const sets: string[] = [];
    const values: unknown[] = [];
    const set = (col: string, v: unknown) => {
      sets.push(`${col} = ?`);
      values.push(v);
    };
    if (first !== undefined) set('first_name', first);
    if (last !== undefined) set('last_name', last);
    if (username !== undefined) set('username', username);
    if (email !== undefined) set('email', email);
    if (phone !== undefined) set('mobile_phone', phone);
    if (spaceQuota !== undefined) set('space_quota', spaceQuota);
    if (siteAdmin !== undefined) set('site_admin', siteAdmin ? 1 : 0);
    if (systemAdmin !== undefined) set('system_admin', systemAdmin ? 1 : 0);
    if (companyId !== undefined) set('company_id', companyId);
    if (password !== undefined) set('password_hash', hashPassword(password));
    ctx.db.transaction(() => {
      if (sets.length) stmt(ctx.db, `UPDATE persons SET ${sets.join(', ')} WHERE id = ?`).run(...values, target.id);
      if (password !== undefined) revokeOtherTokens(ctx, target.id, me.id === target.id ? presentedToken(req) : undefined);
    })();
    return personObject(ctx, personById(ctx.db, target.id)!);
  });

  r.post('/api/2/person/:id/delete', async (req) => {
    const me = ctx.requirePrincipal(req).person;
    const target = targetPerson(ctx, req);
    if (!administersPerson(me, target) || me.id === target.id) throw errors.forbidden();
    const f = fieldsOf(req);
    optBool(f, 'remove_server_files', false);
    optBool(f, 'remove_dept_files', false);
    const removeUserFiles = optBool(f, 'remove_user_files', false);
    ctx.db.transaction(() => {
      if (removeUserFiles) {
        stmt(ctx.db, `UPDATE roots SET deleted = 1 WHERE person_id = ? AND root_type IN ('sync', 'backup')`).run(target.id);
      }
      // Kept roots stay with the organization, owned by nobody.
      stmt(ctx.db, `UPDATE roots SET person_id = NULL WHERE person_id = ?`).run(target.id);
      stmt(ctx.db, `DELETE FROM persons WHERE id = ?`).run(target.id);
    })();
    return OK;
  });

  r.post('/api/2/person/:id/roots/create', async (req) => {
    const me = ctx.requirePrincipal(req).person;
    const target = targetPerson(ctx, req);
    if (me.id !== target.id && !administersPerson(me, target)) throw errors.forbidden();
    optBool(fieldsOf(req), 'webdav', false);
    const existing = target.root_id === null ? undefined : rootById(ctx.db, target.root_id);
    if (existing && !existing.deleted) return rootObject(ctx.db, existing, ctx.clock());
    const root = ctx.db.transaction(() => {
      const created = createRoot(ctx, { company_id: target.company_id, person_id: target.id, name: 'Files', root_type: 'sync' });
      stmt(ctx.db, `UPDATE persons SET root_id = ? WHERE id = ?`).run(created.id, target.id);
      return created;
    })();
    return rootObject(ctx.db, root, ctx.clock());
  });

  // ---- two-step authentication ----

  const requireMode = (f: Fields) => {
    const mode = reqString(f, 'mode');
    if (!isTwoStepMode(mode)) throw errors.invalidParam('mode');
    return mode;
  };

  r.post('/api/2/person/two_step/enable', async (req) => {
    const me = ctx.requirePrincipal(req).person;
    const f = fieldsOf(req);
    const password = reqString(f, 'password');
    const mode = requireMode(f);
    const authCode = optString(f, 'auth_code');
    const phone = mode === 'sms' ? optPhone(f, 'mobile_phone') : undefined;
    if (!verifyPassword(password, me.password_hash)) throw errors.forbidden();

    if (authCode === undefined || authCode.trim() === '') {
      // Step 1: a new secret (authenticator) or a code on its way (email, sms), and a backup key.
      const backupKey = newBackupKey();
      if (mode === 'authenticator') {
        const key = newTotpSecret();
        stmt(ctx.db, `UPDATE persons SET two_step_pending_mode = ?, two_step_pending_secret = ? WHERE id = ?`)
          .run(mode, encodePending({ secret: key, backup: hashBackupKey(backupKey) }), me.id);
        return { backup_key: backupKey, key, uri: totpUri(me.email, key) };
      }
      const mobile = phone ?? me.mobile_phone;
      if (mode === 'sms' && !mobile) throw errors.missingParam('mobile_phone');
      stmt(ctx.db, `UPDATE persons SET two_step_pending_mode = ?, two_step_pending_secret = ?, mobile_phone = ? WHERE id = ?`)
        .run(mode, encodePending({ secret: null, backup: hashBackupKey(backupKey) }), mode === 'sms' ? mobile : me.mobile_phone, me.id);
      deliverCode(ctx, personById(ctx.db, me.id)!, 'enable', mode);
      return { backup_key: backupKey };
    }

    // Step 2: the code proves the new factor works.
    const pending = decodePending(me.two_step_pending_secret);
    if (!pending || me.two_step_pending_mode !== mode) throw errors.forbidden();
    if (authCode.length > 64 || !checkCode(ctx, me, 'enable', mode, authCode, pending.secret)) throw errors.forbidden();
    stmt(ctx.db, 
        `UPDATE persons SET two_step_mode = ?, two_step_secret = ?, backup_key = ?, two_step_pending_mode = NULL, two_step_pending_secret = NULL WHERE id = ?`,
      )
      .run(mode, pending.secret, pending.backup, me.id);
    return OK;
  });

  r.post('/api/2/person/two_step/disable', async (req) => {
    const me = ctx.requirePrincipal(req).person;
    const f = fieldsOf(req);
    const password = reqString(f, 'password');
    const authCode = optString(f, 'auth_code');
    if (!verifyPassword(password, me.password_hash)) throw errors.forbidden();
    const mode = me.two_step_mode;
    if (!mode) return OK;
    if (authCode === undefined || authCode.trim() === '') {
      if (mode === 'email' || mode === 'sms') deliverCode(ctx, me, 'disable', mode);
      throw errors.missingParam('auth_code');
    }
    if (authCode.length > 64 || !checkCode(ctx, me, 'disable', mode, authCode, me.two_step_secret)) throw errors.forbidden();
    stmt(ctx.db, `UPDATE persons SET two_step_mode = NULL, two_step_secret = NULL, backup_key = NULL, two_step_pending_mode = NULL, two_step_pending_secret = NULL WHERE id = ?`)
      .run(me.id);
    return OK;
  });

  r.post('/api/2/person/two_step/recovery', async (req) => {
    const f = fieldsOf(req);
    const email = reqString(f, 'email');
    const backupKey = reqString(f, 'backup_key');
    const person = email.length <= 254 ? personByEmail(ctx, email) : undefined;
    if (!person || !person.two_step_mode || !person.backup_key) throw errors.accessDenied();
    const limiter = `recovery:${person.id}`;
    if (isLimited(ctx, limiter)) throw errors.accessDenied();
    if (!backupKeyMatches(person.backup_key, backupKey)) {
      recordFailure(ctx, limiter);
      throw errors.accessDenied();
    }
    clearFailures(ctx, limiter);
    stmt(ctx.db, `UPDATE persons SET two_step_mode = NULL, two_step_secret = NULL, backup_key = NULL, two_step_pending_mode = NULL, two_step_pending_secret = NULL WHERE id = ?`)
      .run(person.id);
    return OK;
  });
}
