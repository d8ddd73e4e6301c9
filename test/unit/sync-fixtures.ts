// Test fixtures for the planner: compact tree builders and a simulated world (the three trees
// plus the server's revision history) that carries out planned operations with applyOperation.

import { applyOperation } from '../../src/core/operations.js';
import type { OpOutcome, Operation } from '../../src/core/operations.js';
import { baseName, joinPath, parentPath, pathKey, uniqueCollisionCopyName } from '../../src/core/paths.js';
import { AgreementTracker } from '../../src/core/agreed.js';
import { describeOperation, keysCaseInsensitive, plan, planWhole } from '../../src/core/planner.js';
import type { SyncPolicy } from '../../src/core/planner.js';
import type { LocalEntry, RemoteEntry, SyncedEntry, Trees } from '../../src/core/tree.js';
import { makeTree, sortedEntries } from '../../src/core/tree.js';

export const sha = (content: string): string => `sha(${content})`;

export const POLICY: SyncPolicy = { caseInsensitive: false, serverCaseInsensitive: false, platform: 'linux', manualCollisions: false };

/**
 * A compact description of one synced node as it is on all three sides. `content` is a
 * file's content (its sha is sha(content)); undefined = folder.
 */
export interface Spec {
  path: string;
  content?: string;
  id?: number;
  rev?: number;
  fileId?: string;
}

/** Three equal trees (everything in sync) from specs; ids derived from the order. */
export function inSync(specs: Spec[]): { remote: Map<string, RemoteEntry>; local: Map<string, LocalEntry>; synced: Map<string, SyncedEntry> } {
  const remote: RemoteEntry[] = [];
  const local: LocalEntry[] = [];
  const synced: SyncedEntry[] = [];
  specs.forEach((s, i) => {
    const id = s.id ?? 100 + i;
    const rev = s.rev ?? 1000 + i;
    const fileId = s.fileId ?? `ino${id}`;
    const isFile = s.content !== undefined;
    const h = isFile ? sha(s.content!) : null;
    const size = isFile ? s.content!.length : 0;
    remote.push({ path: s.path, kind: isFile ? 'file' : 'folder', id, revisionId: isFile ? rev : null, size, sha256: h });
    local.push({ path: s.path, kind: isFile ? 'file' : 'folder', fileId, size, mtime: 1, sha256: h });
    synced.push({ path: s.path, kind: isFile ? 'file' : 'folder', remoteId: id, revisionId: isFile ? rev : null, sha256: h, localFileId: fileId, size, mtime: isFile ? 1 : null });
  });
  return { remote: makeTree(remote), local: makeTree(local), synced: makeTree(synced) };
}

export function rfile(path: string, content: string, id: number, rev: number): RemoteEntry {
  return { path, kind: 'file', id, revisionId: rev, size: content.length, sha256: sha(content) };
}
export function rfolder(path: string, id: number): RemoteEntry {
  return { path, kind: 'folder', id, revisionId: null, size: 0, sha256: null };
}
export function lfile(path: string, content: string | null, fileId: string): LocalEntry {
  return { path, kind: 'file', fileId, size: content?.length ?? 0, mtime: 2, sha256: content === null ? null : sha(content) };
}
export function lfolder(path: string, fileId: string): LocalEntry {
  return { path, kind: 'folder', fileId, size: 0, mtime: 2, sha256: null };
}

/** A mutable world: trees, the server's revision history and id counters. */
export class World {
  local: Map<string, LocalEntry>;
  remote: Map<string, RemoteEntry>;
  synced: Map<string, SyncedEntry>;
  /** Every revision the server ever had: revisionId → sha. Never shrinks (the server keeps history). */
  readonly revisions = new Map<number, string | null>();
  /** Content of files whose local hash is pending: fileId → sha. */
  readonly pendingContent = new Map<string, string>();
  private nextLocal = 1;
  private nextRemote = 5000;
  private nextRev = 90000;
  readonly log: string[] = [];

  constructor(
    trees: { local: Map<string, LocalEntry>; remote: Map<string, RemoteEntry>; synced: Map<string, SyncedEntry> },
    readonly policy: SyncPolicy,
  ) {
    this.local = new Map(trees.local);
    this.remote = new Map(trees.remote);
    this.synced = new Map(trees.synced);
    for (const r of this.remote.values()) if (r.revisionId !== null) this.revisions.set(r.revisionId, r.sha256);
  }

