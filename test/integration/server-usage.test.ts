// The running space usage counters of the reference server (root_usage, person_usage,
// org_usage, kept by triggers: src/server/db.ts). After a mixed sequence of uploads, new
// revisions, moves, deletes, person deletion and (simulated) copies and restores, every
// counter equals the sum recomputed from the node rows; the quotas still refuse as
// documented; and the migration fills the counters of an existing data directory.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Got } from 'got';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOrganization } from '../../src/server/accounts.js';
import type { PersonRow } from '../../src/server/context.js';
import { openDatabase, SCHEMA_VERSION, type DB } from '../../src/server/db.js';
import { filesClient, json, newPerson, setPolicy, upload, type Json } from '../helpers/files.js';
import { accessToken, call } from '../helpers/server-api.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD, startTestServer, type TestServer } from '../helpers/server.js';

let t: TestServer;

beforeAll(async () => {
  t = await startTestServer();
});

afterAll(async () => {
  await t?.stop();
});

interface Usage {
  roots: Record<number, number>;
  persons: Record<number, number>;
  orgs: Record<number, number>;
}

/** The sums the counters stand for, computed from the node rows (non-zero entries only). */
function recomputed(db: DB): Usage {
  const rows = (sql: string) => db.prepare(sql).all() as { k: number; n: number }[];
  const toMap = (list: { k: number; n: number }[]) => Object.fromEntries(list.filter((r) => r.n !== 0).map((r) => [r.k, r.n]));
  return {
    roots: toMap(rows(`SELECT root_id AS k, SUM(size) AS n FROM nodes WHERE kind = 'file' AND is_deleted = 0 GROUP BY root_id`)),
    persons: toMap(
      rows(
        `SELECT r.person_id AS k, SUM(n.size) AS n FROM nodes n JOIN roots r ON r.id = n.root_id
         WHERE r.person_id IS NOT NULL AND r.deleted = 0 AND n.kind = 'file' AND n.is_deleted = 0 GROUP BY r.person_id`,
      ),
    ),
    orgs: toMap(
      rows(
        `SELECT r.company_id AS k, SUM(n.size) AS n FROM nodes n JOIN roots r ON r.id = n.root_id
         WHERE r.deleted = 0 AND n.kind = 'file' AND n.is_deleted = 0 GROUP BY r.company_id`,
      ),
    ),
  };
}

/** The counters (rows at 0 left out: a missing row means 0). */
function counters(db: DB): Usage {
  const toMap = (sql: string) => Object.fromEntries((db.prepare(sql).all() as { k: number; n: number }[]).filter((r) => r.n !== 0).map((r) => [r.k, r.n]));
  return {
    roots: toMap(`SELECT root_id AS k, bytes AS n FROM root_usage`),
    persons: toMap(`SELECT person_id AS k, bytes AS n FROM person_usage`),
    orgs: toMap(`SELECT company_id AS k, bytes AS n FROM org_usage`),
  };
}

function expectConsistent(): Usage {
  const db = t.server.ctx.db;
  const want = recomputed(db);
  expect(counters(db)).toEqual(want);
  return want;
}

async function mkdir(api: Got, where: string, name: string): Promise<Json> {
  const res = await api.post(`${where}/create_folder`, { form: { name } });
  expect(res.statusCode, res.body).toBe(200);
  return json(res);
}

async function put(api: Got, where: string, bytes: number, name: string): Promise<Json> {
  const res = await upload(api, `${where}/upload`, Buffer.alloc(bytes, 7), { filename: name });
  expect(res.statusCode, res.body).toBe(200);
  return json(res);
}

async function revise(api: Got, rootId: number, file: Json, bytes: number): Promise<Json> {
  const res = await upload(api, `${rootId}/${file.id}/upload`, Buffer.alloc(bytes, 9), { fields: { base_revision_id: String(file.revision_id) } });
  expect(res.statusCode, res.body).toBe(200);
  return json(res);
}

