// The agent's state store: one SQLite database (better-sqlite3, WAL) per agent home holding,
// per root, the remote tree (what the server last said, keyed by remote id), the local tree
// (what the disk last said), the synced tree (the merge base), collisions, warnings, the
// per-path backoff list and an activity log. Schema changes are numbered migrations; a
// database from a newer agent is refused with a clear message.
import Database from 'better-sqlite3';
import type { CollisionOp, SyncedChange } from '../core/operations.js';
import { joinPath, validateServerName } from '../core/paths.js';
import { JournaledMap, type EntryKind, type LocalEntry, type RemoteEntry, type SyncedEntry } from '../core/tree.js';

const MIGRATIONS: string[] = [
  `
  CREATE TABLE roots (
    id INTEGER PRIMARY KEY,              -- the server's root id
    name TEXT NOT NULL,
    type TEXT NOT NULL,                  -- sync | share | backup
    local_path TEXT NOT NULL,
    cursor INTEGER NOT NULL DEFAULT 0,   -- change feed cursor
    paused INTEGER NOT NULL DEFAULT 0
  );
  CREATE TABLE remote_nodes (
    root_id INTEGER NOT NULL,
    id INTEGER NOT NULL,
    parent_id INTEGER,
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    revision_id INTEGER,
    size INTEGER NOT NULL DEFAULT 0,
    sha256 TEXT,
    modified TEXT,
    PRIMARY KEY (root_id, id)
  );
  CREATE TABLE local_nodes (
    root_id INTEGER NOT NULL,
    path TEXT NOT NULL,
    kind TEXT NOT NULL,
    file_id TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime INTEGER NOT NULL,
    sha256 TEXT,
    PRIMARY KEY (root_id, path)
  );
  CREATE TABLE synced_nodes (
    root_id INTEGER NOT NULL,
    path TEXT NOT NULL,
    kind TEXT NOT NULL,
    remote_id INTEGER NOT NULL,
    revision_id INTEGER,
    sha256 TEXT,
    local_file_id TEXT,
    size INTEGER NOT NULL,
    mtime INTEGER,
    PRIMARY KEY (root_id, path)
  );
  CREATE TABLE collisions (
    id INTEGER PRIMARY KEY,
    root_id INTEGER NOT NULL,
    path TEXT NOT NULL,
    reason TEXT NOT NULL,
    local_kind TEXT NOT NULL,
    local_size INTEGER NOT NULL,
    local_sha256 TEXT,
    local_mtime INTEGER NOT NULL,
    local_file_id TEXT NOT NULL,
    remote_id INTEGER NOT NULL,
    remote_kind TEXT NOT NULL,
    remote_revision_id INTEGER,
    remote_size INTEGER NOT NULL,
    remote_sha256 TEXT,
    created TEXT NOT NULL,
    resolved TEXT,                       -- NULL while open; mine | server | both | gone
    resolved_at TEXT
  );
  CREATE INDEX collisions_open ON collisions(root_id, path) WHERE resolved IS NULL;
  CREATE TABLE warnings (
    root_id INTEGER NOT NULL,
    side TEXT NOT NULL,
    path TEXT NOT NULL,
    code TEXT NOT NULL,
    message TEXT NOT NULL,
    PRIMARY KEY (root_id, side, path)
  );
  CREATE TABLE backoff (
    root_id INTEGER NOT NULL,
    path TEXT NOT NULL,
    attempts INTEGER NOT NULL,
    next_try INTEGER NOT NULL,           -- ms since epoch
    last_error TEXT NOT NULL,
    PRIMARY KEY (root_id, path)
  );
  CREATE TABLE activity (
    id INTEGER PRIMARY KEY,
    time TEXT NOT NULL,
    root_id INTEGER,
    action TEXT NOT NULL,
    path TEXT,
    detail TEXT
  );
  `,
  // 2: find the synced entry of a local file id quickly (stale ids are cleared on every put).
  `CREATE INDEX synced_local_file_id ON synced_nodes(root_id, local_file_id);`,
];

export interface RootRecord {
  id: number;
  name: string;
  type: string;
  localPath: string;
  cursor: number;
  paused: boolean;
}