  get ci(): boolean {
    return keysCaseInsensitive(this.policy);
  }
  get trees(): Trees {
    return { local: this.local, remote: this.remote, synced: this.synced };
  }
  key(p: string): string {
    return pathKey(p, this.ci);
  }
  newFileId(): string {
    return `new${this.nextLocal++}`;
  }
  newRemoteId(): number {
    return this.nextRemote++;
  }
  newRevision(h: string | null): number {
    const r = this.nextRev++;
    this.revisions.set(r, h);
    return r;
  }

  /** Followed from plan to plan, as the engine does (see plan()). */
  private readonly agreement = new AgreementTracker();

  /**
   * The plan, as the engine makes it (the agreed entries left out by a tracker that follows the
   * trees from round to round); checked against the plan over the whole trees every time.
   */
  plan(): Operation[] {
    const input = { remote: this.remote, local: this.local, synced: this.synced, policy: this.policy };
    const ops = plan(input, this.agreement);
    const whole = planWhole(input);
    if (JSON.stringify(ops) !== JSON.stringify(whole)) {
      throw new Error(`the plan without the agreed entries differs from the whole plan:\n${ops.map(describeOperation).join('\n')}\n---\n${whole.map(describeOperation).join('\n')}`);
    }
    return ops;
  }

  /** The outcome the executor would report for `op`. */
  outcomeFor(op: Operation): OpOutcome {
    switch (op.type) {
      case 'upload':
        return { revisionId: this.newRevision(op.expectLocal.sha256), ...(op.remoteId === null ? { remoteId: this.newRemoteId() } : {}) };
      case 'download':
        // The executor hashes what it wrote (the server may not have said).
        return { localFileId: this.newFileId(), mtime: 3, sha256: this.revisions.get(op.revisionId) ?? undefined };
      case 'createLocalFolder':
        return { localFileId: this.newFileId() };
      case 'createRemoteFolder':
        return { remoteId: this.newRemoteId() };
      case 'collision': {
        if (op.mode !== 'keepBoth') return {};
        const dir = parentPath(op.localPath);
        const remoteDir = parentPath(op.remote.path);
        const taken = (name: string): boolean =>
          [...this.local.keys()].some((p) => this.key(p) === this.key(joinPath(dir, name))) ||
          [...this.remote.keys()].some((p) => this.key(p) === this.key(joinPath(remoteDir, name)));
        const name = uniqueCollisionCopyName(baseName(op.localPath), new Date(Date.UTC(2025, 0, 2, 3, 4, 5)), 'M', taken, { isFolder: op.local.kind === 'folder' });
        return { copyPath: joinPath(dir, name) };
      }
      default:
        return {};
    }
  }

  /** Carry out `op` as if it succeeded (throws if its preconditions do not hold). */
  apply(op: Operation): void {
    const t = applyOperation(this.trees, op, this.outcomeFor(op), this.ci);
    this.local = new Map(t.local);
    this.remote = new Map(t.remote);
    this.synced = new Map(t.synced);
  }

  /** The local observer catches up: every pending hash is computed. */
  hashAll(): void {
    for (const [p, e] of this.local) {
      if (e.kind === 'file' && e.sha256 === null) {
        this.local.set(p, { ...e, sha256: this.pendingContent.get(e.fileId) ?? 'sha(?)' });
      }
    }
  }

  /** Plan and apply everything until the planner has nothing left (returns the rounds used). */
  settle(maxRounds = 50): number {
    for (let round = 1; round <= maxRounds; round++) {
      const ops = this.plan().filter((o) => o.type !== 'warning' && !(o.type === 'collision' && o.mode === 'manual'));
      if (ops.length === 0) return round - 1;
      for (const op of ops) this.apply(op);
    }
    throw new Error('did not settle');
  }

  /** Differences between local, remote and synced (empty when converged). */
  divergence(ignore: (e: LocalEntry | RemoteEntry) => boolean = () => false): string[] {
    const out: string[] = [];
    const keep = (m: Map<string, LocalEntry | RemoteEntry>): string[] => [...m.values()].filter((e) => !ignore(e)).map((e) => e.path);
    const paths = new Set([...keep(this.local), ...keep(this.remote), ...this.synced.keys()]);
    for (const p of [...paths].sort()) {
      const l0 = this.local.get(p);
      const r0 = this.remote.get(p);
      const l = l0 && !ignore(l0) ? l0 : undefined;
      const r = r0 && !ignore(r0) ? r0 : undefined;
      const s = this.synced.get(p);
      if (!l || !r || !s) {
        out.push(`${p}: local ${l ? 'yes' : 'no'}, remote ${r ? 'yes' : 'no'}, synced ${s ? 'yes' : 'no'}`);
        continue;
      }
      if (l.kind !== r.kind || s.kind !== l.kind) out.push(`${p}: kinds ${l.kind}/${r.kind}/${s.kind}`);
      if (l.kind === 'file' && (l.sha256 !== r.sha256 || s.sha256 !== l.sha256)) out.push(`${p}: content ${l.sha256}/${r.sha256}/${s.sha256}`);
      if (s.remoteId !== r.id) out.push(`${p}: synced remote id ${s.remoteId} vs ${r.id}`);
      if (s.localFileId !== l.fileId) out.push(`${p}: synced file id ${s.localFileId} vs ${l.fileId}`);
      if (s.revisionId !== r.revisionId) out.push(`${p}: synced revision ${s.revisionId} vs ${r.revisionId}`);
    }
    return out;
  }

