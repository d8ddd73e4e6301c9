// Random inputs for the planner: small trees full of odd names, case and normalization clashes,
// moves, deletes, type changes, pending hashes and broken bases, and large bench-like trees with
// changes spread over them. Used by the planner's equivalence tests (planner-equivalence,
// planner-agreed). Deterministic for a seed.

import type { PlanInput, SyncPolicy } from '../../src/core/planner.js';
import type { EntryKind, LocalEntry, RemoteEntry, SyncedEntry } from '../../src/core/tree.js';
import { Rng } from './random-fs.js';

export { Rng };

export const NFC_E = '\u00e9';
export const NFD_E = 'e\u0301';
// Names the server, this platform or the policy reject, junk, clashes by case and normalization.
export const ODD_NAMES = [
  'a', 'A', 'b', 'B', 'c.txt', 'C.TXT', `caf${NFC_E}`, `caf${NFD_E}`, `CAF${NFC_E.toUpperCase()}`, 'x.tmp', 'y.EXE', 'z.qbw.tlg',
  '.DS_Store', 'Thumbs.db', '~$doc.docx', 'a.swp', 'b~', '#x#', '.#lock', '._a', '.axis-tmp-1', '~wrl0001.tmp', '.~lock.f#',
  'con', 'CON.txt', 'aux .x', 'a.', 'a ', 'q?', 'x:y', 'C:', '\u00df', 'SS', '\u03c3', '\u03c2', '\u03a3',
  'long' + 'x'.repeat(252), '\u00e9'.repeat(130), 'a\\b', 'tab\t', '..', '.', 'f.tar.gz', 'g (moving 1).txt', 'g.txt',
];
export const PLAIN_NAMES = ['a', 'b', 'c.txt', 'd', 'e.bin', 'f', 'g.txt', 'h', 'A', 'C.txt', `caf${NFC_E}`, `caf${NFD_E}`];

let ids = 1;

/** Starts the ids of generated entries from 1 again (generate() does). */
export function resetIds(): void {
  ids = 1;
}
const join = (dir: string, name: string): string => (dir === '' ? name : `${dir}/${name}`);
const parentOf = (p: string): string => p.slice(0, Math.max(0, p.lastIndexOf('/')));

export function randomPolicy(rng: Rng): SyncPolicy {
  const platform = rng.pick(['linux', 'win32', 'darwin'] as const);
  const p: SyncPolicy = { caseInsensitive: platform !== 'linux' ? rng.chance(0.8) : rng.chance(0.1), platform, manualCollisions: rng.chance(0.5) };
  if (rng.chance(0.6)) p.serverCaseInsensitive = rng.chance(0.5);
  if (rng.chance(0.4)) p.excludedExtensions = rng.pick(['.exe,.tmp', ['.tmp', '*.EXE'], '.qbw.tlg, txt', '', ['.bin']]);
  if (rng.chance(0.3)) p.maxFileSize = rng.pick([0, 3, 10, null]);
  if (rng.chance(0.4)) p.localRootLength = rng.pick([0, 10, 200, 240]);
  if (rng.chance(0.3)) p.maxPathLength = rng.pick([null, 20, 40, 300]);
  return p;
}

export interface Trees {
  remote: RemoteEntry[];
  local: LocalEntry[];
  synced: SyncedEntry[];
}

/** Three equal trees (in sync) of about n entries. */
export function inSyncTrees(rng: Rng, n: number, names: readonly string[]): Trees {
  const t: Trees = { remote: [], local: [], synced: [] };
  const folders = [''];
  const taken = new Set<string>();
  for (let i = 0; i < n; i++) {
    const path = join(rng.pick(folders), rng.pick(names));
    if (taken.has(path)) continue;
    taken.add(path);
    const kind: EntryKind = rng.chance(0.35) ? 'folder' : 'file';
    if (kind === 'folder') folders.push(path);
    const id = ids++;
    const rev = kind === 'file' ? ids++ : null;
    const sha = kind === 'file' ? `h${rng.int(4)}` : null;
    const size = kind === 'file' ? 2 : 0;
    t.remote.push({ path, kind, id, revisionId: rev, size, sha256: sha });
    t.local.push({ path, kind, fileId: `f${id}`, size, mtime: 1, sha256: sha });
    t.synced.push({ path, kind, remoteId: id, revisionId: rev, sha256: sha, localFileId: `f${id}`, size, mtime: kind === 'file' ? 1 : null });
  }
  return t;
}

