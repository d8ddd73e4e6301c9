// `axis-agent run`: the agent process. Logs in as its machine (or, on servers without machine
// credentials, as the stored session), finds the user's personal sync root, and keeps it in
// two-way sync with a local folder until SIGINT/SIGTERM. It publishes its live state to
// <home>/status.json (read by `axis-agent status`).
//
// Admin policy (issue "Machine identity, admin policy…"), all live, without a restart:
//   - the bandwidth throttle of the machine (or its organization) with its exception window:
//     one token bucket (src/engine/limiter.ts) shapes every upload and download, whole files
//     and deltas, through the API client's transfer shaper, and switches at window edges;
//   - excluded_extensions, max_file_size and the space quota are applied before uploading
//     (warnings, counted as excl_files), manual_collisions decides how collisions are handled;
//   - the health reporter (health.ts) posts what the agent does at the machine's period;
//   - the command poller (commands.ts) carries out what admins queue (refresh_policy → all of
//     the above re-read from GET /api/2/machine/<id>/policy).
// When the server refuses the machine's credentials (revoked key, locked machine) the agent
// stops: `failed` resolves with exit code 2 and "run axis-agent login".
//
// The control API (src/agent/control/) owns a daemon's lifecycle (a new one after each login
// through the UI) and reads it through the accessors below: status, policy, server roots,
// limiter counters and throttle settings, the state database (collisions, activity); it
// pauses, resumes and re-reads settings.json through it.
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { AxisClient } from '../api/client.js';
import { AxisApiError, MachineCredentialsRefused, type AuthError } from '../api/errors.js';
import type { MachineCommand, MachinePolicy, Person, ThrottleFields } from '../api/schemas.js';
import type { Platform } from '../core/paths.js';
import { BandwidthLimiter, localTimeZone, type LimiterSnapshot } from '../engine/limiter.js';
import { StateStore } from '../engine/store.js';
import { RootSync } from '../engine/sync.js';
import { SignatureStore } from '../engine/transfer.js';
import { rsyncAvailable, rsyncLoadError } from '../native/librsync.js';
import { CommandPoller, listLocalFolder, NOT_SUPPORTED, type CommandOutcome } from './commands.js';
import { loadConfig, tokenStoreFor, type AgentConfig } from './config.js';
import { HealthReporter, healthPeriod, healthReportOf } from './health.js';
import { homePaths, writeFileAtomic } from './home.js';
import { loadMachineSecret, machineCredentialsFor, machineIdentity, type StoredMachine } from './machine.js';
import { CliError, EXIT_AUTH, NOT_LOGGED_IN } from './output.js';
import { openSecretStore } from './secrets.js';
import { loadSettings, type AgentSettings } from './settings.js';
import { buildStatus, type AgentStatus } from './status.js';
import { BatchingApi } from '../engine/batching.js';

export interface DaemonOptions {
  home: string;
  log: Logger;
  userAgent: string;
  /** Overrides settings.syncDir for this run (and is remembered). */
  syncDir?: string;
  /** Change-feed long-poll seconds (tests use short ones). */
  longPollSeconds?: number;
  /** Polling period against servers without the change feed (ms). */
  pollMs?: number;
  /** Environment (AXIS_MACHINE_GUID). Default process.env. */
  env?: NodeJS.ProcessEnv;
  /** The agent's version (the machine's agent_version). */
  agentVersion?: string;
  /**
   * Test clock: added to the real time wherever the throttle schedule reads the clock
   * (AXIS_AGENT_CLOCK_OFFSET_MS), so a window "one minute from now" can begin in seconds.
   */
  clockOffsetMs?: number;
  /** IANA time zone of the throttle windows (default: the system's, TZ). */
  timeZone?: string;
  /** Length of a "minute" of the health report period (AXIS_AGENT_HEALTH_MINUTE_MS; tests). */
  healthMinuteMs?: number;
  /** Seconds the command channel long poll waits (default longPollSeconds). */
  commandWaitSeconds?: number;
}

export interface ServerPolicy {
  excludedExtensions: string;
  maxFileSizeBytes: number | null;
  userOverwriteCollisions: boolean;
  userBulkResolveWarnings: boolean;
}

