// The planner over the state combinations of one node (and of folders with content): each case
// states the base, the edits on each side, the exact first batch of operations, and the trees
// after planning and carrying out batches until nothing is left.

import { describe, expect, it } from 'vitest';
import { PreconditionError, applyOperation, checkPreconditions, syncedChange } from '../../src/core/operations.js';
import type { CollisionOp, DeleteLocalOp, DeleteRemoteOp, DownloadOp, MoveLocalOp, MoveRemoteOp, Operation, UploadOp } from '../../src/core/operations.js';
import { describeOperation, plan } from '../../src/core/planner.js';
import type { SyncPolicy } from '../../src/core/planner.js';
import { POLICY, SideEditor, World, contents, inSync, lfile, lfolder, rfile, rfolder, sha } from './sync-fixtures.js';
import type { Spec } from './sync-fixtures.js';

const WINDOWS: SyncPolicy = { caseInsensitive: true, platform: 'win32', manualCollisions: false };
const MAC: SyncPolicy = { caseInsensitive: true, platform: 'darwin', manualCollisions: false };

interface Case {
  name: string;
  base: Spec[];
  local?: (l: SideEditor) => void;
  remote?: (r: SideEditor) => void;
  policy?: Partial<SyncPolicy>;
  /** describeOperation() of the first plan, in the planner's order. */
  first: string[];
  /** Both sides after settling: path → content, "/" for folders. */
  final?: Record<string, string>;
}

function world(c: Pick<Case, 'base' | 'local' | 'remote' | 'policy'>): World {
  const w = new World(inSync(c.base), { ...POLICY, ...c.policy });
  c.local?.(new SideEditor(w, 'local'));
  c.remote?.(new SideEditor(w, 'remote'));
  return w;
}

function check(c: Case): World {
  const w = world(c);
  expect(w.plan().map(describeOperation)).toEqual(c.first);
  if (c.final) {
    w.settle();
    expect(contents(w.local)).toEqual(c.final);
    expect(contents(w.remote)).toEqual(c.final);
    expect(w.divergence()).toEqual([]);
    expect(w.plan().filter((o) => o.type !== 'warning')).toEqual([]);
  }
  return w;
}

function only<T extends Operation['type']>(w: World, type: T): Extract<Operation, { type: T }> {
  const ops = w.plan().filter((o) => o.type === type);
  expect(ops).toHaveLength(1);
  return ops[0] as Extract<Operation, { type: T }>;
}

const F = (path: string, content: string): Spec => ({ path, content });
const D = (path: string): Spec => ({ path });
const COPY = (name: string, ext = ''): string => `${name} (collision 2025-01-02 030405 on M)${ext}`;

