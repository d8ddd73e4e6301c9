// The agent "service": owns the sync daemon's lifecycle and serves the control API
// (docs/control-api.md) so a UI can log in, watch and steer the agent.
//
//   - logged in at start: syncing starts at once (as `axis-agent run`);
//   - not logged in: the control API is up with the state `logged_out`; POST /api/login (and
//     /api/login/code for two-step accounts) logs in exactly as `axis-agent login` does
//     (PasswordLogin in ../account.ts), registers the machine, then syncing starts;
//   - logout stops syncing and forgets the credentials as `axis-agent logout`.
//
// Used by `axis-agent run` (requireLogin: the daemon's errors end the command as before), by
// src/agent/service-entry.ts (Electron's utility process) and by scripts/start.js.
import { EventEmitter } from 'node:events';
import { existsSync, promises as fsp } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { z } from 'zod';
import { AuthError, NetworkError, UntrustedCertificateError } from '../../api/errors.js';
import { InvalidFingerprintError } from '../../api/tls.js';
import { StateStore } from '../../engine/store.js';
import { isLoggedIn, logoutHome, MAX_CODE_TRIES, PasswordLogin, twoStepHint } from '../account.js';
import { loadConfig, type AgentConfig } from '../config.js';
import { AgentDaemon, stateDbPath, type DaemonOptions } from '../daemon.js';
import { homePaths, readJsonFile, writeFileAtomic } from '../home.js';
import { CliError, describeError, EXIT_AUTH, NOT_LOGGED_IN } from '../output.js';
import { resolveCollision, type Keep } from '../resolve.js';
import { secretsNotice } from '../secrets.js';
import { loadSettings } from '../settings.js';
import { BandwidthSampler, exceptionWindows, scheduleOf, type Bandwidth, type BandwidthSample } from './bandwidth.js';
import { startControlServer, type ControlServer } from './server.js';
import { ControlError, type ActivityEntry, type Collision, type LoginState, type State } from './state.js';

export interface AgentServiceOptions {
  home: string;
  log: Logger;
  userAgent: string;
  /** The agent's version (State.agent.version, the machine's agent_version). */
  version?: string;
  /** Overrides settings.syncDir (and is remembered), as `run --sync-dir`. */
  syncDir?: string;
  env?: NodeJS.ProcessEnv;
  /** Daemon knobs (tests, env test knobs of `run`). */
  daemon?: Pick<DaemonOptions, 'longPollSeconds' | 'pollMs' | 'clockOffsetMs' | 'timeZone' | 'healthMinuteMs' | 'commandWaitSeconds'>;
  /** Serve the control API (default true). */
  ui?: boolean;
  /**
   * `axis-agent run` without --wait-for-login: not being logged in, and any failure to start
   * syncing, reject startAgentService as before; a later refusal of the machine's credentials
   * resolves `failed` (the caller stops). Otherwise the service keeps running: logged out
   * (with the reason), or retrying to start syncing.
   */
  requireLogin?: boolean;
  /** The built UI (default: dist/renderer of this checkout). */
  rendererDir?: string;
  /** Called with the state whenever it changes (at most every 250 ms), e.g. to tell Electron main. */
  onState?: (state: State) => void;
}

export interface AgentService {
  /** Control API (null with ui: false). */
  url: string | null;
  port: number | null;
  token: string | null;
  /** What is synced, when syncing started during startAgentService. */
  started: { rootId: number; syncDir: string } | undefined;
  /** requireLogin: resolves when the server refused the machine's credentials (stop, exit 2). */
  failed: Promise<CliError>;
  /** A one-time browser login URL (GET /ui/login?code=…). */
  loginUrl(): string;
  state(): State;
  stop(): Promise<void>;
}

/** <home>/ui-settings.json: preferences only the UI uses. */
const UiSettingsSchema = z.object({ start_at_login: z.boolean().optional() });
type UiSettings = z.infer<typeof UiSettingsSchema>;
function uiSettingsPath(home: string): string {
  return path.join(home, 'ui-settings.json');
}

