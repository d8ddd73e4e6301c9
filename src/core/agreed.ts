// What the planner can leave out: the entries that are in agreement on all three sides.
//
// After the initial sync nearly every entry of a root is the same on the disk, on the server and
// in the merge base, and a round of the sync loop changes a few of them. The planner (./planner.ts)
// works over the whole tree every round; `withoutAgreed` takes out, before it starts, the entries
// whose absence cannot change its output, so a round costs about as much as its changes (plus
// one pass over the trees here), not as much as the whole tree.
//
// An entry is left out ("agreed") when, at one path P, all of this holds:
//
// - the three sides each have an entry with the path P (exactly that string), of the same kind;
//   the remote entry's id and the local entry's fileId are those the merge base names; for a file,
//   the local hash is known and equal to the base's, and the remote revision is the base's: the
//   planner has nothing to do for it (no transfer, move, delete, collision or base update);
// - P's parent folder is agreed as well (or P is at the top), so P's location is the same node
//   and name on every side and the entries of its folders are all visible;
// - P is plain: ASCII, a valid relative path, a name the server, this platform and the policy
//   accept (no warning, not ignored), and no name the planner may pick for a temporary "parking"
//   move (" (moving N)"), since it picks those among the names it sees;
// - nothing else refers to it: no other entry on any side has P's key (a case or normalization
//   clash), the remote id, the fileId and the base's ids each occur once on their side (the
//   planner pairs nodes by id and fileId, and the first of several wins);
// - no entry that stays in has P below it: a kept entry's ancestor folders stay (the planner
//   needs the parent nodes, their readiness and their paths).
//
// Why the output is then the same: a left-out entry would be a node whose target is its own
// location on every side, with status "keep", which derives no operation and no warning. No other
// node's entry sits at a path with its key (so no other target, slot, occupant or parking name
// meets it), none shares its ids (so pairing is unchanged), and none is a descendant (so no walk
// up parents, child count of a folder being deleted, or first child meets it). The nodes that
// stay are ordered by their own ids, so the order of the operations is unchanged as well.
// test/unit/planner-agreed.test.ts compares the planner's output with and without this step
// over many random inputs, including all those cases.
//
// Pure: reads its input, returns new trees (or the input itself when nothing is left out).

import { asciiPathKey, ignoreRules, isAscii, localNameProblem, pathDepth, pathKey, validateRelativePath } from './paths.js';
import { JournaledMap, type LocalEntry, type RemoteEntry, type SyncedEntry, type Tree } from './tree.js';
import type { PlanInput } from './planner.js';

/** The parking names' mark (see the planner's `parkingName`), lower-cased. */
const PARKING_MARK = '(moving ';

type Own = (path: string, s: SyncedEntry | undefined, l: LocalEntry | undefined, r: RemoteEntry | undefined) => boolean;

/**
 * An entry's own conditions for being left out (all but its key, its ids' uniqueness and its
 * parent): the same kind, ids and content on the three sides at that path, and a plain name.
 */
function ownConditions(policy: PlanInput['policy']): Own {
  const ignoreFile = ignoreRules(policy.excludedExtensions ?? []);
  const ignoreFolder = ignoreRules([]);
  const platform = policy.platform;
  return (k, s, l, r) => {
    if (s === undefined || l === undefined || r === undefined) return false;
    if (s.localFileId === null || l.fileId !== s.localFileId || r.id !== s.remoteId || l.kind !== s.kind || r.kind !== s.kind) return false;
    if (s.kind === 'file' && (l.sha256 === null || l.sha256 !== s.sha256 || r.revisionId !== s.revisionId)) return false;
    if (!isAscii(k)) return false;
    const name = k.slice(k.lastIndexOf('/') + 1);
    if (name.toLowerCase().includes(PARKING_MARK)) return false;
    if (!validateRelativePath(k).ok) return false;
    if ((s.kind === 'file' ? ignoreFile(name) : ignoreFolder(name)) !== null) return false;
    return localNameProblem(name, platform) === null;
  };
}