describe('one file: every combination of no change / created / modified / deleted', () => {
  const cases: Case[] = [
    { name: 'nothing changed', base: [F('a.txt', '1')], first: [], final: { 'a.txt': '1' } },
    { name: 'created locally', base: [], local: (l) => l.write('a.txt', 'L'), first: ['upload(new) a.txt'], final: { 'a.txt': 'L' } },
    { name: 'created remotely', base: [], remote: (r) => r.write('a.txt', 'R'), first: ['download(new) a.txt'], final: { 'a.txt': 'R' } },
    { name: 'modified locally', base: [F('a.txt', '1')], local: (l) => l.write('a.txt', 'L'), first: ['upload(modified) a.txt'], final: { 'a.txt': 'L' } },
    { name: 'modified remotely', base: [F('a.txt', '1')], remote: (r) => r.write('a.txt', 'R'), first: ['download(modified) a.txt'], final: { 'a.txt': 'R' } },
    { name: 'deleted locally', base: [F('a.txt', '1')], local: (l) => l.rm('a.txt'), first: ['deleteRemote a.txt'], final: {} },
    { name: 'deleted remotely', base: [F('a.txt', '1')], remote: (r) => r.rm('a.txt'), first: ['deleteLocal a.txt'], final: {} },
    {
      name: 'modified on both sides to the same content',
      base: [F('a.txt', '1')],
      local: (l) => l.write('a.txt', 'S'),
      remote: (r) => r.write('a.txt', 'S'),
      first: ['updateSynced(sameContent) a.txt -> a.txt'],
      final: { 'a.txt': 'S' },
    },
    {
      name: 'modified on both sides differently: collision, both kept',
      base: [F('a.txt', '1')],
      local: (l) => l.write('a.txt', 'L'),
      remote: (r) => r.write('a.txt', 'R'),
      first: ['collision(bothModified, keepBoth) a.txt'],
      final: { 'a.txt': 'R', [COPY('a', '.txt')]: 'L' },
    },
    { name: 'deleted on both sides', base: [F('a.txt', '1')], local: (l) => l.rm('a.txt'), remote: (r) => r.rm('a.txt'), first: ['updateSynced(bothDeleted) a.txt -> -'], final: {} },
    {
      name: 'created on both sides with the same content',
      base: [],
      local: (l) => l.write('a.txt', 'S'),
      remote: (r) => r.write('a.txt', 'S'),
      first: ['updateSynced(bothCreated) - -> a.txt'],
      final: { 'a.txt': 'S' },
    },
    {
      name: 'created on both sides differently: collision, both kept',
      base: [],
      local: (l) => l.write('a.txt', 'L'),
      remote: (r) => r.write('a.txt', 'R'),
      first: ['collision(bothCreated, keepBoth) a.txt'],
      final: { 'a.txt': 'R', [COPY('a', '.txt')]: 'L' },
    },
    {
      name: 'modified locally, deleted remotely: the edit is uploaded as a new file',
      base: [F('a.txt', '1')],
      local: (l) => l.write('a.txt', 'L'),
      remote: (r) => r.rm('a.txt'),
      first: ['upload(restore) a.txt'],
      final: { 'a.txt': 'L' },
    },
    {
      name: 'deleted locally, modified remotely: the edit is downloaded',
      base: [F('a.txt', '1')],
      local: (l) => l.rm('a.txt'),
      remote: (r) => r.write('a.txt', 'R'),
      first: ['download(restore) a.txt'],
      final: { 'a.txt': 'R' },
    },
    {
      name: 'deleted remotely and re-created there (new id); local unchanged',
      base: [F('a.txt', '1')],
      remote: (r) => r.rm('a.txt').write('a.txt', 'R'),
      first: ['deleteLocal a.txt'],
      final: { 'a.txt': 'R' },
    },
    {
      name: 'deleted remotely and re-created there; local modified: both kept',
      base: [F('a.txt', '1')],
      local: (l) => l.write('a.txt', 'L'),
      remote: (r) => r.rm('a.txt').write('a.txt', 'R'),
      first: ['collision(nameConflict, keepBoth) a.txt'],
      final: { 'a.txt': 'R', [COPY('a', '.txt')]: 'L' },
    },
    {
      name: 'saved locally through a new inode, same content: only the identity is recorded',
      base: [F('a.txt', '1')],
      local: (l) => l.write('a.txt', '1', { newId: true }),
      first: ['updateSynced(identity) a.txt -> a.txt'],
      final: { 'a.txt': '1' },
    },
    {
      name: 'saved locally through a new inode, new content: a modification',
      base: [F('a.txt', '1')],
      local: (l) => l.write('a.txt', 'L', { newId: true }),
      first: ['upload(modified) a.txt'],
      final: { 'a.txt': 'L' },
    },
    {
      name: 'new remote revision with the same content: only the revision is recorded',
      base: [F('a.txt', '1')],
      remote: (r) => r.write('a.txt', '1'),
      first: ['updateSynced(sameContent) a.txt -> a.txt'],
      final: { 'a.txt': '1' },
    },
  ];
  it.each(cases.map((c) => [c.name, c] as const))('%s', (_n, c) => {
    check(c);
  });
});

