// Two-step authentication: TOTP for "authenticator" mode (RFC 6238: SHA1, 6 digits, 30 s,
// ±1 step, no replay), one-time 6-digit codes delivered through the outbox for "email" and
// "sms" (hashed in auth_codes, 10 minute expiry, single use), backup keys for recovery, and a
// per-person limit on wrong codes.
import { randomInt, timingSafeEqual } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Secret, TOTP } from 'otpauth';
import type { PersonRow, ServerContext } from './context.js';
import { sha256Hex } from './credentials.js';
import { apiTime } from './time.js';
import { stmt } from './db.js';

export const TWO_STEP_MODES = ['authenticator', 'email', 'sms'] as const;
export type TwoStepMode = (typeof TWO_STEP_MODES)[number];
export type CodePurpose = 'login' | 'enable' | 'disable';

export const TOTP_PERIOD_SECONDS = 30;
export const TOTP_DIGITS = 6;
/** Lifetime of an email/sms code. */
export const CODE_TTL_SECONDS = 600;
/** After this many wrong codes within the window, every further code is answered as wrong. */
export const MAX_FAILED_CODES = 5;
export const FAILED_CODE_WINDOW_SECONDS = 600;

export function isTwoStepMode(s: string): s is TwoStepMode {
  return (TWO_STEP_MODES as readonly string[]).includes(s);
}

/** A new base32 TOTP secret (160 bits, 32 characters). */
export function newTotpSecret(): string {
  return new Secret({ size: 20 }).base32;
}

/** A new base32 backup key (80 bits, 16 characters) for two-step recovery. */
export function newBackupKey(): string {
  return new Secret({ size: 10 }).base32;
}

function normalizeBackupKey(key: string): string {
  return key.replace(/[\s-]/g, '').toUpperCase();
}

/** Backup keys are stored only as hashes. */
export function hashBackupKey(key: string): string {
  return sha256Hex(`backup:${normalizeBackupKey(key)}`);
}

