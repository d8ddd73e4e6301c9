// The `ls` command of the agent command channel (src/agent/commands.ts) on real folders: only
// folders inside the sync folder are listed, whatever the path says or a symbolic link leads to.
import { mkdirSync, mkdtempSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { listLocalFolder } from '../../src/agent/commands.js';

const base = mkdtempSync(path.join(os.tmpdir(), 'axis-ls-'));
const root = path.join(base, 'sync');
mkdirSync(path.join(root, 'docs', 'deep'), { recursive: true });
writeFileSync(path.join(root, 'a.txt'), 'hello');
writeFileSync(path.join(root, 'docs', 'b.txt'), 'x');
writeFileSync(path.join(base, 'outside.txt'), 'secret');
symlinkSync(base, path.join(root, 'up-link'));
symlinkSync(path.join(root, 'docs'), path.join(root, 'docs-link'));

afterAll(() => rmSync(base, { recursive: true, force: true }));

describe('ls', () => {
  it('lists the sync folder (empty path) with types, sizes and times', async () => {
    const r = await listLocalFolder(root, undefined);
    expect(r.status).toBe('ok');
    const res = (r as { result: { path: string; entries: { name: string; type: string; size: number | null }[]; truncated: boolean } }).result;
    expect(res.path).toBe(realpathSync(root));
    expect(res.entries.map((e) => [e.name, e.type, e.size])).toEqual([
      ['a.txt', 'file', 5],
      ['docs', 'folder', null],
      ['docs-link', 'symlink', null],
      ['up-link', 'symlink', null],
    ]);
    expect(res.truncated).toBe(false);
  });

  it('relative and absolute paths inside, and links that stay inside', async () => {
    for (const p of ['docs', path.join(root, 'docs'), 'docs/deep/..', 'docs-link']) {
      const r = await listLocalFolder(root, p);
      expect(r.status, p).toBe('ok');
      expect((r as { result: { entries: { name: string }[] } }).result.entries.map((e) => e.name), p).toEqual(['b.txt', 'deep']);
    }
  });

  it('refuses everything outside, also through a symbolic link, without reading it', async () => {
    for (const p of ['..', '../', base, '/', 'docs/../..', 'up-link', path.join(base, 'nowhere')]) {
      const r = await listLocalFolder(root, p);
      expect(r.status, p).toBe('error');
      expect((r as { error: string }).error, p).toContain('outside the sync folder');
    }
  });

  it('explains missing folders, files and bad input', async () => {
    expect(await listLocalFolder(root, 'nope')).toMatchObject({ status: 'error', error: 'no such folder: nope' });
    expect(await listLocalFolder(root, 'a.txt')).toMatchObject({ status: 'error', error: 'not a folder: a.txt' });
    expect(await listLocalFolder(root, 42)).toMatchObject({ status: 'error', error: 'path must be text' });
    expect(await listLocalFolder(root, 'a\u0000b')).toMatchObject({ status: 'error' });
  });
});
