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
// Cost: plan() runs over the whole tree after every batch, so large trees matter. Each entry's
// path facts are worked out once (`Item`), the three sides meet in one map of slots by key
// (`Slot`), locations are the entries' own path facts (`Loc`), and nothing is allocated per
// lookup. test/unit/planner-equivalence.test.ts pins the output to what the straightforward
// version of this code gave.
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
  asciiPathKey,
  baseName,
  compareStrings,
  ignoreRules,
  isAscii,
  isSameOrAncestor,
  joinPath,
  localNameProblem,
  localPathProblem,
  pathDepth,
  pathKey,
  splitExtension,
  validateRelativePath,
  validateServerName,
} from './paths.js';
import type { CollisionOp, CollisionReason, LocalExpectation, Operation, SyncedTarget, UpdateSyncedOp, WarningCode, WarningOp } from './operations.js';
import type { EntryKind, LocalEntry, RemoteEntry, SyncedEntry, Tree } from './tree.js';
import { sortedEntries } from './tree.js';
import { type AgreementTracker, withoutAgreed } from './agreed.js';

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

/**
 * A location: a name in a folder. The locations of a node's entries are their `PathInfo`s
 * (made once, never changed; see `asLoc`), so none is allocated per use.
 */
interface Loc {
  readonly parent: Node;
  readonly name: string;
  /** key(name), filled in on first use (`Planner.nameKey`). */
  nameKey: string | undefined;
}

/**
 * What the planner needs of an entry's path, worked out once per entry: the planner looks these
 * up many times per entry, and recomputing them (and their keys) dominated its cost.
 */
interface PathInfo {
  /** pathDepth(path). */
  readonly depth: number;
  /** parentPath(path); entries of one folder share the string. */
  readonly parentPath: string;
  /** key(parentPath). */
  readonly parentKey: string;
  /** baseName(path). */
  readonly name: string;
  /** key(path). */
  readonly key: string;
  /**
   * The node of the parent folder on the entry's side, for an entry of a node (set in
   * `linkParents`). With it the PathInfo is the entry's location.
   */
  parent: Node | undefined;
  nameKey: string | undefined;
}

/** The location an entry's path facts describe, once its parent folder's node is known. */
function asLoc(info: PathInfo | undefined): Loc | undefined {
  return info !== undefined && info.parent !== undefined ? (info as Loc) : undefined;
}

/**
 * An input entry with its path facts.
 *
 * Items and nodes, made by the ten thousand per plan, are class instances rather than object
 * literals: V8 tracks where literals are allocated and, as these all live to the end of the
 * plan, keeps switching such sites to old-space allocation and back (deoptimizing each time),
 * which made a plan up to twice as slow.
 */
class Item<E> implements PathInfo {
  parent: Node | undefined = undefined;
  nameKey: string | undefined = undefined;
  /** The node that holds this (visible) entry as its local or remote side, set in `buildNodes`. */
  node: Node | undefined = undefined;
  /** A synced entry taken into the merge base names this entry's remote id or fileId (`buildNodes`). */
  idTaken = false;

  constructor(
    readonly e: E,
    readonly depth: number,
    readonly parentPath: string,
    readonly parentKey: string,
    readonly name: string,
    readonly key: string,
  ) {}
}

/**
 * What the sides hold at one key (the same slot of the file system): the visible local and
 * remote entries and the merge base's node. Most keys have all three, so one map of slots
 * (rather than a map per side) saves two of every three insertions into a large map.
 */
class Slot {
  local: Item<LocalEntry> | undefined = undefined;
  remote: Item<RemoteEntry> | undefined = undefined;
  synced: Node | undefined = undefined;
}

/**
 * A node's id is `${idKind}:${idPath}`: "s:" and the synced path for a node of the merge base,
 * "l:" / "r:" and the path for a new local / remote entry, "p:" and the local path for a new
 * pair; the root's is "". Ids order the nodes (`compareIds`) and are never built as strings.
 */
type IdKind = 's' | 'l' | 'r' | 'p' | '';

