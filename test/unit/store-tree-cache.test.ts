// The state store keeps each root's remote and synced trees in memory and brings them up to date
// with every change it applies (remote: patched for plain file changes, built again from its
// in-memory rows otherwise). What it returns must always be exactly what a store reading the
// same database afresh returns. Random changes (files and folders, moves, renames, deletes,
// invalid names, path clashes, orphans, reused local file ids) are applied through one store
// while its trees are read between pages; after each page a second store opened on the file
// (no copies in memory) must agree.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { SyncedChange } from '../../src/core/operations.js';
import type { EntryKind, SyncedEntry } from '../../src/core/tree.js';
import { StateStore, type RemoteChange, type RemoteTreeResult } from '../../src/engine/store.js';
import { Rng } from '../helpers/random-fs.js';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempFile(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'axis-store-cache-'));
  dirs.push(dir);
  return path.join(dir, 'state.sqlite');
}

const NAMES = ['a', 'b', 'c.txt', 'C.txt', 'd', 'caf\u00e9', 'cafe\u0301', 'e.doc', '..', 'x/y', '', 'f'];

const sortedRemote = (r: RemoteTreeResult) => ({
  tree: [...r.tree.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0)),
  rejected: [...r.rejected].sort((a, b) => a.id - b.id || (a.name < b.name ? -1 : 1) || (a.reason < b.reason ? -1 : 1)),
});
const sortedSynced = (m: Map<string, SyncedEntry>) => [...m.values()].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));

