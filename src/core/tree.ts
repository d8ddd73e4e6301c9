// The three trees of the sync engine (see docs/architecture.md, "three trees and a pure planner").
//
// - remote tree: what the server last said about each live node of the root;
// - local tree:  what the disk last said (the local observer's scan / watcher);
// - synced tree: the merge base, the state both sides last agreed on.
//
// All paths are relative paths as defined in ./paths.ts ("a/b.txt", no leading slash). A tree is
// a map from exactly that path to the entry (`entry.path === key`); every entry's parent folder
// is in the same tree (top-level entries have the parent ""). The state store keeps the three
// trees in SQLite; these types are what it hands the planner.

import { compareStrings, isSameOrAncestor, parentPath, pathDepth, rebasePath } from './paths.js';

export type EntryKind = 'file' | 'folder';

/** One live node on the server. */
export interface RemoteEntry {
  path: string;
  kind: EntryKind;
  /** The server's node id (v2 `id`): stable across renames and moves. */
  id: number;
  /** Current revision (v2 `revision_id`); null for folders. */
  revisionId: number | null;
  /** Size in bytes (0 for folders). */
  size: number;
  /** SHA-256 (hex) of the current revision, null when the server did not say (or for folders). */
  sha256: string | null;
  /** The server's `modified` ("YYYY-MM-DDTHH:MM:SS", UTC), for display. */
  modified?: string | null;
}

/** One entry on the local disk. */
export interface LocalEntry {
  path: string;
  kind: EntryKind;
  /**
   * Stable file identity across renames: inode number (POSIX, as a decimal string, ideally with
   * the device) or the NTFS file id. Editors that save by "write temp + rename over" change it.
   */
  fileId: string;
  /** Size in bytes (0 for folders). */
  size: number;
  /** Modification time, ms since the epoch. */
  mtime: number;
  /**
   * SHA-256 (hex) of the content; null for folders and, for files, while the observer has not
   * hashed the current content yet ("hash pending"). The planner does nothing with a file whose
   * hash is pending.
   */
  sha256: string | null;
}

/** The merge base of one node: what local and remote last agreed on. */
export interface SyncedEntry {
  path: string;
  kind: EntryKind;
  remoteId: number;
  /** The revision both sides had (files); null for folders. */
  revisionId: number | null;
  /** Content hash both sides had (files); null for folders. */
  sha256: string | null;
  /** The local fileId at that time; null when unknown (the planner then matches by path). */
  localFileId: string | null;
  size: number;
  /** Local mtime at that time (ms), if known. Informational for the executor. */
  mtime: number | null;
}

export type Tree<E> = ReadonlyMap<string, E>;

export interface Trees {
  remote: Tree<RemoteEntry>;
  local: Tree<LocalEntry>;
  synced: Tree<SyncedEntry>;
}

/** A tree from a list of entries (throws on a duplicate path). */
export function makeTree<E extends { path: string }>(entries: Iterable<E>): Map<string, E> {
  const m = new Map<string, E>();
  for (const e of entries) {
    if (m.has(e.path)) throw new Error(`duplicate path in tree: ${e.path}`);
    m.set(e.path, e);
  }
  return m;
}

/** Entries of a tree (or list) sorted parents-first, then by path: a stable order for everything. */
export function sortedEntries<E extends { path: string }>(tree: Tree<E> | readonly E[]): E[] {
  const list = Array.isArray(tree) ? (tree as readonly E[]) : [...(tree as Tree<E>).values()];
  return list
    .map((e) => ({ e, d: pathDepth(e.path) }))
    .sort((a, b) => a.d - b.d || compareStrings(a.e.path, b.e.path))
    .map((x) => x.e);
}

/** Accepts a tree or a plain list. */
export function asTree<E extends { path: string }>(t: Tree<E> | readonly E[]): Tree<E> {
  return Array.isArray(t) ? makeTree(t as readonly E[]) : (t as Tree<E>);
}

/** A copy of `tree` in which `from` and everything below it now lives at `to`. */
export function moveSubtree<E extends { path: string }>(tree: Tree<E>, from: string, to: string): Map<string, E> {
  const out = new Map<string, E>();
  for (const [p, e] of tree) {
    if (isSameOrAncestor(from, p)) {
      const np = rebasePath(p, from, to);
      out.set(np, { ...e, path: np });
    } else out.set(p, e);
  }
  return out;
}

/** Whether the tree is well formed: keys equal paths and every parent is a folder in the tree. */
export function treeProblems<E extends { path: string; kind: EntryKind }>(tree: Tree<E>): string[] {
  const problems: string[] = [];
  for (const [k, e] of tree) {
    if (k !== e.path) problems.push(`key ${k} holds entry ${e.path}`);
    const parent = parentPath(e.path);
    if (parent !== '') {
      const p = tree.get(parent);
      if (!p) problems.push(`${e.path}: parent missing`);
      else if (p.kind !== 'folder') problems.push(`${e.path}: parent is a file`);
    }
  }
  return problems;
}