class Node {
  readonly root: boolean;
  synced: SyncedEntry | undefined = undefined;
  local: LocalEntry | undefined = undefined;
  remote: RemoteEntry | undefined = undefined;
  /** Path facts of `synced` (which may be a copy of the input entry), `local`, `remote`; set with the entry. */
  syncedInfo: PathInfo | undefined = undefined;
  localInfo: Item<LocalEntry> | undefined = undefined;
  remoteInfo: Item<RemoteEntry> | undefined = undefined;
  localParent: Node | undefined = undefined;
  remoteParent: Node | undefined = undefined;
  syncedParent: Node | undefined = undefined;
  /** Decision from this node alone. */
  own: Status = 'keep';
  /** After keeping the folders that hold kept content. */
  status: Status = 'keep';
  target: Loc | undefined = undefined;
  onLocal: boolean;
  onRemote: boolean;
  /** Set when this node loses its target name to `winner` (a collision moves it aside). */
  winner: Node | undefined = undefined;
  /** Local file whose hash is pending: no operation. */
  frozen = false;
  /** Cycle search state (`breakCycles`), valid while `cyclePass` is the current pass. */
  cyclePass = 0;
  cycleState: 'open' | 'done' = 'done';

  constructor(
    public idKind: IdKind,
    public idPath: string,
    readonly kind: EntryKind,
  ) {
    this.root = idKind === '';
    this.onLocal = this.root;
    this.onRemote = this.root;
  }
}

const nfc = (s: string): string => (isAscii(s) ? s : s.normalize('NFC'));

function sameLoc(a: Loc | undefined, b: Loc | undefined): boolean {
  // Equal names need no normalization (the usual case).
  return !!a && !!b && a.parent === b.parent && (a.name === b.name || nfc(a.name) === nfc(b.name));
}

/** What `filterSide` makes of an entry: visible (null), silently dropped, or set aside with a warning. */
type Verdict = null | 'drop' | { code: WarningCode; message: string };

/**
 * Plan the next batch of operations. Pure and deterministic. The entries in agreement on all
 * three sides are left out first (./agreed.ts: the output is the same without them); a caller
 * that plans the same root round after round passes its `AgreementTracker`, which finds them at
 * the cost of what changed since its last round.
 */
export function plan(input: PlanInput, tracker?: AgreementTracker): Operation[] {
  const ci = keysCaseInsensitive(input.policy);
  return new Planner(tracker ? tracker.prune(input, ci) : withoutAgreed(input, ci)).run();
}

/** `plan` over the whole input, with nothing left out (the reference for `withoutAgreed`'s test). */
export function planWhole(input: PlanInput): Operation[] {
  return new Planner(input).run();
}

/** A path an operation touches on one side (with everything below it when `subtree`). */
class Touch {
  /** Keys of the path's ancestors ("" and each proper prefix), when needed (`selectIndependent`). */
  ancestors: string[] | undefined = undefined;

  constructor(
    readonly side: Side,
    readonly path: string,
    readonly subtree: boolean,
    /** key(path). */
    readonly key: string,
  ) {}
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

  /** Slots by key: the visible local and remote entries (`filterSide`), the merge base's nodes (`buildNodes`). */
  private readonly slots = new Map<string, Slot>();
  /** The slots with a visible local / remote entry, in the order those keys first appeared. */
  private readonly localVisible: Slot[] = [];
  private readonly remoteVisible: Slot[] = [];
  private readonly localAnchors = new Map<string, Item<LocalEntry>>();
  private readonly remoteAnchors = new Map<string, Item<RemoteEntry>>();
  private readonly localChildren = new Map<string, number>();
  private readonly remoteChildren = new Map<string, number>();
  private readonly syncedChildren = new Map<string, number>();
  /** Each folder's first child on each side (in node order), what a folder to be deleted waits for. */
  private readonly firstKid: Record<Side, Map<Node, Node>> = { local: new Map(), remote: new Map(), synced: new Map() };

