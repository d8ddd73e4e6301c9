// The state store's group commit (StateStore.commitSoon): the writes of operations that finish
// in one turn of the event loop commit in one transaction, each in a savepoint of its own. A real
// SQLite file is read back through a second connection (what a crash would leave is what another
// connection sees: only committed transactions).
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { StateStore } from '../../src/engine/store.js';
import type { SyncedEntry } from '../../src/core/tree.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function open(): { store: StateStore; file: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'axis-store-group-'));
  dirs.push(dir);
  const file = path.join(dir, 'state.sqlite');
  const store = new StateStore(file);
  store.upsertRoot({ id: 1, name: 'Sync', type: 'sync', localPath: dir });
  return { store, file };
}

const entry = (p: string, remoteId: number): SyncedEntry => ({
  path: p,
  kind: 'file',
  remoteId,
  revisionId: remoteId * 10,
  sha256: 'a'.repeat(64),
  localFileId: String(1000 + remoteId),
  size: 1,
  mtime: 1,
});

const put = (store: StateStore, p: string, id: number) => () => store.applySyncedChange(1, { kind: 'put', entry: entry(p, id), replaces: null });

/** The synced paths another connection sees (committed rows only). */
function committedPaths(file: string): string[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return (db.prepare('SELECT path FROM synced_nodes WHERE root_id = 1 ORDER BY path').all() as { path: string }[]).map((r) => r.path);
  } finally {
    db.close();
  }
}

describe('StateStore.commitSoon', () => {
  it('commits the writes queued in one turn together, at the next turn, and resolves each once committed', async () => {
    const { store, file } = open();
    const a = store.commitSoon(put(store, 'a.txt', 1));
    const b = store.commitSoon(put(store, 'b.txt', 2));
    // Nothing is written before the group commits.
    expect(committedPaths(file)).toEqual([]);
    let resolvedEarly = false;
    void a.then(() => (resolvedEarly = committedPaths(file).length !== 2));
    await Promise.all([a, b]);
    expect(resolvedEarly).toBe(false);
    expect(committedPaths(file)).toEqual(['a.txt', 'b.txt']);
    expect([...store.syncedTree(1).keys()].sort()).toEqual(['a.txt', 'b.txt']);
    store.close();
  });

  it('rolls back and rejects only the write that throws; the others of its group commit', async () => {
    const { store, file } = open();
    const boom = new Error('disk says no');
    const ok1 = store.commitSoon(put(store, 'one.txt', 1));
    const bad = store.commitSoon(() => {
      put(store, 'half.txt', 2)();
      throw boom;
    });
    const ok2 = store.commitSoon(put(store, 'two.txt', 3));
    await expect(bad).rejects.toBe(boom);
    await Promise.all([ok1, ok2]);
    expect(committedPaths(file)).toEqual(['one.txt', 'two.txt']);
    store.close();
  });

  it('applies a group in queue order (a later write sees an earlier one)', async () => {
    const { store } = open();
    const first = store.commitSoon(put(store, 'x.txt', 1));
    // The same local file id on another path: the earlier entry's id is cleared (applySyncedChange).
    const second = store.commitSoon(() => store.applySyncedChange(1, { kind: 'put', entry: { ...entry('y.txt', 2), localFileId: '1001' }, replaces: null }));
    await Promise.all([first, second]);
    const tree = store.syncedTree(1);
    expect(tree.get('x.txt')?.localFileId).toBeNull();
    expect(tree.get('y.txt')?.localFileId).toBe('1001');
    store.close();
  });

  it('close() commits what is still queued', async () => {
    const { store, file } = open();
    const p = store.commitSoon(put(store, 'late.txt', 1));
    store.close();
    await p;
    expect(committedPaths(file)).toEqual(['late.txt']);
  });
});
