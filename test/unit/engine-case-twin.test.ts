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
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AxisClient, type Tokens } from '../../src/api/client.js';
import { BandwidthLimiter } from '../../src/engine/limiter.js';
import { StateStore } from '../../src/engine/store.js';
import { RootSync } from '../../src/engine/sync.js';
import { filesClient, newPerson, upload } from '../helpers/files.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let t: TestServer;
let client: AxisClient;
let store: StateStore;
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

let person: ReturnType<typeof newPerson>;

beforeAll(async () => {
  t = await startTestServer();
  person = newPerson(t);
  let tokens: Tokens | undefined;
  client = new AxisClient({
    server: t.url,
    trust: { fingerprint: t.server.fingerprint! },
    tokens: { load: () => tokens, save: (x) => void (tokens = x) },
    transferShaper: (d, s) => limiter.shape(d, s),
  });
  await client.loginPassword(person.email, 'user-password-1');
  rootId = person.root_id!;
  store = new StateStore(path.join(tmp, 'state.sqlite'));
  store.upsertRoot({ id: rootId, name: 'sync', type: 'sync', localPath: dir });
  sync = new RootSync({
    store,
    api: client,
    root: store.root(rootId)!,
    machineName: 'twin-test',
    platform: 'linux',
    caseInsensitive: false,
    policy: () => ({ manualCollisions: false }),
    log: pino({ level: 'silent' }),
    longPollSeconds: 2,
    rescanMs: 3_600_000,
    settleScanMs: 3_600_000,
  });
  await sync.start();
  await sync.whenIdle();
}, 60_000);

afterAll(async () => {
  await sync?.stop();
  limiter.close();
  store?.close();
  client?.close();
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
