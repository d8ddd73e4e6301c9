// Browser tests of the UI (test/e2e): a real agent service (startAgentService: the control API
// serving the built UI from dist/renderer) against the reference server, driven by Debian's
// Chromium through playwright-core. Screenshots go to test-artifacts/screens/ (gitignored).
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pino } from 'pino';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startAgentService, type AgentService, type AgentServiceOptions } from '../../src/agent/control/service.js';
import { REPO } from './agents.js';

export const CHROMIUM = process.env.AXIS_CHROMIUM ?? '/usr/bin/chromium';
export const RENDERER_DIR = path.join(REPO, 'dist', 'renderer');
export const SCREENS_DIR = path.join(REPO, 'test-artifacts', 'screens');

/** Fails with a clear message when the UI was not built (npm run build runs vite build). */
export function requireBuiltUi(): void {
  if (!existsSync(path.join(RENDERER_DIR, 'index.html'))) {
    throw new Error(`The UI is not built (${RENDERER_DIR}/index.html missing): run npm run build, or npx vite build --config renderer/vite.config.ts`);
  }
}

export interface UiAgent {
  service: AgentService;
  name: string;
  home: string;
  dir: string;
  guid: string;
  file(rel: string): string;
  write(rel: string, content: string | Buffer): Promise<void>;
  read(rel: string): Promise<string>;
  /** The file's text, or null while it does not exist (a resolve renames it away for a moment). */
  readIf(rel: string): Promise<string | null>;
  stop(): Promise<void>;
}

/**
 * Starts the agent service (logged out unless `home` holds credentials), with its control API
 * on 127.0.0.1 and its own machine guid; the throttle schedule runs in UTC.
 */
export async function startUiAgent(name: string, o: Partial<AgentServiceOptions> = {}): Promise<UiAgent> {
  const base = mkdtempSync(path.join(os.tmpdir(), `axis-ui-${name}-`));
  const home = path.join(base, 'home');
  const dir = path.join(base, 'sync');
  const guid = randomUUID();
  await fsp.mkdir(home, { recursive: true, mode: 0o700 });
  await fsp.writeFile(path.join(home, 'settings.json'), JSON.stringify({ machineName: name, manualCollisions: true }));
  const service = await startAgentService({
    home,
    log: pino({ level: process.env.AXIS_AGENT_LOG ?? 'warn' }),
    userAgent: 'axis-agent-e2e',
    version: '0.1.0',
    syncDir: dir,
    env: { ...process.env, AXIS_MACHINE_GUID: guid },
    daemon: { longPollSeconds: 5, timeZone: 'UTC', healthMinuteMs: 1000 },
    rendererDir: RENDERER_DIR,
    ...o,
  });
  const file = (rel: string) => path.join(dir, ...rel.split('/'));
  return {
    service,
    name,
    home,
    dir,
    guid,
    file,
    write: async (rel, content) => {
      await fsp.mkdir(path.dirname(file(rel)), { recursive: true });
      await fsp.writeFile(file(rel), content);
    },
    read: (rel) => fsp.readFile(file(rel), 'utf8'),
    readIf: (rel) =>
      fsp.readFile(file(rel), 'utf8').catch((err: NodeJS.ErrnoException) => {
        if (err.code === 'ENOENT') return null;
        throw err;
      }),
    stop: async () => {
      await service.stop();
      await fsp.rm(base, { recursive: true, force: true });
    },
  };
}

/** Calls the control API as Electron main would (bearer token). */
// Answers are checked field by field in the tests.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export async function control(agent: UiAgent, method: 'GET' | 'POST' | 'PUT', p: string, body?: unknown): Promise<{ status: number; body: any }> {
  const res = await fetch(new URL(p, agent.service.url!), {
    method,
    headers: { authorization: `Bearer ${agent.service.token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, body: parsed };
}

export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

export interface UiPage {
  page: Page;
  context: BrowserContext;
  /** Console errors, uncaught exceptions, CSP violations and requests that left the agent's origin. */
  problems: string[];
}

/** A new browser context signed in through a one-time login URL of the agent. */
export async function openUi(browser: Browser, agent: UiAgent): Promise<UiPage> {
  const context = await browser.newContext({ viewport: { width: 1100, height: 780 }, colorScheme: 'light', locale: 'en-GB', timezoneId: 'UTC', reducedMotion: 'reduce' });
  const page = await context.newPage();
  const problems: string[] = [];
  const origin = new URL(agent.service.url!).origin;
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(`console: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('request', (r) => {
    const u = r.url();
    if (!u.startsWith(`${origin}/`) && !u.startsWith('data:')) problems.push(`remote request: ${u}`);
  });
  await page.goto(agent.service.loginUrl());
  await page.waitForURL(`${origin}/`);
  return { page, context, problems };
}

/** Ignores the console errors a browser logs for a control API answer the UI handles (e.g. 401 of a wrong code). */
export function realProblems(problems: string[]): string[] {
  return problems.filter((p) => !/^console: Failed to load resource: the server responded with a status of (401|403|409)/.test(p));
}

/**
 * Saves `<name>-light.png` and `<name>-dark.png` of the page (full page) in test-artifacts/screens.
 */
export async function screenshots(page: Page, name: string): Promise<string[]> {
  mkdirSync(SCREENS_DIR, { recursive: true });
  const out: string[] = [];
  for (const scheme of ['light', 'dark'] as const) {
    await page.emulateMedia({ colorScheme: scheme });
    const file = path.join(SCREENS_DIR, `${name}-${scheme}.png`);
    await page.screenshot({ path: file, fullPage: true, animations: 'disabled' });
    out.push(file);
  }
  await page.emulateMedia({ colorScheme: 'light' });
  return out;
}