describe('operations carry the preconditions the executor re-checks', () => {
  it('upload of a modification names the local version and the base revision', () => {
    const w = world({ base: [F('a.txt', '1')], local: (l) => l.write('a.txt', 'L') });
    const op = only(w, 'upload') as UploadOp;
    expect(op).toMatchObject({
      reason: 'modified',
      localPath: 'a.txt',
      expectLocal: { fileId: 'ino100', sha256: sha('L'), size: 1 },
      remoteId: 100,
      baseRevisionId: 1000,
      synced: { path: 'a.txt', replaces: 'a.txt' },
    });
  });
  it('upload of a new file names the parent folder and the name', () => {
    const w = world({ base: [D('d')], local: (l) => l.write('d/n.txt', 'N') });
    expect(only(w, 'upload')).toMatchObject({ reason: 'new', remoteId: null, baseRevisionId: null, remoteParentId: 100, name: 'n.txt', remotePath: 'd/n.txt', synced: { path: 'd/n.txt', replaces: null } });
    const top = world({ base: [], local: (l) => l.write('n.txt', 'N') });
    expect(only(top, 'upload')).toMatchObject({ remoteParentId: null, remotePath: 'n.txt' });
  });
  it('download over a local file only if it still is the synced version', () => {
    const w = world({ base: [F('a.txt', '1')], remote: (r) => r.write('a.txt', 'R') });
    const op = only(w, 'download') as DownloadOp;
    expect(op).toMatchObject({ reason: 'modified', localPath: 'a.txt', expectLocal: { fileId: 'ino100', sha256: sha('1') }, remoteId: 100, sha256: sha('R') });
    expect(op.revisionId).toBe(w.remote.get('a.txt')!.revisionId);
    // The user edits the file before the download runs: the precondition fails, nothing is lost.
    new SideEditor(w, 'local').write('a.txt', 'L');
    expect(checkPreconditions(w.trees, op, false)).toBe('local a.txt changed');
    expect(() => applyOperation(w.trees, op, { localFileId: 'x' }, false)).toThrow(PreconditionError);
  });
  it('a new download requires the destination to be free', () => {
    const w = world({ base: [], remote: (r) => r.write('a.txt', 'R') });
    const op = only(w, 'download');
    expect(op.expectLocal).toBeNull();
    new SideEditor(w, 'local').write('a.txt', 'L');
    expect(checkPreconditions(w.trees, op, false)).toBe('local a.txt exists');
  });
  it('deleteLocal only deletes the synced version; deleteRemote names the base revision', () => {
    const wl = world({ base: [F('a.txt', '1')], remote: (r) => r.rm('a.txt') });
    expect(only(wl, 'deleteLocal') as DeleteLocalOp).toMatchObject({ kind: 'file', localPath: 'a.txt', expectLocal: { fileId: 'ino100', sha256: sha('1') }, syncedPath: 'a.txt', forgetSynced: true });
    const wr = world({ base: [F('a.txt', '1')], local: (l) => l.rm('a.txt') });
    expect(only(wr, 'deleteRemote') as DeleteRemoteOp).toMatchObject({ kind: 'file', remoteId: 100, baseRevisionId: 1000, syncedPath: 'a.txt' });
    // The server got a new revision meanwhile: the stale delete is refused.
    const op = only(wr, 'deleteRemote');
    new SideEditor(wr, 'remote').write('a.txt', 'R');
    expect(checkPreconditions(wr.trees, op, false)).toMatch(/has revision \d+, not 1000/);
  });
  it('a collision carries both versions and the base', () => {
    const w = world({ base: [F('a.txt', '1')], local: (l) => l.write('a.txt', 'L'), remote: (r) => r.write('a.txt', 'R') });
    const op = only(w, 'collision') as CollisionOp;
    expect(op).toMatchObject({
      reason: 'bothModified',
      mode: 'keepBoth',
      localPath: 'a.txt',
      expectLocal: { fileId: 'ino100', sha256: sha('L') },
      local: { kind: 'file', sha256: sha('L') },
      remote: { path: 'a.txt', id: 100, sha256: sha('R') },
      base: { revisionId: 1000, sha256: sha('1') },
      forgetSyncedPath: 'a.txt',
    });
    expect(syncedChange(op, { copyPath: 'x' })).toEqual({ kind: 'remove', path: 'a.txt' });
  });
  it('manual collisions are reported, change nothing and do not stop the rest', () => {
    const w = world({
      base: [F('a.txt', '1'), F('b.txt', '1')],
      local: (l) => l.write('a.txt', 'L').write('new.txt', 'N'),
      remote: (r) => r.write('a.txt', 'R').write('b.txt', 'R2'),
      policy: { manualCollisions: true },
    });
    expect(w.plan().map(describeOperation)).toEqual(['collision(bothModified, manual) a.txt', 'download(modified) b.txt', 'upload(new) new.txt']);
    const c = only(w, 'collision');
    expect(syncedChange(c)).toEqual({ kind: 'none' });
    w.settle();
    expect(w.plan().map(describeOperation)).toEqual(['collision(bothModified, manual) a.txt']);
    expect(contents(w.local)).toEqual({ 'a.txt': 'L', 'b.txt': 'R2', 'new.txt': 'N' });
    expect(contents(w.remote)).toEqual({ 'a.txt': 'R', 'b.txt': 'R2', 'new.txt': 'N' });
  });
  it('moves name the node and the destination folder; updateSynced checks both sides', () => {
    const w = world({ base: [D('d'), F('a.txt', '1')], local: (l) => l.mv('a.txt', 'd/b.txt') });
    expect(only(w, 'moveRemote') as MoveRemoteOp).toMatchObject({ kind: 'file', remoteId: 101, from: 'a.txt', to: 'd/b.txt', toParentId: 100, name: 'b.txt', caseOnly: false, parking: false, synced: { path: 'd/b.txt', replaces: 'a.txt' } });
    const w2 = world({ base: [D('d'), F('a.txt', '1')], remote: (r) => r.mv('a.txt', 'd/b.txt') });
    expect(only(w2, 'moveLocal') as MoveLocalOp).toMatchObject({ kind: 'file', from: 'a.txt', to: 'd/b.txt', expectLocal: { fileId: 'ino101' }, remoteId: 101, caseOnly: false });
    const w3 = world({ base: [F('a.txt', '1')], local: (l) => l.write('a.txt', 'S'), remote: (r) => r.write('a.txt', 'S') });
    const u = only(w3, 'updateSynced');
    expect(u).toMatchObject({ reason: 'sameContent', path: 'a.txt', entry: { path: 'a.txt', sha256: sha('S'), remoteId: 100, localFileId: 'ino100' }, expectLocal: { fileId: 'ino100', sha256: sha('S') } });
    new SideEditor(w3, 'remote').write('a.txt', 'T');
    expect(checkPreconditions(w3.trees, u, false)).toBe('remote 100 changed');
  });
});

