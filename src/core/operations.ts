// The operations the planner returns, what each one expects of the world before it may run
// (the executor re-checks these preconditions against the disk and the server just before
// acting, and skips the operation if one fails: the observers then update the trees and the
// planner plans again), and a pure simulation of an operation having succeeded.
//
// Every operation the planner returns in one batch is independent of the others: they can run
// concurrently and in any order, and any subset of them can fail.

import { baseName, isStrictAncestor, joinPath, parentPath, pathKey } from './paths.js';
import type { EntryKind, LocalEntry, RemoteEntry, SyncedEntry, Tree, Trees } from './tree.js';
import { moveSubtree } from './tree.js';

/** Where the node's merge base goes once the operation succeeded. */
export interface SyncedTarget {
  /** The synced path to record. */
  path: string;
  /**
   * The node's current synced path, whose entry this one replaces (null: the node has none yet).
   * When it differs from `path` and the node is a folder, the synced entries below it move too.
   */
  replaces: string | null;
}

/** What the executor must find locally before touching a local entry. */
export interface LocalExpectation {
  fileId: string;
  /** Files: the content hash the file must still have. Folders: null. */
  sha256: string | null;
}

/**
 * Upload a file. `remoteId === null`: create a new file named `name` in folder `remoteParentId`
 * (null = top level of the root); the name must be free there. Otherwise: upload a new revision
 * of `remoteId` that replaces `baseRevisionId` (the server refuses a stale base, which the
 * agent turns into a collision on the next plan).
 * Before: the local file at `localPath` still has `expectLocal` (same fileId, and the bytes sent
 * hash to `expectLocal.sha256`).
 */
export interface UploadOp {
  type: 'upload';
  reason: 'new' | 'modified' | 'restore';
  localPath: string;
  expectLocal: { fileId: string; sha256: string; size: number; mtime: number };
  remoteId: number | null;
  baseRevisionId: number | null;
  remoteParentId: number | null;
  name: string;
  /** The file's path on the server after the upload. */
  remotePath: string;
  synced: SyncedTarget;
}

/**
 * Download revision `revisionId` of remote file `remoteId` to `localPath` (temp file in the same
 * folder, fsync, rename). `expectLocal === null`: nothing may exist at `localPath` (the parent
 * folder must). Otherwise the existing file must still be exactly `expectLocal` (the synced
 * version, so overwriting it loses nothing); if it changed, skip.
 * The executor verifies the downloaded bytes against `sha256` when the server gave one.
 */
export interface DownloadOp {
  type: 'download';
  reason: 'new' | 'modified' | 'restore';
  localPath: string;
  expectLocal: LocalExpectation | null;
  remoteId: number;
  revisionId: number;
  sha256: string | null;
  size: number;
  remotePath: string;
  synced: SyncedTarget;
}

/** Create folder `localPath` (parent exists, nothing at the path) for remote folder `remoteId`. */
export interface CreateLocalFolderOp {
  type: 'createLocalFolder';
  localPath: string;
  remoteId: number;
  remotePath: string;
  synced: SyncedTarget;
}

/** Create folder `name` in remote folder `remoteParentId` (null = top level) for local folder `localPath`. */
export interface CreateRemoteFolderOp {
  type: 'createRemoteFolder';
  localPath: string;
  expectLocal: LocalExpectation;
  remoteParentId: number | null;
  name: string;
  remotePath: string;
  synced: SyncedTarget;
}

/**
 * Delete a local file or (empty) folder because the server deleted it. Before: the file still
 * has `expectLocal` (the synced version, so nothing unsynced is lost); a folder contains nothing
 * but ignored junk (which the executor may remove with it). Afterwards the synced entry
 * `syncedPath` is removed if `forgetSynced` (it is kept while synced entries of nodes that moved
 * out on one side still hang below it; a later updateSynced forgets it).
 */
export interface DeleteLocalOp {
  type: 'deleteLocal';
  kind: EntryKind;
  localPath: string;
  expectLocal: LocalExpectation;
  syncedPath: string;
  forgetSynced: boolean;
}

