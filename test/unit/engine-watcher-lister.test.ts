// The watcher's folder lister (src/engine/watcher.ts): chokidar lists a folder again after
// every change in it, to find new subfolders. When the folder's fs.watch named only files (a
// folder receiving downloads), the last listing is reused instead of reading the folder again;
// a subfolder made or removed among those files must still be seen at once.
import { mkdtempSync, rmSync } from 'node:fs';
import { mkdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { FSWatcher } from 'chokidar';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { folderListings, watchFolders } from '../../src/engine/watcher.js';

let tmp: string;
let w: FSWatcher | undefined;

beforeEach(() => {
  tmp = mkdtempSync(path.join(os.tmpdir(), 'axis-lister-'));
});

afterEach(async () => {
  await w?.close();
  w = undefined;
  rmSync(tmp, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function eventually(check: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(25);
  }
}

async function start(): Promise<{ added: string[]; removed: string[]; raw: string[] }> {
  const seen = { added: [] as string[], removed: [] as string[], raw: [] as string[] };
  w = watchFolders(tmp, { skipName: (n) => n.startsWith('.axis-tmp-') });
  w.on('addDir', (p: string) => seen.added.push(path.relative(tmp, p)));
  w.on('unlinkDir', (p: string) => seen.removed.push(path.relative(tmp, p)));
  w.on('raw', (_e, name: string | null, d: unknown) => {
    const watched = (d as { watchedPath?: string } | undefined)?.watchedPath ?? '';
    seen.raw.push(path.join(path.relative(tmp, watched), name ?? ''));
  });
  await new Promise<void>((resolve) => w!.once('ready', () => resolve()));
  return seen;
}

describe('folder lister', () => {
  it('reuses the listing of a folder that only receives files, and still sees subfolders made or removed among them', async () => {
    await mkdir(path.join(tmp, 'inbox', 'old'), { recursive: true });
    const seen = await start();
    const before = folderListings(w!);

    // Files arrive for ~3 s (chokidar lists the folder at most about once a second).
    for (let i = 0; i < 40; i++) {
      await writeFile(path.join(tmp, 'inbox', `.axis-tmp-${i}`), 'partial');
      await writeFile(path.join(tmp, 'inbox', `file-${i}.bin`), `content ${i}`);
      await rm(path.join(tmp, 'inbox', `.axis-tmp-${i}`));
      await sleep(75);
    }
    await eventually(() => seen.raw.includes(path.join('inbox', 'file-39.bin')), 'the last file event');
    await sleep(1500);
    const during = folderListings(w!);
    expect(during.reused - before.reused, JSON.stringify({ before, during })).toBeGreaterThanOrEqual(1);
    expect(during.read - before.read, JSON.stringify({ before, during })).toBe(0);
    expect(seen.added).toEqual([]);

    // A subfolder made among the files is watched (addDir, then events from inside it).
    await writeFile(path.join(tmp, 'inbox', 'file-a.bin'), 'a');
    await mkdir(path.join(tmp, 'inbox', 'new'));
    await writeFile(path.join(tmp, 'inbox', 'file-b.bin'), 'b');
    await eventually(() => seen.added.includes(path.join('inbox', 'new')), 'the new subfolder');
    // chokidar emits addDir before it lists the new folder and then starts its fs.watch: a write
    // made in between is seen by neither (RootSync re-scans new folders for that; see newDirs).
    // So write until the folder's own watch reports one; without a watch, none ever would.
    let n = 0;
    await eventually(() => {
      if (seen.raw.some((r) => r.startsWith(path.join('inbox', 'new', 'inside-')))) return true;
      void writeFile(path.join(tmp, 'inbox', 'new', `inside-${n++}.txt`), 'inside');
      return false;
    }, 'an event from inside the new subfolder');
    expect(folderListings(w!).read).toBeGreaterThan(during.read);

    // A subfolder removed among files is dropped; a file named like it later changes nothing.
    await writeFile(path.join(tmp, 'inbox', 'file-c.bin'), 'c');
    await rm(path.join(tmp, 'inbox', 'old'), { recursive: true });
    await eventually(() => seen.removed.includes(path.join('inbox', 'old')), 'the removed subfolder');
    await writeFile(path.join(tmp, 'inbox', 'old'), 'now a file');
    await sleep(1500);
    expect(seen.added.filter((p) => p.endsWith('old'))).toEqual([]);
    // The watched set is what the disk holds: inbox/new, not inbox/old.
    const watched = w!.getWatched();
    expect(watched[path.join(tmp, 'inbox')]?.sort()).toEqual(['new']);
  });

  it('reuses the listing after events of temp files only, and still sees the folder and its subfolders go', async () => {
    await mkdir(path.join(tmp, 'box', 'sub'), { recursive: true });
    const seen = await start();
    const before = folderListings(w!);
    for (let i = 0; i < 20; i++) {
      await writeFile(path.join(tmp, 'box', `.axis-tmp-${i}`), 'partial');
      await rm(path.join(tmp, 'box', `.axis-tmp-${i}`));
      await sleep(50);
    }
    await eventually(() => folderListings(w!).reused > before.reused, 'a reused listing');
    expect(folderListings(w!).read - before.read).toBe(0);
    // Temp files, then the folder itself goes: both it and its subfolder are dropped.
    await writeFile(path.join(tmp, 'box', '.axis-tmp-last'), 'partial');
    await rm(path.join(tmp, 'box'), { recursive: true });
    await eventually(() => seen.removed.includes('box') && seen.removed.includes(path.join('box', 'sub')), 'the removed folders');
    expect(w!.getWatched()[tmp] ?? []).toEqual([]);
  });
});