/**
 * Whether leaving out `agreed` of `total` entries is worth new trees: with fewer than a quarter
 * agreed, the planner takes the input as it is (the same output, no copies of most of it).
 */
function worthLeavingOut(agreed: number, total: number): boolean {
  return agreed > 0 && agreed * 4 >= total;
}

/** Paths whose key may differ from the path itself (see `withoutAgreed`). */
function foldPattern(ci: boolean): RegExp {
  return ci ? /[A-Z\u0080-\uffff]/ : /[\u0080-\uffff]/;
}

export function withoutAgreed(input: PlanInput, ci: boolean): PlanInput {
  const { remote, local, synced, policy } = input;
  // Plain lists may hold a path twice: no pruning for them (tests use them; the engine does not).
  if (Array.isArray(remote) || Array.isArray(local) || Array.isArray(synced)) return input;
  const R = remote as Tree<RemoteEntry>;
  const L = local as Tree<LocalEntry>;
  const S = synced as Tree<SyncedEntry>;
  if (S.size === 0) return input;

  // Key clashes. A path whose key is the path itself (lower-case ASCII, or any ASCII when keys
  // are case-sensitive) clashes with another only through a path whose key differs from it, so
  // only those "folded" paths are keyed here. Non-ASCII paths are never left out, but their keys
  // may equal an ASCII path's (NFC maps U+212A KELVIN SIGN to "K"), so they are keyed too.
  const foldRe = foldPattern(ci);
  const folded = new Map<string, string>(); // key → the folded path holding it
  const clashes = new Set<string>();
  const fold = (p: string): void => {
    if (!foldRe.test(p)) return;
    const k = asciiPathKey(p, ci) ?? pathKey(p, ci);
    const prev = folded.get(k);
    if (prev === undefined) folded.set(k, p);
    else if (prev !== p) clashes.add(k);
  };
  // Ids and fileIds: a left-out entry's remote id must occur exactly twice over the remote tree
  // and the base (its remote entry's and its base entry's), and so must its fileId over the local
  // tree and the base; more often, the planner could pair something else by it.
  // The ids are counted by sorting them (no map of ten thousand entries every round).
  const ids = new Float64Array(R.size + S.size);
  let n = 0;
  for (const [k, e] of R) {
    // A map whose keys are not its entries' paths is not a tree the planner gets from the engine.
    if (k !== e.path) return input;
    fold(k);
    ids[n++] = e.id;
  }
  const fileIds = new Map<string, number>();
  for (const [k, e] of L) {
    if (k !== e.path) return input;
    fold(k);
    fileIds.set(e.fileId, (fileIds.get(e.fileId) ?? 0) + 1);
  }

  const own = ownConditions(policy);
  // The base entries that meet their own conditions (not yet: key, ids, parent).
  const candidates: SyncedEntry[] = [];
  for (const [k, s] of S) {
    if (k !== s.path) return input;
    fold(k);
    ids[n++] = s.remoteId;
    const f = s.localFileId;
    if (f === null) continue;
    const c = fileIds.get(f);
    if (c !== undefined) fileIds.set(f, c + 1);
    if (own(k, s, L.get(k), R.get(k))) candidates.push(s);
  }
  if (candidates.length === 0) return input;
  const badIds = new Set<number>();
  ids.sort();
  for (let i = 0; i < n; ) {
    let j = i + 1;
    while (j < n && ids[j] === ids[i]) j++;
    if (j - i > 2) badIds.add(ids[i]!);
    i = j;
  }

  // Pass 2: the key, the ids, and the parent folder (folders first, memoized top-down).
  const alone = (s: SyncedEntry): boolean => {
    const p = s.path;
    if (fileIds.get(s.localFileId!) !== 2 || (badIds.size > 0 && badIds.has(s.remoteId))) return false;
    if (folded.size === 0) return true;
    if (!foldRe.test(p)) return !folded.has(p);
    // A folded ASCII path: no other folded path with its key, no path that is that key itself.
    const k = asciiPathKey(p, ci)!;
    return !clashes.has(k) && !R.has(k) && !L.has(k) && !S.has(k);
  };
  const folders = new Map<string, SyncedEntry>();
  for (const s of candidates) if (s.kind === 'folder') folders.set(s.path, s);
  const folderAgreed = new Map<string, boolean>();
  const parentAgreed = (p: string): boolean => {
    const i = p.lastIndexOf('/');
    if (i < 0) return true;
    const f = p.slice(0, i);
    let v = folderAgreed.get(f);
    if (v === undefined) {
      const s = folders.get(f);
      v = s !== undefined && alone(s) && parentAgreed(f);
      folderAgreed.set(f, v);
    }
    return v;
  };
  const agreed = new Set<string>();
  for (const s of candidates) if (alone(s) && parentAgreed(s.path)) agreed.add(s.path);
  if (!worthLeavingOut(agreed.size, S.size)) return input;

  // Pass 3: the trees without the agreed entries; an entry that stays keeps its ancestors in.
  const needed = new Set<string>();
  const keepAncestors = (p: string): void => {
    for (let i = p.lastIndexOf('/'); i > 0; i = p.lastIndexOf('/', i - 1)) {
      const a = p.slice(0, i);
      if (needed.has(a)) return;
      needed.add(a);
    }
  };
  const keep = <E extends { path: string }>(t: Tree<E>): Map<string, E> => {
    const out = new Map<string, E>();
    for (const [k, e] of t) {
      if (agreed.has(k)) continue;
      out.set(k, e);
      keepAncestors(k);
    }
    return out;
  };
  const out = { remote: keep(R), local: keep(L), synced: keep(S), policy };
  for (const a of needed) {
    if (!agreed.has(a)) continue;
    out.remote.set(a, R.get(a)!);
    out.local.set(a, L.get(a)!);
    out.synced.set(a, S.get(a)!);
  }
  return out;
}

