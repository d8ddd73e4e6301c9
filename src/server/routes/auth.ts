// Logging in: v1 `POST /1/auth/` (session tokens, documented messages) and the OAuth2 token
// endpoint `POST /oauth2/token` (password and refresh_token grants, RFC 6749) with
// `POST /oauth2/revoke` (RFC 7009). Both take `auth_code` for two-step accounts.
import { randomBytes } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { PersonRow, ServerContext } from '../context.js';
import { hashPassword, personById, personByLogin, revokeToken, sha256Hex, storeToken, verifyPassword } from '../credentials.js';
import { ApiError } from '../errors.js';
import { fieldsOf, MAX_FIELD_LENGTH, OK, optString, reqString, type Fields, type Router } from '../http.js';
import { machineGrant } from '../machines.js';
import { tokenLifetimeDays } from '../policy.js';
import { checkCode, deliverCode, type TwoStepMode } from '../twostep.js';
import { stmt } from '../db.js';

export const MSG_MISSING_CREDENTIALS = 'You must provide a username and password';
export const MSG_INVALID_CREDENTIALS = 'Invalid username or password';
export const MSG_MISSING_CODE = 'Missing auth_code parameter';
export const MSG_INVALID_CODE = 'Invalid authentication code';

export type LoginOutcome =
  | { ok: true; person: PersonRow }
  | { ok: false; reason: 'missing' | 'invalid' }
  | { ok: false; reason: 'code_missing' | 'code_invalid'; mode: TwoStepMode };

let dummyHash: string | undefined;

/** Spends the same work as a real password check, so unknown accounts are not faster. */
function burnPasswordCheck(password: string): void {
  dummyHash ??= hashPassword(randomBytes(16).toString('hex'));
  verifyPassword(password, dummyHash);
}

/**
 * Username + password (+ auth_code) → the person, or why not. For email/sms accounts a missing
 * code triggers delivery of a new one.
 */
export function passwordLogin(ctx: ServerContext, username: string | undefined, password: string | undefined, authCode: string | undefined): LoginOutcome {
  if (!username || !password) return { ok: false, reason: 'missing' };
  if (username.length > MAX_FIELD_LENGTH || password.length > MAX_FIELD_LENGTH) return { ok: false, reason: 'invalid' };
  const person = personByLogin(ctx.db, username);
  if (!person) {
    burnPasswordCheck(password);
    return { ok: false, reason: 'invalid' };
  }
  if (!verifyPassword(password, person.password_hash)) return { ok: false, reason: 'invalid' };
  const mode = person.two_step_mode;
  if (!mode) return { ok: true, person };
  if (authCode === undefined || authCode.trim() === '') {
    if (mode === 'email' || mode === 'sms') deliverCode(ctx, person, 'login', mode);
    return { ok: false, reason: 'code_missing', mode };
  }
  if (authCode.length > 64 || !checkCode(ctx, person, 'login', mode, authCode, person.two_step_secret)) return { ok: false, reason: 'code_invalid', mode };
  return { ok: true, person };
}

/**
 * Fields of a login request: query string plus a form-encoded, JSON or multipart/form-data body
 * (the documents only say "POST variables"; curl -F and HTML forms send multipart).
 */
async function loginFields(req: FastifyRequest): Promise<Fields> {
  if (!req.isMultipart()) return fieldsOf(req);
  const fields: Fields = { ...((req.query ?? {}) as Fields) };
  for await (const part of req.parts()) {
    if (part.type === 'field') fields[part.fieldname] = typeof part.value === 'string' ? part.value : String(part.value);
    else part.file.resume();
  }
  return fields;
}

/** A scalar text field for v1 (anything else counts as absent). */
function v1Field(f: Fields, name: string): string | undefined {
  let v = f[name];
  if (Array.isArray(v) && v.length === 1) v = v[0];
  if (typeof v === 'string') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return String(v);
  return undefined;
}

function sessionLifetimeSeconds(ctx: ServerContext, person: PersonRow): number {
  return tokenLifetimeDays(ctx.policyOf(person.company_id)) * 86400;
}

export interface TokenResponse {
  access_token: string;
  expires_in: number;
  token_type: 'Bearer';
  refresh_token: string;
  scope: 'full';
}

/** A new access + refresh token pair (the documented token shape). `family` ties rotated pairs together. */
export function issueTokens(ctx: ServerContext, person: PersonRow, family?: string): TokenResponse {
  const fam = family ?? randomBytes(16).toString('hex');
  const refreshSeconds = sessionLifetimeSeconds(ctx, person);
  const accessSeconds = Math.min(ctx.config.accessTokenSeconds, refreshSeconds);
  const access = storeToken(ctx.db, ctx.clock, 'access', person.id, accessSeconds, fam);
  const refresh = storeToken(ctx.db, ctx.clock, 'refresh', person.id, refreshSeconds, fam);
  return { access_token: access, expires_in: accessSeconds, token_type: 'Bearer', refresh_token: refresh, scope: 'full' };
}