  /** The input trees, sorted parents-first (`sortedEntries`). */
  private readonly remoteItems: Item<RemoteEntry>[];
  private readonly localItems: Item<LocalEntry>[];
  private readonly syncedItems: Item<SyncedEntry>[];
  /** Number of the current `breakCycles` pass. */
  private cyclePass = 0;
  /** Scratch list of `candidate`. */
  private readonly touches: Touch[] = [];

  /** Blocked placements: node → what it waits for (for cycle breaking). */
  private readonly waits = new Map<Node, { on: Node; side: Side; occupancy: boolean }>();

  constructor(input: PlanInput) {
    this.policy = input.policy;
    this.ci = keysCaseInsensitive(input.policy);
    this.ignoreFile = ignoreRules(input.policy.excludedExtensions ?? []);
    this.ignoreFolder = ignoreRules([]);
    this.remoteItems = this.items(input.remote);
    this.localItems = this.items(input.local);
    this.syncedItems = this.items(input.synced);
    this.root = new Node('', '', 'folder');
  }

  /** The entries of a tree sorted parents-first, each with its path facts. */
  private items<E extends { path: string }>(tree: Tree<E> | readonly E[]): Item<E>[] {
    const sorted = sortedEntries(tree);
    const out = new Array<Item<E>>(sorted.length);
    // Entries of one folder are adjacent in this order (same depth, same prefix): the parent
    // path, its key and the depth are worked out once per folder and shared.
    const rootKey = this.key('');
    let parent = '';
    let parentKey = rootKey;
    let depth = 0;
    for (let j = 0; j < sorted.length; j++) {
      const e = sorted[j]!;
      const p = e.path;
      const i = p.lastIndexOf('/');
      if (i <= 0) {
        // Top level ("x"), or an odd path ("", "/x") that validation rejects.
        parent = '';
        parentKey = rootKey;
        depth = pathDepth(p);
      } else if (i !== parent.length || !p.startsWith(parent)) {
        // The first entry of another folder (else: a sibling of the previous entry).
        parent = p.slice(0, i);
        parentKey = this.key(parent);
        depth = pathDepth(p);
      }
      out[j] = new Item(e, depth, parent, parentKey, p.slice(i + 1), this.key(p));
    }
    return out;
  }