/** One path of the tracker: its entry on each side, and whether it is left out. */
interface Rec {
  r: RemoteEntry | undefined;
  l: LocalEntry | undefined;
  s: SyncedEntry | undefined;
  agreed: boolean;
  /** The recount that last judged it (see judgeAll). */
  judged: number;
}

type Sides = Pick<Rec, 'r' | 'l' | 's'>;

/** Past this many changed paths (and a quarter of all), a round recounts everything instead. */
const FULL_RECOUNT = 1000;

/**
 * `withoutAgreed`, kept up to date from round to round: the same trees out (the same entries
 * left out) for the same trees in, at a cost that follows what changed since the last round
 * rather than the size of the trees. For the sync engine, which plans a root again after each
 * batch of operations.
 *
 * It tells a changed entry by identity: each side's tree must hold a new entry object where an
 * entry changed (the store and the local scan never change an entry in place). Input trees may
 * be new maps every round or the same map changed; a JournaledMap it read the round before
 * (the store's trees, the engine's local tree) says which paths changed, so the tracker does not
 * even go through the whole map. test/unit/planner-agreed.test.ts compares it with
 * `withoutAgreed` after every step of random edit sequences.
 *
 * What it keeps, per path: the three entries and the verdict; per remote id and per fileId: how
 * many entries name it (remote and base; local and base) and the path of one remote (local)
 * entry holding it, the only place where a left-out entry with that id can be.
 */
export class AgreementTracker {
  private signature: string | undefined;
  private ci = false;
  private foldRe = foldPattern(false);
  private own: Own = () => false;
  private readonly seen = new Map<string, Rec>();
  /** Remote id → the paths naming it: one per remote entry with the id, one per base entry with it as remoteId. */
  private readonly ids = new Map<number, Holders>();
  /** FileId → the paths naming it: local entries (fileId) and base entries (localFileId). */
  private readonly fileIds = new Map<string, Holders>();
  /** Key → the paths with that key that are not the key themselves, one per side entry. */
  private readonly folded = new Map<string, string[]>();
  /** The paths of `seen` that are not left out. */
  private readonly kept = new Set<string>();
  private counts = { r: 0, l: 0, s: 0 };
  /** Recounts so far (the stamp of judgeAll). */
  private recounts = 0;
  /** Each side's map as read last round, when it is a JournaledMap. */
  private maps: Partial<Record<'r' | 'l' | 's', JournaledMap<string, unknown>>> = {};

