// The engine's watcher watches folders only (chokidar in directories-only mode; file changes
// come from each folder's fs.watch 'raw' events): edits, creations, deletions and renames in
// nested new folders must all be seen — with the periodic full rescan far away, so only the
// watcher can have noticed them — and no file may have a watch of its own.
import { createHash } from 'node:crypto';
import { lstatSync, mkdtempSync, rmSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StateStore } from '../../src/engine/store.js';
import type { RootSync } from '../../src/engine/sync.js';
import { startTestEngine, type TestEngine } from '../helpers/engine.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let t: TestServer;
let engine: TestEngine;
let store: StateStore;
let sync: RootSync;
let rootId: number;
const tmp = mkdtempSync(path.join(os.tmpdir(), 'axis-engine-watcher-'));
const dir = path.join(tmp, 'folder');

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const file = (rel: string) => path.join(dir, ...rel.split('/'));

async function eventually(check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) {
      const watched = Object.keys(sync.watchedFolders()).map((k) => path.relative(dir, k).split(path.sep).join('/'));
      throw new Error(`timed out waiting for ${what}; server side: ${JSON.stringify([...remote().keys()])}; watched folders: ${JSON.stringify(watched)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The server's tree as the engine last read it from the change feed (path → entry). */
function remote() {
  return store.remoteTree(rootId).tree;
}

function onServer(rel: string, content?: string): boolean {
  const e = remote().get(rel);
  if (!e) return false;
  return content === undefined || e.sha256 === sha256(content);
}

beforeAll(async () => {
  t = await startTestServer();
  engine = await startTestEngine(t, { dir, stateDir: tmp, machineName: 'watcher-test' });
  ({ store, sync, rootId } = engine);
}, 60_000);

afterAll(async () => {
  await engine?.stop();
  await t?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe('folder-only watcher', () => {
  it('sees files created in nested new folders, made in a burst right after the folders', async () => {
    await mkdir(file('a/b/c'), { recursive: true });
    await writeFile(file('a/b/c/one.txt'), 'one\n');
    await writeFile(file('a/b/two.txt'), 'two\n');
    await mkdir(file('a/b/c/d/e'), { recursive: true });
    for (let i = 0; i < 5; i++) await writeFile(file(`a/b/c/d/e/f${i}.txt`), `deep ${i}\n`);
    await eventually(() => onServer('a/b/c/one.txt', 'one\n') && onServer('a/b/two.txt', 'two\n'), 'the first files');
    await eventually(() => [0, 1, 2, 3, 4].every((i) => onServer(`a/b/c/d/e/f${i}.txt`, `deep ${i}\n`)), 'the deep files');
  });

  it('sees an edit in place and a replacement by rename', async () => {
    await writeFile(file('a/b/c/one.txt'), 'one, edited\n');
    await eventually(() => onServer('a/b/c/one.txt', 'one, edited\n'), 'the edit');
    await writeFile(file('a/b/.two.new'), 'two, saved like an editor does\n');
    await rename(file('a/b/.two.new'), file('a/b/two.txt'));
    await eventually(() => onServer('a/b/two.txt', 'two, saved like an editor does\n') && !onServer('a/b/.two.new'), 'the replaced file');
  });

  it('sees renames of files and folders, and edits in a renamed folder', async () => {
    await rename(file('a/b/c/one.txt'), file('a/b/one-renamed.txt'));
    await eventually(() => onServer('a/b/one-renamed.txt', 'one, edited\n') && !onServer('a/b/c/one.txt'), 'the file rename');
    await rename(file('a/b/c'), file('a/b/moved'));
    await eventually(() => onServer('a/b/moved/d/e/f3.txt', 'deep 3\n') && !onServer('a/b/c'), 'the folder rename');
    await writeFile(file('a/b/moved/d/e/f3.txt'), 'deep 3, edited after the move\n');
    await writeFile(file('a/b/moved/d/new.txt'), 'new in a moved folder\n');
    await eventually(() => onServer('a/b/moved/d/e/f3.txt', 'deep 3, edited after the move\n') && onServer('a/b/moved/d/new.txt'), 'edits in the moved folder');
  });

  it('sees deletions of a file and of a folder tree', async () => {
    await rm(file('a/b/two.txt'));
    await eventually(() => !onServer('a/b/two.txt'), 'the file deletion');
    await rm(file('a/b/moved/d'), { recursive: true });
    await eventually(() => !onServer('a/b/moved/d') && !onServer('a/b/moved/d/e/f0.txt') && onServer('a/b/moved'), 'the folder deletion');
    await sync.whenIdle();
    expect([...store.localTree(rootId).keys()].sort()).toEqual(['a', 'a/b', 'a/b/moved', 'a/b/one-renamed.txt']);
  });

  it('keeps watching a folder removed and made again at once (rm -r; mkdir)', async () => {
    await mkdir(file('r/inner'), { recursive: true });
    await writeFile(file('r/inner/x.txt'), 'x\n');
    await eventually(() => onServer('r/inner/x.txt', 'x\n'), 'the first file');
    await rm(file('r/inner'), { recursive: true });
    await mkdir(file('r/inner'));
    await writeFile(file('r/inner/y.txt'), 'y\n');
    await eventually(() => onServer('r/inner/y.txt', 'y\n') && !onServer('r/inner/x.txt'), 'the new folder');
    await sync.whenIdle();
    // Only a watch on the new folder can report this one.
    await new Promise((r) => setTimeout(r, 1500));
    await writeFile(file('r/inner/z.txt'), 'z\n');
    await eventually(() => onServer('r/inner/z.txt', 'z\n'), 'a file made later in the new folder');
    await rm(file('r'), { recursive: true });
    await eventually(() => !onServer('r'), 'the cleanup');
  });

  it('watches folders only: no watch per file, new folders watched, removed ones not', async () => {
    await sync.whenIdle();
    const folders = () => Object.keys(sync.watchedFolders()).map((k) => path.relative(dir, k).split(path.sep).join('/'));
    // Removed and renamed-away folders are dropped once chokidar has re-read their parent
    // (throttled to about once a second per folder, later on a loaded machine).
    await eventually(() => !folders().includes('a/b/c') && !folders().includes('a/b/moved/d'), 'removed folders no longer watched', 15_000);
    const watched = sync.watchedFolders();
    // Every folder of the tree (and the root's parent, where chokidar notes the root itself).
    for (const f of ['', 'a', 'a/b', 'a/b/moved']) expect(folders()).toContain(f);
    // What chokidar tracks inside each watched folder is folders only: the files are not watched.
    let entries = 0;
    for (const [k, names] of Object.entries(watched)) {
      for (const n of names) {
        const st = lstatSync(path.join(k, n), { throwIfNoEntry: false });
        if (st) expect(st.isDirectory(), `${path.join(k, n)} is watched`).toBe(true);
        entries++;
      }
    }
    expect(entries).toBeGreaterThan(0);
  });
});
