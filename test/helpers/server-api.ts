// Small helpers for the reference-server API tests: a manual clock, JSON calls, logins, the outbox.
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { TestServer } from './server.js';

export interface ManualClock {
  clock: () => Date;
  now(): number;
  advance(ms: number): void;
}

export function manualClock(start = Date.now()): ManualClock {
  let t = start;
  return {
    clock: () => new Date(t),
    now: () => t,
    advance: (ms) => {
      t += ms;
    },
  };
}

export interface Res {
  status: number;
  // Response bodies are checked field by field in the tests.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  body: any;
  headers: Record<string, string | string[] | undefined>;
}

export interface CallOptions {
  form?: Record<string, string>;
  json?: unknown;
  /** Raw body (sent as-is with `contentType`). */
  raw?: string;
  contentType?: string;
  token?: string;
  searchParams?: Record<string, string>;
  headers?: Record<string, string>;
}

export async function call(t: TestServer, method: 'GET' | 'POST' | 'PUT' | 'DELETE', url: string, o: CallOptions = {}): Promise<Res> {
  const headers: Record<string, string> = { ...o.headers };
  if (o.token) headers.authorization = `Bearer ${o.token}`;
  if (o.contentType) headers['content-type'] = o.contentType;
  const res = await t.http(url.replace(/^\//, ''), {
    method,
    headers,
    form: o.form,
    json: o.json,
    body: o.raw,
    searchParams: o.searchParams,
    responseType: 'text',
  });
  let body: unknown = res.body;
  try {
    body = JSON.parse(res.body);
  } catch {
    // not JSON: keep the text
  }
  return { status: res.statusCode, body, headers: res.headers };
}

export async function oauthLogin(t: TestServer, username: string, password: string, authCode?: string): Promise<Res> {
  const form: Record<string, string> = { grant_type: 'password', username, password };
  if (authCode !== undefined) form.auth_code = authCode;
  return call(t, 'POST', 'oauth2/token', { form });
}

/** An access token for the account (fails the test when login fails). */
export async function accessToken(t: TestServer, username: string, password: string): Promise<string> {
  const res = await oauthLogin(t, username, password);
  if (res.status !== 200) throw new Error(`login of ${username} failed: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.access_token as string;
}

export interface OutboxFile {
  id: number;
  file: string;
  channel: string;
  recipient: string;
  subject: string;
  body: string;
  code: string | null;
  created: string;
}

/** Every message in <dataDir>/outbox, oldest first. */
export function outbox(t: TestServer): OutboxFile[] {
  const dir = path.join(t.dataDir, 'outbox');
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => /^\d+-(email|sms)\.json$/.test(n))
    .map((n) => ({ id: Number(n.split('-')[0]), file: n, ...(JSON.parse(readFileSync(path.join(dir, n), 'utf8')) as Omit<OutboxFile, 'id' | 'file'>) }))
    .sort((a, b) => a.id - b.id);
}

/** The newest message to `recipient` (throws when there is none). */
export function lastMessageTo(t: TestServer, recipient: string): OutboxFile {
  const list = outbox(t).filter((m) => m.recipient === recipient);
  const last = list[list.length - 1];
  if (!last) throw new Error(`no message to ${recipient} in the outbox`);
  return last;
}

/** A code different from `code` (same length). */
export function wrongCode(code: string): string {
  return code.replace(/\d$/, (d) => String((Number(d) + 1) % 10));
}
