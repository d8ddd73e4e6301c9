// `axis-agent run`: the agent process. Logs in as the stored session, finds the user's
// personal sync root, and keeps it in two-way sync with a local folder until SIGINT/SIGTERM.
// It publishes its live state to <home>/status.json (read by `axis-agent status`).
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import { AxisClient } from '../api/client.js';
import type { Platform } from '../core/paths.js';
import { StateStore } from '../engine/store.js';
import { RootSync } from '../engine/sync.js';
import { SignatureStore } from '../engine/transfer.js';
import { rsyncAvailable, rsyncLoadError } from '../native/librsync.js';
import { loadConfig, tokenStoreFor, type AgentConfig } from './config.js';
import { homePaths, writeFileAtomic } from './home.js';
import { CliError, EXIT_AUTH, NOT_LOGGED_IN } from './output.js';
import { FileSecretStore } from './secrets.js';
import { loadSettings, type AgentSettings } from './settings.js';
import { buildStatus, type AgentStatus } from './status.js';

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
  const paths = homePaths(home);
  return new AxisClient({
    server: config.server,
    trust: config.fingerprint ? { fingerprint: config.fingerprint } : undefined,
    userAgent,
    tokens: tokenStoreFor(new FileSecretStore(paths.credentials, paths.credentialsLock)),
  });
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

  constructor(private readonly o: DaemonOptions) {}

  get engine(): RootSync | undefined {
    return this.sync;
  }

  async start(): Promise<{ rootId: number; syncDir: string }> {
    const config = await loadConfig(homePaths(this.o.home).config);
    if (!config) throw new CliError(NOT_LOGGED_IN, EXIT_AUTH);
    this.settings = await loadSettings(this.o.home, this.o.syncDir ? { syncDir: path.resolve(this.o.syncDir) } : {});
    const syncDir = this.settings.syncDir ?? defaultSyncDir();
    this.client = clientFor(config, this.o.home, this.o.userAgent);
    const person = await this.client.person();
    this.policy = policyFromPerson(person.company_policy);
    const root = person.roots.find((r) => r.id === person.root_id) ?? person.roots.find((r) => r.type === 'sync');
    if (!root) throw new CliError('This account has no personal sync root on the server; ask an administrator to create one.');

    this.store = new StateStore(stateDbPath(this.o.home));
    const known = this.store.root(root.id);
    if (known && path.resolve(known.localPath) !== path.resolve(syncDir)) {
      // A new folder: start over with a merge (never read the old base as deletions).
      this.store.db.transaction(() => {
        for (const t of ['synced_nodes', 'local_nodes']) this.store!.db.prepare(`DELETE FROM ${t} WHERE root_id = ?`).run(root.id);
      })();
    }
    const hadBase = this.store.syncedTree(root.id).size > 0;
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
      api: this.client,
      root: this.store.root(root.id)!,
      machineName: this.settings.machineName ?? os.hostname(),
      platform,
      policy: () => ({
        excludedExtensions: this.policy.excludedExtensions,
        maxFileSize: this.policy.maxFileSizeBytes,
        manualCollisions: this.settings?.manualCollisions ?? true,
      }),
      log: this.o.log,
      signatures: new SignatureStore(path.join(this.o.home, 'signatures')),
      longPollSeconds: this.o.longPollSeconds,
      pollMs: this.o.pollMs,
    });
    if (!rsyncAvailable()) {
      // Said once: the agent still works, with whole-file transfers.
      this.o.log.warn({ reason: rsyncLoadError() }, 'delta transfers are unavailable (the librsync addon did not load); sending whole files');
    }
    await this.sync.start();
    this.timer = setInterval(() => void this.tick(), 250);
    await this.tick();
    return { rootId: root.id, syncDir };
  }

  /** Publishes status and notices pause/resume requests made by other processes. */
  private async tick(): Promise<void> {
    if (!this.store || !this.sync) return;
    const root = this.store.root(this.sync.status.rootId);
    if (root && root.paused !== this.lastPaused) {
      this.lastPaused = root.paused;
      this.sync.poke();
    }
    const status: AgentStatus = buildStatus(this.store, { pid: process.pid, engines: [this.sync] });
    await writeFileAtomic(statusPath(this.o.home), `${JSON.stringify(status)}\n`, 0o600).catch(() => undefined);
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.sync?.stop();
    await this.tick().catch(() => undefined);
    this.client?.close();
    this.store?.close();
  }
}