export interface RemoteChange {
  id: number;
  parentId: number | null;
  name: string;
  kind: EntryKind;
  isDeleted: boolean;
  revisionId: number | null;
  size: number;
  sha256: string | null;
  modified: string | null;
}

export interface RemoteTreeResult {
  tree: Map<string, RemoteEntry>;
  /** Remote nodes that cannot be placed (invalid names, orphans): never touched locally. */
  rejected: { id: number; name: string; reason: string }[];
}

export interface CollisionRecord {
  id: number;
  rootId: number;
  path: string;
  reason: string;
  local: { kind: EntryKind; size: number; sha256: string | null; mtime: number; fileId: string };
  remote: { id: number; kind: EntryKind; revisionId: number | null; size: number; sha256: string | null };
  created: string;
  resolved: string | null;
}

interface CollisionRow {
  id: number;
  root_id: number;
  path: string;
  reason: string;
  local_kind: EntryKind;
  local_size: number;
  local_sha256: string | null;
  local_mtime: number;
  local_file_id: string;
  remote_id: number;
  remote_kind: EntryKind;
  remote_revision_id: number | null;
  remote_size: number;
  remote_sha256: string | null;
  created: string;
  resolved: string | null;
}

const toCollision = (r: CollisionRow): CollisionRecord => ({
  id: r.id,
  rootId: r.root_id,
  path: r.path,
  reason: r.reason,
  local: { kind: r.local_kind, size: r.local_size, sha256: r.local_sha256, mtime: r.local_mtime, fileId: r.local_file_id },
  remote: { id: r.remote_id, kind: r.remote_kind, revisionId: r.remote_revision_id, size: r.remote_size, sha256: r.remote_sha256 },
  created: r.created,
  resolved: r.resolved,
});

/** A row of remote_nodes. */
interface RemoteRow {
  id: number;
  parent_id: number | null;
  name: string;
  kind: EntryKind;
  revision_id: number | null;
  size: number;
  sha256: string | null;
  modified: string | null;
}

/** A built remote tree with the path of each node id (null: rejected, or below a rejected node). */
interface BuiltRemoteTree extends RemoteTreeResult {
  pathOf: Map<number, string | null>;
}

/**
 * The remote tree keyed by path, built from names and parent links only (the server's own
 * `path` strings are never trusted): a node whose name is not a valid single path segment,
 * or whose parent is unknown or a file, is rejected with everything below it.
 */
function buildRemoteTree(byId: ReadonlyMap<number, RemoteRow>): BuiltRemoteTree {
  const pathOf = new Map<number, string | null>();
  const rejected: RemoteTreeResult['rejected'] = [];
  const resolve = (id: number, depth: number): string | null => {
    if (pathOf.has(id)) return pathOf.get(id)!;
    const r = byId.get(id)!;
    let result: string | null = null;
    const v = validateServerName(r.name);
    if (!v.ok) rejected.push({ id, name: r.name, reason: v.reason });
    else if (depth > 256) rejected.push({ id, name: r.name, reason: 'folder chain too deep or cyclic' });
    else if (r.parent_id === null) result = r.name.normalize('NFC');
    else {
      const parent = byId.get(r.parent_id);
      if (!parent || parent.kind !== 'folder') rejected.push({ id, name: r.name, reason: 'parent folder unknown' });
      else {
        const pp = resolve(parent.id, depth + 1);
        if (pp !== null) result = joinPath(pp, r.name.normalize('NFC'));
      }
    }
    pathOf.set(id, result);
    return result;
  };
  const tree = new JournaledMap<string, RemoteEntry>();
  for (const r of byId.values()) {
    const p = resolve(r.id, 0);
    if (p === null) continue;
    if (tree.has(p)) {
      rejected.push({ id: r.id, name: r.name, reason: `another node already has the path ${p}` });
      continue;
    }
    tree.set(p, { path: p, kind: r.kind, id: r.id, revisionId: r.revision_id, size: r.size, sha256: r.sha256, modified: r.modified });
  }
  // Children of a rejected duplicate would dangle: drop entries whose parent is not a folder in the tree.
  for (const [p, e] of [...tree].sort((a, b) => a[0].length - b[0].length)) {
    const slash = p.lastIndexOf('/');
    if (slash > 0 && tree.get(p.slice(0, slash))?.kind !== 'folder') {
      tree.delete(p);
      rejected.push({ id: e.id, name: p, reason: 'parent folder not synced' });
    }
  }
  return { tree, rejected, pathOf };
}