describe('moves and renames', () => {
  const cases: Case[] = [
    { name: 'renamed locally', base: [F('a.txt', '1')], local: (l) => l.mv('a.txt', 'b.txt'), first: ['moveRemote a.txt -> b.txt'], final: { 'b.txt': '1' } },
    { name: 'renamed remotely', base: [F('a.txt', '1')], remote: (r) => r.mv('a.txt', 'b.txt'), first: ['moveLocal a.txt -> b.txt'], final: { 'b.txt': '1' } },
    {
      name: 'moved on both sides to the same place',
      base: [D('d'), F('a.txt', '1')],
      local: (l) => l.mv('a.txt', 'd/a.txt'),
      remote: (r) => r.mv('a.txt', 'd/a.txt'),
      first: ['updateSynced(sameMove) a.txt -> d/a.txt'],
      final: { d: '/', 'd/a.txt': '1' },
    },
    {
      name: 'moved on both sides to different places: the server wins, nothing lost',
      base: [D('d'), D('e'), F('a.txt', '1')],
      local: (l) => l.mv('a.txt', 'd/x.txt'),
      remote: (r) => r.mv('a.txt', 'e/y.txt'),
      first: ['moveLocal d/x.txt -> e/y.txt'],
      final: { d: '/', e: '/', 'e/y.txt': '1' },
    },
    {
      name: 'moved locally, edited remotely: the move and the edit both survive',
      base: [D('d'), F('a.txt', '1')],
      local: (l) => l.mv('a.txt', 'd/a.txt'),
      remote: (r) => r.write('a.txt', 'R'),
      first: ['moveRemote a.txt -> d/a.txt'],
      final: { d: '/', 'd/a.txt': 'R' },
    },
    {
      name: 'moved remotely, edited locally: the move and the edit both survive',
      base: [D('d'), F('a.txt', '1')],
      local: (l) => l.write('a.txt', 'L'),
      remote: (r) => r.mv('a.txt', 'd/a.txt'),
      first: ['moveLocal a.txt -> d/a.txt'],
      final: { d: '/', 'd/a.txt': 'L' },
    },
    {
      name: 'moved and edited locally, edited remotely: moved, then a collision',
      base: [D('d'), F('a.txt', '1')],
      local: (l) => l.mv('a.txt', 'd/a.txt').write('d/a.txt', 'L'),
      remote: (r) => r.write('a.txt', 'R'),
      first: ['moveRemote a.txt -> d/a.txt'],
      final: { d: '/', 'd/a.txt': 'R', [`d/${COPY('a', '.txt')}`]: 'L' },
    },
    {
      name: 'moved locally, deleted remotely: the unchanged file is deleted',
      base: [D('d'), F('a.txt', '1')],
      local: (l) => l.mv('a.txt', 'd/a.txt'),
      remote: (r) => r.rm('a.txt'),
      first: ['deleteLocal d/a.txt'],
      final: { d: '/' },
    },
    {
      name: 'moved and edited locally, deleted remotely: uploaded at the new place',
      base: [D('d'), F('a.txt', '1')],
      local: (l) => l.mv('a.txt', 'd/a.txt').write('d/a.txt', 'L'),
      remote: (r) => r.rm('a.txt'),
      first: ['upload(restore) d/a.txt'],
      final: { d: '/', 'd/a.txt': 'L' },
    },
    {
      name: 'deleted locally, moved remotely: deleted (the server keeps the revision)',
      base: [D('d'), F('a.txt', '1')],
      local: (l) => l.rm('a.txt'),
      remote: (r) => r.mv('a.txt', 'd/a.txt'),
      first: ['deleteRemote d/a.txt'],
      final: { d: '/' },
    },
    {
      name: 'moved locally onto a name the server just took: server keeps it, local name falls back',
      base: [F('a.txt', '1')],
      local: (l) => l.mv('a.txt', 'b.txt'),
      remote: (r) => r.write('b.txt', 'R'),
      first: ['moveLocal b.txt -> a.txt'],
      final: { 'a.txt': '1', 'b.txt': 'R' },
    },
    {
      name: 'a folder move is one operation for the whole subtree',
      base: [D('d'), F('d/1', '1'), F('d/2', '2'), D('d/s'), F('d/s/3', '3')],
      local: (l) => l.mv('d', 'e'),
      first: ['moveRemote d -> e'],
      final: { e: '/', 'e/1': '1', 'e/2': '2', 'e/s': '/', 'e/s/3': '3' },
    },
    {
      name: 'folder renamed remotely while a file inside changed there too: move first, then content',
      base: [D('d'), F('d/x', '1')],
      remote: (r) => r.mv('d', 'e').write('e/x', 'R'),
      first: ['moveLocal d -> e'],
      final: { e: '/', 'e/x': 'R' },
    },
    {
      name: 'folder renamed remotely while a file was created locally in it: it follows the folder',
      base: [D('d'), F('d/x', '1')],
      local: (l) => l.write('d/new', 'N'),
      remote: (r) => r.mv('d', 'e'),
      first: ['moveLocal d -> e'],
      final: { e: '/', 'e/new': 'N', 'e/x': '1' },
    },
    {
      name: 'moved locally into a folder the server deleted: the folder is recreated',
      base: [D('d'), F('d/old', '0'), F('a.txt', '1')],
      local: (l) => l.mv('a.txt', 'd/a.txt'),
      remote: (r) => r.rm('d'),
      first: ['createRemoteFolder d', 'deleteLocal d/old'],
      final: { d: '/', 'd/a.txt': '1' },
    },
    {
      name: 'moved remotely into a folder deleted locally: the folder is recreated',
      base: [D('d'), F('d/old', '0'), F('a.txt', '1')],
      local: (l) => l.rm('d'),
      remote: (r) => r.mv('a.txt', 'd/a.txt'),
      first: ['createLocalFolder d', 'deleteRemote d/old'],
      final: { d: '/', 'd/a.txt': '1' },
    },
    {
      name: 'swap (a→b, b→a) locally: broken with a temporary name',
      base: [F('a', 'A'), F('b', 'B')],
      local: (l) => l.mv('a', 't').mv('b', 'a').mv('t', 'b'),
      first: ['moveRemote b -> b (moving 1) (parking)'],
      final: { a: 'B', b: 'A' },
    },
    {
      name: 'swap remotely',
      base: [D('x'), D('y'), F('x/f', '1')],
      remote: (r) => r.mv('x', 't').mv('y', 'x').mv('t', 'y'),
      first: ['moveLocal y -> y (moving 1) (parking)'],
      final: { x: '/', y: '/', 'y/f': '1' },
    },
    {
      name: 'A moved into B here, B into A there: the cycle is broken by taking the server location',
      base: [D('A'), D('B'), F('A/a', '1'), F('B/b', '2')],
      local: (l) => l.mv('A', 'B/A'),
      remote: (r) => r.mv('B', 'A/B'),
      first: ['moveLocal B/A -> A'],
      final: { A: '/', 'A/B': '/', 'A/B/b': '2', 'A/a': '1' },
    },
  ];
  it.each(cases.map((c) => [c.name, c] as const))('%s', (_n, c) => {
    check(c);
  });
  it('containment cycle converges with everything kept', () => {
    const w = world({ base: [D('A'), D('B'), F('A/a', '1'), F('B/b', '2')], local: (l) => l.mv('A', 'B/A'), remote: (r) => r.mv('B', 'A/B') });
    w.settle();
    expect(w.divergence()).toEqual([]);
    expect(Object.values(contents(w.local)).sort()).toEqual(['/', '/', '1', '2']);
  });
});