interface PendingTwoStep {
  login: PasswordLogin;
  username: string;
  password: string;
  mode: 'authenticator' | 'email' | 'sms';
  wrongCodes: number;
  expires: number;
}

/** A two-step login waits this long for its code. */
const PENDING_MS = 10 * 60_000;

export class AgentServiceCore extends EventEmitter {
  private daemon: AgentDaemon | undefined;
  private daemonStarting: Promise<void> | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private retries = 0;
  private config: AgentConfig | undefined;
  private uiSettings: UiSettings = {};
  private manualCollisions = true;
  private syncDir: string | null = null;
  private lastPaused = false;
  private login: LoginState = { state: 'logged_out', server: null };
  private pending: PendingTwoStep | undefined;
  private loginBusy = false;
  private readonly startedAt = new Date().toISOString();
  private readonly sampler = new BandwidthSampler();
  private timers: NodeJS.Timeout[] = [];
  private lastStateJson = '';
  private lastActivityId = 0;
  private stopped = false;
  private onFailed: ((err: CliError) => void) | undefined;
  readonly failed: Promise<CliError>;
  started: { rootId: number; syncDir: string } | undefined;

  constructor(readonly o: AgentServiceOptions) {
    super();
    this.setMaxListeners(0);
    this.failed = new Promise((resolve) => (this.onFailed = resolve));
  }

  // ----- lifecycle ------------------------------------------------------------------------------

  async init(): Promise<void> {
    await this.reloadFiles();
    // The secrets are opened once first: under the desktop app a plaintext credentials.json is
    // migrated into the encrypted store, and an encrypted file that does not decrypt is set
    // aside; the notice says why the user must sign in again (also: the CLI finding the app's
    // encrypted credentials).
    const notice = await secretsNotice(this.o.home).catch((err: unknown) => {
      if (this.o.requireLogin) throw err;
      return describeError(err).message;
    });
    if (this.config && (await this.hasCredentials())) {
      this.login = this.loggedInState(this.config);
      if (this.o.requireLogin) {
        this.started = await this.startDaemon(true);
      } else {
        void this.startSync();
      }
    } else {
      if (this.o.requireLogin) throw new CliError(notice ?? NOT_LOGGED_IN, EXIT_AUTH);
      this.login = { state: 'logged_out', server: this.config?.server ?? null, ...(notice ? { error: notice } : {}) };
    }
    this.timers.push(setInterval(() => this.sampleBandwidth(), 1000));
    this.timers.push(setInterval(() => this.pollActivity(), 500));
    this.timers.push(setInterval(() => this.checkState(), 250));
    for (const t of this.timers) t.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    clearTimeout(this.retryTimer);
    this.dropPending();
    await this.daemonStarting?.catch(() => undefined);
    await this.stopDaemon();
  }

  private async hasCredentials(): Promise<boolean> {
    return isLoggedIn(this.o.home);
  }

  private async reloadFiles(): Promise<void> {
    const config = loadConfig(homePaths(this.o.home).config);
    // `run` reports a broken config.json as before; the UI starts logged out instead.
    this.config = this.o.requireLogin ? await config : await config.catch(() => undefined);
    const settings = await loadSettings(this.o.home).catch(() => ({}) as { syncDir?: string; manualCollisions?: boolean });
    this.manualCollisions = settings.manualCollisions ?? true;
    this.syncDir = this.o.syncDir ? path.resolve(this.o.syncDir) : (settings.syncDir ?? null);
    const ui = UiSettingsSchema.safeParse(await readJsonFile(uiSettingsPath(this.o.home)).catch(() => undefined));
    this.uiSettings = ui.success ? ui.data : {};
    if (existsSync(stateDbPath(this.o.home))) {
      try {
        const store = new StateStore(stateDbPath(this.o.home));
        try {
          this.lastPaused = store.roots().some((r) => r.paused);
        } finally {
          store.close();
        }
      } catch {
        // a database of a newer agent: the daemon says so when it starts
      }
    }
  }