export function defaultSyncDir(): string {
  return path.join(os.homedir(), 'AXIS CloudSync');
}

export function stateDbPath(home: string): string {
  return path.join(home, 'state.sqlite');
}

export function statusPath(home: string): string {
  return path.join(home, 'status.json');
}

export function clientFor(config: AgentConfig, home: string, userAgent: string): AxisClient {
  // The plaintext file, or under the desktop app its encrypted store (secrets.ts).
  const secrets = openSecretStore(home);
  return new AxisClient({
    server: config.server,
    trust: config.fingerprint ? { fingerprint: config.fingerprint } : undefined,
    userAgent,
    tokens: tokenStoreFor(secrets),
    machine: machineCredentialsFor(secrets, config.server),
  });
}

/** What refresh_policy reports back: the policy in force after applying it. */
export interface AppliedPolicy {
  throttle: { limit_bytes_per_second: number | null; in_exception: boolean; next_change: string | null };
  excluded_extensions: string;
  max_file_size_bytes: number | null;
  space_left_bytes: number | null;
  manual_collisions: boolean;
  health_report_period_minutes: { min: number; max: number; average: number };
}

export function policyFromPerson(companyPolicy: Record<string, unknown> | undefined): ServerPolicy {
  const p = companyPolicy ?? {};
  const mb = Number(p.max_file_size);
  return {
    excludedExtensions: typeof p.excluded_extensions === 'string' ? p.excluded_extensions : '',
    maxFileSizeBytes: Number.isFinite(mb) && mb > 0 ? mb * 1024 * 1024 : null,
    userOverwriteCollisions: p.user_overwrite_collisions === true,
    userBulkResolveWarnings: p.user_bulk_resolve_warnings === true,
  };
}

export class AgentDaemon {
  private client: AxisClient | undefined;
  private store: StateStore | undefined;
  private sync: RootSync | undefined;
  private timer: NodeJS.Timeout | undefined;
  private settings: AgentSettings | undefined;
  private policy: ServerPolicy = policyFromPerson(undefined);
  private lastPaused: boolean | undefined;
  private syncDir = '';
  /** The machine this agent runs as (undefined: a server without machine credentials). */
  private machine: StoredMachine | undefined;
  private machinePolicy: MachinePolicy | undefined;
  private machinePolicySupported = true;
  private person: Person | undefined;
  private readonly limiter: BandwidthLimiter;
  private health: HealthReporter | undefined;
  private commands: CommandPoller | undefined;
  /** The person's space quota and usage as last read, and whether our uploads made it stale. */
  private quota: { left: number | null; stale: boolean; refreshing: boolean } = { left: null, stale: false, refreshing: false };
  private stopping = false;
  private failure: CliError | undefined;
  private onFailure: ((err: CliError) => void) | undefined;
  /** Resolves when the agent has to stop on its own: the server refused the machine's credentials. */
  readonly failed: Promise<CliError>;

  constructor(private readonly o: DaemonOptions) {
    const offset = o.clockOffsetMs ?? 0;
    this.limiter = new BandwidthLimiter({ now: () => Date.now() + offset, timeZone: o.timeZone ?? localTimeZone() });
    this.failed = new Promise((resolve) => (this.onFailure = resolve));
  }

  get engine(): RootSync | undefined {
    return this.sync;
  }

  // ----- what the control API reads and changes (src/agent/control/) ---------------------------

  /** The state database (undefined before start()). */
  get stateStore(): StateStore | undefined {
    return this.store;
  }

  /** The API client of the running agent (undefined before start()). */
  get apiClient(): AxisClient | undefined {
    return this.client;
  }

  /** The policy last read (collision resolution rights, exclusions). */
  get currentPolicy(): ServerPolicy {
    return this.policy;
  }

  /** The roots the account sees, as last read from the server. */
  get serverRoots(): Person['roots'] {
    return this.person?.roots ?? [];
  }

  /** The name collision copies carry. */
  get machineName(): string {
    return this.settings?.machineName ?? os.hostname();
  }