describe('case-only renames and Unicode', () => {
  it('a local case-only rename on a case-insensitive file system is moved on the server', () => {
    const w = check({ name: '', base: [F('readme.txt', '1')], local: (l) => l.mv('readme.txt', 'README.txt'), policy: WINDOWS, first: ['moveRemote readme.txt -> README.txt'], final: { 'README.txt': '1' } });
    expect(w.synced.has('README.txt')).toBe(true);
  });
  it('a remote case-only rename becomes a caseOnly local move (rename through a temp name)', () => {
    const w = world({ base: [D('docs'), F('docs/a', '1')], remote: (r) => r.mv('docs', 'Docs'), policy: MAC });
    const op = only(w, 'moveLocal');
    expect(op).toMatchObject({ from: 'docs', to: 'Docs', caseOnly: true });
    w.settle();
    expect(contents(w.local)).toEqual({ Docs: '/', 'Docs/a': '1' });
  });
  it('case-only rename on a case-sensitive setup is an ordinary rename', () => {
    const w = world({ base: [F('a', '1')], remote: (r) => r.mv('a', 'A') });
    expect(only(w, 'moveLocal')).toMatchObject({ from: 'a', to: 'A', caseOnly: false });
  });
  it('created on both sides in different case with the same content: one file, the server spelling wins', () => {
    const w = check({ name: '', base: [], local: (l) => l.write('Report.txt', 'S'), remote: (r) => r.write('report.txt', 'S'), policy: WINDOWS, first: ['updateSynced(bothCreated) - -> Report.txt'], final: { 'report.txt': 'S' } });
    expect(w.divergence()).toEqual([]);
  });
  it('an NFD local name and the NFC server name are the same file', () => {
    const nfd = 'cafe\u0301.txt';
    const nfc = 'caf\u00e9.txt';
    const w = new World({ local: new Map([[nfd, lfile(nfd, '1', 'i1')]]), remote: new Map([[nfc, rfile(nfc, '1', 7, 70)]]), synced: new Map() }, POLICY);
    expect(w.plan().map(describeOperation)).toEqual([`updateSynced(bothCreated) - -> ${nfc}`]);
    w.settle();
    expect(w.plan()).toEqual([]);
    expect([...w.synced.keys()]).toEqual([nfc]);
  });
});

describe('type changes', () => {
  const cases: Case[] = [
    {
      name: 'file replaced by a folder locally',
      base: [F('x', '1')],
      local: (l) => l.rm('x').mkdir('x').write('x/in', 'N'),
      first: ['deleteRemote x'],
      final: { x: '/', 'x/in': 'N' },
    },
    {
      name: 'folder replaced by a file remotely',
      base: [D('x'), F('x/a', '1'), D('x/s'), F('x/s/b', '2')],
      remote: (r) => r.rm('x').write('x', 'R'),
      first: ['deleteLocal x/a', 'deleteLocal x/s/b'],
      final: { x: 'R' },
    },
    {
      name: 'file replaced by a folder locally while the server edited the file: both kept',
      base: [F('x', '1')],
      local: (l) => l.rm('x').mkdir('x').write('x/in', 'N'),
      remote: (r) => r.write('x', 'R'),
      first: ['collision(typeConflict, keepBoth) x'],
      final: { x: 'R', [COPY('x')]: '/', [`${COPY('x')}/in`]: 'N' },
    },
    {
      name: 'folder replaced by a file remotely while a file inside was edited locally: both kept',
      base: [D('x'), F('x/a', '1')],
      local: (l) => l.write('x/a', 'L'),
      remote: (r) => r.rm('x').write('x', 'R'),
      first: ['collision(typeConflict, keepBoth) x'],
      final: { x: 'R', [COPY('x')]: '/', [`${COPY('x')}/a`]: 'L' },
    },
  ];
  it.each(cases.map((c) => [c.name, c] as const))('%s', (_n, c) => {
    check(c);
  });
});