  /** A readable dump of the three trees. */
  dump(): string {
    const side = (name: string, m: Map<string, { path: string }>, f: (e: never) => string): string =>
      `${name}:\n` + sortedEntries([...m.values()]).map((e) => `  ${e.path} ${f(e as never)}`).join('\n');
    return [
      side('local', this.local, (e: LocalEntry) => `${e.kind} ${e.fileId} ${e.sha256 ?? ''}`),
      side('remote', this.remote, (e: RemoteEntry) => `${e.kind} #${e.id} r${e.revisionId ?? ''} ${e.sha256 ?? ''}`),
      side('synced', this.synced, (e: SyncedEntry) => `${e.kind} #${e.remoteId} ${e.localFileId} r${e.revisionId ?? ''} ${e.sha256 ?? ''}`),
    ].join('\n');
  }
}

/** Edits on one side of a world, as a user (or another client) would make them. */
export class SideEditor {
  private n = 0;
  constructor(
    private readonly w: World,
    private readonly side: 'local' | 'remote',
  ) {}
  private get tree(): Map<string, LocalEntry | RemoteEntry> {
    return this.side === 'local' ? this.w.local : this.w.remote;
  }
  /** Create or overwrite a file (local: same fileId unless `newId`; remote: new revision). */
  write(path: string, content: string, opts: { newId?: boolean; pending?: boolean } = {}): this {
    if (this.side === 'local') {
      const old = this.w.local.get(path);
      const fileId = old && !opts.newId ? old.fileId : `L${++this.n}:${path}`;
      if (opts.pending) this.w.pendingContent.set(fileId, sha(content));
      this.w.local.set(path, { path, kind: 'file', fileId, size: content.length, mtime: 9, sha256: opts.pending ? null : sha(content) });
    } else {
      const old = this.w.remote.get(path);
      const id = old && !opts.newId ? old.id : this.w.newRemoteId();
      this.w.remote.set(path, { path, kind: 'file', id, revisionId: this.w.newRevision(sha(content)), size: content.length, sha256: sha(content) });
    }
    return this;
  }
  mkdir(path: string): this {
    if (this.side === 'local') this.w.local.set(path, { path, kind: 'folder', fileId: `L${++this.n}:${path}`, size: 0, mtime: 9, sha256: null });
    else this.w.remote.set(path, { path, kind: 'folder', id: this.w.newRemoteId(), revisionId: null, size: 0, sha256: null });
    return this;
  }
  /** Delete an entry and everything below it. */
  rm(path: string): this {
    for (const p of [...this.tree.keys()]) if (p === path || p.startsWith(path + '/')) this.tree.delete(p);
    return this;
  }
  /** Move/rename an entry with everything below it (ids kept). */
  mv(from: string, to: string): this {
    const moved = moveSubtreeOf(this.tree, from, to);
    if (this.side === 'local') this.w.local = moved as Map<string, LocalEntry>;
    else this.w.remote = moved as Map<string, RemoteEntry>;
    return this;
  }
  /** Put an arbitrary entry (for odd cases). */
  put(e: LocalEntry | RemoteEntry): this {
    this.tree.set(e.path, e);
    return this;
  }
}

function moveSubtreeOf<E extends { path: string }>(tree: Map<string, E>, from: string, to: string): Map<string, E> {
  const out = new Map<string, E>();
  for (const [p, e] of tree) {
    if (p === from || p.startsWith(from + '/')) {
      const np = to + p.slice(from.length);
      out.set(np, { ...e, path: np });
    } else out.set(p, e);
  }
  return out;
}

/** path → content (files) or "/" (folders) of one side, for compact assertions. */
export function contents(tree: Map<string, LocalEntry | RemoteEntry>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const e of sortedEntries([...tree.values()])) {
    out[e.path] = e.kind === 'folder' ? '/' : (e.sha256 ?? 'pending').replace(/^sha\((.*)\)$/, '$1');
  }
  return out;
}