describe('space usage counters', () => {
  it('equal the recomputed sums after uploads, revisions, moves, copies, deletes, restores and person deletion', async () => {
    const db = t.server.ctx.db;
    const orgId = createOrganization(t.server.ctx, { name: 'Usage Org', slug: 'usage-org', parent_id: null }).id;
    const alice = newPerson(t, { company_id: orgId });
    const bob = newPerson(t, { company_id: orgId });
    const a = filesClient(t, alice);
    const b = filesClient(t, bob);
    const ra = alice.root_id!;
    const rb = bob.root_id!;

    // Uploads at the top and in nested folders.
    const docs = await mkdir(a, `${ra}`, 'docs');
    const deep = await mkdir(a, `${ra}/folder/${docs.id}`, 'deep');
    const f1 = await put(a, `${ra}`, 1000, 'one.bin');
    const f2 = await put(a, `${ra}/folder/${docs.id}`, 2000, 'two.bin');
    const f3 = await put(a, `${ra}/folder/${deep.id}`, 3000, 'three.bin');
    const empty = await put(a, `${ra}`, 0, 'empty.bin');
    await put(b, `${rb}`, 500, 'bob.bin');
    let u = expectConsistent();
    expect(u.roots[ra]).toBe(6000);
    expect(u.persons[alice.id]).toBe(6000);
    expect(u.persons[bob.id]).toBe(500);
    expect(u.orgs[orgId]).toBe(6500);

    // New revisions: larger, smaller, and of the empty file.
    const f1b = await revise(a, ra, f1, 1500);
    await revise(a, ra, f1b, 200);
    await revise(a, ra, empty, 50);
    u = expectConsistent();
    expect(u.roots[ra]).toBe(200 + 2000 + 3000 + 50);

    // A move and a rename change nothing.
    expect((await a.post(`${ra}/${f2.id}/move`, { form: { to_folder_id: String(deep.id) } })).statusCode).toBe(200);
    expect((await a.post(`${ra}/${f3.id}/rename`, { form: { name: 'drei.bin' } })).statusCode).toBe(200);
    expect(expectConsistent().roots[ra]).toBe(5250);

    // Deleting a file, then a folder with everything below it.
    expect((await a.post(`${ra}/${f1.id}/delete`)).statusCode).toBe(200);
    expect(expectConsistent().roots[ra]).toBe(5050);
    expect((await a.post(`${ra}/folder/${docs.id}/delete`)).statusCode).toBe(200);
    u = expectConsistent();
    expect(u.roots[ra]).toBe(50);
    expect(u.orgs[orgId]).toBe(550);

    // A file uploaded again under a deleted file's name counts once.
    await put(a, `${ra}`, 700, 'one.bin');
    expect(expectConsistent().roots[ra]).toBe(750);

    // The server has no copy or restore endpoint; what they would write goes through the same
    // triggers: a copy is a new live node row with a size, a restore clears is_deleted.
    const copy = db
      .prepare(
        `INSERT INTO nodes (root_id, parent_id, name, name_key, kind, created, modified, revision_id, size, seq)
         SELECT root_id, NULL, 'copy.bin', 'copy.bin', 'file', created, modified, revision_id, size, 0 FROM nodes WHERE id = ? RETURNING id`,
      )
      .get(f3.id) as { id: number };
    expect(expectConsistent().roots[ra]).toBe(3750);
    db.prepare(`UPDATE nodes SET is_deleted = 0 WHERE id IN (?, ?)`).run(docs.id, f2.id);
    expect(expectConsistent().roots[ra]).toBe(5750);
    db.prepare(`DELETE FROM nodes WHERE id = ?`).run(copy.id);
    expect(expectConsistent().roots[ra]).toBe(2750);
    // A node moved to another root (no endpoint does this either) moves its bytes.
    db.prepare(`UPDATE nodes SET root_id = ?, parent_id = NULL WHERE id = ?`).run(rb, f2.id);
    u = expectConsistent();
    expect(u.roots[ra]).toBe(750);
    expect(u.persons[bob.id]).toBe(2500);

    // A root moved to another organization takes its usage along (what an admin tool does).
    const other = createOrganization(t.server.ctx, { name: 'Other Org', slug: 'usage-other', parent_id: null }).id;
    db.prepare(`UPDATE roots SET company_id = ? WHERE id = ?`).run(other, rb);
    u = expectConsistent();
    expect(u.orgs[other]).toBe(2500);
    expect(u.orgs[orgId]).toBe(750);
    db.prepare(`UPDATE roots SET company_id = ? WHERE id = ?`).run(orgId, rb);
    expectConsistent();

    // Deleting a person: removed roots stop counting for the organization, kept ones lose their owner.
    const token = await accessToken(t, ADMIN_EMAIL, ADMIN_PASSWORD);
    const del = await call(t, 'POST', `api/2/person/${bob.id}/delete`, { token, form: { remove_user_files: 'true' } });
    expect(del.status, JSON.stringify(del.body)).toBe(200);
    u = expectConsistent();
    expect(u.orgs[orgId]).toBe(750);
    expect(u.persons[bob.id]).toBeUndefined();
    expect(u.roots[rb]).toBe(2500);
    const keep = await call(t, 'POST', `api/2/person/${alice.id}/delete`, { token, form: { remove_user_files: 'false' } });
    expect(keep.status).toBe(200);
    u = expectConsistent();
    expect(u.orgs[orgId]).toBe(750);
    expect(u.persons[alice.id]).toBeUndefined();
    // A deleted root brought back counts again.
    db.prepare(`UPDATE roots SET deleted = 0 WHERE id = ?`).run(rb);
    expect(expectConsistent().orgs[orgId]).toBe(3250);
  });

  it('are what space_used and space_usage report', async () => {
    const person = newPerson(t);
    const p = filesClient(t, person);
    const root = person.root_id!;
    await put(p, `${root}`, 1234, 'x.bin');
    const dir = await mkdir(p, `${root}`, 'd');
    await put(p, `${root}/folder/${dir.id}`, 766, 'y.bin');
    expect(json(await p.get(`${root}`, { searchParams: { include_children: 'false' } })).space_used).toBe(2000);
    const token = await accessToken(t, ADMIN_EMAIL, ADMIN_PASSWORD);
    const res = await call(t, 'GET', `api/2/person/${person.id}`, { token });
    expect(res.body).toMatchObject({ space_usage: 2000, space_usage_formatted: '1.95k' });
    expect((res.body.roots as Json[]).find((r) => r.id === root)).toMatchObject({ space_used: 2000 });
    expectConsistent();
  });
});

