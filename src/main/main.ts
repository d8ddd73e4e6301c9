// The Electron main process of the tray app (docs/desktop.md). Thin: the decisions are pure
// modules next to it (tray-model, menu-model, notify-model, web-security, agent-protocol), the
// work is done by the agent, which runs in a utilityProcess and serves the control API
// (docs/control-api.md) that the window loads and the tray follows.
import { existsSync } from 'node:fs';
import path from 'node:path';
import {
  app,
  BrowserWindow,
  Menu,
  nativeImage,
  Notification,
  safeStorage,
  session,
  shell,
  Tray,
  utilityProcess,
  type NativeImage,
  type Session,
  type UtilityProcess,
} from 'electron';
import { AGENT_NODE_FLAGS } from '../agent/heap.js';
import { readJsonFile, resolveHome } from '../agent/home.js';
import { AgentHost } from './agent-host.js';
import { SECRETS_ENV, SECRETS_FROM_PARENT, type ReadyMessage, type SecretsMessage } from './agent-protocol.js';
import { parseAgentState, pushActivity, type ActivityView, type AgentStateView } from './agent-state.js';
import { controlRequest, fetchActivity, followAgent, type ControlEndpoint } from './control-client.js';
import { demoLoginBody, demoSignIn, demoWanted, newDemoConfig, readDemoConfig, seedDemoFolder, writeDemoConfig, type DemoConfig } from './demo.js';
import { applyLinuxAutostart, autostartExec, HIDDEN_ARG, linuxAutostartPath } from './login-item.js';
import { buildTrayMenu, RECENT_MAX, toMenuTemplate, type MenuAction } from './menu-model.js';
import { decideNotifications, INITIAL_NOTIFY_MEMORY, type NotificationModel } from './notify-model.js';
import { DataKeyUnreadable, KEY_FILE_NAME, loadOrCreateDataKey, protectionFor, type Sealer } from './secret-key.js';
import { PRODUCT_NAME, trayIconFile, trayTooltip, trayView, type AgentProcessState, type TrayStatus } from './tray-model.js';
import { navigationAllowed, originOf, withAgentAuthorization, windowUrl } from './web-security.js';

/** In-memory session of the UI window: no cookies or cache survive the app. */
const UI_PARTITION = 'axis-ui';

function log(line: string): void {
  process.stdout.write(`[axis-main] ${line}\n`);
}

// ---- where things are ------------------------------------------------------------------------

/** The app's root: the project folder in development, …/resources/app.asar when packaged. */
const appRoot = app.getAppPath();
const assetPath = (rel: string) => path.join(appRoot, 'assets', rel);
const distPath = (rel: string) => path.join(appRoot, 'dist', 'src', rel);
const agentHome = resolveHome(undefined);
const demoDir = () => path.join(app.getPath('userData'), 'demo-server');

// ---- state -----------------------------------------------------------------------------------

let tray: Tray | null = null; // kept referenced: a collected Tray disappears
let win: BrowserWindow | null = null;
let uiSession: Session | undefined;
let agent: AgentHost | undefined;
let agentProcess: AgentProcessState = 'starting';
let endpoint: (ControlEndpoint & { origin: string }) | undefined;
let feed: AbortController | undefined;
let state: AgentStateView | undefined;
let activity: ActivityView[] = [];
let notifyMemory = INITIAL_NOTIFY_MEMORY;
let appliedStartAtLogin: boolean | undefined;
let lastMenuJson = '';
let lastIcon: TrayStatus | undefined;
let demo: DemoRun | undefined;
let demoLoginTried = false;
let quitState: 'running' | 'stopping' | 'done' = 'running';
let openWindowWhenReady = false;
const liveNotifications = new Set<Notification>(); // referenced until closed (Windows drops collected ones)
const iconCache = new Map<TrayStatus, NativeImage>();

// ---- single instance -------------------------------------------------------------------------