  private key(p: string): string {
    // ASCII (nearly every path) is keyed faster than it is looked up; the rest is cached.
    let k = asciiPathKey(p, this.ci);
    if (k !== undefined) return k;
    k = this.keys.get(p);
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
    items: Item<E>[],
    visible: { order: Slot[]; get: (s: Slot) => Item<E> | undefined; set: (s: Slot, it: Item<E>) => void },
    anchors: Map<string, Item<E>>,
    children: Map<string, number>,
    check: (it: Item<E>) => Verdict,
    prefer: (a: E, b: E) => number,
    side: 'local' | 'remote',
  ): void {
    let i = 0;
    while (i < items.length) {
      const depth = items[i]!.depth;
      const levelStart = i;
      // The entries of one depth are taken in order; a key's first visible entry goes into its
      // slot at once (and the slot into `visible.order`: the order of first appearance). Rare
      // cases wait for the end of the depth: keys that several entries share (names that clash:
      // `clashes`, from the first entry on) and keys that a shallower entry holds already
      // (`late`: replaced at the end of the depth, so parents are looked up among the shallower
      // entries only). The latter needs a key with another number of "/" than its path, which
      // no Unicode character gives today; the planner does not rely on that.
      const clashes = new Map<string, Item<E>[]>();
      const late = new Map<string, Item<E>[]>();
      // Siblings are adjacent: look their parent up once.
      let lastParent: string | undefined;
      let parentOk = false;
      for (; i < items.length && items[i]!.depth === depth; i++) {
        const it = items[i]!;
        const e = it.e;
        const pp = it.parentPath;
        if (pp !== lastParent) {
          lastParent = pp;
          const at = pp === '' ? undefined : this.slots.get(it.parentKey);
          const held = at && visible.get(at);
          // An entry of this very depth with that key is no parent (only shallower ones count).
          const parent = held && held.depth !== depth ? held.e : undefined;
          parentOk = pp === '' || (!!parent && parent.kind === 'folder' && parent.path === pp);
        }
        // Below a visible parent only the name can be wrong; elsewhere check the whole path.
        const c0 = e.path.charCodeAt(0);
        const v = parentOk && c0 !== 47 && c0 !== 92 ? validateServerName(it.name) : validateRelativePath(e.path);
        if (!v.ok) {
          if (side === 'remote') this.warn('remote', e.path, 'invalidRemotePath', `the server sent an unusable path: ${v.reason}`);
          else this.warn('local', e.path, 'invalidLocalName', `cannot be synced: ${v.reason}`);
          // Real content of its folder all the same: the folder is never deleted under it.
          if (parentOk) {
            anchors.set(`${it.key}\u0000${e.path}`, it);
            bump(children, it.parentKey);
          }
          continue;
        }
        if (!parentOk) continue; // inside something set aside
        const c = check(it);
        if (c === 'drop') continue;
        if (c !== null) {
          this.warn(side, e.path, c.code, c.message);
          anchors.set(it.key, it);
          bump(children, it.parentKey);
          continue;
        }
        // Visible (or the loser of a name clash): content of its folder either way.
        bump(children, it.parentKey);
        const k = it.key;
        let at = this.slots.get(k);
        const held = at && visible.get(at);
        if (held === undefined) {
          if (!at) this.slots.set(k, (at = new Slot()));
          visible.set(at, it);
          visible.order.push(at);
        } else if (held.depth === depth) {
          let g = clashes.get(k);
          if (!g) clashes.set(k, (g = [held]));
          g.push(it);
        } else {
          let g = late.get(k);
          if (!g) late.set(k, (g = []));
          g.push(it);
        }
      }
      if (clashes.size === 0 && late.size === 0) continue;
      // Settle the groups in the order of their first entries: the best entry of each holds
      // the key; the others are set aside with a warning.
      for (let j = levelStart; j < i; j++) {
        const it = items[j]!;
        const k = it.key;
        const g = clashes.get(k) ?? late.get(k);
        if (!g || g[0] !== it) continue;
        clashes.delete(k); // settled (sorting changes g[0])
        late.delete(k);
        g.sort((a, b) => prefer(a.e, b.e));
        const winner = g[0]!;
        visible.set(this.slots.get(k)!, winner);
        for (const loser of g.slice(1)) {
          this.warn(
            side,
            loser.e.path,
            'nameClash',
            `${JSON.stringify(loser.e.path)} and ${JSON.stringify(winner.e.path)} differ only in letter case or Unicode normalization; only the latter is synced`,
          );
          // Kept apart from anchors by name (the winner holds the slot), but still content of the folder.
          anchors.set(`${k}\u0000${loser.e.path}`, loser);
        }
      }
    }
  }

  private filterRemote(): void {
    let syncedIds: Set<number> | undefined; // only needed when names clash
    const isSynced = (r: RemoteEntry): boolean => (syncedIds ??= new Set(this.syncedItems.map((s) => s.e.remoteId))).has(r.id);
    this.filterSide(
      this.remoteItems,
      { order: this.remoteVisible, get: (at) => at.remote, set: (at, it) => (at.remote = it) },
      this.remoteAnchors,
      this.remoteChildren,
      (it) => {
        const ig = it.e.kind === 'file' ? this.ignoreFile(it.name) : this.ignoreFolder(it.name);
        if (ig && ig.kind !== 'excluded') return 'drop';
        if (ig) return { code: 'excluded', message: ig.reason };
        const prob = localNameProblem(it.name, this.policy.platform);
        if (prob) return { code: 'unsupportedLocalName', message: `cannot be created on this computer: ${prob}` };
        return null;
      },
      (a, b) => preferRank(isSynced(a), isSynced(b), a.path, b.path),
      'remote',
    );
  }

