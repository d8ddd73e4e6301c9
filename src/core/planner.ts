// The planner: a pure, deterministic function of the three trees (remote, local, synced) and the
// sync policy that returns the next batch of operations (./operations.ts).
//
// How it works (one call = one round; the executor runs the batch, the observers update the
// trees, and the planner is called again until it returns nothing but warnings):
//
// 1. Visibility. Entries that cannot take part are set aside: OS junk and our temp files
//    (silently), policy-excluded files, names the server or this platform cannot hold, paths the
//    server should never send ("..", absolute, …) and names that clash by case/normalization
//    (with a warning). Set-aside entries that really exist ("anchors") still count as content of
//    their folder, so such a folder is never deleted under them.
// 2. Nodes. Each synced entry is a node; its remote side is the remote entry with the same
//    server id, its local side the local entry with the same fileId (inode / NTFS file id) or,
//    failing that, the local entry at its synced path (editors that save by rename change the
//    inode). Unclaimed entries are new nodes (local-only / remote-only); a local-only and a
//    remote-only node with the same name in the same synced folder and the same content (or both
//    folders) are one node created on both sides.
// 3. Target tree. Every node gets a target location (parent node + name), merged three-way:
//    a location changed on the remote side wins, else one changed locally, else the base. Nodes
//    deleted on one side and unchanged on the other are deleted; a node changed on one side and
//    deleted on the other is kept (edits beat deletes); a folder is kept while anything kept
//    stays in it (its files are never deleted with it). Containment cycles (A moved into B here,
//    B into A there) are broken by taking the remote location; two nodes wanting one name are
//    resolved by taking the remote location for the one that has one, else by a collision that
//    moves the local one aside.
// 4. Operations. Each node gets at most one operation per round that moves one side (or the
//    merge base) towards the target, only when it can run now: parent folders exist and are
//    synced, the destination slot is free, deletes go bottom-up. Swaps and other cycles of
//    waiting moves are broken with a "parking" move to a temporary free name. Finally the batch
//    is reduced to operations that do not touch each other's paths, so they can run in any order
//    and concurrently.
//
// Safety (tested by test/unit/planner-random.test.ts):
// - no lost writes: a local file is only deleted or overwritten when it still has the synced
//   content (the executor re-checks `expectLocal`); content that exists only locally is uploaded
//   or kept as a collision copy;
// - a remote file is only deleted or replaced naming the synced revision (`baseRevisionId`), so
//   content that exists only on the server is never deleted by this agent;
// - a file whose local hash is still pending gets no operation at all.

import {
  type Platform,
  baseName,
  compareStrings,
  ignoreRules,
  isSameOrAncestor,
  joinPath,
  localNameProblem,
  localPathProblem,
  parentPath,
  pathDepth,
  pathKey,
  splitExtension,
  validateRelativePath,
  validateServerName,
} from './paths.js';
import type { CollisionOp, CollisionReason, LocalExpectation, Operation, SyncedTarget, UpdateSyncedOp, WarningCode, WarningOp } from './operations.js';
import type { EntryKind, LocalEntry, RemoteEntry, SyncedEntry, Tree } from './tree.js';
import { sortedEntries } from './tree.js';

export interface SyncPolicy {
  /** The local file system compares names case-insensitively (Windows, default macOS). */
  caseInsensitive: boolean;
  platform: Platform;
  /** The server compares names case-insensitively (the reference server does). Default true. */
  serverCaseInsensitive?: boolean;
  /** Largest file to upload, in bytes (the policy's `max_file_size` is in MB). Unset/null = no limit. */
  maxFileSize?: number | null;
  /** The policy's `excluded_extensions` (".exe,.tmp" or a list). */
  excludedExtensions?: string | readonly string[];
  /** The machine's `manual_collisions`: collisions are reported, not resolved. */
  manualCollisions: boolean;
  /** Length of the local root's absolute path (platform units), for the path length check. */
  localRootLength?: number;
  /** Longest absolute local path; null = unlimited (Windows long paths). Default per platform. */
  maxPathLength?: number | null;
}

export interface PlanInput {
  remote: Tree<RemoteEntry> | readonly RemoteEntry[];
  local: Tree<LocalEntry> | readonly LocalEntry[];
  synced: Tree<SyncedEntry> | readonly SyncedEntry[];
  policy: SyncPolicy;
}

/** Whether paths are compared case-insensitively: if either side folds case, both must. */
export function keysCaseInsensitive(policy: Pick<SyncPolicy, 'caseInsensitive' | 'serverCaseInsensitive'>): boolean {
  return policy.caseInsensitive || (policy.serverCaseInsensitive ?? true);
}

type Side = 'local' | 'remote' | 'synced';
type Status = 'delete' | 'pending' | 'keep';
const RANK: Record<Status, number> = { delete: 0, pending: 1, keep: 2 };

interface Loc {
  parent: Node;
  name: string;
}

interface Node {
  id: string;
  root: boolean;
  kind: EntryKind;
  synced?: SyncedEntry;
  local?: LocalEntry;
  remote?: RemoteEntry;
  localParent?: Node;
  remoteParent?: Node;
  syncedParent?: Node;
  /** Decision from this node alone. */
  own: Status;
  /** After keeping the folders that hold kept content. */
  status: Status;
  target?: Loc;
  onLocal: boolean;
  onRemote: boolean;
  /** Set when this node loses its target name to `winner` (a collision moves it aside). */
  winner?: Node;
  /** Local file whose hash is pending: no operation. */
  frozen: boolean;
}

// eslint-disable-next-line no-control-regex
const nfc = (s: string): string => (/^[\u0000-\u007f]*$/.test(s) ? s : s.normalize('NFC'));

function sameLoc(a: Loc | undefined, b: Loc | undefined): boolean {
  return !!a && !!b && a.parent === b.parent && nfc(a.name) === nfc(b.name);
}

/** Plan the next batch of operations. Pure and deterministic. */
export function plan(input: PlanInput): Operation[] {
  return new Planner(input).run();
}

interface Touch {
  side: Side;
  path: string;
  subtree: boolean;
}

interface Candidate {
  op: Operation;
  touches: Touch[];
  order: string;
}

class Planner {
  private readonly policy: SyncPolicy;
  private readonly ci: boolean;
  private readonly ignoreFile: (name: string) => ReturnType<ReturnType<typeof ignoreRules>>;
  private readonly ignoreFolder: (name: string) => ReturnType<ReturnType<typeof ignoreRules>>;
  private readonly keys = new Map<string, string>();
  private readonly warnings: WarningOp[] = [];
  private readonly root: Node;
  private readonly nodes: Node[] = [];