/** Random edits on one side: creates, edits, deletes, moves, renames, case and NFC/NFD renames, type changes, odd paths. */
export function edit<E extends LocalEntry | RemoteEntry>(rng: Rng, list: E[], side: 'local' | 'remote', names: readonly string[], count: number): E[] {
  let cur = list;
  const make = (path: string, kind: EntryKind, content: string): E =>
    (side === 'local'
      ? { path, kind, fileId: `n${ids++}`, size: content.length, mtime: 5, sha256: kind === 'file' ? (rng.chance(0.15) ? null : `h${content}`) : null }
      : { path, kind, id: ids++, revisionId: kind === 'file' ? ids++ : null, size: content.length, sha256: kind === 'file' ? (rng.chance(0.1) ? null : `h${content}`) : null }) as E;
  const below = (x: E, p: string): boolean => x.path === p || x.path.startsWith(p + '/');
  for (let k = 0; k < count; k++) {
    const folders = ['', ...cur.filter((x) => x.kind === 'folder').map((x) => x.path)];
    const e = cur.length ? rng.pick(cur) : undefined;
    const what = rng.pick(['create', 'mkdir', 'edit', 'delete', 'move', 'rename', 'case', 'typeChange', 'pending', 'atomic', 'nfd', 'raw'] as const);
    switch (what) {
      case 'create':
      case 'mkdir': {
        const p = join(rng.pick(folders), rng.pick(names));
        if (!cur.some((x) => x.path === p)) cur = [...cur, make(p, what === 'create' ? 'file' : 'folder', `${rng.int(4)}`)];
        break;
      }
      case 'edit':
      case 'pending':
      case 'atomic': {
        if (!e || e.kind !== 'file') break;
        const c = `${rng.int(4)}`;
        const changed =
          side === 'local'
            ? { ...e, fileId: what === 'atomic' ? `n${ids++}` : (e as LocalEntry).fileId, sha256: what === 'pending' ? null : `h${c}`, mtime: 7 }
            : { ...e, revisionId: ids++, sha256: rng.chance(0.1) ? null : `h${c}` };
        cur = cur.map((x) => (x === e ? (changed as E) : x));
        break;
      }
      case 'delete':
        if (e) cur = cur.filter((x) => !below(x, e.path));
        break;
      case 'move':
      case 'rename':
      case 'case':
      case 'nfd': {
        if (!e) break;
        const dir = what === 'move' ? rng.pick(folders) : parentOf(e.path);
        const base = e.path.slice(e.path.lastIndexOf('/') + 1);
        const name =
          what === 'case'
            ? [...base].map((c) => (c === c.toUpperCase() ? c.toLowerCase() : c.toUpperCase())).join('')
            : what === 'nfd'
              ? base.normalize(rng.chance(0.5) ? 'NFD' : 'NFC')
              : rng.pick(names);
        const to = join(dir, name);
        if (to === e.path || dir === e.path || dir.startsWith(e.path + '/') || cur.some((x) => x.path === to)) break;
        cur = cur.map((x) => (below(x, e.path) ? { ...x, path: to + x.path.slice(e.path.length) } : x));
        break;
      }
      case 'typeChange':
        if (!e) break;
        cur = [...cur.filter((x) => !below(x, e.path)), make(e.path, e.kind === 'file' ? 'folder' : 'file', 'tc')];
        break;
      case 'raw': {
        // Paths the server should never send, missing parents, reused ids.
        const p = rng.pick(['/abs', '//unc/x', 'a//b', 'a/', 'C:/x', 'x/../y', 'a\\b/c', 'q/r/s', `orphan${rng.int(3)}/f`, '', join(rng.pick(folders), rng.pick(ODD_NAMES))]);
        const x = make(p, rng.chance(0.7) ? 'file' : 'folder', 'raw');
        if (e && rng.chance(0.3)) Object.assign(x, side === 'local' ? { fileId: (e as LocalEntry).fileId } : { id: (e as RemoteEntry).id });
        cur = [...cur, x];
        break;
      }
    }
  }
  return cur;
}

/** A merge base that disagrees with itself: missing parents, reused ids, unknown fileIds, bad paths. */
export function breakBase(rng: Rng, list: SyncedEntry[]): SyncedEntry[] {
  let cur = list;
  for (let k = rng.int(3); k > 0 && cur.length; k--) {
    const e = rng.pick(cur);
    const o = rng.pick(cur);
    switch (rng.int(6)) {
      case 0:
        cur = cur.filter((x) => x !== e);
        break;
      case 1:
        cur = cur.map((x) => (x === e ? { ...x, localFileId: null } : x));
        break;
      case 2:
        cur = cur.map((x) => (x === e ? { ...x, remoteId: o.remoteId } : x));
        break;
      case 3:
        cur = cur.map((x) => (x === e ? { ...x, localFileId: o.localFileId } : x));
        break;
      case 4:
        cur = cur.map((x) => (x === e ? { ...x, revisionId: 999999, sha256: 'hold' } : x));
        break;
      default:
        cur = [...cur, { path: rng.pick(['bad\u0000', '/abs', 'x/..', `${e.path}/sub`, 'a//b']), kind: 'file', remoteId: ids++, revisionId: 1, sha256: 'hz', localFileId: null, size: 0, mtime: null }];
    }
  }
  return cur;
}