/**
 * Delete a remote file or (empty) folder because the local side deleted it. Files name the
 * revision they delete (`baseRevisionId`, the synced one): the server must refuse a stale one.
 * Folders must have no live children except ignored junk. Afterwards `syncedPath` is removed
 * if `forgetSynced` (as for deleteLocal).
 */
export interface DeleteRemoteOp {
  type: 'deleteRemote';
  kind: EntryKind;
  remoteId: number;
  remotePath: string;
  baseRevisionId: number | null;
  syncedPath: string;
  forgetSynced: boolean;
}

/**
 * Rename/move a local entry (with everything below it) from `from` to `to`, to follow a move
 * made on the server. Before: `from` still has `expectLocal.fileId`; nothing at `to` (unless
 * `caseOnly`: same slot, different letter case — rename through a temporary name on
 * case-insensitive file systems); `to`'s parent exists.
 * `parking`: a step to a temporary free name that breaks a cycle of moves (a swap).
 */
export interface MoveLocalOp {
  type: 'moveLocal';
  kind: EntryKind;
  from: string;
  to: string;
  expectLocal: { fileId: string };
  remoteId: number;
  caseOnly: boolean;
  parking: boolean;
  synced: SyncedTarget;
}

/**
 * Rename/move remote node `remoteId` to folder `toParentId` (null = top level) as `name`, to
 * follow a local move. The documented API has `rename` and `move`: the executor calls whichever
 * is needed (both when parent and name change). `from`/`to` are the paths before and after.
 */
export interface MoveRemoteOp {
  type: 'moveRemote';
  kind: EntryKind;
  remoteId: number;
  from: string;
  to: string;
  toParentId: number | null;
  name: string;
  caseOnly: boolean;
  parking: boolean;
  synced: SyncedTarget;
}

export type CollisionReason =
  /** One file changed on both sides since the base, to different content. */
  | 'bothModified'
  /** A new local file and a new remote file with different content got the same path. */
  | 'bothCreated'
  /** A file and a folder want the same path. */
  | 'typeConflict'
  /** Two different nodes want the same path (a move or a kept-after-delete node meets another one). */
  | 'nameConflict';

/**
 * The local entry at `localPath` and the remote node `remote` cannot both have that path.
 * `mode === 'manual'` (the machine's `manual_collisions`): record it for the user, change
 * nothing. `mode === 'keepBoth'`: rename the local entry (a file, or a folder with its content)
 * to a free collision copy name in the same folder (`uniqueCollisionCopyName`), and remove the
 * synced entry `forgetSyncedPath` if not null. The next plans then download the remote version
 * to `localPath` and upload the copy as a new file: both versions are kept.
 * Before: the local entry still has `expectLocal`; the remote node still has `remote.revisionId`.
 */
export interface CollisionOp {
  type: 'collision';
  reason: CollisionReason;
  mode: 'manual' | 'keepBoth';
  localPath: string;
  expectLocal: LocalExpectation;
  local: { kind: EntryKind; size: number; sha256: string | null; mtime: number };
  remote: { path: string; kind: EntryKind; id: number; revisionId: number | null; size: number; sha256: string | null };
  /** The merge base both versions came from (bothModified), else null. */
  base: { revisionId: number | null; sha256: string | null } | null;
  forgetSyncedPath: string | null;
}

export type WarningCode =
  | 'invalidRemotePath'
  | 'invalidLocalName'
  | 'unsupportedLocalName'
  | 'localPathTooLong'
  | 'excluded'
  | 'tooLarge'
  | 'nameClash';

/** A path that cannot be synced, with the reason for the user. No action. */
export interface WarningOp {
  type: 'warning';
  side: 'local' | 'remote';
  path: string;
  code: WarningCode;
  message: string;
}

/**
 * Both sides already agree: just record the merge base. `path` is the node's current synced
 * path (null: none yet); `entry` the new base (null: forget it). A folder whose path changes
 * carries its synced descendants along.
 * Reasons: sameContent (both sides changed to the same bytes), sameMove (both moved it to the
 * same place; the base content is unchanged), identity (the local file got a new fileId with
 * unchanged content), bothDeleted, bothCreated (same file or a folder created on both sides),
 * parking (only the base moves to a temporary name, to break a cycle of waits).
 * Before: the local entry at `localPath` still matches `expectLocal` and the remote node
 * `expectRemote.id` still exists (with `expectRemote.revisionId`, when that is given).
 */