  private readonly localVisible = new Map<string, LocalEntry>();
  private readonly remoteVisible = new Map<string, RemoteEntry>();
  private readonly localAnchors = new Map<string, LocalEntry>();
  private readonly remoteAnchors = new Map<string, RemoteEntry>();
  private readonly nodeByLocal = new Map<string, Node>();
  private readonly nodeByRemote = new Map<string, Node>();
  private readonly nodeBySynced = new Map<string, Node>();
  private readonly localChildren = new Map<string, number>();
  private readonly remoteChildren = new Map<string, number>();
  private readonly syncedChildren = new Map<string, number>();
  private readonly kids: Record<Side, Map<Node, Node[]>> = { local: new Map(), remote: new Map(), synced: new Map() };

  private readonly remoteEntries: RemoteEntry[];
  private readonly localEntries: LocalEntry[];
  private readonly syncedEntries: SyncedEntry[];

  /** Blocked placements: node → what it waits for (for cycle breaking). */
  private readonly waits = new Map<Node, { on: Node; side: Side; occupancy: boolean }>();

  constructor(input: PlanInput) {
    this.policy = input.policy;
    this.ci = keysCaseInsensitive(input.policy);
    this.ignoreFile = ignoreRules(input.policy.excludedExtensions ?? []);
    this.ignoreFolder = ignoreRules([]);
    this.remoteEntries = sortedEntries(input.remote);
    this.localEntries = sortedEntries(input.local);
    this.syncedEntries = sortedEntries(input.synced);
    this.root = {
      id: '',
      root: true,
      kind: 'folder',
      own: 'keep',
      status: 'keep',
      onLocal: true,
      onRemote: true,
      frozen: false,
    };
  }

  private key(p: string): string {
    let k = this.keys.get(p);
    if (k === undefined) {
      k = pathKey(p, this.ci);
      this.keys.set(p, k);
    }
    return k;
  }

  private warn(side: 'local' | 'remote', path: string, code: WarningCode, message: string): void {
    this.warnings.push({ type: 'warning', side, path, code, message });
  }

  run(): Operation[] {
    this.filterRemote();
    this.filterLocal();
    this.buildNodes();
    this.pair();
    this.linkParents();
    this.decideOwn();
    this.computeTargets();
    this.resolveTargetTree();
    const candidates = this.derive();
    const accepted = this.selectIndependent(candidates);
    const warnings = dedupeWarnings(this.warnings);
    return [...accepted, ...warnings];
  }

  // ---------------------------------------------------------------------------------------------
  // 1. Visibility

  private filterSide<E extends { path: string; kind: EntryKind }>(
    entries: E[],
    visible: Map<string, E>,
    anchors: Map<string, E>,
    children: Map<string, number>,
    check: (e: E) => { drop: true } | { anchor: true; code: WarningCode; message: string } | { drop: false; anchor: false },
    prefer: (a: E, b: E) => number,
    side: 'local' | 'remote',
  ): void {
    let i = 0;
    while (i < entries.length) {
      const depth = pathDepth(entries[i]!.path);
      const group = new Map<string, E[]>();
      for (; i < entries.length && pathDepth(entries[i]!.path) === depth; i++) {
        const e = entries[i]!;
        const pp = parentPath(e.path);
        const parent = pp === '' ? undefined : visible.get(this.key(pp));
        const parentOk = pp === '' || (!!parent && parent.kind === 'folder' && parent.path === pp);
        // Below a visible parent only the name can be wrong; elsewhere check the whole path.
        const v = parentOk && !/^[/\\]/.test(e.path) ? validateServerName(baseName(e.path)) : validateRelativePath(e.path);
        if (!v.ok) {
          if (side === 'remote') this.warn('remote', e.path, 'invalidRemotePath', `the server sent an unusable path: ${v.reason}`);
          else this.warn('local', e.path, 'invalidLocalName', `cannot be synced: ${v.reason}`);
          // Real content of its folder all the same: the folder is never deleted under it.
          if (parentOk) {
            anchors.set(`${this.key(e.path)}\u0000${e.path}`, e);
            bump(children, this.key(pp));
          }
          continue;
        }
        if (!parentOk) continue; // inside something set aside
        const c = check(e);
        if ('drop' in c && c.drop) continue;
        if ('anchor' in c && c.anchor) {
          this.warn(side, e.path, c.code, c.message);
          anchors.set(this.key(e.path), e);
          bump(children, this.key(pp));
          continue;
        }
        const k = this.key(e.path);
        let g = group.get(k);
        if (!g) group.set(k, (g = []));
        g.push(e);
      }
      for (const [k, g] of group) {
        g.sort(prefer);
        visible.set(k, g[0]!);
        bump(children, this.key(parentPath(g[0]!.path)));
        for (const loser of g.slice(1)) {
          this.warn(
            side,
            loser.path,
            'nameClash',
            `${JSON.stringify(loser.path)} and ${JSON.stringify(g[0]!.path)} differ only in letter case or Unicode normalization; only the latter is synced`,
          );
          // Kept apart from anchors by name (the winner holds the slot), but still content of the folder.
          anchors.set(`${k}\u0000${loser.path}`, loser);
          bump(children, this.key(parentPath(loser.path)));
        }
      }
    }
  }

  private filterRemote(): void {
    const syncedIds = new Set(this.syncedEntries.map((s) => s.remoteId));
    this.filterSide(
      this.remoteEntries,
      this.remoteVisible,
      this.remoteAnchors,
      this.remoteChildren,
      (e) => {
        const name = baseName(e.path);
        const ig = e.kind === 'file' ? this.ignoreFile(name) : this.ignoreFolder(name);
        if (ig && ig.kind !== 'excluded') return { drop: true };
        if (ig) return { anchor: true, code: 'excluded', message: ig.reason };
        const prob = localNameProblem(name, this.policy.platform);
        if (prob) return { anchor: true, code: 'unsupportedLocalName', message: `cannot be created on this computer: ${prob}` };
        return { drop: false, anchor: false };
      },
      (a, b) => preferRank(syncedIds.has(a.id), syncedIds.has(b.id), a.path, b.path),
      'remote',
    );
  }

