// The reference server owns its data directory: its SQLite connection holds an exclusive lock
// (no per-transaction file locks, the WAL index in memory), so a second server on the same
// directory stops with a clear error instead of sharing the database.
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openDatabase } from '../../src/server/db.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'axis-dblock-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('server database lock', () => {
  it('refuses a second opening of a data directory in use, and allows it once the first is closed', () => {
    const db = openDatabase(dir);
    db.prepare('SELECT count(*) FROM roots').get();
    // WAL without a shared-memory index: the lock is SQLite's, held for the connection's life.
    expect(existsSync(path.join(dir, 'server.sqlite-shm'))).toBe(false);
    expect(() => openDatabase(dir)).toThrow(/another process \(a running axis-server\?\) is using the data directory .*stop it, or start this server with another --data directory/);
    db.close();
    const again = openDatabase(dir);
    expect(again.prepare('SELECT count(*) AS n FROM roots').get()).toEqual({ n: 0 });
    again.close();
  }, 20_000);
});
