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
  let list: E[];
  if (Array.isArray(tree)) list = [...(tree as readonly E[])];
  else {
    list = new Array<E>((tree as Tree<E>).size); // (allocated once, not grown)
    let i = 0;
    for (const e of (tree as Tree<E>).values()) list[i++] = e;
    list.length = i;
  }
  // A stable sort by (depth, path), done as: entries by depth (stable), then each depth by path.
  // Called for every tree on every plan, so an input that is in order already costs one pass.
  const n = list.length;
  const depths = new Uint32Array(n);
  let maxDepth = 0;
  let inOrder = true;
  for (let i = 0; i < n; i++) {
    const d = pathDepth(list[i]!.path);
    depths[i] = d;
    if (d > maxDepth) maxDepth = d;
    if (inOrder && i > 0) {
      const prev = depths[i - 1]!;
      if (prev > d || (prev === d && compareStrings(list[i - 1]!.path, list[i]!.path) > 0)) inOrder = false;
    }
  }
  if (inOrder) return list;
  // Where each depth starts in the result.
  const start = new Uint32Array(maxDepth + 2);
  for (let i = 0; i < n; i++) start[depths[i]! + 1]!++;
  for (let d = 1; d <= maxDepth + 1; d++) start[d]! += start[d - 1]!;
  const out: E[] = new Array<E>(n);
  const next = start.slice(0, maxDepth + 1);
  for (let i = 0; i < n; i++) out[next[depths[i]!]!++] = list[i]!;
  for (let d = 0; d <= maxDepth; d++) {
    const from = start[d]!;
    const to = start[d + 1]!;
    if (to - from < 2) continue;
    const level = out.slice(from, to);
    level.sort((a, b) => compareStrings(a.path, b.path)); // stable: equal paths keep their order
    for (let i = 0; i < level.length; i++) out[from + i] = level[i]!;
  }
  return out;
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

/** Keys a JournaledMap notes at most between two reads; past that its journal says "unknown". */
const JOURNAL_LIMIT = 4096;

/**
 * A Map that notes which keys were set or deleted since its journal was last read: the sync
 * engine's trees, so that what follows them from round to round (the planner's AgreementTracker)
 * looks at what changed rather than at every entry. Every change must go through set, delete or
 * clear (it does: nothing calls Map.prototype methods on it directly).
 *
 * One reader: `takeChanges` empties the journal. A map the reader has not read before must be
 * read whole (entries put in by the constructor are not noted).
 */
export class JournaledMap<K, V> extends Map<K, V> {
  /** Keys changed since the last read; undefined: more than JOURNAL_LIMIT, or cleared. */
  private changed: Set<K> | undefined = new Set();

  override set(key: K, value: V): this {
    super.set(key, value);
    this.note(key);
    return this;
  }

  override delete(key: K): boolean {
    const had = super.delete(key);
    if (had) this.note(key);
    return had;
  }

  override clear(): void {
    super.clear();
    this.changed = undefined;
  }

  private note(key: K): void {
    // (Undefined while the Map constructor adds its entries: fields are not set up yet.)
    const c = this.changed;
    if (c === undefined) return;
    c.add(key);
    if (c.size > JOURNAL_LIMIT) this.changed = undefined;
  }

  /** The keys set or deleted since the last call, or undefined when unknown (read it whole); starts a new journal. */
  takeChanges(): ReadonlySet<K> | undefined {
    const c = this.changed;
    this.changed = new Set();
    return c;
  }
}