/**
 * `built` brought up to date with one change of a file node, where that is simple: a file
 * added, changed, moved or deleted under a folder that is in the tree, with a valid name and a
 * path no other node has, in a tree without rejected nodes. Returns false where it is not
 * (folders, names, clashes: the tree is then built again from the table), having changed
 * nothing then. The result is the tree buildRemoteTree would build.
 */
function patchRemoteTree(built: BuiltRemoteTree, c: RemoteChange): boolean {
  if (built.rejected.length > 0) return false;
  // (pathOf holds every node of the table: a node it does not know is new.)
  const oldPath = built.pathOf.get(c.id);
  if (oldPath === null) return false;
  if (oldPath !== undefined) {
    const before = built.tree.get(oldPath);
    if (!before || before.id !== c.id || before.kind === 'folder') return false;
  }
  let newPath: string | undefined;
  if (!c.isDeleted) {
    if (c.kind === 'folder') return false;
    const v = validateServerName(c.name);
    if (!v.ok) return false;
    let parentPath: string | null = null;
    if (c.parentId !== null) {
      const pp = built.pathOf.get(c.parentId);
      if (typeof pp !== 'string' || built.tree.get(pp)?.kind !== 'folder') return false;
      parentPath = pp;
    }
    const name = c.name.normalize('NFC');
    newPath = parentPath === null ? name : joinPath(parentPath, name);
    // (Deep chains: the full build's depth limit depends on the order it meets nodes.)
    if (newPath.split('/').length > 64) return false;
    if (newPath !== oldPath && built.tree.has(newPath)) return false;
  }
  if (oldPath !== undefined) {
    built.tree.delete(oldPath);
    built.pathOf.delete(c.id);
  }
  if (newPath !== undefined) {
    built.tree.set(newPath, { path: newPath, kind: c.kind, id: c.id, revisionId: c.revisionId, size: c.size, sha256: c.sha256, modified: c.modified });
    built.pathOf.set(c.id, newPath);
  }
  return true;
}

export class StateStore {
  readonly db: Database.Database;
  /** Prepared statements by SQL text (better-sqlite3 compiles on every prepare()). */
  private readonly stmts = new Map<string, Database.Statement>();
  private activityInserts = 0;
  /** Per root: the remote tree built from its remote_nodes rows (see remoteTree). */
  private readonly remoteBuilt = new Map<number, BuiltRemoteTree>();
  /** Per root: the synced tree as in synced_nodes (see syncedTree). */
  private readonly syncedCache = new Map<number, Map<string, SyncedEntry>>();
  /** PRAGMA data_version when the copies above were last known to match the database. */
  private cacheVersion: number | undefined;

  /** The prepared statement of `sql`, compiled once. */
  private q(sql: string): Database.Statement {
    let st = this.stmts.get(sql);
    if (!st) {
      st = this.db.prepare(sql);
      this.stmts.set(sql, st);
    }
    return st;
  }

  /**
   * Forgets the in-memory copies of the trees if another connection (another process on the
   * same state file) has committed since they were made: only this connection's writes keep
   * them up to date.
   */
  private checkForeignWrites(): void {
    const v = this.db.pragma('data_version', { simple: true }) as number;
    if (v !== this.cacheVersion) this.dropCaches();
    this.cacheVersion = v;
  }

  /** Forgets the in-memory copies of the trees (read again from the database when next asked for). */
  private dropCaches(rootId?: number): void {
    if (rootId === undefined) {
      this.remoteBuilt.clear();
      this.syncedCache.clear();
    } else {
      this.remoteBuilt.delete(rootId);
      this.syncedCache.delete(rootId);
    }
  }