  private filterLocal(): void {
    let syncedFileIds: Set<string | null> | undefined; // only needed when names clash
    const isSynced = (l: LocalEntry): boolean => (syncedFileIds ??= new Set(this.syncedItems.map((s) => s.e.localFileId))).has(l.fileId);
    this.filterSide(
      this.localItems,
      { order: this.localVisible, get: (at) => at.local, set: (at, it) => (at.local = it) },
      this.localAnchors,
      this.localChildren,
      (it) => {
        const ig = it.e.kind === 'file' ? this.ignoreFile(it.name) : this.ignoreFolder(it.name);
        if (ig && ig.kind !== 'excluded') return 'drop';
        if (ig) return { code: 'excluded', message: ig.reason };
        return null;
      },
      (a, b) => preferRank(isSynced(a), isSynced(b), a.path, b.path),
      'local',
    );
  }

  // ---------------------------------------------------------------------------------------------
  // 2. Nodes

  private newNode(idKind: IdKind, idPath: string, kind: EntryKind): Node {
    const n = new Node(idKind, idPath, kind);
    this.nodes.push(n);
    return n;
  }

  private buildNodes(): void {
    // Visible remote entries by id, local entries by fileId. Nearly every fileId is unique: a
    // group is a single entry, and only the rare groups of several are lists (sorted by path).
    const remoteById = new Map<number, Item<RemoteEntry>>();
    for (let i = this.remoteVisible.length - 1; i >= 0; i--) {
      const r = this.remoteVisible[i]!.remote!;
      remoteById.set(r.e.id, r); // backwards: the first one wins
    }
    const localByFileId = new Map<string, Item<LocalEntry> | Item<LocalEntry>[]>();
    for (const at of this.localVisible) {
      const l = at.local!;
      const g = localByFileId.get(l.e.fileId);
      if (g === undefined) localByFileId.set(l.e.fileId, l);
      else if (Array.isArray(g)) g.push(l);
      else localByFileId.set(l.e.fileId, [g, l]);
    }
    for (const g of localByFileId.values()) if (Array.isArray(g)) g.sort((a, b) => compareStrings(a.e.path, b.e.path));

    // The synced tree, cleaned of anything inconsistent (dropping a base is always safe: both
    // sides then look new, which leads to pairing or a collision, never to a delete). A remote
    // id or local fileId is taken by the first synced entry that names it: marked on the
    // visible entry with that id (`idTaken`), or, for ids no single entry has, in a set.
    const takenRemoteIds = new Set<number>();
    const takenFileIds = new Set<string>();
    const localGroups: (Item<LocalEntry> | Item<LocalEntry>[] | undefined)[] = []; // per node: localByFileId of its fileId
    for (const it of this.syncedItems) {
      let s = it.e;
      if (!validateRelativePath(s.path).ok) continue;
      const k = it.key;
      let at = this.slots.get(k);
      if (at?.synced) continue;
      const pp = it.parentPath;
      if (pp !== '') {
        const parent = this.slots.get(it.parentKey)?.synced;
        if (!parent || parent.kind !== 'folder' || parent.synced!.path !== pp) continue;
      }
      const r = remoteById.get(s.remoteId);
      if (r ? r.idTaken : takenRemoteIds.has(s.remoteId)) continue;
      if (r) r.idTaken = true;
      else takenRemoteIds.add(s.remoteId);
      let g: Item<LocalEntry> | Item<LocalEntry>[] | undefined;
      if (s.localFileId !== null) {
        g = localByFileId.get(s.localFileId);
        const l = g === undefined || Array.isArray(g) ? undefined : g;
        if (l ? l.idTaken : takenFileIds.has(s.localFileId)) {
          s = { ...s, localFileId: null };
          g = undefined;
        } else if (l) l.idTaken = true;
        else takenFileIds.add(s.localFileId);
      }
      localGroups.push(g);
      const n = this.newNode('s', s.path, s.kind);
      n.synced = s;
      n.syncedInfo = it;
      if (!at) this.slots.set(k, (at = new Slot()));
      at.synced = n;
      bump(this.syncedChildren, it.parentKey);
      // The remote side: the entry with the node's id (which no other node has).
      if (r && r.e.kind === n.kind && !r.node) setRemote(n, r);
    }

    // Local sides by fileId, then by path. (A visible entry with `node` set is claimed.)
    this.nodes.forEach((n, i) => {
      const g = localGroups[i];
      if (g === undefined) return;
      if (!Array.isArray(g)) {
        if (g.e.kind === n.kind && !g.node) setLocal(n, g);
        return;
      }
      const free = g.filter((l) => l.e.kind === n.kind && !l.node);
      const l = free.find((x) => x.key === n.syncedInfo!.key) ?? free[0];
      if (l) setLocal(n, l);
    });
    for (const n of this.nodes) {
      if (n.local) continue;
      const l = this.slots.get(n.syncedInfo!.key)?.local;
      if (l && l.e.kind === n.kind && !l.node) setLocal(n, l);
    }
    // Unclaimed entries are new nodes.
    for (const { local: l } of this.localVisible) if (!l!.node) setLocal(this.newNode('l', l!.e.path, l!.e.kind), l!);
    for (const { remote: r } of this.remoteVisible) if (!r!.node) setRemote(this.newNode('r', r!.e.path, r!.e.kind), r!);
  }