/** A tree as the planner takes it: a map (in shuffled or path order) or, sometimes, a plain list. */
export function asTree<E extends { path: string }>(rng: Rng, list: E[], allowList: boolean): Map<string, E> | E[] {
  const ordered = rng.chance(0.5) ? rng.shuffle([...list]) : [...list].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  if (allowList && rng.chance(0.2)) return ordered; // (may hold one path twice)
  return new Map(ordered.map((e) => [e.path, e]));
}

export function smallCase(rng: Rng): PlanInput {
  const names = rng.chance(0.5) ? ODD_NAMES : PLAIN_NAMES;
  const t = inSyncTrees(rng, rng.int(25), rng.chance(0.7) ? PLAIN_NAMES : names);
  const remote = edit(rng, t.remote, 'remote', names, rng.int(12));
  const local = edit(rng, t.local, 'local', names, rng.int(12));
  const synced = rng.chance(0.3) ? breakBase(rng, t.synced) : t.synced;
  const lists = rng.chance(0.1);
  return { remote: asTree(rng, remote, lists), local: asTree(rng, local, lists), synced: asTree(rng, synced, lists), policy: randomPolicy(rng) };
}

/** A tree like the download benchmark's (folders d*, e*, files), part of it not yet synced, with changes spread over it. */
export function largeCase(rng: Rng, n: number): PlanInput {
  const t: Trees = { remote: [], local: [], synced: [] };
  const toDownload = rng.pick([0, 0.1, 0.5]);
  const add = (path: string, kind: EntryKind, i: number): void => {
    const id = ids++;
    const sha = kind === 'file' ? i.toString(16).padStart(64, '0') : null;
    const rev = kind === 'file' ? id * 10 : null;
    const size = kind === 'file' ? 1000 + i : 0;
    t.remote.push({ path, kind, id, revisionId: rev, size, sha256: sha, modified: '2026-01-01T00:00:00' });
    if (rng.next() > toDownload || (kind === 'folder' && rng.chance(0.5))) {
      t.synced.push({ path, kind, remoteId: id, revisionId: rev, sha256: sha, localFileId: String(100000 + id), size, mtime: 1 });
      t.local.push({ path, kind, fileId: String(100000 + id), size, mtime: 1, sha256: sha });
    }
  };
  const fan = 2 + rng.int(8);
  for (let a = 0; a < fan; a++) {
    add(`d${a}`, 'folder', 1);
    for (let b = 0; b < fan; b++) add(`d${a}/e${b}`, 'folder', 1);
  }
  const taken = new Set(t.remote.map((e) => e.path));
  for (let i = 0; i < n; i++) {
    const p = `d${i % fan}/e${Math.floor(i / fan) % fan}/${rng.chance(0.05) ? rng.pick(ODD_NAMES) : `file-${i}${rng.pick(['.bin', '.txt', '.tmp', '.EXE', ''])}`}`;
    if (!taken.has(p)) {
      taken.add(p);
      add(p, 'file', i);
    }
  }
  const names = rng.chance(0.5) ? ODD_NAMES : PLAIN_NAMES;
  const edits = rng.int(40);
  const remote = edit(rng, t.remote, 'remote', names, edits);
  const local = edit(rng, t.local, 'local', names, edits);
  const synced = rng.chance(0.3) ? breakBase(rng, t.synced) : t.synced;
  const policy = rng.chance(0.5) ? { caseInsensitive: false, platform: 'linux' as const, manualCollisions: true, localRootLength: 30 } : randomPolicy(rng);
  return { remote: asTree(rng, remote, false), local: asTree(rng, local, false), synced: asTree(rng, synced, false), policy };
}

export function generate(seed: number, count: number): PlanInput[] {
  ids = 1;
  const rng = new Rng(seed);
  return Array.from({ length: count }, (_, i) => (i % 50 === 0 ? largeCase(rng, i === 0 ? 3000 : 300 + rng.int(700)) : smallCase(rng)));
}