  constructor(file: string) {
    this.db = new Database(file);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    // Savepoint journals (commitSoon runs each operation's writes in a savepoint) in memory.
    this.db.pragma('temp_store = MEMORY');
    const current = this.db.pragma('user_version', { simple: true }) as number;
    if (current > MIGRATIONS.length) {
      this.db.close();
      throw new Error(`the state database ${file} was written by a newer agent (schema ${current}; this agent knows ${MIGRATIONS.length}). Upgrade the agent or use another --home.`);
    }
    for (let v = current; v < MIGRATIONS.length; v++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[v]!);
        this.db.pragma(`user_version = ${v + 1}`);
      })();
    }
  }

  close(): void {
    this.commitQueued();
    this.db.close();
  }

  // ----- roots -----

  upsertRoot(r: { id: number; name: string; type: string; localPath: string }): void {
    this.q(`INSERT INTO roots (id, name, type, local_path) VALUES (?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET name = excluded.name, type = excluded.type, local_path = excluded.local_path`)
      .run(r.id, r.name, r.type, r.localPath);
  }

  roots(): RootRecord[] {
    return (this.q(`SELECT * FROM roots ORDER BY id`).all() as { id: number; name: string; type: string; local_path: string; cursor: number; paused: number }[]).map((r) => ({
      id: r.id,
      name: r.name,
      type: r.type,
      localPath: r.local_path,
      cursor: r.cursor,
      paused: !!r.paused,
    }));
  }

  root(id: number): RootRecord | undefined {
    return this.roots().find((r) => r.id === id);
  }

  setPaused(rootId: number | null, paused: boolean): void {
    if (rootId === null) this.q(`UPDATE roots SET paused = ?`).run(paused ? 1 : 0);
    else this.q(`UPDATE roots SET paused = ? WHERE id = ?`).run(paused ? 1 : 0, rootId);
  }

  // ----- remote tree -----

  /** Applies a page of the change feed and moves the cursor, in one transaction. */
  applyRemoteChanges(rootId: number, changes: readonly RemoteChange[], cursor: number): void {
    const upsert = this.q(
      `INSERT INTO remote_nodes (root_id, id, parent_id, name, kind, revision_id, size, sha256, modified) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT(root_id, id) DO UPDATE SET parent_id = excluded.parent_id, name = excluded.name, kind = excluded.kind,
         revision_id = excluded.revision_id, size = excluded.size, sha256 = excluded.sha256, modified = excluded.modified`,
    );
    const del = this.q(`DELETE FROM remote_nodes WHERE root_id = ? AND id = ?`);
    try {
      this.db.transaction(() => {
        for (const c of changes) {
          if (c.isDeleted) del.run(rootId, c.id);
          else upsert.run(rootId, c.id, c.parentId, c.name, c.kind, c.revisionId, c.size, c.sha256, c.modified);
        }
        this.q(`UPDATE roots SET cursor = ? WHERE id = ?`).run(cursor, rootId);
      })();
    } catch (err) {
      this.dropCaches(rootId);
      throw err;
    }
    // The tree in memory follows where it can be patched; else it is built again when next asked for.
    const built = this.remoteBuilt.get(rootId);
    if (!built) return;
    for (const c of changes) {
      if (!patchRemoteTree(built, c)) {
        this.remoteBuilt.delete(rootId);
        return;
      }
    }
  }

  /** Replaces the whole remote tree (the fallback walk of servers without a change feed). */
  replaceRemoteTree(rootId: number, nodes: readonly RemoteChange[]): void {
    try {
      this.db.transaction(() => {
        this.q(`DELETE FROM remote_nodes WHERE root_id = ?`).run(rootId);
        this.applyRemoteChanges(rootId, nodes, this.root(rootId)?.cursor ?? 0);
      })();
    } finally {
      this.dropCaches(rootId);
    }
  }

  /** Forgets the remote tree (the feed restarts from 0). */
  resetRemote(rootId: number): void {
    try {
      this.db.transaction(() => {
        this.q(`DELETE FROM remote_nodes WHERE root_id = ?`).run(rootId);
        this.q(`UPDATE roots SET cursor = 0 WHERE id = ?`).run(rootId);
      })();
    } finally {
      this.dropCaches(rootId);
    }
  }

  /**
   * The remote tree keyed by path (see buildRemoteTree), a copy the caller may keep. The store
   * keeps each root's built tree in memory and patches it with each change it applies where it
   * can (a page of the change feed mostly adds and changes files), so that a sync round does not
   * read and build the whole table again.
   */
  remoteTree(rootId: number): RemoteTreeResult {
    const built = this.remoteTreeView(rootId);
    return { tree: new Map(built.tree), rejected: built.rejected.map((r) => ({ ...r })) };
  }

  /**
   * The remote tree the store holds, not a copy: to be read, never changed. The store changes
   * it in place with each change it applies (and builds a new one when it must), so a caller
   * that keeps it sees the tree as it is, not as it was. The sync engine plans from it: copying
   * ten thousand entries every round was most of its garbage.
   */
  remoteTreeView(rootId: number): { readonly tree: ReadonlyMap<string, RemoteEntry>; readonly rejected: RemoteTreeResult['rejected'] } {
    this.checkForeignWrites();
    let built = this.remoteBuilt.get(rootId);
    if (!built) {
      // Rows straight into the map (no intermediate array), in id order (the primary key's).
      const rows = new Map<number, RemoteRow>();
      for (const r of this.q(`SELECT * FROM remote_nodes WHERE root_id = ? ORDER BY id`).iterate(rootId) as IterableIterator<RemoteRow>) rows.set(r.id, r);
      built = buildRemoteTree(rows);
      this.remoteBuilt.set(rootId, built);
    }
    return built;
  }

  // ----- local tree -----

  replaceLocalTree(rootId: number, entries: readonly LocalEntry[]): void {
    const ins = this.q(`INSERT INTO local_nodes (root_id, path, kind, file_id, size, mtime, sha256) VALUES (?, ?, ?, ?, ?, ?, ?)`);
    this.db.transaction(() => {
      this.q(`DELETE FROM local_nodes WHERE root_id = ?`).run(rootId);
      for (const e of entries) ins.run(rootId, e.path, e.kind, e.fileId, e.size, e.mtime, e.sha256);
    })();
  }

  /** Changes part of the local tree (rows put or removed by path), in one transaction. */
  updateLocalTree(rootId: number, puts: readonly LocalEntry[], removes: readonly string[]): void {
    if (puts.length === 0 && removes.length === 0) return;
    const put = this.q(`INSERT OR REPLACE INTO local_nodes (root_id, path, kind, file_id, size, mtime, sha256) VALUES (?, ?, ?, ?, ?, ?, ?)`);
    const del = this.q(`DELETE FROM local_nodes WHERE root_id = ? AND path = ?`);
    this.db.transaction(() => {
      for (const p of removes) del.run(rootId, p);
      for (const e of puts) put.run(rootId, e.path, e.kind, e.fileId, e.size, e.mtime, e.sha256);
    })();
  }

  localTree(rootId: number): Map<string, LocalEntry> {
    const rows = this.q(`SELECT * FROM local_nodes WHERE root_id = ?`).iterate(rootId) as IterableIterator<{
      path: string;
      kind: EntryKind;
      file_id: string;
      size: number;
      mtime: number;
      sha256: string | null;
    }>;
    const m = new Map<string, LocalEntry>();
    for (const r of rows) m.set(r.path, { path: r.path, kind: r.kind, fileId: r.file_id, size: r.size, mtime: r.mtime, sha256: r.sha256 });
    return m;
  }

  // ----- synced tree -----

  /** Whether the root has a synced base at all (without loading it). */
  hasSyncedBase(rootId: number): boolean {
    return this.q(`SELECT 1 FROM synced_nodes WHERE root_id = ? LIMIT 1`).get(rootId) !== undefined;
  }

  /**
   * The synced tree, a copy the caller may keep. The store keeps it in memory and brings it up
   * to date with each change it applies (applySyncedChange), so that a sync round does not read
   * the whole table again.
   */
  syncedTree(rootId: number): Map<string, SyncedEntry> {
    return new Map(this.syncedTreeView(rootId));
  }

  /** The synced tree the store holds, not a copy (see remoteTreeView). */
  syncedTreeView(rootId: number): ReadonlyMap<string, SyncedEntry> {
    this.checkForeignWrites();
    let m = this.syncedCache.get(rootId);
    if (!m) {
      const rows = this.q(`SELECT * FROM synced_nodes WHERE root_id = ?`).iterate(rootId) as IterableIterator<{
        path: string;
        kind: EntryKind;
        remote_id: number;
        revision_id: number | null;
        sha256: string | null;
        local_file_id: string | null;
        size: number;
        mtime: number | null;
      }>;
      m = new JournaledMap<string, SyncedEntry>();
      for (const r of rows) {
        m.set(r.path, { path: r.path, kind: r.kind, remoteId: r.remote_id, revisionId: r.revision_id, sha256: r.sha256, localFileId: r.local_file_id, size: r.size, mtime: r.mtime });
      }
      this.syncedCache.set(rootId, m);
    }
    return m;
  }

  // ----- group commit -----

  private queued: Array<{ fn: () => void; resolve: () => void; reject: (err: unknown) => void }> = [];

  /**
   * Runs `fn` (writes of one finished operation) in the transaction of its group, and resolves
   * once that transaction has committed. Writes queued in one turn of the event loop (the
   * operations of a batch finishing together) commit together at the next (setImmediate): one
   * commit, its WAL writes and its file locks, for the group instead of one per operation.
   * Each `fn` runs in a savepoint of its own: one that throws rolls back only its own writes
   * and rejects only its own promise. A failed commit rejects the whole group (nothing of it
   * was written).
   */
  commitSoon(fn: () => void): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.queued.push({ fn, resolve, reject });
      if (this.queued.length === 1) setImmediate(() => this.commitQueued());
    });
  }

  /** Commits what commitSoon queued (at once; close() does it too). */
  commitQueued(): void {
    const items = this.queued.splice(0);
    if (items.length === 0) return;
    const failed = new Map<(typeof items)[number], unknown>();
    try {
      this.db.transaction(() => {
        for (const it of items) {
          try {
            this.db.transaction(it.fn)();
          } catch (err) {
            failed.set(it, err);
          }
        }
      })();
    } catch (err) {
      // Nothing of the group was written: the in-memory trees may hold some of it.
      this.dropCaches();
      for (const it of items) it.reject(err);
      return;
    }
    for (const it of items) {
      if (failed.has(it)) it.reject(failed.get(it));
      else it.resolve();
    }
  }

  /** Forgets the merge base of `path` and everything below it (a collision kept both ways). */
  forgetSynced(rootId: number, path: string): void {
    try {
      this.q(`DELETE FROM synced_nodes WHERE root_id = ? AND (path = ? OR substr(path, 1, ?) = ?)`).run(rootId, path, path.length + 1, `${path}/`);
    } finally {
      this.syncedCache.delete(rootId);
    }
  }

  /** Forgets the merge base and the local tree of a root (synced into another folder: start over with a merge). */
  forgetBase(rootId: number): void {
    try {
      this.db.transaction(() => {
        this.q(`DELETE FROM synced_nodes WHERE root_id = ?`).run(rootId);
        this.q(`DELETE FROM local_nodes WHERE root_id = ?`).run(rootId);
      })();
    } finally {
      this.syncedCache.delete(rootId);
    }
  }

  /** Applies what one finished operation changed in the merge base (one transaction). */
  applySyncedChange(rootId: number, change: SyncedChange, extra?: () => void): void {
    const moveSubtree = (from: string, to: string) => {
      // Descendants first (their paths start with `from/`), then the node itself.
      this.q(`UPDATE synced_nodes SET path = ? || substr(path, ?) WHERE root_id = ? AND substr(path, 1, ?) = ?`)
        .run(to, from.length + 1, rootId, from.length + 1, `${from}/`);
      this.q(`UPDATE synced_nodes SET path = ? WHERE root_id = ? AND path = ?`).run(to, rootId, from);
    };
    // What the in-memory copy (see syncedTree) must do once the writes are in: applied only
    // then, and on anything but plain puts and removes it is read again instead.
    const then: { follow: ((m: Map<string, SyncedEntry>) => void) | 'reread' } = { follow: () => undefined };
    try {
      this.db.transaction(() => {
        switch (change.kind) {
          case 'none':
            break;
          case 'remove':
            this.q(`DELETE FROM synced_nodes WHERE root_id = ? AND path = ?`).run(rootId, change.path);
            then.follow = (m) => m.delete(change.path);
            break;
          case 'move':
            moveSubtree(change.from, change.to);
            then.follow = 'reread';
            break;
          case 'put': {
            const e = change.entry;
            let moved = false;
            if (change.replaces !== null) {
              const old = this.q(`SELECT kind FROM synced_nodes WHERE root_id = ? AND path = ?`).get(rootId, change.replaces) as { kind: EntryKind } | undefined;
              if (old && old.kind === 'folder' && change.replaces !== e.path) {
                moveSubtree(change.replaces, e.path);
                moved = true;
              } else this.q(`DELETE FROM synced_nodes WHERE root_id = ? AND path = ?`).run(rootId, change.replaces);
            }
            let cleared = 0;
            if (e.localFileId !== null) {
              // The operation just saw this local file id on this entry: any other entry still
              // holding it is stale (an inode freed by a delete and reused by a new file), and would
              // make the planner pair the two wrongly.
              cleared = this.q(`UPDATE synced_nodes SET local_file_id = NULL WHERE root_id = ? AND local_file_id = ? AND path <> ?`).run(rootId, e.localFileId, e.path).changes;
            }
            this.q(
              `INSERT INTO synced_nodes (root_id, path, kind, remote_id, revision_id, sha256, local_file_id, size, mtime) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT(root_id, path) DO UPDATE SET kind = excluded.kind, remote_id = excluded.remote_id, revision_id = excluded.revision_id,
                 sha256 = excluded.sha256, local_file_id = excluded.local_file_id, size = excluded.size, mtime = excluded.mtime`,
            )
              .run(rootId, e.path, e.kind, e.remoteId, e.revisionId, e.sha256, e.localFileId, e.size, e.mtime);
            const row: SyncedEntry = { path: e.path, kind: e.kind, remoteId: e.remoteId, revisionId: e.revisionId, sha256: e.sha256, localFileId: e.localFileId, size: e.size, mtime: e.mtime };
            then.follow =
              moved || cleared > 0
                ? 'reread'
                : (m) => {
                    if (change.replaces !== null) m.delete(change.replaces);
                    m.set(e.path, row);
                  };
            break;
          }
        }
        extra?.();
      })();
    } catch (err) {
      this.syncedCache.delete(rootId);
      throw err;
    }
    const m = this.syncedCache.get(rootId);
    if (!m) return;
    if (then.follow === 'reread') this.syncedCache.delete(rootId);
    else then.follow(m);
  }


  // ----- collisions -----

  /** Records a collision once (the same open collision at a path is updated, not duplicated). */
  recordCollision(rootId: number, op: CollisionOp, now: Date): number {
    const open = this.q(`SELECT id FROM collisions WHERE root_id = ? AND path = ? AND resolved IS NULL`).get(rootId, op.localPath) as { id: number } | undefined;
    const values = [
      op.reason,
      op.local.kind,
      op.local.size,
      op.local.sha256,
      op.local.mtime,
      op.expectLocal.fileId,
      op.remote.id,
      op.remote.kind,
      op.remote.revisionId,
      op.remote.size,
      op.remote.sha256,
    ];
    if (open) {
      this.q(
          `UPDATE collisions SET reason = ?, local_kind = ?, local_size = ?, local_sha256 = ?, local_mtime = ?, local_file_id = ?, remote_id = ?, remote_kind = ?,
             remote_revision_id = ?, remote_size = ?, remote_sha256 = ? WHERE id = ?`,
        )
        .run(...values, open.id);
      return open.id;
    }
    const info = this.q(
        `INSERT INTO collisions (reason, local_kind, local_size, local_sha256, local_mtime, local_file_id, remote_id, remote_kind, remote_revision_id, remote_size, remote_sha256, root_id, path, created)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      )
      .run(...values, rootId, op.localPath, now.toISOString());
    this.activity(rootId, 'collision', op.localPath, op.reason);
    return Number(info.lastInsertRowid);
  }

  collisions(opts: { open?: boolean } = {}): CollisionRecord[] {
    const rows = this.q(`SELECT * FROM collisions ${opts.open === false ? '' : 'WHERE resolved IS NULL'} ORDER BY id`).all() as CollisionRow[];
    return rows.map(toCollision);
  }

  collision(id: number): CollisionRecord | undefined {
    const r = this.q(`SELECT * FROM collisions WHERE id = ?`).get(id) as CollisionRow | undefined;
    return r && toCollision(r);
  }

  markCollision(id: number, resolution: 'mine' | 'server' | 'both' | 'gone', now: Date): void {
    this.q(`UPDATE collisions SET resolved = ?, resolved_at = ? WHERE id = ?`).run(resolution, now.toISOString(), id);
  }

  /** Collisions whose path no longer collides are closed as "gone". */
  closeStaleCollisions(rootId: number, stillColliding: ReadonlySet<string>, now: Date): void {
    for (const c of this.collisions()) if (c.rootId === rootId && !stillColliding.has(c.path)) this.markCollision(c.id, 'gone', now);
  }

  // ----- warnings, backoff, activity -----

  setWarnings(rootId: number, warnings: readonly { side: string; path: string; code: string; message: string }[]): void {
    const ins = this.q(`INSERT OR REPLACE INTO warnings (root_id, side, path, code, message) VALUES (?, ?, ?, ?, ?)`);
    this.db.transaction(() => {
      this.q(`DELETE FROM warnings WHERE root_id = ?`).run(rootId);
      for (const w of warnings) ins.run(rootId, w.side, w.path, w.code, w.message);
    })();
  }

  warnings(rootId?: number): { rootId: number; side: string; path: string; code: string; message: string }[] {
    const rows = (rootId === undefined
      ? this.q(`SELECT * FROM warnings ORDER BY root_id, path`).all()
      : this.q(`SELECT * FROM warnings WHERE root_id = ? ORDER BY path`).all(rootId)) as { root_id: number; side: string; path: string; code: string; message: string }[];
    return rows.map((r) => ({ rootId: r.root_id, side: r.side, path: r.path, code: r.code, message: r.message }));
  }

  backoffUntil(rootId: number, path: string): { nextTry: number; attempts: number; lastError: string } | undefined {
    const r = this.q(`SELECT * FROM backoff WHERE root_id = ? AND path = ?`).get(rootId, path) as { next_try: number; attempts: number; last_error: string } | undefined;
    return r && { nextTry: r.next_try, attempts: r.attempts, lastError: r.last_error };
  }

  recordFailure(rootId: number, path: string, error: string, now: number): number {
    const prev = this.backoffUntil(rootId, path);
    const attempts = (prev?.attempts ?? 0) + 1;
    // 1 s, 2 s, 4 s … capped at 10 minutes, with jitter.
    const delay = Math.min(600_000, 1000 * 2 ** (attempts - 1)) * (0.5 + Math.random() / 2);
    this.q(`INSERT OR REPLACE INTO backoff (root_id, path, attempts, next_try, last_error) VALUES (?, ?, ?, ?, ?)`).run(rootId, path, attempts, Math.round(now + delay), error);
    return attempts;
  }

  clearFailure(rootId: number, path: string): void {
    this.q(`DELETE FROM backoff WHERE root_id = ? AND path = ?`).run(rootId, path);
  }

  backoffs(rootId: number): Map<string, { nextTry: number; attempts: number; lastError: string }> {
    const rows = this.q(`SELECT * FROM backoff WHERE root_id = ?`).all(rootId) as { path: string; next_try: number; attempts: number; last_error: string }[];
    return new Map(rows.map((r) => [r.path, { nextTry: r.next_try, attempts: r.attempts, lastError: r.last_error }]));
  }

  activity(rootId: number | null, action: string, path: string | null, detail?: string): void {
    const info = this.q(`INSERT INTO activity (time, root_id, action, path, detail) VALUES (?, ?, ?, ?, ?)`).run(new Date().toISOString(), rootId, action, path, detail ?? null);
    // Keep the log bounded (about 5,000 entries): trimmed every 100 inserts, by primary key.
    if (++this.activityInserts % 100 === 1) this.q(`DELETE FROM activity WHERE id <= ?`).run(Number(info.lastInsertRowid) - 5000);
  }

  recentActivity(limit = 50): { time: string; rootId: number | null; action: string; path: string | null; detail: string | null }[] {
    const rows = this.q(`SELECT * FROM activity ORDER BY id DESC LIMIT ?`).all(limit) as { time: string; root_id: number | null; action: string; path: string | null; detail: string | null }[];
    return rows.map((r) => ({ time: r.time, rootId: r.root_id, action: r.action, path: r.path, detail: r.detail }));
  }
}