  private loggedInState(config: AgentConfig, error?: string): LoginState {
    return {
      state: 'logged_in',
      server: config.server,
      username: config.username,
      display_name: config.account?.display_name ?? config.username,
      email: config.account?.email ?? '',
      machine_id: config.machine?.id ?? null,
      ...(error ? { error } : {}),
    };
  }

  private daemonOptions(): DaemonOptions {
    return { home: this.o.home, log: this.o.log, userAgent: this.o.userAgent, syncDir: this.o.syncDir, env: this.o.env, agentVersion: this.o.version, ...this.o.daemon };
  }

  /** Starts the daemon; throws what its start throws (after cleaning up). */
  private async startDaemon(requireLogin: boolean): Promise<{ rootId: number; syncDir: string }> {
    const daemon = new AgentDaemon(this.daemonOptions());
    let started: { rootId: number; syncDir: string };
    try {
      started = await daemon.start();
    } catch (err) {
      await daemon.stop().catch(() => undefined);
      throw err;
    }
    this.daemon = daemon;
    this.sampler.reset();
    this.syncDir = started.syncDir;
    this.lastActivityId = this.maxActivityId();
    this.lastPaused = daemon.stateStore?.roots().some((r) => r.paused) ?? false;
    void daemon.failed.then((err) => {
      if (this.daemon !== daemon || this.stopped) return;
      if (requireLogin) {
        this.onFailed?.(err);
        return;
      }
      // The server refused the machine's credentials: stop syncing, ask for a login.
      void this.stopDaemon().then(() => {
        this.login = { state: 'logged_out', server: this.config?.server ?? null, error: err.message };
        this.checkState();
      });
    });
    this.checkState();
    return started;
  }

  /** Starts syncing in the background; retries (5 s … 60 s) while it fails for reasons other than credentials. */
  private startSync(): Promise<void> {
    if (this.daemon || this.daemonStarting || this.stopped || this.login.state !== 'logged_in') return this.daemonStarting ?? Promise.resolve();
    clearTimeout(this.retryTimer);
    this.daemonStarting = (async () => {
      try {
        const started = await this.startDaemon(false);
        if (this.login.state !== 'logged_in' || this.stopped) {
          // Logged out (or stopped) while syncing started.
          await this.stopDaemon();
          return;
        }
        this.retries = 0;
        if (this.config) this.login = this.loggedInState(this.config);
        this.o.log.info({ root: started.rootId, dir: started.syncDir }, 'syncing');
      } catch (err) {
        const d = describeError(err, this.config?.server);
        if (this.login.state !== 'logged_in' || this.stopped) {
          // Logged out meanwhile: nothing to report or retry.
        } else if (d.exitCode === EXIT_AUTH) {
          this.login = { state: 'logged_out', server: this.config?.server ?? null, error: d.message };
        } else {
          this.retries++;
          const wait = Math.min(60_000, 5_000 * 2 ** Math.min(this.retries - 1, 4));
          if (this.config) this.login = this.loggedInState(this.config, `${d.message.split('\n')[0]} (trying again in ${Math.round(wait / 1000)} s)`);
          this.o.log.warn({ err: d.message }, 'could not start syncing; retrying');
          if (!this.stopped) {
            this.retryTimer = setTimeout(() => void this.startSync(), wait);
            this.retryTimer.unref();
          }
        }
      } finally {
        this.daemonStarting = undefined;
        this.checkState();
      }
    })();
    return this.daemonStarting;
  }

  private async stopDaemon(): Promise<void> {
    const d = this.daemon;
    this.daemon = undefined;
    this.sampler.reset();
    if (d) await d.stop();
  }

  // ----- state ----------------------------------------------------------------------------------