export interface UpdateSyncedOp {
  type: 'updateSynced';
  reason: 'sameContent' | 'sameMove' | 'identity' | 'bothDeleted' | 'bothCreated' | 'parking';
  path: string | null;
  entry: SyncedEntry | null;
  /** Where the node is now on each side (null for bothDeleted). */
  localPath: string | null;
  remotePath: string | null;
  expectLocal: LocalExpectation | null;
  expectRemote: { id: number; revisionId?: number | null } | null;
}

export type Operation =
  | UploadOp
  | DownloadOp
  | CreateLocalFolderOp
  | CreateRemoteFolderOp
  | DeleteLocalOp
  | DeleteRemoteOp
  | MoveLocalOp
  | MoveRemoteOp
  | CollisionOp
  | WarningOp
  | UpdateSyncedOp;

export type OperationType = Operation['type'];

/** What the executor learned from carrying out an operation. */
export interface OpOutcome {
  /** fileId of a file/folder the operation created locally (download, createLocalFolder). */
  localFileId?: string;
  /** Local mtime after a download. */
  mtime?: number;
  /** Content hash of what was downloaded (needed when the server gave none). */
  sha256?: string;
  /** Id of a node created on the server (upload of a new file, createRemoteFolder). */
  remoteId?: number;
  /** Revision created by an upload. */
  revisionId?: number;
  /** Path the local version went to (collision, keepBoth). */
  copyPath?: string;
}

/** How the synced tree changes when an operation succeeded (one SQLite transaction). */
export type SyncedChange =
  | { kind: 'none' }
  /** Insert/replace `entry`; delete the entry at `replaces` first; a folder's synced descendants move from `replaces` to `entry.path`. */
  | { kind: 'put'; entry: SyncedEntry; replaces: string | null }
  /** The entry at `from` (and, for a folder, everything below it) now lives at `to`. */
  | { kind: 'move'; from: string; to: string }
  | { kind: 'remove'; path: string };

function need<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new Error(`operation outcome lacks ${what}`);
  return v;
}

/** The change to the synced tree once `op` succeeded with `outcome`. */
export function syncedChange(op: Operation, outcome: OpOutcome = {}): SyncedChange {
  switch (op.type) {
    case 'upload':
      return {
        kind: 'put',
        replaces: op.synced.replaces,
        entry: {
          path: op.synced.path,
          kind: 'file',
          remoteId: op.remoteId ?? need(outcome.remoteId, 'remoteId'),
          revisionId: need(outcome.revisionId, 'revisionId'),
          sha256: op.expectLocal.sha256,
          localFileId: op.expectLocal.fileId,
          size: op.expectLocal.size,
          mtime: op.expectLocal.mtime,
        },
      };
    case 'download': {
      const sha = op.sha256 ?? need(outcome.sha256, 'sha256');
      return {
        kind: 'put',
        replaces: op.synced.replaces,
        entry: {
          path: op.synced.path,
          kind: 'file',
          remoteId: op.remoteId,
          revisionId: op.revisionId,
          sha256: sha,
          localFileId: need(outcome.localFileId, 'localFileId'),
          size: op.size,
          mtime: outcome.mtime ?? null,
        },
      };
    }
    case 'createLocalFolder':
      return {
        kind: 'put',
        replaces: op.synced.replaces,
        entry: folderEntry(op.synced.path, op.remoteId, need(outcome.localFileId, 'localFileId')),
      };
    case 'createRemoteFolder':
      return {
        kind: 'put',
        replaces: op.synced.replaces,
        entry: folderEntry(op.synced.path, need(outcome.remoteId, 'remoteId'), op.expectLocal.fileId),
      };
    case 'deleteLocal':
    case 'deleteRemote':
      return op.forgetSynced ? { kind: 'remove', path: op.syncedPath } : { kind: 'none' };
    case 'moveLocal':
    case 'moveRemote':
      return { kind: 'move', from: need(op.synced.replaces ?? undefined, 'synced.replaces'), to: op.synced.path };
    case 'collision':
      return op.mode === 'keepBoth' && op.forgetSyncedPath !== null ? { kind: 'remove', path: op.forgetSyncedPath } : { kind: 'none' };
    case 'updateSynced':
      if (op.entry === null) return op.path === null ? { kind: 'none' } : { kind: 'remove', path: op.path };
      return { kind: 'put', entry: op.entry, replaces: op.path };
    case 'warning':
      return { kind: 'none' };
  }
}

