// A program that opened a file before the sync deletes or replaces it, and writes a moment
// after (a save racing the sync), writes into a file that no longer has a name. The engine keeps
// such a file's handle a little longer (guardLateWrites in src/engine/localfs.ts) and puts a
// late write back: under its name after a delete, under a "(kept …)" name beside the file that
// replaced it. Real files and real handles; the late writes are made through a handle opened
// before the delete or the replace, as an editor writing in place would.
import { closeSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmdirSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { afterAll, describe, expect, it } from 'vitest';
import { lateWritesSettled, removeFileChecked, TEMP_PREFIX, writeFileAtomic } from '../../src/engine/localfs.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'axis-late-writes-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
let n = 0;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** A new folder with `name` holding `content`, and a handle on it opened for writing in place. */
function fileWithHandle(name: string, content: string): { dir: string; file: string; fd: number } {
  const dir = path.join(tmp, `case-${++n}`);
  mkdirSync(dir);
  const file = path.join(dir, name);
  writeFileSync(file, content);
  return { dir, file, fd: openSync(file, 'r+') };
}

const listing = (dir: string) => readdirSync(dir).sort();
const kept = (dir: string, stem: string, ext: string) => listing(dir).filter((x) => x.startsWith(`${stem} (kept `) && x.endsWith(ext));

describe('late writes into a deleted or replaced file are put back', () => {
  it('a delete with nothing written afterwards stays a delete', async () => {
    const { dir, file, fd } = fileWithHandle('a.txt', 'one');
    removeFileChecked(file, () => undefined);
    closeSync(fd);
    await lateWritesSettled();
    expect(listing(dir)).toEqual([]);
  });

  it('a write just after the delete comes back under the name', async () => {
    const { dir, file, fd } = fileWithHandle('report.doc', 'version one');
    removeFileChecked(file, () => undefined);
    expect(existsSync(file)).toBe(false);
    await sleep(20);
    writeSync(fd, 'VERSION TWO, saved late', 0);
    closeSync(fd);
    await lateWritesSettled();
    expect(listing(dir)).toEqual(['report.doc']);
    expect(readFileSync(file, 'utf8')).toBe('VERSION TWO, saved late');
  });

  it('a writer that goes on is put back once it stops, with all it wrote', async () => {
    const { dir, file, fd } = fileWithHandle('log.txt', '');
    removeFileChecked(file, () => undefined);
    let text = '';
    for (let i = 0; i < 6; i++) {
      await sleep(90);
      const line = `line ${i}\n`;
      writeSync(fd, line, text.length);
      text += line;
    }
    closeSync(fd);
    await lateWritesSettled();
    expect(listing(dir)).toEqual(['log.txt']);
    expect(readFileSync(file, 'utf8')).toBe(text);
  });

  it('a name taken meanwhile is kept; the late write gets a "(kept …)" name', async () => {
    const { dir, file, fd } = fileWithHandle('notes.txt', 'old');
    removeFileChecked(file, () => undefined);
    writeFileSync(file, 'a new file at the name');
    writeSync(fd, 'late', 0);
    closeSync(fd);
    await lateWritesSettled();
    expect(readFileSync(file, 'utf8')).toBe('a new file at the name');
    const k = kept(dir, 'notes', '.txt');
    expect(k).toHaveLength(1);
    expect(readFileSync(path.join(dir, k[0]!), 'utf8')).toBe('late');
    expect(listing(dir).filter((x) => x.startsWith(TEMP_PREFIX))).toEqual([]);
  });

  it('a folder removed meanwhile is made again for the late write', async () => {
    const { dir, file, fd } = fileWithHandle('c.md', 'c');
    removeFileChecked(file, () => undefined);
    rmdirSync(dir);
    writeSync(fd, 'late c', 0);
    closeSync(fd);
    await lateWritesSettled();
    expect(readFileSync(file, 'utf8')).toBe('late c');
  });

  it('a write into a replaced file is kept beside the new content', async () => {
    const { dir, file, fd } = fileWithHandle('data.bin', 'local');
    const root = path.dirname(dir);
    const rel = `${path.basename(dir)}/data.bin`;
    await writeFileAtomic(root, rel, Readable.from([Buffer.from('downloaded')]));
    expect(readFileSync(file, 'utf8')).toBe('downloaded');
    await sleep(20);
    writeSync(fd, 'LOCAL EDIT', 0);
    closeSync(fd);
    await lateWritesSettled();
    expect(readFileSync(file, 'utf8')).toBe('downloaded');
    const k = kept(dir, 'data', '.bin');
    expect(k).toHaveLength(1);
    expect(readFileSync(path.join(dir, k[0]!), 'utf8')).toBe('LOCAL EDIT');
  });
});
