// The reference server's ancestor chain (one recursive query) and statement cache, on a real
// SQLite database: outermost first, scoped to one root, and a corrupt parent chain (dangling or
// cyclic) is an error rather than a wrong answer or an endless loop.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openDatabase, stmt, type DB } from '../../src/server/db.js';
import { ancestorsOf, getNode } from '../../src/server/files/tree.js';

let dir: string;
let db: DB;

beforeAll(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'axis-tree-'));
  db = openDatabase(dir);
  db.exec(`
    INSERT INTO organizations (id, name, slug, created, policy) VALUES (1, 'O', 'o', 'x', '{}');
    INSERT INTO roots (id, company_id, name, root_type, created) VALUES (1, 1, 'R', 'sync', 'x'), (2, 1, 'S', 'share', 'x');
  `);
});

afterAll(() => {
  db.close();
  rmSync(dir, { recursive: true, force: true });
});

function node(root: number, parent: number | null, name: string, kind: 'file' | 'folder' = 'folder'): number {
  return Number(
    db
      .prepare(`INSERT INTO nodes (root_id, parent_id, name, name_key, kind, created, modified) VALUES (?, ?, ?, ?, ?, 'x', 'x')`)
      .run(root, parent, name, name, kind).lastInsertRowid,
  );
}

describe('ancestorsOf', () => {
  it('lists the folders above a node, outermost first; none at the top', () => {
    const a = node(1, null, 'a');
    const b = node(1, a, 'b');
    const c = node(1, b, 'c');
    const f = node(1, c, 'f.txt', 'file');
    expect(ancestorsOf(db, getNode(db, 1, f)!).map((n) => n.name)).toEqual(['a', 'b', 'c']);
    expect(ancestorsOf(db, getNode(db, 1, b)!).map((n) => n.id)).toEqual([a]);
    expect(ancestorsOf(db, getNode(db, 1, a)!)).toEqual([]);
    // The rows are the full node views (what the lock checks read).
    expect(ancestorsOf(db, getNode(db, 1, f)!)[2]).toEqual(getNode(db, 1, c));
  });

  it('throws on a parent missing from the root or a cyclic chain', () => {
    const other = node(2, null, 'elsewhere');
    expect(() => ancestorsOf(db, { root_id: 1, parent_id: other })).toThrow(`dangling parent ${other}`);
    const top = node(1, null, 'top');
    // A parent in another root is no parent in this one.
    db.prepare(`UPDATE nodes SET parent_id = ? WHERE id = ?`).run(other, top);
    const below = node(1, top, 'below');
    expect(() => ancestorsOf(db, getNode(db, 1, below)!)).toThrow(`dangling parent ${other}`);
    const x = node(1, null, 'x');
    const y = node(1, x, 'y');
    db.prepare(`UPDATE nodes SET parent_id = ? WHERE id = ?`).run(y, x);
    expect(() => ancestorsOf(db, getNode(db, 1, y)!)).toThrow(/too deep or cyclic/);
  });
});

describe('stmt', () => {
  it('prepares a statement once per database and SQL text', () => {
    const sql = `SELECT COUNT(*) AS n FROM nodes WHERE root_id = ?`;
    expect(stmt(db, sql)).toBe(stmt(db, sql));
    expect(stmt(db, `${sql} AND kind = 'file'`)).not.toBe(stmt(db, sql));
    expect((stmt(db, sql).get(2) as { n: number }).n).toBe(1);
    const other = openDatabase(mkdtempSync(path.join(os.tmpdir(), 'axis-tree-other-')));
    try {
      expect(stmt(other, sql)).not.toBe(stmt(db, sql));
      expect((stmt(other, sql).get(2) as { n: number }).n).toBe(0);
    } finally {
      other.close();
    }
  });
});