  get syncDirectory(): string {
    return this.syncDir;
  }

  /** The manual-collisions setting in force (admin and user). */
  get manualCollisionsInForce(): boolean {
    return this.manualCollisions();
  }

  /** The schedule clock (epoch ms; the real time plus the test offset). */
  now(): number {
    return Date.now() + (this.o.clockOffsetMs ?? 0);
  }

  /** The limiter's state and the throttle settings it follows (null: none). */
  bandwidth(): { snapshot: LimiterSnapshot; settings: ThrottleFields | null; timeZone: string } {
    return { snapshot: this.limiter.snapshot(), settings: this.machinePolicy?.throttle ?? null, timeZone: this.o.timeZone ?? localTimeZone() };
  }

  /** Pauses or resumes every root (as `axis-agent pause|resume`), at once. */
  async setPaused(paused: boolean): Promise<void> {
    this.store?.setPaused(null, paused);
    await this.tick();
  }

  /** Re-reads settings.json (manual collisions) and re-plans. */
  async reloadSettings(): Promise<void> {
    this.settings = await loadSettings(this.o.home);
    this.sync?.poke();
  }

  async start(): Promise<{ rootId: number; syncDir: string }> {
    const config = await loadConfig(homePaths(this.o.home).config);
    if (!config) throw new CliError(NOT_LOGGED_IN, EXIT_AUTH);
    this.settings = await loadSettings(this.o.home, this.o.syncDir ? { syncDir: path.resolve(this.o.syncDir) } : {});
    const syncDir = this.settings.syncDir ?? defaultSyncDir();
    this.syncDir = syncDir;
    this.client = clientFor(config, this.o.home, this.o.userAgent);
    // Every upload and download, whole or delta, goes through the one shared limiter.
    this.client.transferShaper = (direction, source) => this.limiter.shape(direction, source);
    await this.machineLogin(config);
    const person = await this.client.person();
    await this.refreshPolicy(person);
    const root = person.roots.find((r) => r.id === person.root_id) ?? person.roots.find((r) => r.type === 'sync');
    if (!root) throw new CliError('This account has no personal sync root on the server; ask an administrator to create one.');

    this.store = new StateStore(stateDbPath(this.o.home));
    const known = this.store.root(root.id);
    if (known && path.resolve(known.localPath) !== path.resolve(syncDir)) {
      // A new folder: start over with a merge (never read the old base as deletions).
      this.store.forgetBase(root.id);
    }
    const hadBase = this.store.hasSyncedBase(root.id);
    const exists = await fsp.stat(syncDir).then(
      (s) => s.isDirectory(),
      () => false,
    );
    if (!exists && hadBase && known && path.resolve(known.localPath) === path.resolve(syncDir)) {
      // The folder vanished (unmounted disk, moved by the user): syncing now would delete
      // everything on the server. Refuse and say what to do.
      throw new CliError(
        `The sync folder ${syncDir} is missing. If you moved it, run "axis-agent run --sync-dir NEW_PLACE"; if you want to start over, delete ${stateDbPath(this.o.home)}.`,
      );
    }
    this.store.upsertRoot({ id: root.id, name: root.name, type: root.type, localPath: syncDir });
    const platform: Platform = process.platform === 'win32' ? 'win32' : process.platform === 'darwin' ? 'darwin' : 'linux';
    this.sync = new RootSync({
      store: this.store,
      // Small files travel in batch requests where the server has the extension (3.5b).
      api: new BatchingApi(this.client, this.client),
      root: this.store.root(root.id)!,
      machineName: this.settings.machineName ?? os.hostname(),
      platform,
      policy: () => ({
        excludedExtensions: this.policy.excludedExtensions,
        maxFileSize: this.policy.maxFileSizeBytes,
        manualCollisions: this.manualCollisions(),
      }),
      log: this.o.log,
      signatures: new SignatureStore(path.join(this.o.home, 'signatures')),
      longPollSeconds: this.o.longPollSeconds,
      pollMs: this.o.pollMs,
      spaceLeft: () => this.spaceLeft(),
    });
    this.sync.on('operation', (op: { type: string }) => {
      if (op.type === 'upload') this.quota.stale = true;
    });
    if (!rsyncAvailable()) {
      // Said once: the agent still works, with whole-file transfers.
      this.o.log.warn({ reason: rsyncLoadError() }, 'delta transfers are unavailable (the librsync addon did not load); sending whole files');
    }
    await this.sync.start();
    this.timer = setInterval(() => void this.tick(), 250);
    await this.tick();
    this.startMachineServices();
    return { rootId: root.id, syncDir };
  }