describe('StateStore tree copies in memory', () => {
  it('remoteTree after random change pages equals a fresh read of the database (200 seeds)', () => {
    let patched = 0;
    for (let seed = 1; seed <= 200; seed++) {
      const file = tempFile();
      const store = new StateStore(file);
      store.upsertRoot({ id: 1, name: 'Sync', type: 'sync', localPath: '/x' });
      const g = new Rng(seed);
      const r = () => g.next();
      const pick = <T,>(list: readonly T[]): T => g.pick(list);
      // Seeds above 100 are mostly well-formed (valid names, known parents): the patched path.
      const odd = seed <= 100 ? 1 : 0.1;
      const kinds = new Map<number, EntryKind>();
      let cursor = 0;
      for (let page = 0; page < 30; page++) {
        const changes: RemoteChange[] = [];
        const n = 1 + Math.floor(r() * 4);
        for (let i = 0; i < n; i++) {
          const id = 1 + Math.floor(r() * 30);
          const folders = [...kinds].filter(([, k]) => k === 'folder').map(([i2]) => i2);
          if (kinds.has(id) && r() < 0.2) {
            changes.push({ id, parentId: null, name: 'gone', kind: kinds.get(id)!, isDeleted: true, revisionId: null, size: 0, sha256: null, modified: null });
            kinds.delete(id);
            continue;
          }
          // Mostly files under existing folders (what a busy feed carries), sometimes anything.
          const kind: EntryKind = kinds.get(id) ?? (r() < 0.25 ? 'folder' : 'file');
          const parentId = r() < 0.15 * odd || folders.length === 0 ? (r() < 0.5 ? null : 1 + Math.floor(r() * 30)) : pick(folders);
          const name = r() < 1 - 0.15 * odd ? `${pick(NAMES.slice(0, 8))}${String(id)}` : pick(NAMES);
          changes.push({
            id,
            parentId: parentId === id ? null : parentId,
            name,
            kind: r() < 0.05 * odd ? (kind === 'file' ? 'folder' : 'file') : kind,
            isDeleted: false,
            revisionId: kind === 'file' ? 100 + page : null,
            size: kind === 'file' ? page : 0,
            sha256: kind === 'file' ? String(page % 10).repeat(64) : null,
            modified: '2026-12-06T10:00:00',
          });
          kinds.set(id, changes[changes.length - 1]!.kind);
        }
        const before = store.remoteTree(1);
        store.applyRemoteChanges(1, changes, ++cursor);
        const mine = store.remoteTree(1);
        const fresh = new StateStore(file);
        try {
          expect(sortedRemote(mine), `seed ${seed} page ${page}`).toEqual(sortedRemote(fresh.remoteTree(1)));
        } finally {
          fresh.close();
        }
        // (Copies: what the caller got before is not changed by later changes.)
        expect(before.tree).not.toBe(mine.tree);
        if (before.rejected.length === 0 && mine.rejected.length === 0) patched++;
      }
      store.close();
    }
    // Pages where the patching path could be taken (no rejected node before or after) were many.
    expect(patched).toBeGreaterThan(300);
  });

  it('syncedTree after random changes (puts, replaces, moves, removes, reused file ids) equals a fresh read', () => {
    for (let seed = 1; seed <= 100; seed++) {
      const file = tempFile();
      const store = new StateStore(file);
      store.upsertRoot({ id: 1, name: 'Sync', type: 'sync', localPath: '/x' });
      const g = new Rng(seed);
      const r = () => g.next();
      const paths = ['a', 'a/x', 'a/y', 'a/x/1', 'b', 'b/x', 'b/x/1', 'c', 'c/z'];
      const pick = <T,>(list: readonly T[]): T => g.pick(list);
      for (let step = 0; step < 40; step++) {
        const p = pick(paths);
        const kind: EntryKind = p.split('/').length < 3 && r() < 0.5 ? 'folder' : 'file';
        const entry: SyncedEntry = {
          path: p,
          kind,
          remoteId: 1 + Math.floor(r() * 50),
          revisionId: kind === 'file' ? step : null,
          sha256: kind === 'file' ? String(step % 10).repeat(64) : null,
          localFileId: r() < 0.8 ? String(Math.floor(r() * 6)) : null,
          size: step,
          mtime: r() < 0.5 ? step * 1000 : null,
        };
        const x = r();
        const change: SyncedChange =
          x < 0.5
            ? { kind: 'put', entry, replaces: null }
            : x < 0.65
              ? { kind: 'put', entry, replaces: pick(paths) }
              : x < 0.8
                ? { kind: 'remove', path: p }
                : x < 0.9
                  ? { kind: 'move', from: pick(['a', 'b', 'c']), to: pick(['d', 'e', 'a2']) }
                  : { kind: 'none' };
        store.syncedTree(1);
        try {
          store.applySyncedChange(1, change);
        } catch {
          // (A move onto a taken path breaks the primary key: rolled back, and the copy is read again.)
        }
        const fresh = new StateStore(file);
        try {
          expect(sortedSynced(store.syncedTree(1)), `seed ${seed} step ${step}`).toEqual(sortedSynced(fresh.syncedTree(1)));
        } finally {
          fresh.close();
        }
      }
      store.close();
    }
  });

  it('a write by another connection (the CLI on the same state file) is seen', () => {
    const file = tempFile();
    const a = new StateStore(file);
    a.upsertRoot({ id: 1, name: 'Sync', type: 'sync', localPath: '/x' });
    const entry: SyncedEntry = { path: 'f', kind: 'file', remoteId: 1, revisionId: 1, sha256: '0'.repeat(64), localFileId: '7', size: 1, mtime: 1 };
    expect(a.syncedTree(1).size).toBe(0);
    expect(a.remoteTree(1).tree.size).toBe(0);
    const b = new StateStore(file);
    b.applySyncedChange(1, { kind: 'put', entry, replaces: null });
    b.applyRemoteChanges(1, [{ id: 1, parentId: null, name: 'f', kind: 'file', isDeleted: false, revisionId: 1, size: 1, sha256: '0'.repeat(64), modified: null }], 1);
    b.close();
    expect([...a.syncedTree(1).keys()]).toEqual(['f']);
    expect([...a.remoteTree(1).tree.keys()]).toEqual(['f']);
    a.close();
  });

  it('a group commit that fails leaves no change in the copies', async () => {
    const file = tempFile();
    const store = new StateStore(file);
    store.upsertRoot({ id: 1, name: 'Sync', type: 'sync', localPath: '/x' });
    expect(store.syncedTree(1).size).toBe(0);
    const entry: SyncedEntry = { path: 'f', kind: 'file', remoteId: 1, revisionId: 1, sha256: '0'.repeat(64), localFileId: null, size: 1, mtime: 1 };
    // A savepoint that throws after its write: rolled back, and the copy does not show it.
    await expect(
      store.commitSoon(() =>
        store.applySyncedChange(1, { kind: 'put', entry, replaces: null }, () => {
          throw new Error('no');
        }),
      ),
    ).rejects.toThrow('no');
    expect(store.syncedTree(1).size).toBe(0);
    store.close();
  });

  it('forgetting a base (a collision kept both ways, a root moved to another folder) shows in the next syncedTree', () => {
    const file = tempFile();
    const store = new StateStore(file);
    store.upsertRoot({ id: 1, name: 'Sync', type: 'sync', localPath: '/x' });
    const put = (p: string, kind: EntryKind, id: number) =>
      store.applySyncedChange(1, { kind: 'put', entry: { path: p, kind, remoteId: id, revisionId: kind === 'file' ? id : null, sha256: null, localFileId: null, size: 0, mtime: null }, replaces: null });
    put('d', 'folder', 1);
    put('d/f', 'file', 2);
    put('dd', 'file', 3);
    expect([...store.syncedTree(1).keys()].sort()).toEqual(['d', 'd/f', 'dd']);
    store.forgetSynced(1, 'd');
    expect([...store.syncedTree(1).keys()]).toEqual(['dd']);
    store.forgetBase(1);
    expect(store.syncedTree(1).size).toBe(0);
    store.close();
  });
});