  /** @param fullRecount changed paths past which a round recounts everything (tests make it small). */
  constructor(private readonly fullRecount = FULL_RECOUNT) {}

  private reset(): void {
    this.seen.clear();
    this.ids.clear();
    this.fileIds.clear();
    this.folded.clear();
    this.kept.clear();
    this.counts = { r: 0, l: 0, s: 0 };
    this.maps = {};
  }

  prune(input: PlanInput, ci: boolean): PlanInput {
    const { remote, local, synced, policy } = input;
    if (Array.isArray(remote) || Array.isArray(local) || Array.isArray(synced)) return this.bail(input);
    const signature = `${ci}\u0000${policy.platform}\u0000${JSON.stringify(policy.excludedExtensions ?? [])}`;
    let full = false;
    if (signature !== this.signature) {
      this.signature = signature;
      this.ci = ci;
      this.foldRe = foldPattern(ci);
      this.reset();
      full = true;
    }
    // Nothing agrees without a merge base (an agent's first sync): follow nothing yet.
    if ((synced as Tree<SyncedEntry>).size === 0) return this.bail(input);
    this.own = ownConditions(policy);
    // Changed paths with their entries before this round (not kept past FULL_RECOUNT: then
    // everything is counted and judged again).
    const before = new Map<string, Sides>();
    const touch = (k: string, rec: Rec): void => {
      if (full || before.has(k)) return;
      before.set(k, { r: rec.r, l: rec.l, s: rec.s });
      if (before.size > this.fullRecount && before.size > this.seen.size / 4) {
        full = true;
        before.clear();
      }
    };
    const at = (k: string): Rec => {
      let rec = this.seen.get(k);
      if (rec === undefined) {
        rec = { r: undefined, l: undefined, s: undefined, agreed: false, judged: 0 };
        this.seen.set(k, rec);
        this.kept.add(k);
      }
      return rec;
    };

    // What changed: each side's entries against the ones seen last round.
    const sides = [
      [remote as Tree<RemoteEntry>, 'r'],
      [local as Tree<LocalEntry>, 'l'],
      [synced as Tree<SyncedEntry>, 's'],
    ] as const;
    for (const [tree, side] of sides) {
      // A journaled map read last round says what changed since (see JournaledMap).
      const journal = tree instanceof JournaledMap ? (tree as JournaledMap<string, RemoteEntry | LocalEntry | SyncedEntry>) : undefined;
      const changes = journal?.takeChanges();
      const known = journal !== undefined && journal === this.maps[side];
      this.maps[side] = journal;
      if (known && changes !== undefined) {
        for (const k of changes) {
          const e = journal.get(k);
          const rec = e === undefined ? this.seen.get(k) : at(k);
          if (rec === undefined || rec[side] === e) continue;
          if (e !== undefined && k !== e.path) return this.bail(input);
          touch(k, rec);
          (rec as Record<typeof side, unknown>)[side] = e;
        }
        this.counts[side] = tree.size;
        continue;
      }
      let matched = 0;
      for (const [k, e] of tree as Tree<RemoteEntry | LocalEntry | SyncedEntry>) {
        if (k !== e.path) return this.bail(input);
        const rec = at(k);
        if (rec[side] !== undefined) matched++;
        if (rec[side] !== e) {
          touch(k, rec);
          (rec as Record<typeof side, unknown>)[side] = e;
        }
      }
      // Fewer of last round's entries than there were: find the ones that are gone.
      if (matched < this.counts[side]) {
        for (const [k, rec] of this.seen) {
          if (rec[side] === undefined || tree.has(k)) continue;
          touch(k, rec);
          rec[side] = undefined;
        }
      }
      this.counts[side] = tree.size;
    }

    if (full) this.judgeAll();
    else this.judgeChanged(this.follow(before));

    if (!worthLeavingOut(this.seen.size - this.kept.size, (synced as Tree<SyncedEntry>).size)) return input;
    // The trees without the agreed entries; an entry that stays keeps its ancestors in.
    const out = { remote: new Map<string, RemoteEntry>(), local: new Map<string, LocalEntry>(), synced: new Map<string, SyncedEntry>(), policy };
    const put = (k: string, rec: Rec): void => {
      if (rec.r) out.remote.set(k, rec.r);
      if (rec.l) out.local.set(k, rec.l);
      if (rec.s) out.synced.set(k, rec.s);
    };
    const walked = new Set<string>();
    for (const k of this.kept) {
      put(k, this.seen.get(k)!);
      for (let i = k.lastIndexOf('/'); i > 0; i = k.lastIndexOf('/', i - 1)) {
        const a = k.slice(0, i);
        if (walked.has(a)) break;
        walked.add(a);
        const rec = this.seen.get(a);
        if (rec?.agreed) put(a, rec);
      }
    }
    return out;
  }

