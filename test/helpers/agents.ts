// Real agents for end-to-end sync tests: each is `node bin/axis-agent.js --home H run
// --sync-dir D` as a child process against a real reference server, logged in through the real
// `login` verb. Helpers wait for convergence by watching the folders and status.json.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, randomUUID } from 'node:crypto';
import { mkdtempSync, promises as fsp, readFileSync, readdirSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AgentStatus } from '../../src/agent/status.js';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
export const AGENT_BIN = path.join(REPO, 'bin/axis-agent.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  const env = { ...process.env, ...opts.env };
  delete env.AXIS_AGENT_HOME;
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [AGENT_BIN, ...args], { cwd: REPO, env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.end(opts.input ?? '');
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

export class TestAgent {
  readonly home: string;
  readonly dir: string;
  private child: ChildProcess | undefined;
  private output = '';
  /** Extra environment of the `run` process (e.g. AXIS_AGENT_POLL_MS). */
  env: NodeJS.ProcessEnv = {};
  /**
   * This agent's machine guid (AXIS_MACHINE_GUID of its login and run): agents of one test
   * run on one computer, and each must be its own machine on the server.
   */
  readonly guid = randomUUID();

  constructor(
    readonly name: string,
    private readonly server: { url: string; fingerprint?: string },
    private readonly account: { email: string; password: string },
    base?: string,
  ) {
    // A folder of its own unless the test gives one (and then removes it itself).
    this.ownBase = base === undefined ? mkdtempSync(path.join(os.tmpdir(), `axis-agent-${name}-`)) : undefined;
    const b = base ?? this.ownBase!;
    this.home = path.join(b, 'home');
    this.dir = path.join(b, 'sync');
  }

  private readonly ownBase: string | undefined;

  /** Stops the agent and removes the temp folder it made for itself (home and sync folder). */
  async dispose(): Promise<void> {
    await this.stop();
    if (this.ownBase) await fsp.rm(this.ownBase, { recursive: true, force: true });
  }

  async login(): Promise<void> {
    const r = await runCli([
      '--home',
      this.home,
      'login',
      '--server',
      this.server.url,
      '--username',
      this.account.email,
      '--password',
      this.account.password,
      ...(this.server.fingerprint ? ['--trust-fingerprint', this.server.fingerprint] : []),
    ], { env: { AXIS_MACHINE_GUID: this.guid } });
    if (r.code !== 0) throw new Error(`login of ${this.name} failed: ${r.stdout}${r.stderr}`);
    await fsp.writeFile(path.join(this.home, 'settings.json'), JSON.stringify({ machineName: this.name, manualCollisions: true }));
  }

  async setSettings(patch: Record<string, unknown>): Promise<void> {
    const file = path.join(this.home, 'settings.json');
    const cur = existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>) : {};
    await fsp.writeFile(file, JSON.stringify({ ...cur, ...patch }));
  }

  /** Starts `run` and resolves once the agent reports its first idle state. */
  async start(): Promise<void> {
    if (this.child) throw new Error(`${this.name} already running`);
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      AXIS_AGENT_LONG_POLL_SECONDS: '20',
      AXIS_AGENT_LOG: process.env.AXIS_AGENT_LOG ?? 'warn',
      AXIS_MACHINE_GUID: this.guid,
      ...this.env,
    };
    delete env.AXIS_AGENT_HOME;
    const child = spawn(process.execPath, [AGENT_BIN, '--home', this.home, 'run', '--sync-dir', this.dir], { cwd: REPO, env, stdio: ['ignore', 'pipe', 'pipe'] });
    this.child = child;
    child.stdout!.on('data', (d: Buffer) => (this.output += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (this.output += d.toString()));
    child.on('close', () => {
      if (this.child === child) this.child = undefined;
    });
    await this.waitIdle();
  }

  get log(): string {
    return this.output;
  }

  /** The pid of the running `run` process, if any. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Resolves with the exit code once the running agent exits by itself (rejects after `timeoutMs`). */
  async waitExit(timeoutMs = 30_000): Promise<number | null> {
    const c = this.child;
    if (!c) return null;
    const code = await new Promise<number | null>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name} did not exit within ${timeoutMs} ms:\n${this.output}`)), timeoutMs);
      if (c.exitCode !== null) {
        clearTimeout(timer);
        resolve(c.exitCode);
        return;
      }
      c.on('close', (n) => {
        clearTimeout(timer);
        resolve(n);
      });
    });
    if (this.child === c) this.child = undefined;
    return code;
  }

  /** Graceful stop (SIGTERM); resolves with the exit code. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const c = this.child;
    if (!c) return null;
    const code = new Promise<number | null>((resolve) => c.on('close', (code) => resolve(code)));
    c.kill(signal);
    const r = await code;
    this.child = undefined;
    return r;
  }

  async status(): Promise<StatusJson> {
    const r = await runCli(['--home', this.home, 'status', '--json']);
    if (r.code !== 0) throw new Error(`status failed: ${r.stdout}${r.stderr}`);
    return JSON.parse(r.stdout) as StatusJson;
  }

  /** Waits until status.json says every root is idle with nothing queued. */
  async waitIdle(timeoutMs = 30_000): Promise<void> {
    const file = path.join(this.home, 'status.json');
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (!this.child) throw new Error(`${this.name} is not running:\n${this.output}`);
      try {
        const s = JSON.parse(await fsp.readFile(file, 'utf8')) as StatusJson;
        if (s.pid === this.child.pid && s.roots.length > 0 && s.roots.every((r) => r.state === 'idle' && r.queued === 0)) return;
      } catch {
        // not written yet
      }
      if (Date.now() > deadline) throw new Error(`${this.name} did not become idle:\n${this.output}`);
      await sleep(50);
    }
  }

  file(rel: string): string {
    return path.join(this.dir, ...rel.split('/'));
  }

  async write(rel: string, content: string | Buffer): Promise<void> {
    await fsp.mkdir(path.dirname(this.file(rel)), { recursive: true });
    await fsp.writeFile(this.file(rel), content);
  }

  read(rel: string): string {
    return readFileSync(this.file(rel), 'utf8');
  }

  exists(rel: string): boolean {
    return existsSync(this.file(rel));
  }

  /** Relative path → sha256 of every file (and "/" for folders) under the sync folder. */
  snapshot(): Record<string, string> {
    const out: Record<string, string> = {};
    const walk = (abs: string, rel: string) => {
      for (const e of readdirSync(abs, { withFileTypes: true }).sort((x, y) => (x.name < y.name ? -1 : 1))) {
        const r = rel ? `${rel}/${e.name}` : e.name;
        if (e.isDirectory()) {
          out[r] = '/';
          walk(path.join(abs, e.name), r);
        } else {
          try {
            out[r] = createHash('sha256').update(readFileSync(path.join(abs, e.name))).digest('hex');
          } catch (err) {
            // Renamed away while we looked (an agent's temp file): not part of the snapshot.
            if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
          }
        }
      }
    };
    if (existsSync(this.dir)) walk(this.dir, '');
    return out;
  }
}

/** What `axis-agent status --json` and status.json hold (the agent's own type). */
export type StatusJson = AgentStatus;

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `check` until it returns true (or throws the last failure after `timeoutMs`). */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 20_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

/** Waits until both agents' folders hold the same files with the same content. */
export async function converged(a: TestAgent, b: TestAgent, timeoutMs = 30_000): Promise<Record<string, string>> {
  let last = '';
  await eventually(
    () => {
      const sa = a.snapshot();
      const sb = b.snapshot();
      last = `${a.name}: ${JSON.stringify(sa)}\n${b.name}: ${JSON.stringify(sb)}`;
      return JSON.stringify(sa) === JSON.stringify(sb);
    },
    timeoutMs,
    'convergence',
  ).catch((err: Error) => {
    throw new Error(`${err.message}\n${last}\n--- ${a.name} log:\n${a.log}\n--- ${b.name} log:\n${b.log}`);
  });
  await Promise.all([a.waitIdle(), b.waitIdle()]);
  return a.snapshot();
}