  /**
   * The node whose entry on `side` has key k. Every visible local and remote entry belongs to
   * exactly one node (`buildNodes`), which it names in `node`.
   */
  private nodeAt(side: Side, k: string): Node | undefined {
    const at = this.slots.get(k);
    return side === 'synced' ? at?.synced : side === 'local' ? at?.local?.node : at?.remote?.node;
  }

  /** The node of an entry's parent folder on `side` (the root for a top-level entry). */
  private parentOfInfo(side: Side, info: PathInfo): Node | undefined {
    return info.parentPath === '' ? this.root : this.nodeAt(side, info.parentKey);
  }

  /** A new local node and a new remote node with one name in one synced folder, same content (or both folders): one node. */
  private pair(): void {
    const removed = new Set<Node>();
    for (const n of this.nodes) {
      if (n.synced || n.remote || !n.local) continue;
      const p = this.parentOfInfo('local', n.localInfo!);
      if (!p || !(p.root || (p.synced && p.remote))) continue;
      const rpath = joinPath(p.root ? '' : p.remote!.path, n.localInfo!.name);
      const m = this.nodeAt('remote', this.key(rpath));
      if (!m || m.synced || m.local || removed.has(m)) continue;
      const r = m.remote!;
      const l = n.local;
      const same = l.kind === 'folder' ? r.kind === 'folder' : r.kind === 'file' && l.sha256 !== null && l.sha256 === r.sha256;
      if (!same) continue;
      setRemote(n, m.remoteInfo!);
      n.idKind = 'p';
      n.idPath = l.path;
      removed.add(m);
    }
    if (removed.size) {
      // In place (a spread of a very large array into push() overflows the call stack).
      let w = 0;
      for (const n of this.nodes) if (!removed.has(n)) this.nodes[w++] = n;
      this.nodes.length = w;
    }
    this.nodes.sort(compareIds);
  }

