// sha256File hashes small files with synchronous reads and bigger ones through the thread pool:
// the same digest either way, and a named pipe found where a file was scanned is an error, not a
// hang. Real files.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { sha256File } from '../../src/engine/localfs.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'axis-hash-'));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('sha256File', () => {
  for (const size of [0, 1, 4096, 256 * 1024 - 1, 256 * 1024, 256 * 1024 + 1, 3 * 1024 * 1024 + 17]) {
    it(`${size} bytes`, async () => {
      const data = randomBytes(size);
      const file = path.join(tmp, `f-${size}`);
      writeFileSync(file, data);
      expect(await sha256File(file)).toBe(createHash('sha256').update(data).digest('hex'));
    });
  }

  it('many at once (shared read buffers) give each file its own digest', async () => {
    const files = Array.from({ length: 40 }, (_, i) => {
      const data = randomBytes(i % 2 ? 1000 + i : 300_000 + i);
      const file = path.join(tmp, `many-${i}`);
      writeFileSync(file, data);
      return { file, sha: createHash('sha256').update(data).digest('hex') };
    });
    const got = await Promise.all(files.map((f) => sha256File(f.file)));
    expect(got).toEqual(files.map((f) => f.sha));
  });

  it('rejects for a missing file and for a named pipe (no hang)', async () => {
    await expect(sha256File(path.join(tmp, 'missing'))).rejects.toMatchObject({ code: 'ENOENT' });
    const fifo = path.join(tmp, 'fifo');
    execFileSync('mkfifo', [fifo]);
    await expect(sha256File(fifo)).rejects.toThrow(/not a regular file/);
  });
});