describe('quotas with the counters', () => {
  let org: number;
  let person: PersonRow;
  let p: Got;
  let root: number;

  beforeAll(() => {
    org = createOrganization(t.server.ctx, { name: 'Quota Org', slug: 'usage-quota', parent_id: null }).id;
    person = newPerson(t, { company_id: org });
    p = filesClient(t, person);
    root = person.root_id!;
  });

  it("the organization's space_quota refuses with 409 policy_error until space is freed", async () => {
    const other = newPerson(t, { company_id: org });
    await put(filesClient(t, other), `${other.root_id}`, 400, 'theirs.bin');
    setPolicy(t, org, { space_quota: 1000 });
    const mine = await put(p, `${root}`, 600, 'mine.bin');
    const over = await upload(p, `${root}/upload`, Buffer.alloc(1), { filename: 'over.bin' });
    expect(over.statusCode).toBe(409);
    expect(json(over)).toEqual({ error: 'policy_error', error_description: "The organization's space quota would be exceeded." });
    // A new revision counts only by what it adds.
    const rev = await upload(p, `${root}/${mine.id}/upload`, Buffer.alloc(601), { fields: { base_revision_id: String(mine.revision_id) } });
    expect(rev.statusCode).toBe(409);
    expect(json(rev).error).toBe('policy_error');
    const same = await revise(p, root, mine, 600);
    // Freeing space in another root of the organization lets the upload through.
    const theirs = (json(await filesClient(t, other).get(`${other.root_id}/children`)).results as Json[])[0]!;
    expect((await filesClient(t, other).post(`${other.root_id}/${theirs.id}/delete`)).statusCode).toBe(200);
    await put(p, `${root}`, 400, 'now-fits.bin');
    expect((await upload(p, `${root}/upload`, Buffer.alloc(1), { filename: 'over.bin' })).statusCode).toBe(409);
    expect(same.size).toBe(600);
    expectConsistent();
    setPolicy(t, org, { space_quota: 0 });
  });

  it("the account's space_quota refuses with 409 policy_error", async () => {
    t.server.ctx.db.prepare(`UPDATE persons SET space_quota = ? WHERE id = ?`).run(1500, person.id);
    // 1000 bytes are already used (mine.bin and now-fits.bin).
    const over = await upload(p, `${root}/upload`, Buffer.alloc(501), { filename: 'big.bin' });
    expect(over.statusCode).toBe(409);
    expect(json(over)).toEqual({ error: 'policy_error', error_description: "The account's space quota would be exceeded." });
    await put(p, `${root}`, 500, 'exact.bin');
    // Used up: refused before a byte is stored, even an empty file.
    t.server.ctx.db.prepare(`UPDATE persons SET space_quota = ? WHERE id = ?`).run(1400, person.id);
    const used = await upload(p, `${root}/upload`, Buffer.alloc(0), { filename: 'zero.bin' });
    expect(used.statusCode).toBe(409);
    expect(json(used).error).toBe('policy_error');
    expectConsistent();
  });
});