describe('folders', () => {
  const cases: Case[] = [
    {
      name: 'created locally with content: folder first, then its files',
      base: [],
      local: (l) => l.mkdir('d').write('d/a', '1').mkdir('d/s').write('d/s/b', '2'),
      first: ['createRemoteFolder d'],
      final: { d: '/', 'd/a': '1', 'd/s': '/', 'd/s/b': '2' },
    },
    {
      name: 'created remotely with content',
      base: [],
      remote: (r) => r.mkdir('d').write('d/a', '1').mkdir('d/s').write('d/s/b', '2'),
      first: ['createLocalFolder d'],
      final: { d: '/', 'd/a': '1', 'd/s': '/', 'd/s/b': '2' },
    },
    {
      name: 'created on both sides: merged, content compared file by file',
      base: [],
      local: (l) => l.mkdir('d').write('d/same', 'S').write('d/l', 'L').write('d/x', 'L'),
      remote: (r) => r.mkdir('d').write('d/same', 'S').write('d/r', 'R').write('d/x', 'R'),
      first: ['updateSynced(bothCreated) - -> d'],
      final: { d: '/', 'd/l': 'L', 'd/r': 'R', 'd/same': 'S', 'd/x': 'R', [`d/${COPY('x')}`]: 'L' },
    },
    {
      name: 'deleted locally: files first, then the folder',
      base: [D('d'), F('d/a', '1'), D('d/s'), F('d/s/b', '2')],
      local: (l) => l.rm('d'),
      first: ['deleteRemote d/a', 'deleteRemote d/s/b'],
      final: {},
    },
    {
      name: 'deleted remotely: files first, then the folder',
      base: [D('d'), F('d/a', '1'), D('d/s'), F('d/s/b', '2')],
      remote: (r) => r.rm('d'),
      first: ['deleteLocal d/a', 'deleteLocal d/s/b'],
      final: {},
    },
    { name: 'deleted on both sides', base: [D('d'), F('d/a', '1')], local: (l) => l.rm('d'), remote: (r) => r.rm('d'), first: ['updateSynced(bothDeleted) d/a -> -'], final: {} },
    {
      name: 'deleted locally while the server added a file in it: folder recreated, the new file kept',
      base: [D('d'), F('d/a', '1')],
      local: (l) => l.rm('d'),
      remote: (r) => r.write('d/new', 'R'),
      first: ['createLocalFolder d', 'deleteRemote d/a'],
      final: { d: '/', 'd/new': 'R' },
    },
    {
      name: 'deleted locally while the server edited a file in it: the edit is kept',
      base: [D('d'), F('d/a', '1'), F('d/b', '2')],
      local: (l) => l.rm('d'),
      remote: (r) => r.write('d/a', 'R'),
      first: ['createLocalFolder d', 'deleteRemote d/b'],
      final: { d: '/', 'd/a': 'R' },
    },
    {
      name: 'deleted remotely while a file was added locally in it: folder recreated, the file uploaded',
      base: [D('d'), D('d/s'), F('d/s/a', '1')],
      local: (l) => l.write('d/s/new', 'L'),
      remote: (r) => r.rm('d'),
      first: ['createRemoteFolder d', 'deleteLocal d/s/a'],
      final: { d: '/', 'd/s': '/', 'd/s/new': 'L' },
    },
    {
      name: 'deleted remotely while a file in it was edited locally',
      base: [D('d'), F('d/a', '1'), F('d/b', '2')],
      local: (l) => l.write('d/a', 'L'),
      remote: (r) => r.rm('d'),
      first: ['createRemoteFolder d', 'deleteLocal d/b'],
      final: { d: '/', 'd/a': 'L' },
    },
    {
      name: 'moved locally, deleted remotely, with a new file inside: recreated at the new place',
      base: [D('d'), F('d/a', '1')],
      local: (l) => l.mv('d', 'e').write('e/new', 'L'),
      remote: (r) => r.rm('d'),
      // Recreating d as e moves d's merge base (and d/a's) to e: d/a waits one round.
      first: ['createRemoteFolder e'],
      final: { e: '/', 'e/new': 'L' },
    },
  ];
  it.each(cases.map((c) => [c.name, c] as const))('%s', (_n, c) => {
    check(c);
  });
});

