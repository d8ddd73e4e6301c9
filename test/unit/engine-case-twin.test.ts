// On a case-sensitive disk (Linux) the server folds letter case, so "report.txt" and
// "Report.txt" are one name to the planner. A download of Report.txt that was planned before
// the user made report.txt must not end up beside it: the last look before the file is put in
// place finds the twin (the watcher reported it, so the folder is read) and the next plan sees
// both. Nothing is lost: both contents end up in the folder and on the server.
// Real server, real files; the download is slowed by the real bandwidth limiter so the user's
// file is made while it runs.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BandwidthLimiter } from '../../src/engine/limiter.js';
import type { RootSync } from '../../src/engine/sync.js';
import { startTestEngine, type TestEngine } from '../helpers/engine.js';
import { filesClient, upload } from '../helpers/files.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let t: TestServer;
let sync: RootSync;
let rootId: number;
const limiter = new BandwidthLimiter();
const tmp = mkdtempSync(path.join(os.tmpdir(), 'axis-case-twin-'));
const dir = path.join(tmp, 'folder');
const sha256 = (b: Buffer | string) => createHash('sha256').update(b).digest('hex');

async function eventually(check: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; folder: ${JSON.stringify(readdirSync(dir))}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

let engine: TestEngine;
let person: TestEngine['person'];

beforeAll(async () => {
  t = await startTestServer();
  engine = await startTestEngine(t, {
    dir,
    stateDir: tmp,
    machineName: 'twin-test',
    transferShaper: (d, s) => limiter.shape(d, s),
    sync: { platform: 'linux', caseInsensitive: false },
  });
  ({ person, rootId, sync } = engine);
}, 60_000);

afterAll(async () => {
  await engine?.stop();
  limiter.close();
  await t?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe('a download whose name appears locally in other letter case meanwhile', () => {
  it('is not put beside it; both versions are kept', async () => {
    const remote = randomBytes(1_500_000);
    limiter.setRate(1_000_000); // ~1.5 s for the download
    const res = await upload(filesClient(t, person), `${rootId}/upload`, remote, { filename: 'Report.txt' });
    expect(res.statusCode).toBe(200);
    // The download has started: its temp file is in the folder.
    await eventually(() => readdirSync(dir).some((n) => n.startsWith('.axis-tmp-')), 'the download to start');
    const mine = 'made by the user while Report.txt was downloading\n';
    await writeFile(path.join(dir, 'report.txt'), mine);
    limiter.setRate(null);
    await new Promise((r) => setTimeout(r, 500));
    await sync.whenIdle();

    const names = readdirSync(dir).filter((n) => !n.startsWith('.axis-tmp-'));
    // Never both spellings of one name side by side.
    const lower = names.map((n) => n.toLowerCase());
    expect(new Set(lower).size, JSON.stringify(names)).toBe(lower.length);
    // Both contents are in the folder (one of them under a collision name).
    const contents = names.map((n) => sha256(readFileSync(path.join(dir, n))));
    expect(contents).toContain(sha256(remote));
    expect(contents).toContain(sha256(mine));
    expect(names).toContain('Report.txt');
    expect(names.some((n) => /^report \(collision .+\)\.txt$/i.test(n)), JSON.stringify(names)).toBe(true);
  }, 60_000);
});