  // ----- the machine ----------------------------------------------------------------------------

  /**
   * Logs in as the stored machine (the server records last_login) and drops the previous
   * session. Without stored machine credentials (a server without them), the stored session
   * is used as it is.
   */
  private async machineLogin(config: AgentConfig): Promise<void> {
    const stored = await loadMachineSecret(openSecretStore(this.o.home));
    if (!stored || stored.server !== config.server) return;
    const identity = await machineIdentity(this.o.home, { env: this.o.env ?? process.env, agentVersion: this.o.agentVersion ?? '0.0.0' });
    if (identity.guid !== stored.guid) {
      throw new CliError(
        `This agent's machine id changed (${stored.guid} → ${identity.guid}): its home folder was copied from another computer, or AXIS_MACHINE_GUID changed. Run axis-agent login to register this computer.`,
        EXIT_AUTH,
      );
    }
    const client = this.client!;
    const previous = await client.currentTokens();
    try {
      await client.loginMachine(stored.guid, stored.securityKey);
    } catch (err) {
      if (err instanceof MachineCredentialsRefused) throw this.refused(err);
      throw err;
    }
    this.machine = stored;
    if (previous) await client.revokeTokens(previous).catch(() => undefined);
  }

  private refused(err: AuthError): CliError {
    const why = err.serverMessage ? ` (${err.serverMessage})` : '';
    return new CliError(`The server no longer accepts this machine's credentials${why}; run axis-agent login`, EXIT_AUTH);
  }

  /** The agent cannot go on (credentials refused): `failed` resolves; the caller stops the daemon. */
  private fail(err: AuthError): void {
    if (this.failure || this.stopping) return;
    this.failure = this.refused(err);
    this.o.log.error({ err: err.message }, 'the server refused the machine credentials; stopping');
    this.onFailure?.(this.failure);
  }

  private startMachineServices(): void {
    const m = this.machine;
    const client = this.client;
    if (!m || !client) return;
    this.health = new HealthReporter({
      send: (report) => client.postHealth(m.machineId, report),
      snapshot: () => healthReportOf(this.status()),
      period: () => healthPeriod(this.machinePolicy),
      minuteMs: this.o.healthMinuteMs,
      log: this.o.log,
      onAuthError: (err) => this.fail(err),
    });
    this.health.start();
    this.commands = new CommandPoller({
      api: client,
      machineId: m.machineId,
      handle: (cmd) => this.handleCommand(cmd),
      waitSeconds: this.o.commandWaitSeconds ?? this.o.longPollSeconds ?? 25,
      log: this.o.log,
      onAuthError: (err) => this.fail(err),
    });
    this.commands.start();
  }

  private async handleCommand(cmd: MachineCommand): Promise<CommandOutcome> {
    switch (cmd.type) {
      case 'refresh_policy':
        return { status: 'ok', result: await this.refreshPolicy() };
      case 'ls':
        return listLocalFolder(this.syncDir, cmd.params?.path);
      default:
        return { status: 'error', error: NOT_SUPPORTED };
    }
  }