  /** Sets a path's verdict; returns whether it changed. A path gone from every side is forgotten. */
  private judge(p: string, rec: Rec): boolean {
    const gone = rec.r === undefined && rec.l === undefined && rec.s === undefined;
    const v = !gone && this.verdict(p, rec);
    const flipped = v !== rec.agreed;
    rec.agreed = v;
    if (gone) {
      this.seen.delete(p);
      this.kept.delete(p);
    } else if (v) this.kept.delete(p);
    else this.kept.add(p);
    return flipped;
  }

  /** Every path judged again after a recount, each after its parent. */
  private judgeAll(): void {
    this.recount();
    const stamp = ++this.recounts;
    const visit = (p: string, rec: Rec): void => {
      if (rec.judged === stamp) return;
      rec.judged = stamp;
      const i = p.lastIndexOf('/');
      if (i > 0) {
        const parent = p.slice(0, i);
        const pr = this.seen.get(parent);
        if (pr !== undefined) visit(parent, pr);
      }
      this.judge(p, rec);
    };
    for (const [p, rec] of this.seen) visit(p, rec);
  }

  /** The changed paths (and those sharing an id, fileId or key with one) judged again, parents first; a folder whose verdict changes has its children judged again. */
  private judgeChanged(again: Set<string>): void {
    const byDepth: string[][] = [];
    for (const p of again) (byDepth[pathDepth(p)] ??= []).push(p);
    const done = new Set<string>();
    for (let d = 0; d < byDepth.length; d++) {
      const level = byDepth[d];
      if (!level) continue;
      const flipped = new Set<string>();
      for (const p of level) {
        if (done.has(p)) continue;
        done.add(p);
        const rec = this.seen.get(p);
        if (rec !== undefined && this.judge(p, rec)) flipped.add(p);
      }
      if (flipped.size > 0) {
        for (const k of this.seen.keys()) {
          const i = k.lastIndexOf('/');
          if (i > 0 && flipped.has(k.slice(0, i))) (byDepth[d + 1] ??= []).push(k);
        }
      }
    }
  }

  /** Input the tracker does not follow: forget everything (the next round starts afresh). */
  private bail(input: PlanInput): PlanInput {
    this.signature = undefined;
    this.reset();
    return input;
  }

  /** The indexes counted again from every path. */
  private recount(): void {
    this.ids.clear();
    this.fileIds.clear();
    this.folded.clear();
    for (const [k, rec] of this.seen) this.index(k, rec, 1);
  }