if (!app.requestSingleInstanceLock()) {
  // Another instance runs: it gets 'second-instance' and shows its window.
  app.quit();
} else {
  app.on('second-instance', () => showWindow());
  app.enableSandbox();
  app.on('web-contents-created', (_e, contents) => {
    // Every webContents, whoever made it: no new windows, no navigation away from the agent,
    // no <webview>.
    contents.setWindowOpenHandler(() => ({ action: 'deny' }));
    contents.on('will-navigate', (ev) => {
      if (!navigationAllowed(ev.url, endpoint?.origin)) ev.preventDefault();
    });
    contents.on('will-redirect', (ev) => {
      if (!navigationAllowed(ev.url, endpoint?.origin)) ev.preventDefault();
    });
    contents.on('will-attach-webview', (ev) => ev.preventDefault());
  });
  // A tray app: closing the window does not quit.
  app.on('window-all-closed', () => {
    if (process.platform === 'darwin') app.dock?.hide();
  });
  app.on('before-quit', (ev) => {
    if (quitState === 'done') return;
    ev.preventDefault();
    if (quitState === 'stopping') return;
    quitState = 'stopping';
    void shutdown().finally(() => {
      quitState = 'done';
      app.quit();
    });
  });
  app
    .whenReady()
    .then(start)
    .catch((err: unknown) => {
      log(`start failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
      app.exit(1);
    });
}

async function start(): Promise<void> {
  if (process.platform === 'win32') app.setAppUserModelId('com.axis.cloudsync.agent');
  uiSession = session.fromPartition(UI_PARTITION);
  secureSession(uiSession);

  tray = new Tray(trayImage('offline'));
  tray.setToolTip(PRODUCT_NAME);
  if (process.platform === 'win32') tray.on('click', () => showWindow());
  refreshTray();

  await maybeStartDemo();

  const entry = distPath('agent/service-entry.js');
  if (!existsSync(entry)) log(`${entry} is missing: build the project first (npm run build)`);
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (v !== undefined) env[k] = v;
  env.AXIS_AGENT_HOME = agentHome;
  env[SECRETS_ENV] = SECRETS_FROM_PARENT;
  // The demo's folder, for the demo only (the agent remembers it as its sync folder).
  if (demo && !env.AXIS_AGENT_SYNC_DIR) env.AXIS_AGENT_SYNC_DIR = demo.syncDir;
  agent = new AgentHost({
    fork: (modulePath, args, options) => utilityProcess.fork(modulePath, args, options),
    entry,
    execArgv: AGENT_NODE_FLAGS,
    env,
    firstMessages: async () => [await secretsMessage()],
    log,
  });
  agent.on('ready', (ready) => onAgentReady(ready));
  // The entry also posts {type: 'state', state} on every change and {type: 'error', message}.
  agent.on('message', (m) => {
    const msg = m as { type?: unknown; state?: unknown; message?: unknown } | null;
    if (msg?.type === 'state' && agentProcess === 'running') {
      const s = parseAgentState(msg.state);
      if (s) onState(s);
    } else if (msg?.type === 'error') log(`agent: ${String(msg.message)}`);
  });
  agent.on('exit', ({ code, restartInMs }) => {
    log(`agent exited (${code})${restartInMs !== null ? `; restart in ${restartInMs} ms` : ''}`);
    disconnect();
    agentProcess = restartInMs === null ? 'stopped' : 'restarting';
    refreshTray();
  });
  // Started at login: stay in the tray. Otherwise the window opens once the agent is ready.
  const hidden = process.argv.includes(HIDDEN_ARG) || (process.platform === 'darwin' && app.getLoginItemSettings().wasOpenedAtLogin);
  openWindowWhenReady = !hidden;
  await agent.start();
}

// ---- the agent -------------------------------------------------------------------------------

let secretsCache: SecretsMessage | undefined;
let unreadableKeyTries = 0;

/** The key that encrypts the agent's secrets, unsealed with safeStorage (see secret-key.ts). */
async function secretsMessage(): Promise<SecretsMessage> {
  if (secretsCache) return secretsCache;
  const available = await safeStorage.isAsyncEncryptionAvailable();
  const backend = process.platform === 'linux' ? safeStorage.getSelectedStorageBackend() : undefined;
  const protection = protectionFor(process.platform, available, backend);
  if (!protection.usable) {
    log(`secrets: ${protection.description}`);
    secretsCache = { type: 'secrets', key: null, protection: protection.description };
    return secretsCache;
  }
  const sealer: Sealer = {
    seal: (plain) => safeStorage.encryptStringAsync(plain),
    unseal: async (sealed) => {
      const r = await safeStorage.decryptStringAsync(sealed);
      return { plain: r.result, reseal: r.shouldReEncrypt };
    },
  };
  // Errors (a keychain that refuses, an unwritable home) propagate: AgentHost tries the start
  // again later rather than run the agent without its key. A key that still cannot be unsealed
  // on the third try is given up (moved aside): the user signs in again.
  let k;
  try {
    k = await loadOrCreateDataKey(path.join(agentHome, KEY_FILE_NAME), sealer, { replaceUnreadable: unreadableKeyTries >= 2 });
  } catch (err) {
    if (err instanceof DataKeyUnreadable) unreadableKeyTries++;
    throw err;
  }
  if (k.setAside) log(`secrets: the stored key could not be unsealed (moved to ${k.setAside}); a new one was made, sign in again`);
  secretsCache = { type: 'secrets', key: k.key, protection: protection.description };
  return secretsCache;
}

function onAgentReady(ready: ReadyMessage): void {
  const origin = originOf(ready.url);
  if (!origin) return;
  endpoint = { url: ready.url, token: ready.token, origin };
  agentProcess = 'running';
  log(`agent ready at ${ready.url}`);
  feed?.abort();
  const ctl = new AbortController();
  feed = ctl;
  const ep = endpoint;
  fetchActivity(ep, RECENT_MAX)
    .then((list) => {
      if (feed !== ctl) return;
      for (const a of list) activity = pushActivity(activity, a, RECENT_MAX);
      refreshTray();
    })
    .catch(() => undefined);
  void followAgent(ep, { state: onState, activity: onActivity }, ctl.signal);
  if (win) void win.loadURL(windowUrl(ready.url));
  else if (openWindowWhenReady) {
    openWindowWhenReady = false;
    showWindow();
  }
  refreshTray();
}

function disconnect(): void {
  feed?.abort();
  feed = undefined;
  endpoint = undefined;
  state = undefined;
}

function onState(s: AgentStateView): void {
  state = s;
  const d = decideNotifications(notifyMemory, s);
  notifyMemory = d.memory;
  for (const n of d.notifications) notify(n);
  void applyStartAtLogin(s.settings.start_at_login);
  void maybeDemoLogin(s);
  refreshTray();
}

function onActivity(a: ActivityView): void {
  activity = pushActivity(activity, a, RECENT_MAX);
  refreshTray();
}

async function shutdown(): Promise<void> {
  feed?.abort();
  await agent?.stop().catch(() => undefined);
  if (demo) {
    const d = demo.process;
    const exited = new Promise<void>((r) => d.once('exit', () => r()));
    d.postMessage({ type: 'stop' });
    await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
    d.kill();
  }
  tray?.destroy();
  tray = null;
}

// ---- the first-run demo ----------------------------------------------------------------------

interface DemoRun {
  process: UtilityProcess;
  config: DemoConfig;
  /** The URL of the previous start, when the server had to move to another port. */
  previousUrl: string | null;
  firstRun: boolean;
  syncDir: string;
}

/**
 * With no server configured (or the demo's), the reference server runs on loopback in its own
 * utility process and the agent is signed in to it as a demo person, syncing a demo folder.
 * `npm start` does the same for development (scripts/start.js) before it starts Electron.
 */
async function maybeStartDemo(): Promise<void> {
  const agentConfig = (await readJsonFile(path.join(agentHome, 'config.json')).catch(() => undefined)) as { server?: unknown } | undefined;
  const server = typeof agentConfig?.server === 'string' ? agentConfig.server : null;
  const stored = await readDemoConfig(demoDir());
  if (!demoWanted(server, stored, process.env.AXIS_NO_DEMO === '1')) return;
  let config = stored ?? newDemoConfig();
  const child = utilityProcess.fork(distPath('main/demo-server-entry.js'), [], {
    serviceName: 'AXIS CloudSync demo server',
    stdio: 'inherit',
    env: {
      ...process.env,
      AXIS_DEMO_DATA: path.join(demoDir(), 'server'),
      AXIS_DEMO_PORT: String(config.port ?? 0),
      AXIS_DEMO_EMAIL: config.email,
      AXIS_DEMO_PASSWORD: config.password,
      AXIS_ADMIN_EMAIL: config.admin_email,
      AXIS_ADMIN_PASSWORD: config.admin_password,
    },
  });
  const ready = await new Promise<{ url: string; port: number; fingerprint: string | null } | undefined>((resolve) => {
    const t = setTimeout(() => resolve(undefined), 30_000);
    child.on('message', (m: { type?: string; url?: string; port?: number; fingerprint?: string | null; message?: string }) => {
      if (m?.type === 'ready' && typeof m.url === 'string' && typeof m.port === 'number') {
        clearTimeout(t);
        resolve({ url: m.url, port: m.port, fingerprint: m.fingerprint ?? null });
      } else if (m?.type === 'error') log(`demo server: ${String(m.message)}`);
    });
    child.once('exit', () => (clearTimeout(t), resolve(undefined)));
  });
  if (!ready) {
    log('the demo server did not start');
    child.kill();
    return;
  }
  const previousUrl = config.url;
  config = { ...config, port: ready.port, url: ready.url, fingerprint: ready.fingerprint };
  await writeDemoConfig(demoDir(), config);
  const syncDir = path.join(demoDir(), 'sync');
  if (!stored) await seedDemoFolder(syncDir);
  demo = { process: child, config, previousUrl, firstRun: !stored, syncDir };
  log(`demo server at ${ready.url}: ${config.email} / ${config.password} (admin ${config.admin_email} / ${config.admin_password}); folder ${syncDir}`);
}

/** Once per launch: signs the agent in to the demo server when demoSignIn says so. */
async function maybeDemoLogin(s: AgentStateView): Promise<void> {
  if (!demo || demoLoginTried || !endpoint) return;
  const what = demoSignIn(s.login, demo.config, demo.previousUrl, demo.firstRun);
  const body = demoLoginBody(demo.config);
  if (what === 'none' || !body) return;
  demoLoginTried = true;
  const ep = endpoint;
  try {
    if (what === 'relogin' && s.login.state === 'logged_in') await controlRequest(ep, 'POST', '/api/logout', {});
    const r = await controlRequest(ep, 'POST', '/api/login', body);
    if (r.status !== 200) log(`demo sign-in failed (${r.status}): ${JSON.stringify(r.body)}`);
  } catch (err) {
    log(`demo sign-in failed: ${String(err)}`);
  }
}

// ---- window ----------------------------------------------------------------------------------

function secureSession(ses: Session): void {
  // The control API's token goes to the agent's origin and nowhere else.
  ses.webRequest.onBeforeSendHeaders((details, callback) => {
    const agentAuth = endpoint ? { origin: endpoint.origin, token: endpoint.token } : undefined;
    callback({ requestHeaders: withAgentAuthorization(details.requestHeaders, details.url, agentAuth) });
  });
  // No remote content: http(s) requests go to the agent only (devtools:, data: etc. are not web requests to others).
  ses.webRequest.onBeforeRequest((details, callback) => {
    const origin = originOf(details.url);
    callback({ cancel: origin !== undefined && origin !== endpoint?.origin });
  });
  ses.setPermissionRequestHandler((_wc, _permission, callback) => callback(false));
  ses.setPermissionCheckHandler(() => false);
}

function showWindow(route?: string): void {
  if (!endpoint) {
    openWindowWhenReady = true;
    return;
  }
  const url = windowUrl(endpoint.url, route);
  if (win && !win.isDestroyed()) {
    if (route) void win.loadURL(url);
    if (win.isMinimized()) win.restore();
    win.show();
    win.focus();
    return;
  }
  if (process.platform === 'darwin') void app.dock?.show();
  win = new BrowserWindow({
    width: 1024,
    height: 720,
    minWidth: 640,
    minHeight: 480,
    show: false,
    title: PRODUCT_NAME,
    icon: assetPath('icon.png'),
    autoHideMenuBar: true,
    webPreferences: {
      partition: UI_PARTITION,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      navigateOnDragDrop: false,
      spellcheck: false,
      devTools: !app.isPackaged,
    },
  });
  const w = win;
  w.once('ready-to-show', () => w.show());
  w.on('closed', () => {
    if (win === w) win = null;
  });
  void w.loadURL(url);
}

// ---- tray ------------------------------------------------------------------------------------

function trayImage(status: TrayStatus): NativeImage {
  let img = iconCache.get(status);
  if (!img) {
    img = nativeImage.createFromPath(assetPath(trayIconFile(status, process.platform)));
    if (process.platform === 'darwin') img.setTemplateImage(true);
    iconCache.set(status, img);
  }
  return img;
}

function refreshTray(): void {
  if (!tray) return;
  const input = { agent: agentProcess, state: agentProcess === 'running' ? state : undefined };
  const view = trayView(input);
  if (view.status !== lastIcon) {
    tray.setImage(trayImage(view.status));
    lastIcon = view.status;
  }
  tray.setToolTip(trayTooltip(view));
  const model = buildTrayMenu({ ...input, activity });
  // Rebuilding an open menu closes it on some platforms: only when it changed.
  const json = JSON.stringify(model);
  if (json !== lastMenuJson) {
    lastMenuJson = json;
    tray.setContextMenu(Menu.buildFromTemplate(toMenuTemplate(model, runAction)));
  }
}

function runAction(action: MenuAction): void {
  switch (action.kind) {
    case 'open-sync-folder':
      void shell.openPath(action.path).then((err) => err && log(`open ${action.path}: ${err}`));
      return;
    case 'open-window':
      showWindow(action.route);
      return;
    case 'reveal':
      shell.showItemInFolder(action.path);
      return;
    case 'pause':
    case 'resume': {
      if (!endpoint) return;
      void controlRequest(endpoint, 'POST', `/api/${action.kind}`, {})
        .then((r) => r.status !== 200 && log(`${action.kind}: ${r.status} ${JSON.stringify(r.body)}`))
        .catch((err: unknown) => log(`${action.kind}: ${String(err)}`));
      return;
    }
    case 'quit':
      app.quit();
      return;
  }
}

// ---- notifications ---------------------------------------------------------------------------

function notify(n: NotificationModel): void {
  if (!Notification.isSupported()) return;
  const note = new Notification({ title: n.title, body: n.body, icon: assetPath('icon.png'), silent: false });
  liveNotifications.add(note);
  note.on('click', () => showWindow(n.route));
  note.on('close', () => liveNotifications.delete(note));
  note.show();
}

// ---- start at login --------------------------------------------------------------------------

async function applyStartAtLogin(enabled: boolean): Promise<void> {
  if (enabled === appliedStartAtLogin) return;
  appliedStartAtLogin = enabled;
  // In development the program is Electron itself and needs the app folder as argument.
  const args = app.isPackaged ? [HIDDEN_ARG] : [appRoot, HIDDEN_ARG];
  try {
    if (process.platform === 'linux') {
      await applyLinuxAutostart(linuxAutostartPath(), enabled, {
        name: PRODUCT_NAME,
        comment: 'Keeps your AXIS CloudSync folders in sync',
        exec: autostartExec(),
        args,
      });
    } else {
      app.setLoginItemSettings({ openAtLogin: enabled, args });
    }
  } catch (err) {
    appliedStartAtLogin = undefined;
    log(`start at login: ${String(err)}`);
  }
}

