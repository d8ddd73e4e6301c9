#!/usr/bin/env node
// `npm start`: the desktop app where Electron's binary is available, else the headless agent
// with its UI served on loopback (docs/control-api.md).
//
// With no server configured in the agent's home ($AXIS_AGENT_HOME or the per-user default),
// or when the home is the demo's, a demo runs first: the reference server on 127.0.0.1 (data
// under $AXIS_DEMO_DIR, default ~/.axis-demo), a demo account (password, no two-step) and a
// demo folder with a few files; the agent is logged in as the demo person (trusting the
// server's certificate, whose fingerprint is known here). A second `npm start` reuses it all.
// Ctrl-C stops everything. AXIS_START_HEADLESS=1 skips Electron (tests).
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, promises as fsp, readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const DEMO_EMAIL = 'demo@axis.local';
const DEMO_PASSWORD = 'axis-demo-password';
const ADMIN_EMAIL = process.env.AXIS_ADMIN_EMAIL ?? 'admin@axis.local';
const ADMIN_PASSWORD = process.env.AXIS_ADMIN_PASSWORD ?? 'axis-demo-admin';

const say = (line) => process.stdout.write(`${line}\n`);

/** Electron's binary, or why it cannot be used here. */
function electronBinary() {
  if (process.env.AXIS_START_HEADLESS === '1') return { reason: 'AXIS_START_HEADLESS=1' };
  const dir = path.join(REPO, 'node_modules', 'electron');
  let rel;
  try {
    rel = readFileSync(path.join(dir, 'path.txt'), 'utf8').trim();
  } catch {
    return { reason: 'no binary: node_modules/electron/path.txt is missing' };
  }
  const bin = path.join(dir, 'dist', rel);
  if (!rel || !existsSync(bin)) return { reason: `no binary: node_modules/electron/dist/${rel} is missing` };
  if (process.platform === 'linux' && !process.env.DISPLAY && !process.env.WAYLAND_DISPLAY) return { reason: 'no display: DISPLAY is not set' };
  const pkg = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8'));
  if (!existsSync(path.join(REPO, pkg.main))) return { reason: `not built: ${pkg.main} is missing, run npm run build` };
  return { bin };
}

function packageVersion() {
  return JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')).version ?? '0.0.0';
}

const dist = (rel) => import(new URL(`../dist/src/${rel}`, import.meta.url).href);

async function readJson(file) {
  try {
    return JSON.parse(await fsp.readFile(file, 'utf8'));
  } catch {
    return undefined;
  }
}

/** The demo: reference server, account, files, and the agent logged in as the demo person. */
async function startDemo(home, demoDir, userAgent, version) {
  const { createReferenceServer } = await dist('server/app.js');
  const { createPerson } = await dist('server/accounts.js');
  const { PasswordLogin, isLoggedIn } = await dist('agent/account.js');
  const { loadConfig } = await dist('agent/config.js');

  const demoFile = path.join(demoDir, 'demo.json');
  const previous = await readJson(demoFile);
  const dataDir = process.env.AXIS_SERVER_DATA ?? path.join(demoDir, 'server');
  const syncDir = path.join(demoDir, 'sync');
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const wanted = Number(process.env.AXIS_SERVER_PORT ?? previous?.port ?? 0);
  const options = { dataDir, host: '127.0.0.1', adminEmail: ADMIN_EMAIL, adminPassword: ADMIN_PASSWORD, logger: pino({ level: 'warn' }, pino.destination(2)) };
  let server;
  try {
    server = await createReferenceServer({ ...options, port: wanted });
  } catch (err) {
    if (wanted === 0 || err?.code !== 'EADDRINUSE') throw err;
    server = await createReferenceServer({ ...options, port: 0 });
  }
  const db = server.ctx.db;
  if (!db.prepare('SELECT id FROM persons WHERE email = ?').get(DEMO_EMAIL)) {
    createPerson(server.ctx, { company_id: server.admin.defaultOrganizationId, email: DEMO_EMAIL, password: DEMO_PASSWORD, first_name: 'Demo', last_name: 'User' });
  }
  if (!previous) {
    // The demo folder: a few files the agent uploads on its first sync.
    const files = {
      'Welcome.txt': 'Welcome to AXIS CloudSync.\nThis folder is kept in sync with the demo server.\nEdit, add or delete files here and watch the agent UI.\n',
      'Projects/plan.md': '# Plan\n\n- try the agent UI\n- create a collision by editing a file in two places\n',
      'Projects/budget.csv': 'item,amount\nlaptop,1200\nsoftware,300\n',
      'Photos/README.txt': 'Drop pictures here.\n',
    };
    for (const [rel, content] of Object.entries(files)) {
      const abs = path.join(syncDir, ...rel.split('/'));
      if (existsSync(abs)) continue;
      await fsp.mkdir(path.dirname(abs), { recursive: true });
      await fsp.writeFile(abs, content);
    }
  }

  const config = await loadConfig(path.join(home, 'config.json')).catch(() => undefined);
  const current = config && config.server === server.url && config.fingerprint === server.fingerprint && config.username === DEMO_EMAIL && (await isLoggedIn(home));
  if (!current) {
    const target = await PasswordLogin.target(home, server.url, server.fingerprint);
    const login = new PasswordLogin({ ...target, userAgent });
    try {
      await login.connect();
      const r = await login.password(DEMO_EMAIL, DEMO_PASSWORD);
      if (r.result !== 'ok') throw new Error('the demo account asks for a two-step code; delete the demo folder and start again');
      await login.complete({ home, env: process.env, version }, DEMO_EMAIL);
    } finally {
      login.close();
    }
  }
  await fsp.writeFile(demoFile, `${JSON.stringify({ url: server.url, port: new URL(server.url).port ? Number(new URL(server.url).port) : 443, home }, null, 2)}\n`, { mode: 0o600 });
  return { server, syncDir, dataDir };
}