  /** The indexes brought up to date with the changed paths; returns the paths to judge again. */
  private follow(before: Map<string, Sides>): Set<string> {
    const again = new Set<string>();
    const ids = new Set<number>();
    const fileIds = new Set<string>();
    const keys = new Set<string>();
    for (const [k, old] of before) {
      const rec = this.seen.get(k)!;
      this.index(k, old, -1, ids, fileIds, keys);
      this.index(k, rec, 1, ids, fileIds, keys);
      keys.add(this.keyOf(k));
      again.add(k);
    }
    for (const id of ids) for (const p of holders(this.ids.get(id))) again.add(p);
    for (const f of fileIds) for (const p of holders(this.fileIds.get(f))) again.add(p);
    for (const key of keys) {
      for (const p of this.folded.get(key) ?? []) again.add(p);
      if (this.seen.has(key)) again.add(key);
    }
    return again;
  }

  /** Adds (+1) or takes out (-1) the ids, fileIds and folded key of one path's entries. */
  private index(k: string, e: Sides, n: 1 | -1, ids?: Set<number>, fileIds?: Set<string>, keys?: Set<string>): void {
    if (e.r) hold(this.ids, e.r.id, k, n, ids);
    if (e.s) {
      hold(this.ids, e.s.remoteId, k, n, ids);
      if (e.s.localFileId !== null) hold(this.fileIds, e.s.localFileId, k, n, fileIds);
    }
    if (e.l) hold(this.fileIds, e.l.fileId, k, n, fileIds);
    if (this.foldRe.test(k)) {
      const key = this.keyOf(k);
      const times = Number(e.r !== undefined) + Number(e.l !== undefined) + Number(e.s !== undefined);
      for (let i = 0; i < times; i++) {
        const list = this.folded.get(key);
        if (n > 0) {
          if (list) list.push(k);
          else this.folded.set(key, [k]);
        } else if (list) {
          const j = list.indexOf(k);
          if (j >= 0) list.splice(j, 1);
          if (list.length === 0) this.folded.delete(key);
        }
      }
      keys?.add(key);
    }
  }

  private keyOf(p: string): string {
    if (!this.foldRe.test(p)) return p;
    return asciiPathKey(p, this.ci) ?? pathKey(p, this.ci);
  }

  private verdict(p: string, rec: Rec): boolean {
    const { s } = rec;
    if (!this.own(p, s, rec.l, rec.r)) return false;
    if (!twice(this.ids.get(s!.remoteId)) || !twice(this.fileIds.get(s!.localFileId!))) return false;
    // The key: held by this path alone (see withoutAgreed).
    if (!this.foldRe.test(p)) {
      if (this.folded.has(p)) return false;
    } else {
      const k = asciiPathKey(p, this.ci)!;
      if (this.folded.get(k)!.some((q) => q !== p) || this.seen.has(k)) return false;
    }
    const i = p.lastIndexOf('/');
    return i < 0 || this.seen.get(p.slice(0, i))?.agreed === true;
  }
}

/**
 * The paths naming an id: a list, or for the usual case, a remote (local) entry and a base
 * entry at one path, that path alone (no list per id).
 */
type Holders = string | string[];

function holders(h: Holders | undefined): readonly string[] {
  return h === undefined ? [] : typeof h === 'string' ? [h, h] : h;
}

/** Whether exactly two entries name the id (a left-out entry's remote and base, or local and base). */
function twice(h: Holders | undefined): boolean {
  return typeof h === 'string' || h?.length === 2;
}

/** Adds (+1) or takes out (-1) one entry at path p naming id. */
function hold<K>(m: Map<K, Holders>, id: K, p: string, n: 1 | -1, touched?: Set<K>): void {
  touched?.add(id);
  const h = m.get(id);
  if (n > 0) {
    if (h === undefined) m.set(id, [p]);
    else if (typeof h === 'string') m.set(id, [h, h, p]);
    else if (h.length === 1 && h[0] === p) m.set(id, p);
    else h.push(p);
    return;
  }
  if (h === undefined) return;
  const list = typeof h === 'string' ? [h, h] : h;
  const i = list.indexOf(p);
  if (i >= 0) list.splice(i, 1);
  if (list.length === 0) m.delete(id);
  else if (list.length === 2 && list[0] === list[1]) m.set(id, list[0]!);
  else m.set(id, list);
}