  private filterLocal(): void {
    const syncedFileIds = new Set(this.syncedEntries.map((s) => s.localFileId));
    this.filterSide(
      this.localEntries,
      this.localVisible,
      this.localAnchors,
      this.localChildren,
      (e) => {
        const name = baseName(e.path);
        const ig = e.kind === 'file' ? this.ignoreFile(name) : this.ignoreFolder(name);
        if (ig && ig.kind !== 'excluded') return { drop: true };
        if (ig) return { anchor: true, code: 'excluded', message: ig.reason };
        return { drop: false, anchor: false };
      },
      (a, b) => preferRank(syncedFileIds.has(a.fileId), syncedFileIds.has(b.fileId), a.path, b.path),
      'local',
    );
  }

  // ---------------------------------------------------------------------------------------------
  // 2. Nodes

  private newNode(id: string, kind: EntryKind): Node {
    const n: Node = { id, root: false, kind, own: 'keep', status: 'keep', onLocal: false, onRemote: false, frozen: false };
    this.nodes.push(n);
    return n;
  }

  private buildNodes(): void {
    // The synced tree, cleaned of anything inconsistent (dropping a base is always safe: both
    // sides then look new, which leads to pairing or a collision, never to a delete).
    const seenRemoteIds = new Set<number>();
    const seenFileIds = new Set<string>();
    for (const s0 of this.syncedEntries) {
      let s = s0;
      if (!validateRelativePath(s.path).ok) continue;
      const k = this.key(s.path);
      if (this.nodeBySynced.has(k)) continue;
      const pp = parentPath(s.path);
      if (pp !== '') {
        const parent = this.nodeBySynced.get(this.key(pp));
        if (!parent || parent.kind !== 'folder' || parent.synced!.path !== pp) continue;
      }
      if (seenRemoteIds.has(s.remoteId)) continue;
      seenRemoteIds.add(s.remoteId);
      if (s.localFileId !== null) {
        if (seenFileIds.has(s.localFileId)) s = { ...s, localFileId: null };
        else seenFileIds.add(s.localFileId);
      }
      const n = this.newNode(`s:${s.path}`, s.kind);
      n.synced = s;
      this.nodeBySynced.set(k, n);
      bump(this.syncedChildren, this.key(pp));
    }

    // Remote sides by id.
    const remoteById = new Map<number, RemoteEntry>();
    for (const r of this.remoteVisible.values()) if (!remoteById.has(r.id)) remoteById.set(r.id, r);
    const claimedRemote = new Set<RemoteEntry>();
    for (const n of this.nodes) {
      const r = remoteById.get(n.synced!.remoteId);
      if (r && r.kind === n.kind && !claimedRemote.has(r)) {
        n.remote = r;
        claimedRemote.add(r);
      }
    }

    // Local sides by fileId, then by path.
    const localByFileId = new Map<string, LocalEntry[]>();
    for (const l of [...this.localVisible.values()].sort((a, b) => compareStrings(a.path, b.path))) {
      let g = localByFileId.get(l.fileId);
      if (!g) localByFileId.set(l.fileId, (g = []));
      g.push(l);
    }
    const claimedLocal = new Set<LocalEntry>();
    for (const n of this.nodes) {
      const s = n.synced!;
      if (s.localFileId === null) continue;
      const g = (localByFileId.get(s.localFileId) ?? []).filter((l) => l.kind === n.kind && !claimedLocal.has(l));
      const l = g.find((x) => this.key(x.path) === this.key(s.path)) ?? g[0];
      if (l) {
        n.local = l;
        claimedLocal.add(l);
      }
    }
    for (const n of this.nodes) {
      if (n.local) continue;
      const l = this.localVisible.get(this.key(n.synced!.path));
      if (l && l.kind === n.kind && !claimedLocal.has(l)) {
        n.local = l;
        claimedLocal.add(l);
      }
    }
    for (const n of this.nodes) {
      if (n.local) this.nodeByLocal.set(this.key(n.local.path), n);
      if (n.remote) this.nodeByRemote.set(this.key(n.remote.path), n);
    }
    for (const [k, l] of this.localVisible) {
      if (claimedLocal.has(l)) continue;
      const n = this.newNode(`l:${l.path}`, l.kind);
      n.local = l;
      this.nodeByLocal.set(k, n);
    }
    for (const [k, r] of this.remoteVisible) {
      if (claimedRemote.has(r)) continue;
      const n = this.newNode(`r:${r.path}`, r.kind);
      n.remote = r;
      this.nodeByRemote.set(k, n);
    }
  }

  private parentOf(side: 'local' | 'remote' | 'synced', p: string): Node | undefined {
    const pp = parentPath(p);
    if (pp === '') return this.root;
    const m = side === 'local' ? this.nodeByLocal : side === 'remote' ? this.nodeByRemote : this.nodeBySynced;
    return m.get(this.key(pp));
  }

  /** A new local node and a new remote node with one name in one synced folder, same content (or both folders): one node. */
  private pair(): void {
    const removed = new Set<Node>();
    for (const n of this.nodes) {
      if (n.synced || n.remote || !n.local) continue;
      const p = this.parentOf('local', n.local.path);
      if (!p || !(p.root || (p.synced && p.remote))) continue;
      const rpath = joinPath(p.root ? '' : p.remote!.path, baseName(n.local.path));
      const m = this.nodeByRemote.get(this.key(rpath));
      if (!m || m.synced || m.local || removed.has(m)) continue;
      const r = m.remote!;
      const l = n.local;
      const same = l.kind === 'folder' ? r.kind === 'folder' : r.kind === 'file' && l.sha256 !== null && l.sha256 === r.sha256;
      if (!same) continue;
      n.remote = r;
      n.id = `p:${l.path}`;
      this.nodeByRemote.set(this.key(r.path), n);
      removed.add(m);
    }
    if (removed.size) {
      const keep = this.nodes.filter((n) => !removed.has(n));
      this.nodes.length = 0;
      this.nodes.push(...keep);
    }
    this.nodes.sort((a, b) => compareStrings(a.id, b.id));
  }