async function main() {
  const { resolveHome } = await dist('agent/home.js');
  const { loadConfig } = await dist('agent/config.js');
  const home = resolveHome(undefined, process.env);
  const demoDir = path.resolve(process.env.AXIS_DEMO_DIR ?? path.join(os.homedir(), '.axis-demo'));
  const version = packageVersion();
  const userAgent = `axis-agent/${version} (node ${process.version}; ${process.platform})`;

  const electron = electronBinary();
  if (!electron.bin) say(`Electron is not available here (${electron.reason}): starting the headless agent with its UI on loopback.`);

  // A demo when the home has no server, or has the demo's.
  const config = await loadConfig(path.join(home, 'config.json')).catch(() => undefined);
  const demoState = await readJson(path.join(demoDir, 'demo.json'));
  const demo = !config || (demoState && demoState.url === config.server) ? await startDemo(home, demoDir, userAgent, version) : undefined;
  if (demo) {
    say(`Demo server: ${demo.server.url} (data in ${demo.dataDir}); account ${DEMO_EMAIL} / ${DEMO_PASSWORD}; admin ${ADMIN_EMAIL} / ${ADMIN_PASSWORD}`);
  }

  const stoppers = [];
  let stopping = false;
  const stopAll = async (code = 0) => {
    if (stopping) return;
    stopping = true;
    for (const stop of stoppers.reverse()) await stop().catch((err) => process.stderr.write(`${err?.message ?? err}\n`));
    process.exit(code);
  };
  if (demo) stoppers.push(() => demo.server.close());

  if (electron.bin) {
    const child = spawn(electron.bin, [REPO], { stdio: 'inherit', env: { ...process.env, AXIS_AGENT_HOME: home, ...(demo ? { AXIS_AGENT_SYNC_DIR: demo.syncDir } : {}) } });
    const forward = (sig) => () => child.kill(sig);
    process.on('SIGINT', forward('SIGINT'));
    process.on('SIGTERM', forward('SIGTERM'));
    child.on('exit', (code) => void stopAll(code ?? 0));
    return;
  }

  const { startAgentService } = await dist('agent/control/service.js');
  const { daemonKnobs } = await dist('agent/control/run.js');
  const log = pino({ level: process.env.AXIS_AGENT_LOG ?? 'warn' }, pino.destination(2));
  const service = await startAgentService({
    home,
    log,
    userAgent,
    version,
    syncDir: demo?.syncDir,
    env: process.env,
    daemon: daemonKnobs(process.env),
  });
  stoppers.push(() => service.stop());
  process.once('SIGINT', () => void stopAll(0));
  process.once('SIGTERM', () => void stopAll(0));

  say(`Agent home: ${home}`);
  const folder = service.state().settings.sync_dir;
  if (folder) say(`Sync folder: ${folder}`);
  say(`UI (one-time link, valid 2 minutes): ${service.loginUrl()}`);
  say(`A new link: AXIS_AGENT_HOME='${home}' node bin/axis-agent.js ui`);
  say('Ctrl-C stops everything.');

  // Say once when the folder is in sync.
  const deadline = Date.now() + 120_000;
  const timer = setInterval(() => {
    const s = service.state();
    const root = s.status?.roots[0];
    if (root && root.state === 'idle' && root.queued === 0 && s.status.transfers.length === 0) {
      clearInterval(timer);
      say(`In sync: ${root.path} ⇄ ${s.login.server ?? 'server'} (${s.login.state === 'logged_in' ? s.login.email : ''}).`);
    } else if (s.login.state === 'logged_out' || Date.now() > deadline) {
      clearInterval(timer);
      if (s.login.state === 'logged_out') say('Not logged in: log in through the UI.');
    }
  }, 250);
  timer.unref();
}

main().catch((err) => {
  process.stderr.write(`npm start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
