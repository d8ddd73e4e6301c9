// The planner leaves out the entries in agreement on all three sides (src/core/agreed.ts); its
// output must be exactly what it is over the whole trees. These tests compare the two over many
// random inputs that are mostly in sync (so that much is left out) and full of what could make
// leaving an entry out wrong: names that clash by case or normalization (including U+212A KELVIN
// SIGN, whose NFC form is "K"), hard links (two local paths, one fileId), remote ids and fileIds
// named twice, broken merge bases, invalid and excluded names, parking names, pending hashes.
// The AgreementTracker (the same result, followed from round to round) is compared with the
// one-shot `withoutAgreed` after every step of random edit sequences.
//
// (test/unit/planner-random.test.ts also checks every plan of its convergence runs against the
// whole plan, through the World of sync-fixtures.)

import { describe, expect, it } from 'vitest';
import { AgreementTracker, withoutAgreed } from '../../src/core/agreed.js';
import { keysCaseInsensitive, plan, planWhole } from '../../src/core/planner.js';
import type { PlanInput, SyncPolicy } from '../../src/core/planner.js';
import { JournaledMap, type LocalEntry, type RemoteEntry, type SyncedEntry } from '../../src/core/tree.js';
import { breakBase, edit, inSyncTrees, largeCase, ODD_NAMES, PLAIN_NAMES, randomPolicy, resetIds, Rng } from '../helpers/planner-inputs.js';

const KELVIN = '\u212a';
const NAMES = [...PLAIN_NAMES, 'K', 'k', KELVIN, `${KELVIN}x`, 'kx', 'Kx', 'g (moving 1).txt', 'G (Moving 2).TXT', 'x.tmp', '.DS_Store', 'con'];

interface Lists {
  remote: RemoteEntry[];
  local: LocalEntry[];
  synced: SyncedEntry[];
}

/** Hard links, ids named twice, bases naming another node: a few of them, sometimes. */
function oddities(rng: Rng, t: Lists): Lists {
  let { remote, local, synced } = t;
  for (let k = rng.int(3); k > 0; k--) {
    if (local.length < 2 || remote.length < 2) break;
    switch (rng.int(4)) {
      case 0: {
        // A hard link: a second local path with an existing fileId.
        const a = rng.pick(local);
        const path = `${a.path}-link`;
        if (a.kind === 'file' && !local.some((x) => x.path === path)) local = [...local, { ...a, path }];
        break;
      }
      case 1: {
        // A remote id held twice.
        const a = rng.pick(remote);
        const b = rng.pick(remote);
        remote = remote.map((x) => (x === b ? { ...x, id: a.id } : x));
        break;
      }
      case 2:
        synced = breakBase(rng, synced);
        break;
      default: {
        // A local hash pending.
        const a = rng.pick(local);
        if (a.kind === 'file') local = local.map((x) => (x === a ? { ...x, sha256: null } : x));
      }
    }
  }
  return { remote, local, synced };
}

/** Trees mostly in sync: many entries agree, a few were edited on either side. */
function mostlyInSync(rng: Rng): Lists {
  const names = rng.chance(0.3) ? [...NAMES, ...ODD_NAMES] : NAMES;
  const t = inSyncTrees(rng, 20 + rng.int(180), rng.chance(0.5) ? PLAIN_NAMES : names);
  const lists = {
    remote: edit(rng, t.remote, 'remote', names, rng.int(5)),
    local: edit(rng, t.local, 'local', names, rng.int(5)),
    synced: t.synced,
  };
  return rng.chance(0.5) ? oddities(rng, lists) : lists;
}

function asMap<E extends { path: string }>(list: readonly E[]): Map<string, E> {
  return new Map(list.map((e) => [e.path, e]));
}

function input(t: Lists, policy: SyncPolicy): PlanInput {
  return { remote: asMap(t.remote), local: asMap(t.local), synced: asMap(t.synced), policy };
}