  state(): State {
    const d = this.daemon;
    const store = d?.stateStore;
    const subscribed = new Set(store?.roots().map((r) => r.id) ?? []);
    const paused = store ? store.roots().some((r) => r.paused) : this.lastPaused;
    const policy = d?.currentPolicy;
    return {
      agent: { version: this.o.version ?? '0.0.0', pid: process.pid, started: this.startedAt },
      login: this.login,
      status: d && store ? d.status() : null,
      server_roots: (d?.serverRoots ?? []).map((r) => ({ id: r.id, name: r.name, type: r.type, subscribed: subscribed.has(r.id) })),
      policy: policy ? { user_overwrite_collisions: policy.userOverwriteCollisions, user_bulk_resolve_warnings: policy.userBulkResolveWarnings } : null,
      settings: {
        server: this.config?.server ?? null,
        fingerprint: this.config?.fingerprint ?? null,
        sync_dir: d?.syncDirectory || this.syncDir,
        paused,
        manual_collisions: this.manualCollisions,
        start_at_login: this.uiSettings.start_at_login ?? false,
      },
      collisions: store?.collisions().length ?? 0,
    };
  }

  /** Emits "state" when the state changed (ignoring status.updated). */
  checkState(): void {
    if (this.stopped) return;
    if (this.listenerCount('state') === 0 && !this.o.onState) return;
    let s: State;
    try {
      s = this.state();
    } catch (err) {
      this.o.log.debug({ err }, 'state not readable');
      return;
    }
    const key = JSON.stringify({ ...s, status: s.status ? { ...s.status, updated: undefined } : null });
    if (key === this.lastStateJson) return;
    this.lastStateJson = key;
    this.emit('state', s);
    this.o.onState?.(s);
  }

  private sampleBandwidth(): void {
    const d = this.daemon;
    const sample: BandwidthSample = this.sampler.take(d ? d.now() : Date.now(), d?.bandwidth().snapshot);
    this.emit('bandwidth', sample);
  }

  bandwidth(): Bandwidth {
    const d = this.daemon;
    const now = d ? d.now() : Date.now();
    const b = d?.bandwidth();
    const samples = this.sampler.list();
    const from = samples[0]?.t ?? now;
    return {
      samples,
      limit: b?.snapshot.limit ?? null,
      in_exception: b?.snapshot.inException ?? false,
      next_change: b?.snapshot.nextChange ?? null,
      schedule: scheduleOf(b?.settings ?? null),
      windows: b ? exceptionWindows(b.settings, Math.min(from, now - 600_000), now + 3600_000, b.timeZone) : [],
    };
  }

  // ----- activity -------------------------------------------------------------------------------

  private maxActivityId(): number {
    const store = this.daemon?.stateStore;
    if (!store) return 0;
    return (store.db.prepare(`SELECT COALESCE(MAX(id), 0) AS m FROM activity`).get() as { m: number }).m;
  }

  activity(limit: number, afterId = 0): ActivityEntry[] {
    const store = this.daemon?.stateStore;
    if (!store) return [];
    const rows = store.db
      .prepare(`SELECT id, time, root_id, action, path, detail FROM activity WHERE id > ? ORDER BY id DESC LIMIT ?`)
      .all(afterId, limit) as { id: number; time: string; root_id: number | null; action: string; path: string | null; detail: string | null }[];
    return rows.map((r) => ({ id: r.id, root_id: r.root_id, time: r.time, kind: r.action, path: r.path, detail: r.detail }));
  }

  private pollActivity(): void {
    if (!this.daemon?.stateStore) return;
    try {
      const fresh = this.activity(500, this.lastActivityId).reverse();
      for (const a of fresh) {
        this.lastActivityId = Math.max(this.lastActivityId, a.id);
        this.emit('activity', a);
      }
    } catch (err) {
      this.o.log.debug({ err }, 'activity not readable');
    }
  }

  // ----- login ----------------------------------------------------------------------------------

  private dropPending(): void {
    this.pending?.login.close();
    this.pending = undefined;
  }