  /**
   * Reads the policy (GET /api/2/machine/<id>/policy; the person's company_policy on servers
   * without it) and the person's quota, and applies them at once: throttle schedule, planner
   * policy (the engine re-plans), health period.
   */
  async refreshPolicy(knownPerson?: Person): Promise<AppliedPolicy> {
    const client = this.client!;
    let companyPolicy: Record<string, unknown> | undefined;
    if (this.machine && this.machinePolicySupported) {
      try {
        this.machinePolicy = await client.machinePolicy(this.machine.machineId);
        companyPolicy = this.machinePolicy.company_policy ?? undefined;
      } catch (err) {
        if (!(err instanceof AxisApiError && err.status === 404)) throw err;
        this.machinePolicySupported = false;
        this.o.log.info({}, 'the server does not publish machine policies; no throttle, default health period');
      }
    }
    const person = knownPerson ?? (await client.person());
    this.person = person;
    companyPolicy ??= person.company_policy;
    this.policy = policyFromPerson(companyPolicy);
    this.setQuota(person);
    this.limiter.setSchedule(this.machinePolicy?.throttle ?? null);
    this.health?.reschedule();
    this.sync?.poke();
    const t = this.limiter.snapshot();
    const period = healthPeriod(this.machinePolicy);
    return {
      throttle: { limit_bytes_per_second: t.limit, in_exception: t.inException, next_change: t.nextChange },
      excluded_extensions: this.policy.excludedExtensions,
      max_file_size_bytes: this.policy.maxFileSizeBytes,
      space_left_bytes: this.spaceLeft(),
      manual_collisions: this.manualCollisions(),
      health_report_period_minutes: { min: period.minMinutes, max: period.maxMinutes, average: period.avgMinutes },
    };
  }

  /**
   * The machine's manual_collisions (admin) and the user's settings.json `manualCollisions`:
   * collisions wait for the user only when both say so; either one turning it off makes the
   * agent keep both versions by itself (nothing is lost either way).
   */
  private manualCollisions(): boolean {
    return (this.machinePolicy?.manual_collisions ?? true) && (this.settings?.manualCollisions ?? true);
  }

  private setQuota(person: Person): void {
    // Servers with the space_available extension say what is left of the tighter of the
    // person's and the organization's quota; otherwise only the person's quota is known.
    const q = person.space_quota;
    const left =
      typeof person.space_available === 'number' ? person.space_available : typeof q === 'number' && q > 0 ? Math.max(0, q - (person.space_usage ?? 0)) : null;
    this.quota = { left, stale: false, refreshing: false };
  }

  /**
   * The space left for uploads (null: no quota): the tighter of the person's and the
   * organization's quota where the server says (space_available), else the person's. The
   * server stays the judge. After uploads the value is re-read in the background.
   */
  private spaceLeft(): number | null {
    const q = this.quota;
    if (q.left === null) return null;
    if (q.stale && !q.refreshing && this.client && !this.stopping) {
      q.refreshing = true;
      this.client.person().then(
        (p) => this.setQuota(p),
        () => (q.refreshing = false),
      );
    }
    return q.left;
  }

  /** The live status (`axis-agent status --json`). */
  status(): AgentStatus {
    const m = this.machine;
    return buildStatus(this.store!, {
      pid: process.pid,
      engines: this.sync ? [this.sync] : [],
      throttle: this.limiter.snapshot(),
      machine: m
        ? { id: m.machineId, guid: m.guid, health_reports: this.health?.sent ?? 0, next_health_report: this.health?.nextAt ? new Date(this.health.nextAt).toISOString() : null }
        : null,
    });
  }

  /** Publishes status and notices pause/resume requests made by other processes. */
  private async tick(): Promise<void> {
    if (!this.store || !this.sync) return;
    const root = this.store.root(this.sync.status.rootId);
    if (root && root.paused !== this.lastPaused) {
      this.lastPaused = root.paused;
      this.sync.poke();
    }
    const status: AgentStatus = this.status();
    await writeFileAtomic(statusPath(this.o.home), `${JSON.stringify(status)}\n`, 0o600).catch(() => undefined);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    clearInterval(this.timer);
    await Promise.all([this.commands?.stop(), this.health?.stop()]);
    await this.sync?.stop();
    this.limiter.close();
    if (this.machine && this.client && !this.failure) {
      // The server records last_disconnect (best effort, briefly).
      const client = this.client;
      const id = this.machine.machineId;
      await Promise.race([client.disconnect(id).catch(() => undefined), new Promise((r) => setTimeout(r, 5_000).unref())]);
    }
    await this.tick().catch(() => undefined);
    this.client?.close();
    this.store?.close();
  }
}