  private linkParents(): void {
    const kid = (side: Side, p: Node | undefined, n: Node): void => {
      if (!p) return;
      let l = this.kids[side].get(p);
      if (!l) this.kids[side].set(p, (l = []));
      l.push(n);
    };
    for (const n of this.nodes) {
      if (n.local) kid('local', (n.localParent = this.parentOf('local', n.local.path)), n);
      if (n.remote) kid('remote', (n.remoteParent = this.parentOf('remote', n.remote.path)), n);
      if (n.synced) kid('synced', (n.syncedParent = this.parentOf('synced', n.synced.path)), n);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // 3. Target tree

  private decideOwn(): void {
    for (const n of this.nodes) {
      const { synced: s, local: l, remote: r } = n;
      n.frozen = !!l && l.kind === 'file' && l.sha256 === null;
      let own: Status = 'keep';
      if (s) {
        if (l && r) own = 'keep';
        else if (!l && r) own = n.kind === 'file' && r.revisionId !== s.revisionId ? 'keep' : 'delete';
        else if (l && !r) own = n.kind === 'file' ? (l.sha256 === null ? 'pending' : l.sha256 !== s.sha256 ? 'keep' : 'delete') : 'delete';
        else own = 'delete';
      }
      n.own = own;
      n.status = own;
    }
  }

  private locLocal(n: Node): Loc | undefined {
    return n.local && n.localParent ? { parent: n.localParent, name: baseName(n.local.path) } : undefined;
  }
  private locRemote(n: Node): Loc | undefined {
    return n.remote && n.remoteParent ? { parent: n.remoteParent, name: baseName(n.remote.path) } : undefined;
  }
  private locSynced(n: Node): Loc | undefined {
    return n.synced && n.syncedParent ? { parent: n.syncedParent, name: baseName(n.synced.path) } : undefined;
  }

  private setTarget(n: Node, t: Loc | undefined): void {
    n.target = t;
    n.onLocal = sameLoc(t, this.locLocal(n));
    n.onRemote = sameLoc(t, this.locRemote(n));
  }

  private computeTargets(): void {
    for (const n of this.nodes) {
      const lL = this.locLocal(n);
      const lR = this.locRemote(n);
      const lS = this.locSynced(n);
      let t: Loc | undefined;
      if (lL && lR) {
        if (!lS) t = lR;
        else if (!sameLoc(lR, lS)) t = lR;
        else if (!sameLoc(lL, lS)) t = lL;
        else t = lR;
      } else t = lR ?? lL;
      this.setTarget(n, t);
    }
  }

  /** Cycle breaking, keeping what holds kept content, and unique names, to a fixpoint. */
  private resolveTargetTree(): void {
    for (let guard = 0; guard < 10_000; guard++) {
      this.breakCycles();
      this.propagateStatus();
      if (!this.resolveClashes()) return;
    }
    throw new Error('planner: target tree did not settle');
  }

  private breakCycles(): void {
    const state = new Map<Node, number>(); // 1 = on stack, 2 = done
    for (const start of this.nodes) {
      if (state.get(start)) continue;
      const pathStack: Node[] = [];
      let n: Node | undefined = start;
      while (n && !n.root && !state.get(n)) {
        state.set(n, 1);
        pathStack.push(n);
        n = n.target?.parent;
      }
      if (n && !n.root && state.get(n) === 1) {
        // Cycle: from n back to n on the stack.
        const cycle = pathStack.slice(pathStack.indexOf(n));
        const fix = cycle
          .filter((c) => c.remote && c.remoteParent && !c.onRemote)
          .sort((a, b) => compareStrings(a.id, b.id))[0];
        if (!fix) throw new Error('planner: unbreakable cycle in target tree');
        this.setTarget(fix, this.locRemote(fix));
        for (const c of pathStack) state.delete(c);
        // Re-walk from the start next time round.
        return this.breakCycles();
      }
      for (const c of pathStack) state.set(c, 2);
    }
  }

  private raise(from: Node | undefined, s: Status): void {
    let p = from;
    let steps = 0;
    while (p && !p.root && RANK[p.status] < RANK[s]) {
      p.status = s;
      p = p.target?.parent;
      if (++steps > this.nodes.length + 1) break;
    }
  }

  private propagateStatus(): void {
    for (const n of this.nodes) n.status = n.own;
    for (const n of this.nodes) if (n.own !== 'delete') this.raise(n.target?.parent, n.own);
    for (const a of this.localAnchors.values()) this.raise(this.parentOf('local', a.path), 'keep');
    for (const a of this.remoteAnchors.values()) this.raise(this.parentOf('remote', a.path), 'keep');
  }

  /** Returns whether a target changed. */
  private resolveClashes(): boolean {
    const groups = new Map<string, Node[]>();
    for (const n of this.nodes) {
      n.winner = undefined;
      if (n.status === 'delete' || !n.target) continue;
      const k = `${n.target.parent.id}\u0000${this.key(n.target.name)}`;
      let g = groups.get(k);
      if (!g) groups.set(k, (g = []));
      g.push(n);
    }
    let changed = false;
    for (const g of groups.values()) {
      if (g.length < 2) continue;
      g.sort((a, b) => Number(b.onRemote) - Number(a.onRemote) || compareStrings(a.id, b.id));
      const winner = g[0]!;
      for (const n of g.slice(1)) {
        if (n.remote && n.remoteParent && !n.onRemote) {
          this.setTarget(n, this.locRemote(n));
          changed = true;
        } else n.winner = winner;
      }
    }
    return changed;
  }

  // ---------------------------------------------------------------------------------------------
  // 4. Operations

  private sidePath(n: Node, side: Side): string | undefined {
    if (n.root) return '';
    return side === 'local' ? n.local?.path : side === 'remote' ? n.remote?.path : n.synced?.path;
  }

  private ready(p: Node, side: 'local' | 'remote'): boolean {
    if (p.root) return true;
    return p.status === 'keep' && !!p.synced && !!(side === 'local' ? p.local : p.remote);
  }

  private occupant(side: Side, path: string): Node | 'anchor' | undefined {
    const k = this.key(path);
    const m = side === 'local' ? this.nodeByLocal : side === 'remote' ? this.nodeByRemote : this.nodeBySynced;
    const n = m.get(k);
    if (n) return n;
    if (side === 'local' && this.localAnchors.has(k)) return 'anchor';
    if (side === 'remote' && this.remoteAnchors.has(k)) return 'anchor';
    return undefined;
  }

  /** Whether node m will free its current slot on `side` (deleted, set aside, or moving). */
  private leaving(m: Node, side: Side): boolean {
    if (m.status === 'delete') return true;
    if (side === 'local' && m.winner) return true;
    if (!m.target) return true;
    if (side === 'synced') {
      if (!m.synced) return false;
      const lS = this.locSynced(m);
      return !lS || lS.parent !== m.target.parent || this.key(lS.name) !== this.key(m.target.name);
    }
    const cur = side === 'local' ? this.locLocal(m) : this.locRemote(m);
    if (!cur) return false;
    return cur.parent !== m.target.parent || this.key(cur.name) !== this.key(m.target.name);
  }

  private childCount(side: Side, p: string): number {
    const m = side === 'local' ? this.localChildren : side === 'remote' ? this.remoteChildren : this.syncedChildren;
    return m.get(this.key(p)) ?? 0;
  }

  /** Check the slot `path` on `side` for node n; returns 'free', or records the wait and returns 'blocked'. */
  private slot(n: Node, side: Side, path: string): 'free' | 'blocked' | 'anchor' {
    const occ = this.occupant(side, path);
    if (!occ || occ === n) return 'free';
    if (occ === 'anchor') return 'anchor';
    if (!this.waits.has(n)) this.waits.set(n, { on: occ, side, occupancy: this.leaving(occ, side) });
    return 'blocked';
  }

  /**
   * What n waits for when its destination d lies inside n on `side`: the lowest node between d
   * and n that moves on that side (it takes d out of n), else n's child on the way to d.
   */
  private childToward(n: Node, d: Node, side: Side): Node {
    let c = d;
    for (let i = 0; i <= this.nodes.length; i++) {
      if (this.leaving(c, side)) return c;
      const up = side === 'local' ? c.localParent : side === 'remote' ? c.remoteParent : c.syncedParent;
      if (!up || up === n || up.root) return c;
      c = up;
    }
    return c;
  }

  /** Whether folder p's merge base lies inside node n's (n cannot be recorded below it yet). */
  private syncedInside(n: Node, p: Node): boolean {
    return !!n.synced && !p.root && !!p.synced && isSameOrAncestor(n.synced.path, p.synced.path);
  }

  private syncedTargetPath(p: Node, name: string): string {
    return joinPath(this.sidePath(p, 'synced')!, nfc(name));
  }

  private derive(): Candidate[] {
    const out: Candidate[] = [];
    const add = (op: Operation | null | undefined): void => {
      if (op) out.push(this.candidate(op));
    };
    for (const n of this.nodes) add(this.deriveNode(n));
    for (const op of this.breakWaitCycles()) add(op);
    return out;
  }

  private deriveNode(n: Node): Operation | null {
    const { synced: s, local: l, remote: r } = n;
    if (n.frozen) return null;
    if (n.status === 'pending') return null;
    if (n.status === 'delete') return this.deriveDelete(n);
    if (!n.target) return null;
    if (n.winner) return this.collisionFor(n, n.winner);

    if (l && r) {
      if (!s) {
        const to = this.syncedTargetPath(n.target.parent, baseName(l.path));
        return this.slot(n, 'synced', to) === 'free' ? this.updateSynced(n, 'bothCreated', to) : null;
      }
      if (!n.onLocal || !n.onRemote) {
        const side = n.onLocal ? 'remote' : 'local';
        const op = this.place(n, side, 'move');
        if (op) return op;
      } else if (!sameLoc(this.locSynced(n), n.target)) {
        if (this.ready(n.target.parent, 'local') && this.ready(n.target.parent, 'remote')) {
          if (this.syncedInside(n, n.target.parent)) {
            if (!this.waits.has(n)) this.waits.set(n, { on: this.childToward(n, n.target.parent, 'synced'), side: 'synced', occupancy: false });
            return null;
          }
          const to = this.syncedTargetPath(n.target.parent, n.target.name);
          if (this.slot(n, 'synced', to) === 'free') return this.updateSynced(n, 'sameMove', to);
        }
        return null;
      }
      if (n.kind === 'file') return this.deriveContent(n, s, l, r);
      return l.fileId !== s.localFileId ? this.updateSynced(n, 'identity', s.path) : null;
    }
    if (r) return this.place(n, 'local', 'create');
    if (l) return this.place(n, 'remote', 'create');
    return null;
  }

  private deriveContent(n: Node, s: SyncedEntry, l: LocalEntry, r: RemoteEntry): Operation | null {
    if (l.sha256 === null) return null;
    const lc = l.sha256 !== s.sha256;
    const rc = r.revisionId !== s.revisionId;
    if (!lc && !rc) return l.fileId !== s.localFileId ? this.updateSynced(n, 'identity', s.path) : null;
    if (lc && !rc) {
      if (this.tooLarge(l)) return null;
      return {
        type: 'upload',
        reason: 'modified',
        localPath: l.path,
        expectLocal: { fileId: l.fileId, sha256: l.sha256, size: l.size, mtime: l.mtime },
        remoteId: r.id,
        baseRevisionId: r.revisionId,
        remoteParentId: null,
        name: baseName(r.path),
        remotePath: r.path,
        synced: { path: s.path, replaces: s.path },
      };
    }
    if (!lc && rc) {
      if (r.sha256 !== null && r.sha256 === s.sha256) return this.updateSynced(n, 'sameContent', s.path);
      return {
        type: 'download',
        reason: 'modified',
        localPath: l.path,
        expectLocal: { fileId: l.fileId, sha256: l.sha256 },
        remoteId: r.id,
        revisionId: r.revisionId ?? 0,
        sha256: r.sha256,
        size: r.size,
        remotePath: r.path,
        synced: { path: s.path, replaces: s.path },
      };
    }
    if (r.sha256 !== null && r.sha256 === l.sha256) return this.updateSynced(n, 'sameContent', s.path);
    return this.collision(n, 'bothModified', n, s.path);
  }

  private tooLarge(l: LocalEntry): boolean {
    const max = this.policy.maxFileSize;
    if (max === undefined || max === null || l.kind !== 'file' || l.size <= max) return false;
    this.warn('local', l.path, 'tooLarge', `the file is larger than the ${max} bytes the policy allows`);
    return true;
  }

  private updateSynced(n: Node, reason: UpdateSyncedOp['reason'], path: string): UpdateSyncedOp {
    const l = n.local!;
    const r = n.remote!;
    const s = n.synced;
    const file = n.kind === 'file';
    // sameMove keeps the base content (content is reconciled separately); the others record
    // what both sides have now.
    const keepBase = reason === 'sameMove' && s;
    return {
      type: 'updateSynced',
      reason,
      path: s?.path ?? null,
      entry: {
        path,
        kind: n.kind,
        remoteId: r.id,
        revisionId: !file ? null : keepBase ? s.revisionId : r.revisionId,
        sha256: !file ? null : keepBase ? s.sha256 : l.sha256,
        localFileId: l.fileId,
        size: !file ? 0 : keepBase ? s.size : l.size,
        mtime: !file ? null : keepBase ? s.mtime : l.mtime,
      },
      localPath: l.path,
      remotePath: r.path,
      expectLocal: { fileId: l.fileId, sha256: file && !keepBase ? l.sha256 : null },
      expectRemote: file && !keepBase ? { id: r.id, revisionId: r.revisionId } : { id: r.id },
    };
  }

  private deriveDelete(n: Node): Operation | null {
    const { synced: s, local: l, remote: r } = n;
    if (!s) return null;
    // The synced entry goes with the deleted side unless synced entries still hang below it
    // (nodes moved out on one side only); then it is forgotten later (bothDeleted).
    const forgetSynced = this.childCount('synced', s.path) === 0;
    if (l) {
      if (n.kind === 'folder' && this.childCount('local', l.path) > 0) return this.waitForChild(n, 'local');
      return { type: 'deleteLocal', kind: n.kind, localPath: l.path, expectLocal: { fileId: l.fileId, sha256: n.kind === 'file' ? l.sha256 : null }, syncedPath: s.path, forgetSynced };
    }
    if (r) {
      if (n.kind === 'folder' && this.childCount('remote', r.path) > 0) return this.waitForChild(n, 'remote');
      return { type: 'deleteRemote', kind: n.kind, remoteId: r.id, remotePath: r.path, baseRevisionId: r.revisionId, syncedPath: s.path, forgetSynced };
    }
    if (!forgetSynced) return this.waitForChild(n, 'synced');
    return { type: 'updateSynced', reason: 'bothDeleted', path: s.path, entry: null, localPath: null, remotePath: null, expectLocal: null, expectRemote: null };
  }

  private waitForChild(n: Node, side: Side): null {
    const kid = this.kids[side].get(n)?.[0];
    if (kid && !this.waits.has(n)) this.waits.set(n, { on: kid, side, occupancy: false });
    return null;
  }

  private collisionFor(n: Node, winner: Node): Operation | null {
    const l = n.local;
    if (!l || !winner.remote || !n.target) return null;
    if (!this.ready(n.target.parent, 'local')) return null;
    let reason: CollisionReason = 'nameConflict';
    if (n.kind !== winner.kind) reason = 'typeConflict';
    else if (!n.synced && !winner.synced && n.kind === 'file') reason = 'bothCreated';
    return this.collision(n, reason, winner, null);
  }

  /**
   * The slot is held by an entry that is not synced (an excluded file, say): keep both by moving
   * the local one of the two aside (a collision), since neither may be overwritten.
   */
  private anchorCollision(n: Node, side: 'local' | 'remote', to: string): Operation | null {
    const k = this.key(to);
    if (side === 'remote') {
      const anchor = this.remoteAnchors.get(k);
      if (!anchor || !n.local) return null;
      return this.collisionOp(n.kind !== anchor.kind ? 'typeConflict' : 'nameConflict', n.local, anchor, null, null);
    }
    const anchor = this.localAnchors.get(k);
    if (!anchor || !n.remote) return null;
    return this.collisionOp(n.kind !== anchor.kind ? 'typeConflict' : 'nameConflict', anchor, n.remote, null, null);
  }

  private collision(n: Node, reason: CollisionReason, winner: Node, forget: string | null): CollisionOp {
    const s = n.synced;
    return this.collisionOp(reason, n.local!, winner.remote!, reason === 'bothModified' && s ? { revisionId: s.revisionId, sha256: s.sha256 } : null, forget);
  }

  private collisionOp(reason: CollisionReason, l: LocalEntry, r: RemoteEntry, base: CollisionOp['base'], forget: string | null): CollisionOp {
    return {
      type: 'collision',
      reason,
      mode: this.policy.manualCollisions ? 'manual' : 'keepBoth',
      localPath: l.path,
      expectLocal: { fileId: l.fileId, sha256: l.kind === 'file' ? l.sha256 : null },
      local: { kind: l.kind, size: l.size, sha256: l.sha256, mtime: l.mtime },
      remote: { path: r.path, kind: r.kind, id: r.id, revisionId: r.revisionId, size: r.size, sha256: r.sha256 },
      base,
      forgetSyncedPath: forget,
    };
  }

  /** Put node n at its target on `side`: a move (mode 'move') or a creation (download, upload, folder). */
  private place(n: Node, side: 'local' | 'remote', mode: 'move' | 'create'): Operation | null {
    const t = n.target!;
    const p = t.parent;
    if (!this.ready(p, side)) {
      if (!this.waits.has(n)) this.waits.set(n, { on: p, side, occupancy: false });
      return null;
    }
    const dir = this.sidePath(p, side)!;
    const name = side === 'remote' ? nfc(t.name) : t.name;
    const to = joinPath(dir, name);
    if (side === 'local') {
      const prob = localPathProblem(to, this.policy.platform, n.kind, {
        rootLength: this.policy.localRootLength,
        maxPathLength: this.policy.maxPathLength,
      });
      if (prob) {
        this.warn('remote', this.sidePath(n, 'remote') ?? to, 'localPathTooLong', `cannot be created here: ${prob}`);
        return null;
      }
    }
    if (mode === 'move') {
      const cur = this.sidePath(n, side)!;
      if (isSameOrAncestor(cur, dir)) {
        // The destination is inside n on this side: wait until n's child holding it moves out.
        if (!this.waits.has(n)) this.waits.set(n, { on: this.childToward(n, p, side), side, occupancy: false });
        return null;
      }
    }
    const occ = this.slot(n, side, to);
    if (occ === 'anchor') return this.anchorCollision(n, side, to);
    if (occ === 'blocked') return null;
    if (this.syncedInside(n, p)) {
      if (!this.waits.has(n)) this.waits.set(n, { on: this.childToward(n, p, 'synced'), side: 'synced', occupancy: false });
      return null;
    }
    const syncedPath = this.syncedTargetPath(p, name);
    if (this.slot(n, 'synced', syncedPath) !== 'free') return null;
    const synced: SyncedTarget = { path: syncedPath, replaces: n.synced?.path ?? null };
    return this.buildPlacement(n, side, mode, p, to, name, synced, false);
  }

  private buildPlacement(n: Node, side: 'local' | 'remote', mode: 'move' | 'create', parent: Node, to: string, name: string, synced: SyncedTarget, parking: boolean): Operation | null {
    const l = n.local;
    const r = n.remote;
    const parentId = (p: Node): number | null => (p.root ? null : p.remote!.id);
    if (mode === 'move') {
      if (side === 'local') {
        return { type: 'moveLocal', kind: n.kind, from: l!.path, to, expectLocal: { fileId: l!.fileId }, remoteId: r!.id, caseOnly: this.key(l!.path) === this.key(to), parking, synced };
      }
      return { type: 'moveRemote', kind: n.kind, remoteId: r!.id, from: r!.path, to, toParentId: parentId(parent), name, caseOnly: this.key(r!.path) === this.key(to), parking, synced };
    }
    const restore = n.synced ? 'restore' : 'new';
    if (side === 'local') {
      if (n.kind === 'folder') return { type: 'createLocalFolder', localPath: to, remoteId: r!.id, remotePath: r!.path, synced };
      return { type: 'download', reason: restore, localPath: to, expectLocal: null, remoteId: r!.id, revisionId: r!.revisionId ?? 0, sha256: r!.sha256, size: r!.size, remotePath: r!.path, synced };
    }
    const exp: LocalExpectation = { fileId: l!.fileId, sha256: l!.sha256 };
    if (n.kind === 'folder') return { type: 'createRemoteFolder', localPath: l!.path, expectLocal: exp, remoteParentId: parentId(parent), name, remotePath: to, synced };
    if (l!.sha256 === null || this.tooLarge(l!)) return null;
    return {
      type: 'upload',
      reason: restore,
      localPath: l!.path,
      expectLocal: { fileId: l!.fileId, sha256: l!.sha256, size: l!.size, mtime: l!.mtime },
      remoteId: null,
      baseRevisionId: null,
      remoteParentId: parentId(parent),
      name,
      remotePath: to,
      synced,
    };
  }

  /**
   * Waits that form a cycle (a swap; a folder to be created where a node sits that must go into
   * it; a folder to be deleted that still holds a node that must take its name): break one with
   * a "parking" step to a temporary free name. First choice: move a node that occupies someone's
   * slot out of the way, in place; second: put a waiting node at its destination folder under a
   * temporary name. The merge base records the temporary name, so the next plans finish the job.
   */
  private breakWaitCycles(): Operation[] {
    const ops: Operation[] = [];
    const done = new Set<Node>();
    for (const start of [...this.waits.keys()].sort((a, b) => compareStrings(a.id, b.id))) {
      if (done.has(start)) continue;
      const seen: Node[] = [];
      let n: Node | undefined = start;
      while (n && !done.has(n) && !seen.includes(n) && this.waits.has(n)) {
        seen.push(n);
        n = this.waits.get(n)!.on;
      }
      for (const x of seen) done.add(x);
      if (!n || !seen.includes(n)) continue;
      const waiters = seen
        .slice(seen.indexOf(n))
        .map((w) => ({ node: w, wait: this.waits.get(w)! }))
        .filter((w) => w.wait.occupancy)
        .sort((a, b) => compareStrings(a.node.id, b.node.id));
      let op: Operation | null = null;
      for (const w of waiters) if (!op) op = this.parkInPlace(w.wait.on, w.wait.side);
      for (const w of waiters) if (!op && w.wait.side !== 'synced') op = this.parkAtTarget(w.node, w.wait.side);
      if (op) ops.push(op);
    }
    return ops;
  }

  /** A free temporary name for `name` in folder `parent` on `side` (and in the merge base). */
  private parkingName(parent: Node, side: Side, name: string, kind: EntryKind): string | null {
    const dir = this.sidePath(parent, side);
    const sdir = this.sidePath(parent, 'synced');
    if (dir === undefined || sdir === undefined) return null;
    const { stem, ext } = kind === 'folder' ? { stem: name, ext: '' } : splitExtension(name);
    for (let i = 1; i < 1000; i++) {
      const candidate = `${stem} (moving ${i})${ext}`;
      if (this.occupant(side, joinPath(dir, candidate)) || this.occupant('synced', joinPath(sdir, nfc(candidate)))) continue;
      const other = side === 'local' ? this.sidePath(parent, 'remote') : this.sidePath(parent, 'local');
      if (other !== undefined && this.occupant(side === 'local' ? 'remote' : 'local', joinPath(other, candidate))) continue;
      return candidate;
    }
    return null;
  }

  private parkInPlace(n: Node, side: Side): Operation | null {
    const s = n.synced;
    if (!s || n.frozen) return null;
    const cur = side === 'local' ? this.locLocal(n) : side === 'remote' ? this.locRemote(n) : this.locSynced(n);
    if (!cur || !(cur.parent.root || cur.parent.synced)) return null;
    if (side === 'synced') {
      // Only the merge base moves. Safe when no side still sits at the base location (else
      // that side's unchanged location would start to look like a move).
      const lS = this.locSynced(n);
      if (sameLoc(lS, this.locLocal(n)) || sameLoc(lS, this.locRemote(n))) return null;
    } else if (!n.local || !n.remote) return null;
    if (this.syncedInside(n, cur.parent)) return null;
    const name = this.parkingName(cur.parent, side, cur.name, n.kind);
    if (name === null) return null;
    const sp = this.syncedTargetPath(cur.parent, name);
    if (side === 'synced') {
      return {
        type: 'updateSynced',
        reason: 'parking',
        path: s.path,
        entry: { ...s, path: sp },
        localPath: n.local?.path ?? null,
        remotePath: n.remote?.path ?? null,
        expectLocal: null,
        expectRemote: null,
      };
    }
    const to = joinPath(this.sidePath(cur.parent, side)!, side === 'remote' ? nfc(name) : name);
    return this.buildPlacement(n, side, 'move', cur.parent, to, side === 'remote' ? nfc(name) : name, { path: sp, replaces: s.path }, true);
  }

  private parkAtTarget(n: Node, side: 'local' | 'remote'): Operation | null {
    if (n.frozen || !n.target) return null;
    const p = n.target.parent;
    if (!this.ready(p, side)) return null;
    const has = side === 'local' ? n.local : n.remote;
    if (has && isSameOrAncestor(has.path, this.sidePath(p, side)!)) return null;
    if (!has && !(side === 'local' ? n.remote : n.local)) return null;
    if (this.syncedInside(n, p)) return null;
    const name = this.parkingName(p, side, n.target.name, n.kind);
    if (name === null) return null;
    const nm = side === 'remote' ? nfc(name) : name;
    const to = joinPath(this.sidePath(p, side)!, nm);
    const synced: SyncedTarget = { path: this.syncedTargetPath(p, name), replaces: n.synced?.path ?? null };
    return this.buildPlacement(n, side, has ? 'move' : 'create', p, to, nm, synced, true);
  }

  // ---------------------------------------------------------------------------------------------
  // Batch independence

  private candidate(op: Operation): Candidate {
    const t: Touch[] = [];
    const pt = (side: Side, path: string | null | undefined, subtree = false): void => {
      if (path !== null && path !== undefined) t.push({ side, path, subtree });
    };
    // A synced entry that changes its path carries its synced descendants along (subtree).
    const syncedT = (s: SyncedTarget, folder: boolean): void => {
      const reroot = folder && s.replaces !== null && s.replaces !== s.path;
      pt('synced', s.path, reroot);
      if (s.replaces !== null && s.replaces !== s.path) pt('synced', s.replaces, reroot);
    };
    switch (op.type) {
      case 'upload':
        pt('local', op.localPath);
        pt('remote', op.remotePath);
        syncedT(op.synced, false);
        break;
      case 'download':
        pt('local', op.localPath);
        pt('remote', op.remotePath);
        syncedT(op.synced, false);
        break;
      case 'createLocalFolder':
        pt('local', op.localPath, true);
        pt('remote', op.remotePath);
        syncedT(op.synced, true);
        break;
      case 'createRemoteFolder':
        pt('local', op.localPath);
        pt('remote', op.remotePath, true);
        syncedT(op.synced, true);
        break;
      case 'deleteLocal':
        pt('local', op.localPath, true);
        pt('synced', op.syncedPath, true);
        break;
      case 'deleteRemote':
        pt('remote', op.remotePath, true);
        pt('synced', op.syncedPath, true);
        break;
      case 'moveLocal':
        pt('local', op.from, true);
        pt('local', op.to, true);
        syncedT(op.synced, op.kind === 'folder');
        break;
      case 'moveRemote':
        pt('remote', op.from, true);
        pt('remote', op.to, true);
        syncedT(op.synced, op.kind === 'folder');
        break;
      case 'collision':
        pt('local', op.localPath, true);
        pt('remote', op.remote.path);
        pt('synced', op.forgetSyncedPath, true);
        break;
      case 'updateSynced': {
        const reroot = op.entry?.kind === 'folder' && op.path !== null && op.path !== op.entry.path;
        pt('synced', op.path, reroot);
        if (op.entry && op.entry.path !== op.path) pt('synced', op.entry.path, reroot);
        pt('local', op.localPath);
        pt('remote', op.remotePath);
        break;
      }
      case 'warning':
        break;
    }
    const depth = Math.min(...t.map((x) => pathDepth(x.path)));
    const primary = t[0]?.path ?? '';
    const order = `${String(depth).padStart(4, '0')}\u0000${primary}\u0000${op.type}`;
    return { op, touches: t, order };
  }

  private selectIndependent(cands: Candidate[]): Operation[] {
    cands.sort((a, b) => compareStrings(a.order, b.order));
    const points = new Set<string>();
    const subtrees = new Set<string>();
    const prefixes = new Set<string>();
    const k = (side: Side, p: string): string => `${side}:${this.key(p)}`;
    const ancestors = (p: string): string[] => {
      const out: string[] = [''];
      let i = p.indexOf('/');
      while (i >= 0) {
        out.push(p.slice(0, i));
        i = p.indexOf('/', i + 1);
      }
      return p === '' ? [] : out;
    };
    const accepted: Operation[] = [];
    for (const c of cands) {
      let conflict = false;
      for (const t of c.touches) {
        const key = k(t.side, t.path);
        if (points.has(key) || subtrees.has(key)) conflict = true;
        else if (ancestors(t.path).some((a) => subtrees.has(k(t.side, a)))) conflict = true;
        else if (t.subtree && prefixes.has(key)) conflict = true;
        if (conflict) break;
      }
      if (conflict) continue;
      for (const t of c.touches) {
        (t.subtree ? subtrees : points).add(k(t.side, t.path));
        for (const a of ancestors(t.path)) prefixes.add(k(t.side, a));
      }
      accepted.push(c.op);
    }
    return accepted;
  }
}

function bump(m: Map<string, number>, k: string): void {
  m.set(k, (m.get(k) ?? 0) + 1);
}

function preferRank(aSynced: boolean, bSynced: boolean, a: string, b: string): number {
  if (aSynced !== bSynced) return aSynced ? -1 : 1;
  const an = a === nfc(a);
  const bn = b === nfc(b);
  if (an !== bn) return an ? -1 : 1;
  return compareStrings(a, b);
}

function dedupeWarnings(ws: WarningOp[]): WarningOp[] {
  const seen = new Set<string>();
  const out: WarningOp[] = [];
  for (const w of ws) {
    const k = `${w.side}\u0000${w.path}\u0000${w.code}`;
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(w);
  }
  return out.sort((a, b) => compareStrings(a.side, b.side) || compareStrings(a.path, b.path) || compareStrings(a.code, b.code));
}

/** A one-line description of an operation for logs and tests: "upload(modified) a/b.txt". */
export function describeOperation(op: Operation): string {
  switch (op.type) {
    case 'moveLocal':
    case 'moveRemote':
      return `${op.type} ${op.from} -> ${op.to}${op.parking ? ' (parking)' : ''}`;
    case 'upload':
    case 'download':
      return `${op.type}(${op.reason}) ${op.localPath}`;
    case 'createLocalFolder':
    case 'createRemoteFolder':
    case 'deleteLocal':
      return `${op.type} ${op.localPath}`;
    case 'deleteRemote':
      return `${op.type} ${op.remotePath}`;
    case 'collision':
      return `collision(${op.reason}, ${op.mode}) ${op.localPath}`;
    case 'warning':
      return `warning(${op.code}) ${op.side} ${op.path}`;
    case 'updateSynced':
      return `updateSynced(${op.reason}) ${op.path ?? '-'} -> ${op.entry?.path ?? '-'}`;
  }
}
