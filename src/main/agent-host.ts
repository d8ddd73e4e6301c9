// Runs the agent (dist/src/agent/service-entry.js) in an Electron utilityProcess, hands it its
// secrets key, waits for its `ready` message and starts it again, with backoff, whenever it
// exits without being asked to. Typed against Electron's UtilityProcess; the fork function is
// passed in (main.ts gives utilityProcess.fork), so this module does not load Electron itself.
import { EventEmitter } from 'node:events';
import type { ForkOptions } from 'electron';
import { DEFAULT_RESTART_POLICY, nextRestart, parseReady, type MainToAgent, type ReadyMessage, type RestartPolicy } from './agent-protocol.js';

/** What the host needs of Electron's UtilityProcess. */
export interface AgentChild {
  readonly pid: number | undefined;
  postMessage(message: unknown): void;
  kill(): boolean;
  on(event: 'exit', listener: (code: number) => void): this;
  on(event: 'message', listener: (message: unknown) => void): this;
  on(event: 'spawn', listener: () => void): this;
}

export type ForkAgent = (modulePath: string, args: string[], options: ForkOptions) => AgentChild;

export interface AgentHostOptions {
  fork: ForkAgent;
  /** Absolute path of the agent's utility-process entry. */
  entry: string;
  args?: string[];
  /** Node/V8 flags for the agent process (they only take effect at its start). */
  execArgv?: readonly string[];
  env: Record<string, string>;
  /** Sent first, before anything else (the secrets key); recomputed for every start. */
  firstMessages?: () => Promise<MainToAgent[]>;
  /** A start that sends no `ready` within this time is killed (and restarted). */
  readyTimeoutMs?: number;
  /** How long stop() waits for a clean exit before killing. */
  stopTimeoutMs?: number;
  restart?: RestartPolicy;
  log?: (line: string) => void;
}

/** The exit code reported when the agent could not even be started (firstMessages failed). */
export const NOT_STARTED = -1;

export interface AgentHostEvents {
  ready: [ReadyMessage];
  exit: [{ code: number; restartInMs: number | null }];
  message: [unknown];
}

export class AgentHost extends EventEmitter<AgentHostEvents> {
  private child: AgentChild | undefined;
  private startedAt = 0;
  private failures = 0;
  private restartTimer: NodeJS.Timeout | undefined;
  private readyTimer: NodeJS.Timeout | undefined;
  private stopping = false;
  private exited: Promise<void> = Promise.resolve();
  /** The last ready message of the running child (undefined while none). */
  current: ReadyMessage | undefined;
  /** Starts so far (the first one included). */
  starts = 0;

  constructor(private readonly opts: AgentHostOptions) {
    super();
  }

  private log(line: string): void {
    this.opts.log?.(line);
  }

  /** The running agent's process id. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return this.child !== undefined;
  }

  async start(): Promise<void> {
    if (this.child || this.stopping) return;
    this.restartTimer = undefined;
    let first: MainToAgent[];
    try {
      first = (await this.opts.firstMessages?.()) ?? [];
    } catch (err) {
      // Nothing to start the agent with (e.g. the keychain refused): try again later.
      this.scheduleRestart(0, `could not prepare the agent's start: ${err instanceof Error ? err.message : String(err)}`, NOT_STARTED);
      return;
    }
    if (this.stopping) return;
    const child = this.opts.fork(this.opts.entry, this.opts.args ?? [], {
      env: this.opts.env,
      ...(this.opts.execArgv ? { execArgv: [...this.opts.execArgv] } : {}),
      serviceName: 'AXIS CloudSync Agent',
      stdio: 'inherit',
    });
    this.child = child;
    this.starts++;
    this.startedAt = Date.now();
    this.current = undefined;
    for (const m of first) child.postMessage(m);
    let resolveExit!: () => void;
    this.exited = new Promise((r) => (resolveExit = r));
    this.readyTimer = setTimeout(() => {
      this.log(`agent sent no ready message in ${(this.opts.readyTimeoutMs ?? 30_000) / 1000} s; killing it`);
      child.kill();
    }, this.opts.readyTimeoutMs ?? 30_000);
    child.on('message', (msg) => {
      const ready = parseReady(msg);
      if (ready) {
        clearTimeout(this.readyTimer);
        this.current = ready;
        this.emit('ready', ready);
      } else this.emit('message', msg);
    });
    child.on('exit', (code) => {
      clearTimeout(this.readyTimer);
      if (this.child === child) this.child = undefined;
      this.current = undefined;
      resolveExit();
      if (this.stopping) {
        this.emit('exit', { code, restartInMs: null });
        return;
      }
      this.scheduleRestart(Date.now() - this.startedAt, `agent exited with code ${code}`, code);
    });
  }

  private scheduleRestart(uptimeMs: number, why: string, code: number): void {
    const d = nextRestart(this.failures, uptimeMs, this.opts.restart ?? DEFAULT_RESTART_POLICY);
    this.failures = d.failures;
    this.log(`${why}; starting it again in ${Math.round(d.delayMs / 1000)} s`);
    this.emit('exit', { code, restartInMs: d.delayMs });
    this.restartTimer = setTimeout(() => {
      this.start().catch((err: unknown) => this.log(`agent did not start: ${String(err)}`));
    }, d.delayMs);
  }

  post(message: MainToAgent): void {
    this.child?.postMessage(message);
  }

  /** Asks the agent to stop ({type:'stop'}), kills it after stopTimeoutMs; no restart after. */
  async stop(): Promise<void> {
    this.stopping = true;
    clearTimeout(this.restartTimer);
    const child = this.child;
    if (!child) return;
    const exited = this.exited;
    child.postMessage({ type: 'stop' } satisfies MainToAgent);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((r) => (timer = setTimeout(() => r(true), this.opts.stopTimeoutMs ?? 10_000)));
    const late = await Promise.race([exited.then(() => false), timedOut]);
    clearTimeout(timer);
    if (late) {
      this.log('agent did not stop in time; killing it');
      child.kill();
      await exited;
    }
  }
}