function folderEntry(path: string, remoteId: number, localFileId: string): SyncedEntry {
  return { path, kind: 'folder', remoteId, revisionId: null, sha256: null, localFileId, size: 0, mtime: null };
}

/** Apply a synced change to a synced tree (pure). */
export function applySyncedChange(tree: Tree<SyncedEntry>, change: SyncedChange): Map<string, SyncedEntry> {
  switch (change.kind) {
    case 'none':
      return new Map(tree);
    case 'remove': {
      const m = new Map(tree);
      m.delete(change.path);
      return m;
    }
    case 'move': {
      return moveSubtree(tree, change.from, change.to);
    }
    case 'put': {
      let m = new Map(tree);
      if (change.replaces !== null && m.has(change.replaces)) {
        const old = m.get(change.replaces)!;
        if (old.kind === 'folder' && change.replaces !== change.entry.path) m = moveSubtree(m, change.replaces, change.entry.path);
        m.delete(change.replaces);
      }
      m.set(change.entry.path, change.entry);
      return m;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Preconditions against the trees (the simulation's stand-in for the executor's checks)

class Keyed<E extends { path: string; kind: EntryKind }> {
  private readonly byKey = new Map<string, E>();
  constructor(
    readonly tree: Tree<E>,
    private readonly ci: boolean,
  ) {
    for (const e of tree.values()) this.byKey.set(pathKey(e.path, ci), e);
  }
  get(p: string): E | undefined {
    return this.byKey.get(pathKey(p, this.ci));
  }
  hasChildren(p: string): boolean {
    for (const e of this.tree.values()) if (isStrictAncestor(p, e.path)) return true;
    return false;
  }
  folderExists(p: string): boolean {
    return p === '' || this.get(p)?.kind === 'folder';
  }
}

function remoteById(tree: Tree<RemoteEntry>, id: number): RemoteEntry | undefined {
  for (const e of tree.values()) if (e.id === id) return e;
  return undefined;
}

function localMatches(e: LocalEntry | undefined, exp: LocalExpectation | { fileId: string }, path: string): string | null {
  if (!e || e.path !== path) return `local ${path} is gone`;
  if (e.fileId !== exp.fileId) return `local ${path} is another file now`;
  if ('sha256' in exp && exp.sha256 !== null && e.sha256 !== exp.sha256) return `local ${path} changed`;
  return null;
}

function remoteParentOk(remote: Keyed<RemoteEntry>, path: string, parentId: number | null): string | null {
  const pp = parentPath(path);
  if (pp === '') return parentId === null ? null : `remote parent of ${path} is not the top level`;
  const p = remote.get(pp);
  if (!p || p.kind !== 'folder' || p.id !== parentId) return `remote parent of ${path} is not folder ${parentId}`;
  return null;
}

/**
 * Whether `op` may run against these trees: null, or what fails. `caseInsensitive` says how
 * slots are compared (use the planner's `keysCaseInsensitive(policy)`).
 */
export function checkPreconditions(trees: Trees, op: Operation, caseInsensitive = true): string | null {
  const local = new Keyed(trees.local, caseInsensitive);
  const remote = new Keyed(trees.remote, caseInsensitive);
  const synced = new Keyed(trees.synced, caseInsensitive);
  const syncedTargetOk = (t: SyncedTarget): string | null => {
    if (t.replaces !== null && !trees.synced.has(t.replaces)) return `synced ${t.replaces} is gone`;
    const at = synced.get(t.path);
    if (at && at.path !== t.replaces) return `synced ${t.path} is taken`;
    if (!synced.folderExists(parentPath(t.path))) return `synced parent of ${t.path} is missing`;
    if (t.replaces !== null && t.replaces !== t.path && isStrictAncestor(t.replaces, t.path)) return `synced ${t.path} is inside ${t.replaces}`;
    return null;
  };
  switch (op.type) {
    case 'upload': {
      const l = local.get(op.localPath);
      const e = localMatches(l, op.expectLocal, op.localPath);
      if (e) return e;
      if (l!.kind !== 'file') return `local ${op.localPath} is not a file`;
      if (op.remoteId !== null) {
        const r = remoteById(trees.remote, op.remoteId);
        if (!r || r.kind !== 'file') return `remote ${op.remoteId} is gone`;
        if (r.revisionId !== op.baseRevisionId) return `remote ${op.remoteId} has revision ${r.revisionId}, not ${op.baseRevisionId}`;
      } else {
        const pe = remoteParentOk(remote, op.remotePath, op.remoteParentId);
        if (pe) return pe;
        if (remote.get(op.remotePath)) return `remote ${op.remotePath} exists`;
      }
      return syncedTargetOk(op.synced);
    }
    case 'download': {
      const r = remoteById(trees.remote, op.remoteId);
      if (!r || r.kind !== 'file') return `remote ${op.remoteId} is gone`;
      if (r.revisionId !== op.revisionId) return `remote ${op.remoteId} has revision ${r.revisionId}, not ${op.revisionId}`;
      if (op.expectLocal === null) {
        if (local.get(op.localPath)) return `local ${op.localPath} exists`;
        if (!local.folderExists(parentPath(op.localPath))) return `local parent of ${op.localPath} is missing`;
      } else {
        const l = local.get(op.localPath);
        const e = localMatches(l, op.expectLocal, op.localPath);
        if (e) return e;
        if (l!.kind !== 'file') return `local ${op.localPath} is not a file`;
      }
      return syncedTargetOk(op.synced);
    }
    case 'createLocalFolder': {
      const r = remoteById(trees.remote, op.remoteId);
      if (!r || r.kind !== 'folder') return `remote folder ${op.remoteId} is gone`;
      if (local.get(op.localPath)) return `local ${op.localPath} exists`;
      if (!local.folderExists(parentPath(op.localPath))) return `local parent of ${op.localPath} is missing`;
      return syncedTargetOk(op.synced);
    }
    case 'createRemoteFolder': {
      const l = local.get(op.localPath);
      const e = localMatches(l, op.expectLocal, op.localPath);
      if (e) return e;
      if (l!.kind !== 'folder') return `local ${op.localPath} is not a folder`;
      const pe = remoteParentOk(remote, op.remotePath, op.remoteParentId);
      if (pe) return pe;
      if (remote.get(op.remotePath)) return `remote ${op.remotePath} exists`;
      return syncedTargetOk(op.synced);
    }
    case 'deleteLocal': {
      const l = local.get(op.localPath);
      const e = localMatches(l, op.expectLocal, op.localPath);
      if (e) return e;
      if (l!.kind !== op.kind) return `local ${op.localPath} is not a ${op.kind}`;
      if (op.kind === 'folder' && local.hasChildren(op.localPath)) return `local folder ${op.localPath} is not empty`;
      if (!trees.synced.has(op.syncedPath)) return `synced ${op.syncedPath} is gone`;
      if (op.forgetSynced && synced.hasChildren(op.syncedPath)) return `synced ${op.syncedPath} has children`;
      return null;
    }
    case 'deleteRemote': {
      const r = remoteById(trees.remote, op.remoteId);
      if (!r || r.kind !== op.kind) return `remote ${op.remoteId} is gone`;
      if (r.revisionId !== op.baseRevisionId) return `remote ${op.remoteId} has revision ${r.revisionId}, not ${op.baseRevisionId}`;
      if (op.kind === 'folder' && remote.hasChildren(r.path)) return `remote folder ${r.path} is not empty`;
      if (!trees.synced.has(op.syncedPath)) return `synced ${op.syncedPath} is gone`;
      if (op.forgetSynced && synced.hasChildren(op.syncedPath)) return `synced ${op.syncedPath} has children`;
      return null;
    }
    case 'moveLocal': {
      const l = local.get(op.from);
      const e = localMatches(l, op.expectLocal, op.from);
      if (e) return e;
      if (isStrictAncestor(op.from, op.to)) return `cannot move ${op.from} into itself`;
      const at = local.get(op.to);
      if (at && at !== l) return `local ${op.to} exists`;
      if (at === l && !op.caseOnly && op.from !== op.to) return `local ${op.to} is the same slot`;
      if (!local.folderExists(parentPath(op.to))) return `local parent of ${op.to} is missing`;
      return syncedTargetOk(op.synced);
    }
    case 'moveRemote': {
      const r = remoteById(trees.remote, op.remoteId);
      if (!r || r.kind !== op.kind) return `remote ${op.remoteId} is gone`;
      if (r.path !== op.from) return `remote ${op.remoteId} is at ${r.path}, not ${op.from}`;
      if (isStrictAncestor(op.from, op.to)) return `cannot move ${op.from} into itself`;
      const at = remote.get(op.to);
      if (at && at !== r) return `remote ${op.to} exists`;
      const pe = remoteParentOk(remote, op.to, op.toParentId);
      if (pe) return pe;
      return syncedTargetOk(op.synced);
    }
    case 'collision': {
      const l = local.get(op.localPath);
      const e = localMatches(l, op.expectLocal, op.localPath);
      if (e) return e;
      const r = remoteById(trees.remote, op.remote.id);
      if (!r || r.kind !== op.remote.kind || r.revisionId !== op.remote.revisionId) return `remote ${op.remote.id} changed`;
      if (op.forgetSyncedPath !== null && !trees.synced.has(op.forgetSyncedPath)) return `synced ${op.forgetSyncedPath} is gone`;
      return null;
    }
    case 'updateSynced': {
      if (op.path !== null && !trees.synced.has(op.path)) return `synced ${op.path} is gone`;
      if (op.entry === null) return null;
      if (op.expectLocal !== null) {
        if (op.localPath === null) return 'expectLocal without localPath';
        const e = localMatches(local.get(op.localPath), op.expectLocal, op.localPath);
        if (e) return e;
      }
      if (op.expectRemote !== null) {
        const r = remoteById(trees.remote, op.expectRemote.id);
        if (!r || r.kind !== op.entry.kind) return `remote ${op.expectRemote.id} is gone`;
        if (op.remotePath !== null && r.path !== op.remotePath) return `remote ${op.expectRemote.id} moved`;
        if (op.expectRemote.revisionId !== undefined && r.revisionId !== op.expectRemote.revisionId) return `remote ${op.expectRemote.id} changed`;
      }
      return syncedTargetOk({ path: op.entry.path, replaces: op.path });
    }
    case 'warning':
      return null;
  }
}

// ---------------------------------------------------------------------------------------------
// Simulation

/** Thrown by applyOperation when an operation's preconditions do not hold. */
export class PreconditionError extends Error {}

/**
 * The trees after `op` succeeded with `outcome` (a pure simulation: the local tree as the local
 * observer would then see the disk, the remote tree as the server would then report, and the
 * synced tree as the executor records it). Throws PreconditionError when the op's
 * preconditions do not hold. For a keepBoth collision `outcome.copyPath` names where the local
 * version went; for manual collisions and warnings nothing changes.
 */
export function applyOperation(trees: Trees, op: Operation, outcome: OpOutcome = {}, caseInsensitive = true): Trees {
  const why = checkPreconditions(trees, op, caseInsensitive);
  if (why !== null) throw new PreconditionError(`${op.type}: ${why}`);
  let local: Tree<LocalEntry> = trees.local;
  let remote: Tree<RemoteEntry> = trees.remote;
  const synced = applySyncedChange(trees.synced, syncedChange(op, outcome));
  const setLocal = (e: LocalEntry): void => {
    const m = new Map(local);
    m.set(e.path, e);
    local = m;
  };
  const setRemote = (e: RemoteEntry): void => {
    const m = new Map(remote);
    m.set(e.path, e);
    remote = m;
  };
  const byId = (id: number): RemoteEntry => remoteById(remote, id)!;
  // On a case-insensitive side a parent folder may be spelled differently by now (renamed in
  // case only): the new entry lands in the folder as it is actually spelled.
  const canon = (tree: Tree<LocalEntry> | Tree<RemoteEntry>, p: string): string => {
    const pp = parentPath(p);
    if (pp === '') return p;
    const parent = new Keyed<LocalEntry | RemoteEntry>(tree as Tree<LocalEntry | RemoteEntry>, caseInsensitive).get(pp);
    return parent ? joinPath(parent.path, baseName(p)) : p;
  };
  switch (op.type) {
    case 'upload': {
      if (op.remoteId !== null) {
        const r = byId(op.remoteId);
        setRemote({ ...r, revisionId: need(outcome.revisionId, 'revisionId'), sha256: op.expectLocal.sha256, size: op.expectLocal.size });
      } else {
        setRemote({
          path: canon(remote, op.remotePath),
          kind: 'file',
          id: need(outcome.remoteId, 'remoteId'),
          revisionId: need(outcome.revisionId, 'revisionId'),
          sha256: op.expectLocal.sha256,
          size: op.expectLocal.size,
        });
      }
      break;
    }
    case 'download': {
      const m = new Map(local);
      const old = new Keyed(local, caseInsensitive).get(op.localPath);
      if (old) m.delete(old.path);
      const at = canon(local, op.localPath);
      m.set(at, {
        path: at,
        kind: 'file',
        fileId: need(outcome.localFileId, 'localFileId'),
        size: op.size,
        mtime: outcome.mtime ?? 0,
        sha256: op.sha256 ?? need(outcome.sha256, 'sha256'),
      });
      local = m;
      break;
    }
    case 'createLocalFolder':
      setLocal({ path: canon(local, op.localPath), kind: 'folder', fileId: need(outcome.localFileId, 'localFileId'), size: 0, mtime: outcome.mtime ?? 0, sha256: null });
      break;
    case 'createRemoteFolder':
      setRemote({ path: canon(remote, op.remotePath), kind: 'folder', id: need(outcome.remoteId, 'remoteId'), revisionId: null, size: 0, sha256: null });
      break;
    case 'deleteLocal': {
      const m = new Map(local);
      m.delete(new Keyed(local, caseInsensitive).get(op.localPath)!.path);
      local = m;
      break;
    }
    case 'deleteRemote': {
      const m = new Map(remote);
      m.delete(byId(op.remoteId).path);
      remote = m;
      break;
    }
    case 'moveLocal':
      local = moveSubtree(local, new Keyed(local, caseInsensitive).get(op.from)!.path, canon(local, op.to));
      break;
    case 'moveRemote':
      remote = moveSubtree(remote, byId(op.remoteId).path, canon(remote, op.to));
      break;
    case 'collision': {
      if (op.mode === 'keepBoth') {
        const copy = need(outcome.copyPath, 'copyPath');
        if (parentPath(copy) !== parentPath(op.localPath) || baseName(copy) === '') throw new Error('copyPath must be in the same folder');
        const at = new Keyed(local, caseInsensitive).get(copy);
        if (at) throw new PreconditionError(`collision: copy path ${copy} is taken`);
        local = moveSubtree(local, new Keyed(local, caseInsensitive).get(op.localPath)!.path, copy);
      }
      break;
    }
    case 'updateSynced':
    case 'warning':
      break;
  }
  return { local, remote, synced };
}

/** Convenience for tests and the executor: the path an op is mainly about (for logs and sorting). */
export function operationPath(op: Operation): string {
  switch (op.type) {
    case 'upload':
    case 'download':
    case 'createLocalFolder':
    case 'createRemoteFolder':
    case 'deleteLocal':
    case 'collision':
      return op.localPath;
    case 'deleteRemote':
      return op.remotePath;
    case 'moveLocal':
    case 'moveRemote':
      return op.from;
    case 'warning':
      return op.path;
    case 'updateSynced':
      return op.entry?.path ?? op.path ?? '';
  }
}
