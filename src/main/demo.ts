// The first-run demo: with no server configured, the app runs the reference server on
// loopback (demo-server-entry.ts) and signs the agent in to it with a demo account, so a first
// start shows a working sync folder at once. <userData>/demo-server/demo.json remembers the
// port and account so later starts serve the same URL the agent has stored.
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';

export interface DemoConfig {
  version: 1;
  /** The demo person the agent signs in as (password login, no two-step). */
  email: string;
  password: string;
  /** The server's system admin (to try admin policy: throttle windows, …). */
  admin_email: string;
  admin_password: string;
  /** Set after the first start: the port to listen on again, and what the agent was told. */
  port: number | null;
  url: string | null;
  fingerprint: string | null;
}

export const DEMO_EMAIL = 'demo@axis.local';

export function demoConfigPath(dataDir: string): string {
  return path.join(dataDir, 'demo.json');
}

export async function readDemoConfig(dataDir: string): Promise<DemoConfig | undefined> {
  const text = await fsp.readFile(demoConfigPath(dataDir), 'utf8').catch(() => undefined);
  if (text === undefined) return undefined;
  try {
    const v = JSON.parse(text) as Partial<DemoConfig>;
    if (v.version !== 1 || typeof v.email !== 'string' || typeof v.password !== 'string') return undefined;
    if (typeof v.admin_email !== 'string' || typeof v.admin_password !== 'string') return undefined;
    return {
      version: 1,
      email: v.email,
      password: v.password,
      admin_email: v.admin_email,
      admin_password: v.admin_password,
      port: typeof v.port === 'number' ? v.port : null,
      url: typeof v.url === 'string' ? v.url : null,
      fingerprint: typeof v.fingerprint === 'string' ? v.fingerprint : null,
    };
  } catch {
    return undefined;
  }
}

export async function writeDemoConfig(dataDir: string, c: DemoConfig): Promise<void> {
  await fsp.mkdir(dataDir, { recursive: true, mode: 0o700 });
  const file = demoConfigPath(dataDir);
  const tmp = `${file}.${process.pid}.tmp`;
  await fsp.writeFile(tmp, `${JSON.stringify(c, null, 2)}\n`, { mode: 0o600 });
  await fsp.rename(tmp, file);
}

export const DEMO_ADMIN_EMAIL = 'admin@axis.local';

export function newDemoConfig(): DemoConfig {
  const secret = () => randomBytes(12).toString('base64url');
  return { version: 1, email: DEMO_EMAIL, password: secret(), admin_email: DEMO_ADMIN_EMAIL, admin_password: secret(), port: null, url: null, fingerprint: null };
}

/** The demo folder's first files (as `npm start` makes them): the agent uploads them on its first sync. */
export const DEMO_FILES: Readonly<Record<string, string>> = {
  'Welcome.txt': 'Welcome to AXIS CloudSync.\nThis folder is kept in sync with the demo server.\nEdit, add or delete files here and watch the agent UI.\n',
  'Projects/plan.md': '# Plan\n\n- try the agent UI\n- create a collision by editing a file in two places\n',
  'Projects/budget.csv': 'item,amount\nlaptop,1200\nsoftware,300\n',
  'Photos/README.txt': 'Drop pictures here.\n',
};

/** Writes the demo files that are missing (never overwrites); returns the ones written. */
export async function seedDemoFolder(syncDir: string): Promise<string[]> {
  const written: string[] = [];
  for (const [rel, content] of Object.entries(DEMO_FILES)) {
    const abs = path.join(syncDir, ...rel.split('/'));
    await fsp.mkdir(path.dirname(abs), { recursive: true });
    try {
      await fsp.writeFile(abs, content, { flag: 'wx' });
      written.push(rel);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
  }
  return written;
}

/**
 * Whether this start runs the demo server: on a first run (the agent has no server), and on
 * later runs as long as the agent still uses the demo server (it may have been signed in to a
 * real server since: then the demo stays off).
 */
export function demoWanted(agentServer: string | null | undefined, demo: DemoConfig | undefined, disabled: boolean): boolean {
  if (disabled) return false;
  if (!agentServer) return true;
  return demo?.url != null && sameServer(agentServer, demo.url);
}

export type DemoSignIn = 'none' | 'login' | 'relogin';

/**
 * What to do with the agent's login once the demo server runs: sign in on the first run (a
 * fresh agent without a server); sign in again when the demo server had to move to another port
 * and the agent still points at the old URL. Never after the user signed out (they may be on
 * their way to a real server).
 */
export function demoSignIn(
  login: { state: 'logged_out' | 'twostep' | 'logged_in'; server: string | null },
  demo: DemoConfig,
  previousUrl: string | null,
  firstRun: boolean,
): DemoSignIn {
  if (!demo.url || login.state === 'twostep') return 'none';
  if (login.server === null) return firstRun && login.state === 'logged_out' ? 'login' : 'none';
  if (previousUrl !== null && !sameServer(previousUrl, demo.url) && sameServer(login.server, previousUrl)) return 'relogin';
  return 'none';
}

export function sameServer(a: string, b: string): boolean {
  try {
    return new URL(a).origin === new URL(b).origin;
  } catch {
    return false;
  }
}

/** The control API's POST /api/login body that signs the agent in to the demo server. */
export function demoLoginBody(demo: DemoConfig): { server: string; username: string; password: string; trust_fingerprint?: string } | undefined {
  if (!demo.url) return undefined;
  return { server: demo.url, username: demo.email, password: demo.password, ...(demo.fingerprint ? { trust_fingerprint: demo.fingerprint } : {}) };
}
