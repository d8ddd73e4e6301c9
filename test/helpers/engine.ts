// One sync engine (RootSync) in the test process, logged in as a new person of a real test
// server, syncing that person's root into `dir`, with the periodic and settling full scans far
// away (what a test checks must come from the watcher and the change feed). Real files, real
// SQLite.
import path from 'node:path';
import { pino } from 'pino';
import { AxisClient, type TransferShaper, type Tokens } from '../../src/api/client.js';
import { StateStore } from '../../src/engine/store.js';
import { RootSync, type RootSyncOptions } from '../../src/engine/sync.js';
import { newPerson } from './files.js';
import type { TestServer } from './server.js';

export interface TestEngine {
  person: ReturnType<typeof newPerson>;
  rootId: number;
  client: AxisClient;
  store: StateStore;
  sync: RootSync;
  /** Stops the engine and closes its store and client (not the server). */
  stop(): Promise<void>;
}

export async function startTestEngine(
  t: TestServer,
  o: { dir: string; stateDir: string; machineName: string; transferShaper?: TransferShaper; sync?: Partial<RootSyncOptions> },
): Promise<TestEngine> {
  const person = newPerson(t);
  let tokens: Tokens | undefined;
  const client = new AxisClient({
    server: t.url,
    trust: { fingerprint: t.server.fingerprint! },
    tokens: { load: () => tokens, save: (x) => void (tokens = x) },
    ...(o.transferShaper ? { transferShaper: o.transferShaper } : {}),
  });
  await client.loginPassword(person.email, 'user-password-1');
  const rootId = person.root_id!;
  const store = new StateStore(path.join(o.stateDir, 'state.sqlite'));
  store.upsertRoot({ id: rootId, name: 'sync', type: 'sync', localPath: o.dir });
  const sync = new RootSync({
    store,
    api: client,
    root: store.root(rootId)!,
    machineName: o.machineName,
    policy: () => ({ manualCollisions: false }),
    // AXIS_TEST_ENGINE_LOG=debug shows what a test's engine does (silent by default).
    log: pino({ level: process.env.AXIS_TEST_ENGINE_LOG ?? 'silent' }),
    longPollSeconds: 2,
    rescanMs: 3_600_000,
    settleScanMs: 3_600_000,
    ...o.sync,
  });
  await sync.start();
  await sync.whenIdle();
  return {
    person,
    rootId,
    client,
    store,
    sync,
    async stop() {
      await sync.stop();
      store.close();
      client.close();
    },
  };
}