describe('a server that reports no content hashes', () => {
  const noHash = (w: World): void => {
    for (const [p, r] of w.remote) w.remote.set(p, { ...r, sha256: null });
  };
  it('decides by revision: edits on one side still sync', () => {
    const w = world({ base: [F('a', '1'), F('b', '1')], local: (l) => l.write('a', 'L'), remote: (r) => r.write('b', 'R') });
    noHash(w);
    expect(w.plan().map(describeOperation)).toEqual(['upload(modified) a', 'download(modified) b']);
    const d = only(w, 'download');
    expect(d.sha256).toBeNull();
    expect(() => syncedChange(d, { localFileId: 'x' })).toThrow(/sha256/);
    w.settle();
    expect(contents(w.local)).toEqual({ a: 'L', b: 'R' });
  });
  it('cannot tell equal content apart, so it keeps both rather than guess', () => {
    const w = world({ base: [], local: (l) => l.write('a', 'S'), remote: (r) => r.write('a', 'S') });
    noHash(w);
    expect(w.plan().map(describeOperation)).toEqual(['collision(bothCreated, keepBoth) a']);
  });
});

describe('hash pending', () => {
  it('does nothing with a file whose hash is pending, then syncs it once hashed', () => {
    const w = world({ base: [F('a', '1'), F('b', '1')], local: (l) => l.write('a', 'L', { pending: true }).write('new', 'N', { pending: true }), remote: (r) => r.write('a', 'R').write('b', 'R') });
    expect(w.plan().map(describeOperation)).toEqual(['download(modified) b']);
    w.settle();
    expect(w.local.get('a')?.sha256).toBeNull();
    expect(w.remote.has('new')).toBe(false);
    w.hashAll();
    expect(w.plan().map(describeOperation)).toEqual(['collision(bothModified, keepBoth) a', 'upload(new) new']);
  });
  it('does not delete a pending file the server deleted, nor its folder', () => {
    const w = world({ base: [D('d'), F('d/a', '1'), F('d/b', '2')], local: (l) => l.write('d/a', '1', { pending: true }), remote: (r) => r.rm('d') });
    expect(w.plan().map(describeOperation)).toEqual(['deleteLocal d/b']);
    w.settle();
    expect(contents(w.local)).toEqual({ d: '/', 'd/a': 'pending' });
    w.hashAll(); // same content as the base: now it may go
    w.settle();
    expect(contents(w.local)).toEqual({});
  });
});

describe('warnings: what cannot be synced is reported, never acted on', () => {
  it('remote names this platform cannot hold', () => {
    const w = world({ base: [], remote: (r) => r.write('CON.txt', '1').write('a?b', '2').write('ok', '3').mkdir('aux').write('aux/x', '4'), policy: { platform: 'win32', caseInsensitive: true } });
    const ops = w.plan();
    expect(ops.map(describeOperation)).toEqual(['download(new) ok', 'warning(unsupportedLocalName) remote CON.txt', 'warning(unsupportedLocalName) remote a?b', 'warning(unsupportedLocalName) remote aux']);
    expect(ops.find((o) => o.type === 'warning')).toMatchObject({ message: 'cannot be created on this computer: CON is a reserved device name on Windows' });
  });
  it('paths the server must never send', () => {
    const w = new World({ local: new Map(), remote: new Map([['../evil', rfile('../evil', 'x', 1, 1)], ['C:x', rfile('C:x', 'x', 2, 2)], ['ok', rfile('ok', 'y', 3, 3)]]), synced: new Map() }, POLICY);
    expect(w.plan().map(describeOperation)).toEqual(['download(new) ok', 'warning(invalidRemotePath) remote ../evil', 'warning(invalidRemotePath) remote C:x']);
  });
  it('excluded extensions, junk and our temp files', () => {
    const w = world({ base: [], local: (l) => l.write('setup.EXE', '1').write('.DS_Store', '2').write('~$doc.docx', '3').write('.axis-tmp-1', '4').write('doc.docx', '5'), policy: { excludedExtensions: '.exe,.tmp' } });
    expect(w.plan().map(describeOperation)).toEqual(['upload(new) doc.docx', 'warning(excluded) local setup.EXE']);
  });
  it('files over the size limit', () => {
    const w = world({ base: [F('a', '1')], local: (l) => l.write('big', 'x'.repeat(11)).write('a', 'y'.repeat(20)), policy: { maxFileSize: 10 } });
    expect(w.plan().map(describeOperation)).toEqual(['warning(tooLarge) local a', 'warning(tooLarge) local big']);
  });
  it('names that differ only in case on a case-sensitive server, on a case-insensitive machine', () => {
    const w = world({ base: [F('a.txt', '1')], remote: (r) => r.write('A.TXT', '2'), policy: { caseInsensitive: true, serverCaseInsensitive: false, platform: 'darwin' } });
    expect(w.plan().map(describeOperation)).toEqual(['warning(nameClash) remote A.TXT']);
  });
  it('NFC and NFD spellings of one name on Linux', () => {
    const nfd = 'cafe\u0301';
    const nfc = 'caf\u00e9';
    const w = new World({ local: new Map([[nfd, lfile(nfd, '1', 'i1')], [nfc, lfile(nfc, '2', 'i2')]]), remote: new Map(), synced: new Map() }, POLICY);
    expect(w.plan().map(describeOperation)).toEqual([`upload(new) ${nfc}`, `warning(nameClash) local ${nfd}`]);
  });
  it('paths too long for Windows without long paths', () => {
    const w = world({ base: [], remote: (r) => r.write('x'.repeat(100), '1').write('y', '2'), policy: { platform: 'win32', caseInsensitive: true, localRootLength: 170 } });
    expect(w.plan().map(describeOperation)).toEqual(['download(new) y', `warning(localPathTooLong) remote ${'x'.repeat(100)}`]);
    const long = world({ base: [], remote: (r) => r.write('x'.repeat(100), '1'), policy: { platform: 'win32', caseInsensitive: true, localRootLength: 170, maxPathLength: null } });
    expect(long.plan().map(describeOperation)).toEqual([`download(new) ${'x'.repeat(100)}`]);
  });
  it('a name held by an excluded file on the other side: the local one is moved aside', () => {
    const w = world({ base: [], local: (l) => l.mkdir('x.tmp').write('x.tmp/in', '1'), remote: (r) => r.write('x.tmp', 'R'), policy: { excludedExtensions: '.tmp' } });
    expect(w.plan().map(describeOperation)).toEqual(['collision(typeConflict, keepBoth) x.tmp', 'warning(excluded) remote x.tmp']);
    w.settle();
    expect(contents(w.local)).toEqual({ [COPY('x.tmp')]: '/', [`${COPY('x.tmp')}/in`]: '1' });
    expect(contents(w.remote)).toEqual({ 'x.tmp': 'R', [COPY('x.tmp')]: '/', [`${COPY('x.tmp')}/in`]: '1' });
    const w2 = world({ base: [], local: (l) => l.write('y.tmp', 'L'), remote: (r) => r.mkdir('y.tmp'), policy: { excludedExtensions: '.tmp' } });
    expect(w2.plan().map(describeOperation)).toEqual(['collision(typeConflict, keepBoth) y.tmp', 'warning(excluded) local y.tmp']);
    w2.settle();
    expect(contents(w2.local)).toEqual({ 'y (collision 2025-01-02 030405 on M).tmp': 'L', 'y.tmp': '/' });
  });
  it('a folder deleted remotely that holds an excluded local file is kept', () => {
    const w = world({ base: [D('d'), F('d/a', '1')], local: (l) => l.write('d/tool.exe', 'X'), remote: (r) => r.rm('d'), policy: { excludedExtensions: '.exe' } });
    expect(w.plan().map(describeOperation)).toEqual(['createRemoteFolder d', 'deleteLocal d/a', 'warning(excluded) local d/tool.exe']);
    w.settle();
    expect(contents(w.local)).toEqual({ d: '/', 'd/tool.exe': 'X' });
    expect(contents(w.remote)).toEqual({ d: '/' });
  });
});