function oauthError(status: number, error: string, description?: string, extra: Record<string, unknown> = {}): ApiError {
  return new ApiError(status, description === undefined ? { error, ...extra } : { error, error_description: description, ...extra });
}

interface StoredToken {
  kind: string;
  person_id: number;
  expires: string;
  revoked: number;
  family: string | null;
}

export function registerAuthRoutes(r: Router, ctx: ServerContext): void {
  const v1Auth = async (req: FastifyRequest, reply: FastifyReply) => {
    const f = await loginFields(req);
    const outcome = passwordLogin(ctx, v1Field(f, 'username'), v1Field(f, 'password'), v1Field(f, 'auth_code'));
    if (outcome.ok) {
      const token = storeToken(ctx.db, ctx.clock, 'session', outcome.person.id, sessionLifetimeSeconds(ctx, outcome.person));
      return { success: true, session_token: token };
    }
    switch (outcome.reason) {
      case 'missing':
        return reply.status(400).send({ message: MSG_MISSING_CREDENTIALS, success: false });
      case 'invalid':
        return reply.status(401).send({ message: MSG_INVALID_CREDENTIALS, success: false });
      case 'code_missing':
        return reply.status(401).send({ message: MSG_MISSING_CODE, two_step_mode: outcome.mode, success: false });
      case 'code_invalid':
        return reply.status(401).send({ message: MSG_INVALID_CODE, two_step_mode: outcome.mode, success: false });
    }
  };
  r.post('/1/auth/', v1Auth);
  r.post('/1/auth', v1Auth);

  r.post('/oauth2/token', async (req, reply) => {
    reply.header('pragma', 'no-cache');
    const f = await loginFields(req);
    const grant = reqString(f, 'grant_type');
    const scope = optString(f, 'scope');
    if (scope !== undefined && scope !== '' && scope !== 'full') throw oauthError(400, 'invalid_scope', 'The only scope is: full');

    if (grant === 'password') {
      const username = reqString(f, 'username');
      const password = reqString(f, 'password');
      const authCode = optString(f, 'auth_code');
      const outcome = passwordLogin(ctx, username, password, authCode);
      if (outcome.ok) return issueTokens(ctx, outcome.person);
      switch (outcome.reason) {
        case 'missing':
        case 'invalid':
          throw oauthError(400, 'invalid_grant', MSG_INVALID_CREDENTIALS);
        case 'code_missing':
          throw oauthError(401, 'access_denied', MSG_MISSING_CODE, { message: MSG_MISSING_CODE, two_step_mode: outcome.mode, success: false });
        case 'code_invalid':
          throw oauthError(401, 'access_denied', MSG_INVALID_CODE, { message: MSG_INVALID_CODE, two_step_mode: outcome.mode, success: false });
      }
    }

    if (grant === 'refresh_token') {
      const token = reqString(f, 'refresh_token');
      const hash = sha256Hex(token);
      const row = stmt(ctx.db, `SELECT kind, person_id, expires, revoked, family FROM tokens WHERE token_hash = ?`).get(hash) as StoredToken | undefined;
      const invalid = () => oauthError(400, 'invalid_grant', 'Invalid refresh token');
      if (!row || row.kind !== 'refresh') throw invalid();
      if (row.revoked) {
        // A rotated refresh token presented again: someone kept a copy. End the whole lineage.
        if (row.family) stmt(ctx.db, `UPDATE tokens SET revoked = 1 WHERE family = ?`).run(row.family);
        throw invalid();
      }
      if (new Date(row.expires).getTime() <= ctx.clock().getTime()) throw invalid();
      const person = personById(ctx.db, row.person_id);
      if (!person) throw invalid();
      return ctx.db.transaction(() => {
        const rotated = stmt(ctx.db, `UPDATE tokens SET revoked = 1 WHERE token_hash = ? AND revoked = 0`).run(hash);
        if (rotated.changes !== 1) throw invalid();
        return issueTokens(ctx, person, row.family ?? undefined);
      })();
    }

    // EXTENSION: a registered machine logs in with its guid and security key (machines.ts).
    if (grant === 'machine') {
      const { person, family } = machineGrant(ctx, f);
      return issueTokens(ctx, person, family);
    }

    throw oauthError(400, 'unsupported_grant_type', `Unsupported grant type: ${grant}`);
  });

  r.post('/oauth2/revoke', async (req) => {
    const token = reqString(await loginFields(req), 'token');
    revokeToken(ctx.db, token);
    return OK;
  });
}