const outcome = (f: () => unknown): string => {
  try {
    return JSON.stringify(f());
  } catch (err) {
    return `threw ${(err as Error).message}`;
  }
};

/** The paths of each side of a (pruned) input. */
function shape(i: PlanInput): string[][] {
  return [i.remote, i.local, i.synced].map((t) => [...(t as ReadonlyMap<string, unknown>).keys()].sort());
}

describe('the planner without the agreed entries', () => {
  it('plans exactly what it plans over the whole trees (random mostly-synced trees)', () => {
    resetIds();
    const rng = new Rng(41);
    let pruned = 0;
    let entriesLeftOut = 0;
    const cases = 1000;
    for (let c = 0; c < cases; c++) {
      const t = mostlyInSync(rng);
      const i = input(t, randomPolicy(rng));
      const expected = outcome(() => planWhole(i));
      expect(outcome(() => plan(i)), `case ${c}`).toBe(expected);
      const p = withoutAgreed(i, keysCaseInsensitive(i.policy));
      if (p !== i) {
        pruned++;
        entriesLeftOut += (i.synced as Map<string, unknown>).size - (p.synced as Map<string, unknown>).size;
      }
    }
    // Not a vacuous comparison: many cases had entries left out (a plan with less than a quarter
    // of the base agreeing takes the input as it is).
    expect(pruned).toBeGreaterThan(cases * 0.35);
    expect(entriesLeftOut).toBeGreaterThan(cases * 8);
  });

  it('plans exactly what it plans over the whole trees (large trees, changes spread over them)', () => {
    resetIds();
    const rng = new Rng(43);
    for (let c = 0; c < 12; c++) {
      const i = largeCase(rng, 400 + rng.int(1600));
      expect(outcome(() => plan(i)), `case ${c}`).toBe(outcome(() => planWhole(i)));
    }
  });

  it('leaves out what agrees, keeps what does not and the folders above it', () => {
    const policy: SyncPolicy = { caseInsensitive: false, platform: 'linux', manualCollisions: true };
    const file = (path: string, id: number): Lists => ({
      remote: [{ path, kind: 'file', id, revisionId: id * 10, size: 1, sha256: `h${id}` }],
      local: [{ path, kind: 'file', fileId: `f${id}`, size: 1, mtime: 1, sha256: `h${id}` }],
      synced: [{ path, kind: 'file', remoteId: id, revisionId: id * 10, sha256: `h${id}`, localFileId: `f${id}`, size: 1, mtime: 1 }],
    });
    const folder = (path: string, id: number): Lists => ({
      remote: [{ path, kind: 'folder', id, revisionId: null, size: 0, sha256: null }],
      local: [{ path, kind: 'folder', fileId: `f${id}`, size: 0, mtime: 1, sha256: null }],
      synced: [{ path, kind: 'folder', remoteId: id, revisionId: null, sha256: null, localFileId: `f${id}`, size: 0, mtime: null }],
    });
    const all = [folder('a', 1), file('a/x', 2), file('a/y', 3), folder('b', 4), file('b/z', 5), file('top', 6), file('Top2', 7)];
    const t: Lists = { remote: all.flatMap((x) => x.remote), local: all.flatMap((x) => x.local), synced: all.flatMap((x) => x.synced) };
    // A new remote file in a/ and a local edit of b/z.
    t.remote.push({ path: 'a/new', kind: 'file', id: 9, revisionId: 90, size: 1, sha256: 'h9' });
    t.local = t.local.map((l) => (l.path === 'b/z' ? { ...l, sha256: 'edited' } : l));
    const i = input(t, policy);
    const p = withoutAgreed(i, keysCaseInsensitive(policy));
    // Top2 is left out too: keys are case-insensitive (the server's default), but nothing else has its key.
    expect(shape(p)).toEqual([
      ['a', 'a/new', 'b', 'b/z'],
      ['a', 'b', 'b/z'],
      ['a', 'b', 'b/z'],
    ]);
    expect(plan(i)).toEqual(planWhole(i));
    // A local "top2" makes Top2 clash: both stay.
    t.local.push({ path: 'top2', kind: 'file', fileId: 'f99', size: 1, mtime: 1, sha256: 'h99' });
    expect(shape(withoutAgreed(input(t, policy), true))[0]).toContain('Top2');
  });

  it('keeps in the names a parking move may pick', () => {
    // x and y swapped locally: the remote side must swap too, through a temporary "parking"
    // name, and the planner picks the first free "x (moving N)" among the names it sees.
    const policy: SyncPolicy = { caseInsensitive: false, serverCaseInsensitive: false, platform: 'linux', manualCollisions: false };
    const t: Lists = { remote: [], local: [], synced: [] };
    const files = ['x', 'y', 'x (moving 1)', 'y (moving 1)', 'z1', 'z2', 'z3', 'z4'];
    files.forEach((path, n) => {
      const id = n + 1;
      t.remote.push({ path, kind: 'file', id, revisionId: id * 10, size: 1, sha256: `h${id}` });
      t.synced.push({ path, kind: 'file', remoteId: id, revisionId: id * 10, sha256: `h${id}`, localFileId: `f${id}`, size: 1, mtime: 1 });
      const swapped = path === 'x' ? 'y' : path === 'y' ? 'x' : path;
      t.local.push({ path: swapped, kind: 'file', fileId: `f${id}`, size: 1, mtime: 1, sha256: `h${id}` });
    });
    const i = input(t, policy);
    const ops = planWhole(i);
    const parking = ops.filter((o) => (o.type === 'moveRemote' || o.type === 'moveLocal') && o.parking);
    expect(parking.length).toBeGreaterThan(0);
    expect(JSON.stringify(parking)).toContain('(moving 2)');
    expect(plan(i)).toEqual(ops);
    // The parking names stay in; the z files are left out.
    expect(shape(withoutAgreed(i, false))[0]).toEqual(['x', 'x (moving 1)', 'y', 'y (moving 1)']);
  });

  it('the tracker leaves out what withoutAgreed leaves out, round after round', () => {
    resetIds();
    const rng = new Rng(47);
    let compared = 0;
    let leftOut = 0;
    for (let seq = 0; seq < 100; seq++) {
      let policy = randomPolicy(rng);
      let t = mostlyInSync(rng);
      // (Every third sequence recounts everything whenever more than a few paths changed.)
      const tracker = seq % 3 === 2 ? new AgreementTracker(4) : new AgreementTracker();
      // The local tree is one map changed in place (as the engine's local cache); the other two
      // are new maps every round, or (every third sequence) journaled maps changed in place, as
      // the store's trees.
      const journaled = seq % 3 === 1;
      const localMap = journaled ? new JournaledMap(asMap(t.local)) : asMap(t.local);
      const remoteMap = new JournaledMap<string, RemoteEntry>();
      const syncedMap = new JournaledMap<string, SyncedEntry>();
      const inPlace = <E,>(m: Map<string, E>, next: Map<string, E>): Map<string, E> => {
        for (const k of [...m.keys()]) if (!next.has(k)) m.delete(k);
        for (const [k, e] of next) if (m.get(k) !== e) m.set(k, e);
        return m;
      };
      const names = rng.chance(0.5) ? NAMES : [...NAMES, ...ODD_NAMES];
      for (let step = 0; step < 14; step++) {
        const what = rng.int(10);
        if (what < 4) {
          t = { ...t, remote: edit(rng, t.remote, 'remote', names, 1 + rng.int(3)), local: edit(rng, t.local, 'local', names, 1 + rng.int(3)) };
        } else if (what < 7) {
          // Some paths settle: the base records what both sides have (entries agree again).
          const remoteAt = asMap(t.remote);
          const synced = asMap(t.synced);
          for (const l of t.local) {
            const r = remoteAt.get(l.path);
            if (!r || r.kind !== l.kind || (l.kind === 'file' && l.sha256 === null) || !rng.chance(0.5)) continue;
            synced.set(l.path, { path: l.path, kind: l.kind, remoteId: r.id, revisionId: r.revisionId, sha256: l.sha256, localFileId: l.fileId, size: l.size, mtime: l.mtime });
          }
          t = { ...t, synced: [...synced.values()] };
        } else if (what < 8) {
          t = oddities(rng, t);
        } else if (what < 9) {
          // Base entries forgotten.
          t = { ...t, synced: t.synced.filter(() => rng.chance(0.8)) };
        } else {
          policy = rng.chance(0.5) ? randomPolicy(rng) : policy;
        }
        // The local map in place: removed paths deleted, changed entries replaced.
        // (In shuffled order: children may come before their folders.)
        const shuffled = <E,>(list: E[]): E[] => rng.shuffle([...list]);
        inPlace(localMap, asMap(shuffled(t.local)));
        const i: PlanInput = {
          remote: journaled ? inPlace(remoteMap, asMap(shuffled(t.remote))) : asMap(shuffled(t.remote)),
          local: localMap,
          synced: journaled ? inPlace(syncedMap, asMap(shuffled(t.synced))) : asMap(shuffled(t.synced)),
          policy,
        };
        const ci = keysCaseInsensitive(policy);
        const expected = shape(withoutAgreed(i, ci));
        expect(shape(tracker.prune(i, ci)), `sequence ${seq}, step ${step}`).toEqual(expected);
        // The same input again (a second plan of one round): the same result.
        expect(outcome(() => plan(i, tracker)), `sequence ${seq}, step ${step}`).toBe(outcome(() => planWhole(i)));
        compared++;
        leftOut += (i.synced as Map<string, unknown>).size - expected[2]!.length;
      }
    }
    expect(compared).toBe(100 * 14);
    expect(leftOut).toBeGreaterThan(compared * 4);
  });

  it('a journaled map says which keys changed since it was last read', () => {
    const m = new JournaledMap<string, number>([['a', 1]]);
    // (What the constructor put in is not noted: a reader reads a map it has not seen whole.)
    expect(m.takeChanges()).toEqual(new Set());
    m.set('b', 2);
    m.set('a', 3);
    m.delete('b');
    m.delete('nothing');
    expect(m.takeChanges()).toEqual(new Set(['a', 'b']));
    expect(m.takeChanges()).toEqual(new Set());
    m.clear();
    expect(m.takeChanges()).toBeUndefined();
    for (let i = 0; i < 5000; i++) m.set(`k${i}`, i);
    expect(m.takeChanges()).toBeUndefined(); // too many: read it whole
    m.set('k1', 0);
    expect(m.takeChanges()).toEqual(new Set(['k1']));
    expect([...m.keys()].length).toBe(5000);
  });

  it('the tracker starts afresh on input it does not follow (lists, keys that are not the paths)', () => {
    const policy: SyncPolicy = { caseInsensitive: true, platform: 'win32', manualCollisions: false };
    resetIds();
    const rng = new Rng(53);
    const t = inSyncTrees(rng, 60, PLAIN_NAMES);
    const tracker = new AgreementTracker();
    const i = input(t, policy);
    expect(shape(tracker.prune(i, true))).toEqual(shape(withoutAgreed(i, true)));
    // A list input is planned whole.
    const lists: PlanInput = { remote: t.remote, local: t.local, synced: t.synced, policy };
    expect(tracker.prune(lists, true)).toBe(lists);
    // A map whose key is not its entry's path.
    const odd = input(t, policy);
    const [k, e] = [...(odd.remote as Map<string, RemoteEntry>)][0]!;
    (odd.remote as Map<string, RemoteEntry>).set(k, { ...e, path: `${e.path}-elsewhere` });
    expect(tracker.prune(odd, true)).toBe(odd);
    // And back: the same result as withoutAgreed again.
    expect(shape(tracker.prune(i, true))).toEqual(shape(withoutAgreed(i, true)));
  });
});