describe('plan is pure and deterministic', () => {
  it('gives the same operations for the same trees in any input order, as maps or lists', () => {
    const w = world({
      base: [D('d'), F('d/a', '1'), F('b', '2'), D('e')],
      local: (l) => l.write('d/a', 'L').mv('b', 'e/b').write('n1', 'x'),
      remote: (r) => r.write('n2', 'y').mkdir('f').rm('e'),
    });
    const a = w.plan();
    const shuffled = plan({
      remote: [...w.remote.values()].reverse(),
      local: [...w.local.values()].reverse(),
      synced: [...w.synced.values()].reverse(),
      policy: POLICY,
    });
    expect(shuffled).toEqual(a);
    const before = JSON.stringify([...w.local], null, 0) + JSON.stringify([...w.remote]) + JSON.stringify([...w.synced]);
    w.plan();
    expect(JSON.stringify([...w.local], null, 0) + JSON.stringify([...w.remote]) + JSON.stringify([...w.synced])).toBe(before);
  });
  it('survives a damaged merge base (orphans, duplicate ids) without deleting anything', () => {
    const local = new Map([['a', lfile('a', '1', 'i1')], ['b', lfile('b', '2', 'i2')]]);
    const remote = new Map([['a', rfile('a', '1', 1, 10)], ['b', rfile('b', '2', 2, 20)]]);
    const synced = new Map([
      ['x/orphan', { path: 'x/orphan', kind: 'file' as const, remoteId: 3, revisionId: 30, sha256: sha('3'), localFileId: 'i3', size: 1, mtime: 1 }],
      ['a', { path: 'a', kind: 'file' as const, remoteId: 1, revisionId: 10, sha256: sha('1'), localFileId: 'i1', size: 1, mtime: 1 }],
      ['b', { path: 'b', kind: 'file' as const, remoteId: 1, revisionId: 20, sha256: sha('2'), localFileId: 'i1', size: 1, mtime: 1 }],
    ]);
    const ops = plan({ local, remote, synced, policy: POLICY });
    expect(ops.map(describeOperation)).toEqual(['updateSynced(bothCreated) - -> b']);
  });
  it('a batch never holds two operations on overlapping paths', () => {
    const w = world({ base: [D('d'), F('d/x', '1'), F('d/y', '2')], remote: (r) => r.mv('d', 'e').write('e/x', 'R').rm('e/y') });
    expect(w.plan().map(describeOperation)).toEqual(['moveLocal d -> e']);
  });
  it('lfolder/rfolder builders agree with inSync', () => {
    const t = inSync([D('d')]);
    expect(t.local.get('d')).toEqual({ ...lfolder('d', 'ino100'), mtime: 1 });
    expect(t.remote.get('d')).toEqual(rfolder('d', 100));
  });
});
