// Password hashing (scrypt) and bearer/session tokens (random, stored only as SHA-256 hashes).
import { createHash, randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { type DB, stmt } from './db.js';
import type { PersonRow, Principal } from './context.js';
import { errors } from './errors.js';
import { apiTime, parseApiDatetime, type Clock } from './time.js';

const SCRYPT = { N: 16384, r: 8, p: 1, keylen: 32 };

export function hashPassword(password: string): string {
  const salt = randomBytes(16);
  const key = scryptSync(password, salt, SCRYPT.keylen, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p });
  return `scrypt$${SCRYPT.N}$${SCRYPT.r}$${SCRYPT.p}$${salt.toString('base64')}$${key.toString('base64')}`;
}

export function verifyPassword(password: string, stored: string): boolean {
  const parts = stored.split('$');
  if (parts.length !== 6 || parts[0] !== 'scrypt') return false;
  const [, n, r, p, salt, key] = parts as [string, string, string, string, string, string];
  const expected = Buffer.from(key, 'base64');
  const actual = scryptSync(password, Buffer.from(salt, 'base64'), expected.length, { N: Number(n), r: Number(r), p: Number(p) });
  return timingSafeEqual(expected, actual);
}

export function sha256Hex(s: string): string {
  return createHash('sha256').update(s).digest('hex');
}

/** A new random token (URL-safe, 64 characters of base64url ≈ 384 bits). */
export function newToken(): string {
  return randomBytes(48).toString('base64url');
}

export type TokenKind = 'session' | 'access' | 'refresh';

export function storeToken(db: DB, clock: Clock, kind: TokenKind, personId: number, lifetimeSeconds: number, family?: string): string {
  const token = newToken();
  const now = clock();
  stmt(db, 
    `INSERT INTO tokens (token_hash, kind, person_id, created, expires, family) VALUES (?, ?, ?, ?, ?, ?)`,
  ).run(sha256Hex(token), kind, personId, apiTime(now), new Date(now.getTime() + lifetimeSeconds * 1000).toISOString(), family ?? null);
  return token;
}

interface TokenRow {
  token_hash: string;
  kind: TokenKind;
  person_id: number;
  expires: string;
  revoked: number;
  family: string | null;
}

/** The live token row for `token` among `kinds`, or undefined (unknown, revoked or expired). */
export function lookupToken(db: DB, clock: Clock, token: string, kinds: TokenKind[]): TokenRow | undefined {
  const row = stmt(db, `SELECT * FROM tokens WHERE token_hash = ?`).get(sha256Hex(token)) as TokenRow | undefined;
  if (!row || row.revoked || !kinds.includes(row.kind)) return undefined;
  if (new Date(row.expires).getTime() <= clock().getTime()) return undefined;
  return row;
}

/**
 * The person a live token of `kinds` belongs to, or undefined: lookupToken() and personById()
 * in one query (this runs on every authenticated request).
 */
function personByToken(db: DB, clock: Clock, token: string, kinds: TokenKind[]): PersonRow | undefined {
  const row = stmt(
    db,
    `SELECT t.kind AS token_kind, t.expires AS token_expires, t.revoked AS token_revoked, p.*
     FROM tokens t JOIN persons p ON p.id = t.person_id WHERE t.token_hash = ?`,
  ).get(sha256Hex(token)) as (PersonRow & { token_kind: TokenKind; token_expires: string; token_revoked: number }) | undefined;
  if (!row || row.token_revoked || !kinds.includes(row.token_kind)) return undefined;
  if (new Date(row.token_expires).getTime() <= clock().getTime()) return undefined;
  const { token_kind: _kind, token_expires: _expires, token_revoked: _revoked, ...person } = row;
  return person;
}

export function revokeToken(db: DB, token: string): boolean {
  const hash = sha256Hex(token);
  const row = stmt(db, `SELECT family FROM tokens WHERE token_hash = ?`).get(hash) as { family: string | null } | undefined;
  if (!row) return false;
  db.transaction(() => {
    stmt(db, `UPDATE tokens SET revoked = 1 WHERE token_hash = ?`).run(hash);
    // Revoking a refresh token also revokes the access tokens it minted (RFC 7009 §2.1).
    if (row.family) stmt(db, `UPDATE tokens SET revoked = 1 WHERE family = ?`).run(row.family);
  })();
  return true;
}

export function personById(db: DB, id: number): PersonRow | undefined {
  return stmt(db, `SELECT * FROM persons WHERE id = ?`).get(id) as PersonRow | undefined;
}

export function personByLogin(db: DB, username: string): PersonRow | undefined {
  return stmt(db, `SELECT * FROM persons WHERE email = ? OR (username != '' AND username = ?)`).get(username, username) as PersonRow | undefined;
}

function firstString(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && typeof v[0] === 'string') return v[0];
  return undefined;
}

/**
 * Resolves the caller of a request: `Authorization: Bearer <access or v1 session token>`,
 * `Authorization: Basic` (004's HTTP Basic auth), or `?session_token=` (v1 style).
 * Throws 401 access_denied when no valid credential is present.
 */
export function resolvePrincipal(db: DB, clock: Clock, req: FastifyRequest): Principal {
  const auth = req.headers.authorization;
  if (auth) {
    const [scheme, value] = auth.split(/\s+/, 2);
    if (scheme?.toLowerCase() === 'bearer' && value) {
      const person = personByToken(db, clock, value, ['access', 'session']);
      if (person) return { person, via: 'bearer' };
      throw errors.accessDenied();
    }
    if (scheme?.toLowerCase() === 'basic' && value) {
      const decoded = Buffer.from(value, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon > 0) {
        const person = personByLogin(db, decoded.slice(0, colon));
        // Basic auth cannot carry a second factor: accounts with two-step authentication must use tokens.
        if (person && !person.two_step_mode && verifyPassword(decoded.slice(colon + 1), person.password_hash)) return { person, via: 'basic' };
      }
      throw errors.accessDenied();
    }
    throw errors.accessDenied();
  }
  const q = req.query as Record<string, unknown> | undefined;
  const sessionToken = firstString(q?.session_token);
  if (sessionToken) {
    const person = personByToken(db, clock, sessionToken, ['session', 'access']);
    if (person) return { person, via: 'session_token' };
  }
  throw errors.accessDenied();
}

function storedTime(s: string | null): number | undefined {
  if (!s) return undefined;
  const d = parseApiDatetime(s) ?? new Date(s);
  const t = d.getTime();
  return Number.isNaN(t) ? undefined : t;
}

/**
 * The license and trial checks of every authenticated /api/2 request: past the server's
 * license expiry → 403 license_expired; past the caller's organization `license_expires` →
 * 403 license_expired; past its `trial_until` → 403 trial_expired. System admins are exempt
 * from the organization checks (so they can extend a trial), not from the server's license.
 */
export function assertLicensed(db: DB, clock: Clock, licenseExpires: Date | undefined, person: PersonRow): void {
  const now = clock().getTime();
  if (licenseExpires && licenseExpires.getTime() <= now) throw errors.licenseExpired();
  if (person.system_admin) return;
  const org = stmt(db, `SELECT trial_until, license_expires FROM organizations WHERE id = ?`).get(person.company_id) as
    | { trial_until: string | null; license_expires: string | null }
    | undefined;
  if (!org) return;
  const license = storedTime(org.license_expires);
  if (license !== undefined && license <= now) throw errors.licenseExpired();
  const trial = storedTime(org.trial_until);
  if (trial !== undefined && trial <= now) throw errors.trialExpired();
}
