// Helpers shared by the file system API tests: authenticated clients, uploads, JSON bodies.
import { createHash } from 'node:crypto';
import type { Got, Response } from 'got';
import { createPerson } from '../../src/server/accounts.js';
import type { PersonRow, RootRow } from '../../src/server/context.js';
import { storeToken } from '../../src/server/credentials.js';
import type { TestServer } from './server.js';

export type Json = Record<string, unknown> & { error?: string; error_description?: string };

export function json(res: Response<string>): Json {
  return JSON.parse(res.body) as Json;
}

export function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

export function basicAuth(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;
}

/**
 * A got instance for /api/2/files as `person`, authenticated with a bearer access token
 * minted by the server's own token store (HTTP Basic costs a scrypt per request).
 */
export function filesClient(t: TestServer, person: PersonRow): Got {
  const token = storeToken(t.server.ctx.db, t.server.ctx.clock, 'access', person.id, 24 * 3600);
  return t.http.extend({ prefixUrl: `${t.url}/api/2/files`, headers: { authorization: `Bearer ${token}` } });
}

export function personByEmail(t: TestServer, email: string): PersonRow {
  return t.server.ctx.db.prepare(`SELECT * FROM persons WHERE email = ?`).get(email) as PersonRow;
}

let counter = 0;
export function newPerson(t: TestServer, opts: { company_id?: number; site_admin?: boolean; space_quota?: number | null } = {}): PersonRow {
  counter++;
  return createPerson(t.server.ctx, {
    company_id: opts.company_id ?? t.server.admin.defaultOrganizationId,
    email: `user${counter}-${Date.now()}@example.test`,
    password: 'user-password-1',
    site_admin: opts.site_admin,
    space_quota: opts.space_quota,
  });
}

export function rootOf(t: TestServer, person: PersonRow): RootRow {
  return t.server.ctx.db.prepare(`SELECT * FROM roots WHERE id = ?`).get(person.root_id) as RootRow;
}

export interface UploadOptions {
  filename?: string;
  /** Fields sent before the file part, in this order. */
  fields?: Record<string, string>;
  /** Fields sent after the file part. */
  after?: Record<string, string>;
}

/** POST a multipart upload to `path` (relative to /api/2/files). */
export function upload(api: Got, path: string, content: Buffer | string, opts: UploadOptions = {}): Promise<Response<string>> {
  const form = new FormData();
  for (const [k, v] of Object.entries(opts.fields ?? {})) form.append(k, v);
  form.append('file', new Blob([typeof content === 'string' ? Buffer.from(content) : content]), opts.filename ?? 'file.txt');
  for (const [k, v] of Object.entries(opts.after ?? {})) form.append(k, v);
  return api.post(path, { body: form });
}

/** Live and deleted node rows of a root (to prove that a rejected request changed nothing). */
export function snapshot(t: TestServer, rootId: number): unknown[] {
  return t.server.ctx.db.prepare(`SELECT id, parent_id, name, is_deleted, is_locked, revision_id, seq FROM nodes WHERE root_id = ? ORDER BY id`).all(rootId);
}

export function revisionCount(t: TestServer): number {
  return (t.server.ctx.db.prepare(`SELECT COUNT(*) AS c FROM revisions`).get() as { c: number }).c;
}

export function setPolicy(t: TestServer, companyId: number, patch: Record<string, unknown>): void {
  const db = t.server.ctx.db;
  const row = db.prepare(`SELECT policy FROM organizations WHERE id = ?`).get(companyId) as { policy: string };
  db.prepare(`UPDATE organizations SET policy = ? WHERE id = ?`).run(JSON.stringify({ ...JSON.parse(row.policy), ...patch }), companyId);
}