  private livePending(): PendingTwoStep {
    const p = this.pending;
    if (p && p.expires < Date.now()) {
      this.dropPending();
      this.login = { state: 'logged_out', server: p.login.server, error: 'The login waited too long for its code; log in again.' };
    }
    if (!this.pending) throw new ControlError(409, 'no_login_pending', 'No login is waiting for a code: log in with POST /api/login first.');
    return this.pending;
  }

  private async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    if (this.loginBusy) throw new ControlError(409, 'busy', 'A login or logout is already in progress.');
    this.loginBusy = true;
    try {
      return await fn();
    } finally {
      this.loginBusy = false;
      this.checkState();
    }
  }

  async loginPassword(body: { server: string; username: string; password: string; trust_fingerprint?: string }): Promise<LoginState> {
    return this.exclusive(async () => {
      if (this.login.state === 'logged_in') throw new ControlError(409, 'already_logged_in', `Already logged in to ${this.login.server}; log out first.`);
      this.dropPending();
      let target: { server: string; fingerprint: string | undefined };
      try {
        target = await PasswordLogin.target(this.o.home, body.server, body.trust_fingerprint);
      } catch (err) {
        if (err instanceof InvalidFingerprintError) throw new ControlError(400, 'invalid_fingerprint', `trust_fingerprint: ${err.message}`);
        throw new ControlError(400, 'invalid_server', err instanceof Error ? err.message : String(err));
      }
      const login = new PasswordLogin({ ...target, userAgent: this.o.userAgent });
      let keep = false;
      try {
        await this.step(() => login.connect(), target.server);
        const r = await this.step(() => login.password(body.username, body.password), target.server);
        if (r.result === 'two_step') {
          const mode = r.mode ?? 'authenticator';
          this.pending = { login, username: body.username, password: body.password, mode, wrongCodes: 0, expires: Date.now() + PENDING_MS };
          keep = true;
          this.login = { state: 'twostep', server: target.server, username: body.username, mode, hint: twoStepHint(mode, body.username) };
          return this.login;
        }
        return await this.finishLogin(login, body.username);
      } finally {
        if (!keep) login.close();
      }
    });
  }

  async loginCode(code: string): Promise<LoginState> {
    return this.exclusive(async () => {
      const p = this.livePending();
      const r = await this.step(() => p.login.password(p.username, p.password, code), p.login.server);
      if (r.result === 'two_step') {
        if (!r.invalid) throw new ControlError(400, 'invalid_request', 'code: give the authentication code');
        p.wrongCodes++;
        const left = MAX_CODE_TRIES - p.wrongCodes;
        if (left <= 0) {
          this.dropPending();
          this.login = { state: 'logged_out', server: p.login.server, error: `Invalid authentication code (${p.wrongCodes} tries). Log in again.` };
          throw new ControlError(401, 'invalid_auth_code', `Invalid authentication code (${p.wrongCodes} tries). Log in again.`, { tries_left: 0 });
        }
        throw new ControlError(401, 'invalid_auth_code', `Invalid authentication code. Try again (${left} ${left === 1 ? 'try' : 'tries'} left).`, { tries_left: left });
      }
      this.pending = undefined;
      try {
        return await this.finishLogin(p.login, p.username);
      } finally {
        p.login.close();
      }
    });
  }

  async loginResend(): Promise<LoginState> {
    return this.exclusive(async () => {
      const p = this.livePending();
      // Without a code the server answers "two-step required" and, in email/SMS mode, sends a new code.
      const r = await this.step(() => p.login.password(p.username, p.password), p.login.server);
      if (r.result === 'ok') {
        this.pending = undefined;
        try {
          return await this.finishLogin(p.login, p.username);
        } finally {
          p.login.close();
        }
      }
      p.expires = Date.now() + PENDING_MS;
      return this.login;
    });
  }

  /** Runs a login step, turning its failures into control API errors. */
  private async step<T>(fn: () => Promise<T>, server: string): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof ControlError) throw err;
      if (err instanceof UntrustedCertificateError) {
        // The first line says why; the CLI's advice (--trust-fingerprint) does not apply here.
        const why = err.message.split('\n')[0]!;
        throw new ControlError(409, 'untrusted_certificate', `${why} Its SHA-256 fingerprint is ${err.fingerprint}: trust it only if it is the one your administrator gave you.`, {
          fingerprint: err.fingerprint,
        });
      }
      if (err instanceof AuthError && err.kind === 'invalid_credentials') throw new ControlError(401, 'invalid_credentials', 'Invalid username or password.');
      if (err instanceof AuthError && err.kind === 'missing_credentials') throw new ControlError(400, 'invalid_request', 'Give a username and a password.');
      if (err instanceof NetworkError) throw new ControlError(502, 'server_unreachable', describeError(err, server).message);
      const d = describeError(err, server);
      if (err instanceof CliError) throw new ControlError(d.exitCode === EXIT_AUTH ? 403 : 422, 'login_refused', d.message);
      throw new ControlError(502, 'server_error', d.message);
    }
  }

  private async finishLogin(login: PasswordLogin, username: string): Promise<LoginState> {
    const { config } = await this.step(() => login.complete({ home: this.o.home, env: this.o.env, version: this.o.version }, username), login.server);
    this.config = config;
    this.login = this.loggedInState(config);
    this.o.log.info({ server: config.server, username }, 'logged in through the control API');
    void this.startSync();
    return this.login;
  }

  async logout(): Promise<LoginState> {
    return this.exclusive(async () => {
      this.dropPending();
      this.login = { state: 'logged_out', server: this.config?.server ?? null };
      clearTimeout(this.retryTimer);
      await this.daemonStarting?.catch(() => undefined);
      clearTimeout(this.retryTimer);
      await this.stopDaemon();
      const r = await logoutHome({ home: this.o.home, userAgent: this.o.userAgent });
      if (r.warning) this.o.log.warn({}, r.warning);
      this.login = { state: 'logged_out', server: this.config?.server ?? null };
      return this.login;
    });
  }

  // ----- collisions, pause, settings --------------------------------------------------------------

  collisions(): { collisions: Collision[]; keep_mine_allowed: boolean; bulk_allowed: boolean } {
    const d = this.daemon;
    const store = d?.stateStore;
    if (!d || !store) return { collisions: [], keep_mine_allowed: false, bulk_allowed: false };
    const engine = d.engine;
    const list = store.collisions().map((c): Collision => {
      const remote = engine?.status.rootId === c.rootId ? engine.remoteEntry(c.path) : undefined;
      const modified = remote?.modified ? new Date(/[zZ]|[+-]\d\d:?\d\d$/.test(remote.modified) ? remote.modified : `${remote.modified}Z`) : undefined;
      return {
        id: c.id,
        root_id: c.rootId,
        path: c.path,
        created: c.created,
        reason: c.reason,
        local: { size: c.local.kind === 'file' ? c.local.size : null, mtime: Number.isFinite(c.local.mtime) ? new Date(c.local.mtime).toISOString() : null, machine: d.machineName },
        server: {
          size: c.remote.kind === 'file' ? c.remote.size : null,
          mtime: modified && !Number.isNaN(modified.getTime()) ? modified.toISOString() : null,
          machine: null,
          revision_id: c.remote.revisionId,
        },
      };
    });
    return { collisions: list, keep_mine_allowed: d.currentPolicy.userOverwriteCollisions, bulk_allowed: d.currentPolicy.userBulkResolveWarnings };
  }

  private running(): AgentDaemon {
    const d = this.daemon;
    if (!d || !d.stateStore || !d.apiClient) throw new ControlError(409, 'not_syncing', this.login.state === 'logged_in' ? 'The agent is not syncing yet.' : 'Not logged in.');
    return d;
  }

  async resolve(id: number, keep: Keep): Promise<string> {
    const d = this.running();
    const store = d.stateStore!;
    const c = store.collisions().find((x) => x.id === id);
    if (!c) throw new ControlError(404, 'not_found', `No open collision with id ${id}.`);
    if (keep === 'mine' && !d.currentPolicy.userOverwriteCollisions) {
      throw new ControlError(403, 'policy_forbids', "Your organization's policy does not allow overwriting the server's version; keep both or keep the server's version.");
    }
    try {
      const msg = await resolveCollision({ store, client: d.apiClient!, machineName: d.machineName, userOverwriteCollisions: d.currentPolicy.userOverwriteCollisions }, c, keep);
      return msg;
    } catch (err) {
      throw new ControlError(409, 'resolve_failed', describeError(err, this.config?.server).message);
    } finally {
      d.engine?.poke();
      this.checkState();
    }
  }

  async resolveAll(keep: Keep): Promise<{ resolved: number; failed: { id: number; message: string }[] }> {
    const d = this.running();
    if (!d.currentPolicy.userBulkResolveWarnings) {
      throw new ControlError(403, 'policy_forbids', "Your organization's policy does not allow resolving several collisions at once; resolve them one by one.");
    }
    if (keep === 'mine' && !d.currentPolicy.userOverwriteCollisions) {
      throw new ControlError(403, 'policy_forbids', "Your organization's policy does not allow overwriting the server's version; keep both or keep the server's version.");
    }
    let resolved = 0;
    const failed: { id: number; message: string }[] = [];
    for (const c of d.stateStore!.collisions()) {
      try {
        await this.resolve(c.id, keep);
        resolved++;
      } catch (err) {
        failed.push({ id: c.id, message: err instanceof Error ? err.message : String(err) });
      }
    }
    return { resolved, failed };
  }

  async setPaused(paused: boolean): Promise<boolean> {
    if (this.daemon?.stateStore) await this.daemon.setPaused(paused);
    else if (existsSync(stateDbPath(this.o.home))) {
      const store = new StateStore(stateDbPath(this.o.home));
      try {
        store.setPaused(null, paused);
      } finally {
        store.close();
      }
    } else throw new ControlError(409, 'not_syncing', 'Nothing to pause: the agent has not synced yet.');
    this.lastPaused = paused;
    this.checkState();
    return paused;
  }

  async updateSettings(patch: { start_at_login?: boolean; manual_collisions?: boolean }): Promise<State['settings']> {
    if (patch.manual_collisions !== undefined) {
      await loadSettings(this.o.home, { manualCollisions: patch.manual_collisions });
      this.manualCollisions = patch.manual_collisions;
      await this.daemon?.reloadSettings();
    }
    if (patch.start_at_login !== undefined) {
      this.uiSettings = { ...this.uiSettings, start_at_login: patch.start_at_login };
      await fsp.mkdir(this.o.home, { recursive: true, mode: 0o700 });
      await writeFileAtomic(uiSettingsPath(this.o.home), `${JSON.stringify(this.uiSettings, null, 2)}\n`, 0o600);
    }
    this.checkState();
    return this.state().settings;
  }
}

/** Starts the service (and, unless ui: false, the control API on 127.0.0.1, writing <home>/control.json). */
export async function startAgentService(o: AgentServiceOptions): Promise<AgentService> {
  const core = new AgentServiceCore(o);
  let control: ControlServer | undefined;
  try {
    await core.init();
    if (o.ui !== false) control = await startControlServer({ core, home: o.home, log: o.log, rendererDir: o.rendererDir });
  } catch (err) {
    await core.stop().catch(() => undefined);
    throw err;
  }
  let stopping: Promise<void> | undefined;
  return {
    url: control?.url ?? null,
    port: control?.port ?? null,
    token: control?.token ?? null,
    started: core.started,
    failed: core.failed,
    loginUrl: () => {
      if (!control) throw new Error('the control API is off');
      return control.mintLoginUrl();
    },
    state: () => core.state(),
    stop: () =>
      (stopping ??= (async () => {
        await control?.close();
        await core.stop();
      })()),
  };
}