export function backupKeyMatches(storedHash: string, given: string): boolean {
  const a = Buffer.from(storedHash, 'utf8');
  const b = Buffer.from(hashBackupKey(given), 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The documented key URI: "otpauth://totp/<email>?secret=<key>". */
export function totpUri(email: string, key: string): string {
  return `otpauth://totp/${encodeURIComponent(email).replace(/%40/g, '@')}?secret=${key}`;
}

// ---- outbox ---------------------------------------------------------------------------------

export interface OutboxMessage {
  person_id: number | null;
  channel: 'email' | 'sms';
  recipient: string;
  subject: string;
  body: string;
  code?: string | null;
}

/**
 * "Sends" a message: a row in the outbox table and a JSON file
 * `<dataDir>/outbox/<id>-<channel>.json` ({channel, recipient, subject, body, code, created}).
 */
export function sendMessage(ctx: ServerContext, m: OutboxMessage): number {
  const created = apiTime(ctx.clock());
  const info = stmt(ctx.db, `INSERT INTO outbox (person_id, channel, recipient, subject, body, code, created) VALUES (?, ?, ?, ?, ?, ?, ?)`)
    .run(m.person_id, m.channel, m.recipient, m.subject, m.body, m.code ?? null, created);
  const id = Number(info.lastInsertRowid);
  const dir = path.join(ctx.config.dataDir, 'outbox');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = { channel: m.channel, recipient: m.recipient, subject: m.subject, body: m.body, code: m.code ?? null, created };
  writeFileSync(path.join(dir, `${id}-${m.channel}.json`), `${JSON.stringify(file, null, 2)}\n`, { mode: 0o600 });
  return id;
}

function codeHash(personId: number, purpose: CodePurpose, code: string): string {
  return sha256Hex(`code:${personId}:${purpose}:${code}`);
}

/**
 * Creates a one-time code for `purpose`, invalidates the person's earlier unused codes for the
 * same purpose, and delivers it by email (to the account email) or sms (to mobile_phone).
 */
export function deliverCode(ctx: ServerContext, person: PersonRow, purpose: CodePurpose, mode: 'email' | 'sms'): void {
  const code = String(randomInt(0, 1_000_000)).padStart(TOTP_DIGITS, '0');
  const now = ctx.clock();
  const expires = new Date(now.getTime() + CODE_TTL_SECONDS * 1000).toISOString();
  ctx.db.transaction(() => {
    stmt(ctx.db, `UPDATE auth_codes SET used = 1 WHERE person_id = ? AND purpose = ? AND used = 0`).run(person.id, purpose);
    stmt(ctx.db, `INSERT INTO auth_codes (person_id, purpose, mode, code_hash, expires) VALUES (?, ?, ?, ?, ?)`)
      .run(person.id, purpose, mode, codeHash(person.id, purpose, code), expires);
  })();
  const what = purpose === 'login' ? 'sign in' : purpose === 'enable' ? 'turn on two-step authentication' : 'turn off two-step authentication';
  const minutes = Math.round(CODE_TTL_SECONDS / 60);
  sendMessage(ctx, {
    person_id: person.id,
    channel: mode,
    recipient: mode === 'email' ? person.email : (person.mobile_phone ?? ''),
    subject: mode === 'email' ? 'Your AXIS CloudSync authentication code' : '',
    body: `Your AXIS CloudSync authentication code to ${what} is ${code}. It expires in ${minutes} minutes.`,
    code,
  });
}

// ---- verification and the wrong-code limit -----------------------------------------------------

interface TwoStepState {
  /** Times (ms) of recent wrong attempts, per limiter key. */
  failures: Map<string, number[]>;
  /** Last accepted TOTP time step, per person and purpose (no replay, RFC 6238 §5.2). */
  lastTotpStep: Map<string, number>;
}

const states = new WeakMap<ServerContext, TwoStepState>();

function stateOf(ctx: ServerContext): TwoStepState {
  let s = states.get(ctx);
  if (!s) {
    s = { failures: new Map(), lastTotpStep: new Map() };
    states.set(ctx, s);
  }
  return s;
}

function recentFailures(ctx: ServerContext, key: string): number[] {
  const now = ctx.clock().getTime();
  const s = stateOf(ctx);
  const list = (s.failures.get(key) ?? []).filter((t) => t > now - FAILED_CODE_WINDOW_SECONDS * 1000 && t <= now);
  if (list.length) s.failures.set(key, list);
  else s.failures.delete(key);
  return list;
}

/** Whether the limiter `key` (e.g. "code:<person id>") has too many recent wrong attempts. */
export function isLimited(ctx: ServerContext, key: string): boolean {
  return recentFailures(ctx, key).length >= MAX_FAILED_CODES;
}

export function recordFailure(ctx: ServerContext, key: string): void {
  const list = recentFailures(ctx, key);
  list.push(ctx.clock().getTime());
  stateOf(ctx).failures.set(key, list);
}

export function clearFailures(ctx: ServerContext, key: string): void {
  stateOf(ctx).failures.delete(key);
}

function totpMatches(ctx: ServerContext, person: PersonRow, purpose: CodePurpose, secret: string, code: string): boolean {
  let key: Secret;
  try {
    key = Secret.fromBase32(secret);
  } catch {
    return false;
  }
  const timestamp = ctx.clock().getTime();
  const delta = TOTP.validate({ token: code, secret: key, algorithm: 'SHA1', digits: TOTP_DIGITS, period: TOTP_PERIOD_SECONDS, timestamp, window: 1 });
  if (delta === null) return false;
  const step = TOTP.counter({ period: TOTP_PERIOD_SECONDS, timestamp }) + delta;
  const replayKey = `${person.id}:${purpose}`;
  const last = stateOf(ctx).lastTotpStep.get(replayKey);
  if (last !== undefined && step <= last) return false;
  stateOf(ctx).lastTotpStep.set(replayKey, step);
  return true;
}

function emailedCodeMatches(ctx: ServerContext, person: PersonRow, purpose: CodePurpose, mode: TwoStepMode, code: string): boolean {
  const rows = stmt(ctx.db, `SELECT id, code_hash, expires FROM auth_codes WHERE person_id = ? AND purpose = ? AND mode = ? AND used = 0`)
    .all(person.id, purpose, mode) as { id: number; code_hash: string; expires: string }[];
  const now = ctx.clock().getTime();
  const want = Buffer.from(codeHash(person.id, purpose, code), 'utf8');
  for (const row of rows) {
    if (new Date(row.expires).getTime() <= now) continue;
    const have = Buffer.from(row.code_hash, 'utf8');
    if (have.length === want.length && timingSafeEqual(have, want)) {
      const used = stmt(ctx.db, `UPDATE auth_codes SET used = 1 WHERE id = ? AND used = 0`).run(row.id);
      return used.changes === 1;
    }
  }
  return false;
}

/**
 * Checks a two-step code. `secret` is the TOTP secret for authenticator mode (the pending one
 * while enabling). Wrong codes are counted per person; past the limit every code is refused
 * until the window has passed. Returns whether the code is accepted.
 */
export function checkCode(ctx: ServerContext, person: PersonRow, purpose: CodePurpose, mode: TwoStepMode, code: string, secret: string | null): boolean {
  const limiter = `code:${person.id}`;
  if (isLimited(ctx, limiter)) return false;
  const clean = code.replace(/\s/g, '');
  let ok = false;
  if (/^\d{6}$/.test(clean)) {
    if (mode === 'authenticator') ok = !!secret && totpMatches(ctx, person, purpose, secret, clean);
    else ok = emailedCodeMatches(ctx, person, purpose, mode, clean);
  }
  if (ok) clearFailures(ctx, limiter);
  else recordFailure(ctx, limiter);
  return ok;
}

/** Pending two-step set-up kept in persons.two_step_pending_secret until step 2 completes. */
export interface PendingTwoStep {
  /** TOTP secret (authenticator mode only). */
  secret: string | null;
  /** Hash of the backup key handed out in step 1. */
  backup: string;
}

export function encodePending(p: PendingTwoStep): string {
  return JSON.stringify(p);
}

export function decodePending(s: string | null): PendingTwoStep | undefined {
  if (!s) return undefined;
  try {
    const v = JSON.parse(s) as Partial<PendingTwoStep>;
    if (typeof v.backup !== 'string') return undefined;
    return { secret: typeof v.secret === 'string' ? v.secret : null, backup: v.backup };
  } catch {
    return undefined;
  }
}
