// Electron utility-process entry: the reference server on loopback for a first run without a
// configured server (the demo; `npm start` does the same in scripts/start.js for development).
// main.ts forks it with
//   AXIS_DEMO_DATA      the server's data folder
//   AXIS_DEMO_PORT      0 the first time, then the same port again (the agent stores the URL)
//   AXIS_DEMO_EMAIL / AXIS_DEMO_PASSWORD   the demo person, created when missing (no two-step)
//   AXIS_ADMIN_EMAIL / AXIS_ADMIN_PASSWORD the system admin made at the first start
// and it posts {type: 'ready', url, port, fingerprint} (or {type: 'error', message}); it stops
// on {type: 'stop'}.
import { createPerson } from '../server/accounts.js';
import { createReferenceServer, type ReferenceServer } from '../server/app.js';
import { tuneServerHeap } from '../server/heap.js';

interface ParentPort {
  postMessage(message: unknown): void;
  on(event: 'message', listener: (e: { data: unknown }) => void): void;
}
const parentPort = (process as unknown as { parentPort?: ParentPort }).parentPort;
const post = (m: Record<string, unknown>) => (parentPort ? parentPort.postMessage(m) : process.send?.(m));

async function start(): Promise<ReferenceServer> {
  tuneServerHeap();
  const env = process.env;
  const dataDir = env.AXIS_DEMO_DATA;
  const email = env.AXIS_DEMO_EMAIL;
  const password = env.AXIS_DEMO_PASSWORD;
  if (!dataDir || !email || !password) throw new Error('AXIS_DEMO_DATA, AXIS_DEMO_EMAIL and AXIS_DEMO_PASSWORD are needed');
  const options = {
    dataDir,
    host: '127.0.0.1',
    adminEmail: env.AXIS_ADMIN_EMAIL ?? 'admin@axis.local',
    ...(env.AXIS_ADMIN_PASSWORD ? { adminPassword: env.AXIS_ADMIN_PASSWORD } : {}),
  };
  const wanted = Number(env.AXIS_DEMO_PORT ?? 0);
  let server: ReferenceServer;
  try {
    server = await createReferenceServer({ ...options, port: wanted });
  } catch (err) {
    // The old port is taken: a new one (main then signs the agent in again).
    if (wanted === 0 || (err as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw err;
    server = await createReferenceServer({ ...options, port: 0 });
  }
  if (!server.ctx.db.prepare('SELECT id FROM persons WHERE email = ?').get(email)) {
    createPerson(server.ctx, { company_id: server.admin.defaultOrganizationId, email, password, first_name: 'Demo', last_name: 'User' });
  }
  return server;
}

try {
  const server = await start();
  post({ type: 'ready', url: server.url, port: Number(new URL(server.url).port), fingerprint: server.fingerprint ?? null });
  const stop = () => void server.close().finally(() => process.exit(0));
  parentPort?.on('message', (e) => {
    if ((e.data as { type?: unknown } | undefined)?.type === 'stop') stop();
  });
  if (!parentPort) process.on('message', (m: { type?: unknown }) => m?.type === 'stop' && stop());
  process.once('SIGTERM', stop);
} catch (err) {
  post({ type: 'error', message: err instanceof Error ? err.message : String(err) });
  process.exit(1);
}