describe('space_available (extension of GET /api/2/person)', () => {
  it('is the tighter of what is left of the account quota and of the organization quota, never below 0', async () => {
    const org = createOrganization(t.server.ctx, { name: 'Avail Org', slug: 'usage-avail', parent_id: null }).id;
    const person = newPerson(t, { company_id: org });
    const other = newPerson(t, { company_id: org });
    const me = async () => (await call(t, 'GET', 'api/2/person', { token: await accessToken(t, person.email, 'user-password-1') })).body;
    await put(filesClient(t, other), `${other.root_id}`, 300, 'theirs.bin');
    await put(filesClient(t, person), `${person.root_id}`, 200, 'mine.bin');
    setPolicy(t, org, { space_quota: 1000 });
    expect((await me()).space_available).toBe(500); // organization: 1000 - 300 - 200
    t.server.ctx.db.prepare(`UPDATE persons SET space_quota = ? WHERE id = ?`).run(350, person.id);
    expect((await me()).space_available).toBe(150); // account: 350 - 200
    t.server.ctx.db.prepare(`UPDATE persons SET space_quota = ? WHERE id = ?`).run(100, person.id);
    expect((await me()).space_available).toBe(0); // over the account quota already
    // Another person's view of this person does not carry it.
    const admin = await accessToken(t, ADMIN_EMAIL, ADMIN_PASSWORD);
    expect((await call(t, 'GET', `api/2/person/${person.id}`, { token: admin })).body).not.toHaveProperty('space_available');
    setPolicy(t, org, { space_quota: 0 });
  });
});

describe('migration', () => {
  it('fills the counters from the rows of a data directory written before them', () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'axis-usage-migration-'));
    try {
      let db = openDatabase(dir);
      // Back to the schema before the counters (version 3), then rows written without them.
      db.exec(`
        DROP TRIGGER nodes_usage_insert; DROP TRIGGER nodes_usage_delete; DROP TRIGGER nodes_usage_update;
        DROP TRIGGER roots_usage_update; DROP TRIGGER roots_usage_delete;
        DROP TABLE root_usage; DROP TABLE org_usage; DROP TABLE person_usage;
        INSERT INTO organizations (id, name, slug, created, policy) VALUES (1, 'A', 'a', 'x', '{}'), (2, 'B', 'b', 'x', '{}');
        INSERT INTO persons (id, company_id, email, password_hash, created) VALUES (1, 1, 'p1@x', 'h', 'x'), (2, 2, 'p2@x', 'h', 'x');
        INSERT INTO roots (id, company_id, person_id, name, root_type, deleted, created) VALUES
          (1, 1, 1, 'Files', 'sync', 0, 'x'), (2, 1, NULL, 'Share', 'share', 0, 'x'), (3, 1, 1, 'Old', 'backup', 1, 'x'), (4, 2, 2, 'Files', 'sync', 0, 'x');
        INSERT INTO nodes (root_id, parent_id, name, name_key, kind, is_deleted, created, modified, size) VALUES
          (1, NULL, 'a', 'a', 'file', 0, 'x', 'x', 10), (1, NULL, 'b', 'b', 'file', 1, 'x', 'x', 20), (1, NULL, 'c', 'c', 'folder', 0, 'x', 'x', 0),
          (2, NULL, 'a', 'a', 'file', 0, 'x', 'x', 40), (3, NULL, 'a', 'a', 'file', 0, 'x', 'x', 80), (4, NULL, 'a', 'a', 'file', 0, 'x', 'x', 160);
      `);
      db.pragma(`user_version = ${SCHEMA_VERSION - 1}`);
      db.close();
      db = openDatabase(dir);
      try {
        expect(db.pragma('user_version', { simple: true })).toBe(SCHEMA_VERSION);
        expect(counters(db)).toEqual({ roots: { 1: 10, 2: 40, 3: 80, 4: 160 }, persons: { 1: 10, 2: 160 }, orgs: { 1: 50, 2: 160 } });
        expect(counters(db)).toEqual(recomputed(db));
        // ...and kept from then on.
        db.prepare(`UPDATE nodes SET is_deleted = 0 WHERE name = 'b'`).run();
        db.prepare(`UPDATE roots SET deleted = 0 WHERE id = 3`).run();
        expect(counters(db)).toEqual({ roots: { 1: 30, 2: 40, 3: 80, 4: 160 }, persons: { 1: 110, 2: 160 }, orgs: { 1: 150, 2: 160 } });
      } finally {
        db.close();
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