  private linkParents(): void {
    const kid = (side: Side, p: Node | undefined, n: Node): void => {
      if (p && !this.firstKid[side].has(p)) this.firstKid[side].set(p, n);
    };
    for (const n of this.nodes) {
      if (n.local) kid('local', (n.localParent = this.parentOfInfo('local', n.localInfo!)), n);
      if (n.remote) kid('remote', (n.remoteParent = this.parentOfInfo('remote', n.remoteInfo!)), n);
      if (n.synced) kid('synced', (n.syncedParent = this.parentOfInfo('synced', n.syncedInfo!)), n);
      // The locations (`asLoc`); entries and parents are final from here on.
      if (n.local) n.localInfo!.parent = n.localParent;
      if (n.remote) n.remoteInfo!.parent = n.remoteParent;
      if (n.synced) n.syncedInfo!.parent = n.syncedParent;
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
    return asLoc(n.localInfo);
  }
  private locRemote(n: Node): Loc | undefined {
    return asLoc(n.remoteInfo);
  }
  private locSynced(n: Node): Loc | undefined {
    return asLoc(n.syncedInfo);
  }

  /** key(loc.name), worked out once per location. */
  private nameKey(loc: Loc): string {
    return (loc.nameKey ??= this.key(loc.name));
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
    // Each pass walks every node up its target parents once; a node's state (on the current
    // walk, or done) lives on the node, tagged with the pass. A cycle found is broken and the
    // search starts over.
    while (this.findAndBreakCycle());
  }

  /** Returns whether a cycle was found (and broken). */
  private findAndBreakCycle(): boolean {
    const pass = ++this.cyclePass;
    const state = (n: Node): 'open' | 'done' | undefined => (n.cyclePass === pass ? n.cycleState : undefined);
    const mark = (n: Node, st: 'open' | 'done'): void => {
      n.cyclePass = pass;
      n.cycleState = st;
    };
    for (const start of this.nodes) {
      if (state(start)) continue;
      // Walk up from start; the nodes of this walk are open.
      let n: Node | undefined = start;
      while (n && !n.root && !state(n)) {
        mark(n, 'open');
        n = n.target?.parent;
      }
      if (n && !n.root && state(n) === 'open') {
        // Cycle: from n up to n again.
        const cycle: Node[] = [];
        let c = n;
        do {
          cycle.push(c);
          c = c.target!.parent;
        } while (c !== n);
        const fix = cycle
          .filter((c) => c.remote && c.remoteParent && !c.onRemote)
          .sort(compareIds)[0];
        if (!fix) throw new Error('planner: unbreakable cycle in target tree');
        this.setTarget(fix, this.locRemote(fix));
        return true;
      }
      // No cycle: the walk's nodes (the open ones from start up) are done.
      for (let c: Node | undefined = start; c && !c.root && state(c) === 'open'; c = c.target?.parent) mark(c, 'done');
    }
    return false;
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
    for (const a of this.localAnchors.values()) this.raise(this.parentOfInfo('local', a), 'keep');
    for (const a of this.remoteAnchors.values()) this.raise(this.parentOfInfo('remote', a), 'keep');
  }

  /** Returns whether a target changed. */
  private resolveClashes(): boolean {
    // Nodes by target folder and name key. Nearly every target is unique, so a group (a list)
    // is only made when a second node wants a name. Groups are resolved independently of each
    // other (each reads and changes only its own nodes), so their order does not matter.
    const byFolder = new Map<Node, Map<string, Node>>();
    const groupOf = new Map<Node, Node[]>(); // first node wanting a name → all of them
    for (const n of this.nodes) {
      n.winner = undefined;
      if (n.status === 'delete' || !n.target) continue;
      let byName = byFolder.get(n.target.parent);
      if (!byName) byFolder.set(n.target.parent, (byName = new Map()));
      const k = this.nameKey(n.target);
      const first = byName.get(k);
      if (first === undefined) byName.set(k, n);
      else {
        let g = groupOf.get(first);
        if (!g) groupOf.set(first, (g = [first]));
        g.push(n);
      }
    }
    let changed = false;
    for (const g of groupOf.values()) {
      g.sort((a, b) => Number(b.onRemote) - Number(a.onRemote) || compareIds(a, b));
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
    const n = this.nodeAt(side, k);
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
      return !lS || lS.parent !== m.target.parent || this.nameKey(lS) !== this.nameKey(m.target);
    }
    const cur = side === 'local' ? this.locLocal(m) : this.locRemote(m);
    if (!cur) return false;
    return cur.parent !== m.target.parent || this.nameKey(cur) !== this.nameKey(m.target);
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
    const kid = this.firstKid[side].get(n);
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
      const anchor = this.remoteAnchors.get(k)?.e;
      if (!anchor || !n.local) return null;
      return this.collisionOp(n.kind !== anchor.kind ? 'typeConflict' : 'nameConflict', n.local, anchor, null, null);
    }
    const anchor = this.localAnchors.get(k)?.e;
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
    for (const start of [...this.waits.keys()].sort(compareIds)) {
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
        .sort((a, b) => compareIds(a.node, b.node));
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
    // Collected in a reused array (which keeps its room) and copied at their exact number: there
    // are thousands of candidates.
    const t = this.touches;
    let n = 0;
    const pt = (side: Side, path: string | null | undefined, subtree = false): void => {
      if (path !== null && path !== undefined) t[n++] = new Touch(side, path, subtree, this.key(path));
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
    const touches = t.slice(0, n);
    let depth = Infinity; // (as Math.min of none)
    for (const x of touches) depth = Math.min(depth, pathDepth(x.path));
    const primary = touches[0]?.path ?? '';
    const order = `${depthPrefix(depth)}${primary}\u0000${op.type}`;
    return { op, touches, order };
  }

  private selectIndependent(cands: Candidate[]): Operation[] {
    cands.sort((a, b) => compareStrings(a.order, b.order));
    // Keys taken on each side.
    const perSide = (): Record<Side, Set<string>> => ({ local: new Set(), remote: new Set(), synced: new Set() });
    const points = perSide();
    const subtrees = perSide();
    const prefixes = perSide();
    // Ancestors matter only against subtrees: a touch's ancestors are looked up only while
    // some subtree is taken on its side, and kept as prefixes only while a later candidate
    // touches a subtree (whose key is then looked up among them).
    let lastSubtree = -1;
    cands.forEach((c, i) => {
      if (c.touches.some((t) => t.subtree)) lastSubtree = i;
    });
    const ancestorsOf = (t: Touch): string[] => {
      if (t.ancestors === undefined) {
        t.ancestors = [];
        if (t.path !== '') {
          t.ancestors.push(this.key(''));
          for (let i = t.path.indexOf('/'); i >= 0; i = t.path.indexOf('/', i + 1)) t.ancestors.push(this.key(t.path.slice(0, i)));
        }
      }
      return t.ancestors;
    };
    const conflicts = (t: Touch): boolean =>
      points[t.side].has(t.key) ||
      subtrees[t.side].has(t.key) ||
      (subtrees[t.side].size > 0 && ancestorsOf(t).some((a) => subtrees[t.side].has(a))) ||
      (t.subtree && prefixes[t.side].has(t.key));
    const accepted: Operation[] = [];
    cands.forEach((c, i) => {
      if (c.touches.some(conflicts)) return;
      for (const t of c.touches) {
        (t.subtree ? subtrees : points)[t.side].add(t.key);
        if (i < lastSubtree) for (const a of ancestorsOf(t)) prefixes[t.side].add(a);
      }
      accepted.push(c.op);
    });
    return accepted;
  }


}

const DEPTH_PREFIXES: string[] = [];

/** The start of a candidate's `order`: the depth as four digits and a separator ("0003\0"), made once per depth. */
function depthPrefix(depth: number): string {
  if (depth >= 0 && depth < 64 && Number.isInteger(depth)) return (DEPTH_PREFIXES[depth] ??= `${String(depth).padStart(4, '0')}\u0000`);
  return `${String(depth).padStart(4, '0')}\u0000`;
}

/** compareStrings of two node ids, without building them: the same order, kind letter first, then path. */
function compareIds(a: Node, b: Node): number {
  return a.idKind === b.idKind ? compareStrings(a.idPath, b.idPath) : compareStrings(a.idKind, b.idKind);
}

/** Give node n its local side. */
function setLocal(n: Node, l: Item<LocalEntry>): void {
  n.local = l.e;
  n.localInfo = l;
  l.node = n;
}

/** Give node n its remote side. */
function setRemote(n: Node, r: Item<RemoteEntry>): void {
  n.remote = r.e;
  n.remoteInfo = r;
  r.node = n;
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
