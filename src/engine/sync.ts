// RootSync: keeps one server root and one local folder in two-way sync.
//
// One cycle: pull the change feed to its end (remote tree), scan the folder (local tree, no
// re-hash of unchanged files), plan (pure, src/core/planner.ts), carry out the operations with
// bounded concurrency — each re-checks its preconditions against the disk just before acting —
// and commit each finished operation's synced-tree change in one SQLite transaction. Cycles
// repeat until nothing is left to do; then the engine sleeps until the watcher (chokidar), the
// change-feed long poll or the periodic rescan wakes it.
//
// The watcher watches folders only (no per-file watches): each folder's fs.watch reports the
// names of entries that changed in it ('raw' events), which become dirty paths; a cycle re-scans
// only those (a folder with its subtree), and plans only if a tree or the policy changed. A full
// scan runs at start, after a watcher error and periodically as a safety net.
import type { FSWatcher } from 'chokidar';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { promises as fsp, lstatSync, mkdirSync, readdirSync, renameSync, type Stats } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { AgreementTracker } from '../core/agreed.js';
import { syncedChange, type CollisionOp, type MoveRemoteOp, type Operation, type OpOutcome } from '../core/operations.js';
import { baseName, ignoreReason, ignoreRules, joinPath, parentPath, pathKey, splitExtension, uniqueCollisionCopyName, type Platform } from '../core/paths.js';
import { keysCaseInsensitive } from '../core/planner.js';
import { JournaledMap, type LocalEntry, type RemoteEntry, type Trees } from '../core/tree.js';
import { planRoot, type PlanPolicy } from './plan.js';
import { withinSpaceLeft } from './quota.js';
import {
  ConfinementError,
  DirSyncer,
  fileId,
  isStaleTempFile,
  lstatInside,
  readExactly,
  FileChunks,
  lateWritesSettled,
  removeFileChecked,
  resolveInside,
  scanEntry,
  scanTree,
  TargetChangedError,
  TEMP_PREFIX,
  writeFileAtomic,
  type ScannedEntry,
  type ScanOptions,
  type ScanProblem,
} from './localfs.js';
import { apiErrorCode, type RemoteApi } from './remote.js';
import { RemoteWalker } from './remote-walk.js';
import { watchFolders } from './watcher.js';
import { counter, FileChangedError, newCounters, signWhileUploading, tryDeltaDownload, tryDeltaUpload, withSignature, type SignatureStore } from './transfer.js';
import type { RootRecord, StateStore } from './store.js';

export interface RootSyncOptions {
  store: StateStore;
  api: RemoteApi;
  root: RootRecord;
  machineName: string;
  platform?: Platform;
  caseInsensitive?: boolean;
  /** Current policy (read before every plan, so changes apply live). */
  policy: () => Omit<PlanPolicy, 'platform' | 'caseInsensitive'>;
  log: Logger;
  concurrency?: number;
  clock?: () => Date;
  /** Long-poll timeout of the change feed in seconds (0: poll every `pollMs`). */
  longPollSeconds?: number;
  pollMs?: number;
  /** Full rescan period (a safety net beside the watcher). */
  rescanMs?: number;
  /** Debounce of watcher events. */
  debounceMs?: number;
  /** Least time between the full scans made once the engine falls quiet after changes. */
  settleScanMs?: number;
  /** Signatures of synced bases, for delta transfers (none: whole files only). */
  signatures?: SignatureStore;
  /** Bytes the account's space quota has left (null/absent: no limit known); uploads that cannot fit become warnings. */
  spaceLeft?: () => number | null;
}

export interface TransferInfo {
  rootId: number;
  path: string;
  direction: 'up' | 'down';
  size: number;
  started: string;
  /** Content bytes read for sending (up) or written (down) so far: the transfer's progress. */
  done: number;
}

export interface RootStatus {
  rootId: number;
  state: 'starting' | 'syncing' | 'idle' | 'paused' | 'offline' | 'error' | 'stopped';
  queued: number;
  lastError: string | null;
  lastSync: string | null;
}

const PASSIVE = new Set(['warning']);

/** Errors that mean "the world moved on": re-plan, no backoff. */
const STALE_CODES = new Set(['revision_conflict', 'name_conflict', 'not_found', 'resource_locked']);

class Skip extends Error {}

/**
 * Transfers at least this large (the largest file BatchingApi batches) take one of the
 * `concurrency` slots: bandwidth-bound; smaller ones run more widely (see cycle()).
 */
const BIG_TRANSFER = 256 << 10;
/**
 * How many operations run at once, as a multiple of `concurrency` (small files, folders, moves).
 * A small transfer waits in a batch (BatchingApi), so the workers bound how many files are on
 * the way: with 32, the uploading agent of benchmark 3 has about one batch of ~32 files on the
 * way at a time (the next forms only once it came back). 64 took the 9,000 small files alone
 * from 22-23 s to 17 s with less CPU, but the uploading agent's peak RSS went past its 150 MiB
 * budget (docs/benchmarks.md, tenth session), so it stays at 32 for now.
 */
const SMALL_FACTOR = 8;
/** While transfers of an earlier cycle run, a cycle that found nothing else to do is followed by the next at most this often. */
const CARRIED_REPLAN_MS = 1000;
/** Longest a burst of watcher events may postpone a cycle (the debounce restarts on each event up to this). */
const MAX_DEBOUNCE_MS = 250;

type Previous = { size: number; mtimeMs: number; inode: string; sha256?: string };

function toLocal(e: ScannedEntry): LocalEntry {
  return { path: e.path, kind: e.kind, fileId: e.inode, size: e.size, mtime: e.mtimeMs, sha256: e.kind === 'file' ? (e.sha256 ?? null) : null };
}

function sameLocal(a: LocalEntry, b: LocalEntry): boolean {
  return a.kind === b.kind && a.fileId === b.fileId && a.size === b.size && a.mtime === b.mtime && a.sha256 === b.sha256;
}

function asPrevious(e: LocalEntry | undefined): Previous | undefined {
  return e && { size: e.size, mtimeMs: e.mtime, inode: e.fileId, sha256: e.sha256 ?? undefined };
}

export class RootSync extends EventEmitter {
  private readonly o: Required<Pick<RootSyncOptions, 'concurrency' | 'longPollSeconds' | 'pollMs' | 'rescanMs' | 'debounceMs' | 'settleScanMs'>> & RootSyncOptions;
  private rootDir = '';
  private watcher: FSWatcher | undefined;
  private stopped = false;
  private wakeUp: (() => void) | undefined;
  private dirty = true;
  /** A round (pull, scan, plan, execute) is under way. */
  private cycling = false;
  private debounce: NodeJS.Timeout | undefined;
  private debounceSince = 0;
  /** The local tree as last scanned (kept between cycles; the store has the same rows). */
  private localCache: Map<string, LocalEntry> | undefined;
  /** What the planner can leave out of this root's trees, followed from round to round. */
  private readonly agreement = new AgreementTracker();
  /** Root-relative paths the watcher or the executor reported changed since the last scan. */
  private dirtyPaths = new Set<string>();
  /** The dirty paths by case-folded key (see mayHaveCaseTwin). */
  private dirtyFolded = new Map<string, Set<string>>();
  private fullScanNeeded = true;
  /** Plan even if no tree changed (after work, a failure, a retry time, a poke). */
  private needPlan = true;
  private lastPolicyKey = '';
  /** What the executor just wrote (path → size, mtime, inode, hash): the next scan need not hash it. */
  private hints = new Map<string, Previous>();
  /** Folders whose chain was checked in this cycle (see lstatInside); final checks stay uncached. */
  private verified = new Set<string>();
  private readonly dirSyncer = new DirSyncer();
  /** Folders the watcher just added (absolute path → checks so far): re-scanned once their fs.watch exists. */
  private newDirs = new Map<string, number>();
  private newDirTimer: NodeJS.Timeout | undefined;
  /** Watched folders that were removed or moved away (see maybeRevive). */
  private readonly reviving = new Set<string>();
  private reviveTimer: NodeJS.Timeout | undefined;
  private lastFullScan = 0;
  /** A full scan is due once the engine is quiet (see loop()). */
  private settleScanPending = false;
  private settleTimer: NodeJS.Timeout | undefined;
  private rescanTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private pollAbort = new AbortController();
  private loopDone: Promise<void> = Promise.resolve();
  private pollDone: Promise<void> = Promise.resolve();
  private idleWaiters: (() => void)[] = [];
  /** The change-feed poll, woken once idle or once a cycle that started with carried transfers has read the feed (see pollLoop). */
  private pulledWaiters: (() => void)[] = [];
  /**
   * Big transfers planned by an earlier cycle that have not finished (queued or running): a
   * cycle returns once its other operations are done and leaves these running (see cycle()).
   */
  private readonly carried = new Set<Operation>();
  /** The runs of carried transfers (awaited by stop()). */
  private readonly carriedRuns = new Set<Promise<unknown>>();
  /** Slots for big transfers, shared by every cycle's big queue. */
  private bigFree = 0;
  private readonly bigWaiters: (() => void)[] = [];
  /** When the last cycle started, and whether it had anything to run. */
  private lastCycleStart = 0;
  private lastCycleWorked = false;
  /** Operations ("type path") whose last attempt was skipped or refused as stale (see runOne). */
  private readonly replanned = new Set<string>();
  /** Whether the server has the change feed extension (undefined: not known yet). */
  private feedSupported: boolean | undefined;
  private walker: RemoteWalker | undefined;
  readonly transfers = new Map<string, TransferInfo>();
  /** Payload bytes moved and how (whole files or deltas), since start. */
  readonly counters = newCounters();
  status: RootStatus;

  constructor(opts: RootSyncOptions) {
    super();
    this.o = { concurrency: 4, longPollSeconds: 25, pollMs: 5000, rescanMs: 5 * 60_000, debounceMs: 40, settleScanMs: 20_000, ...opts };
    this.status = { rootId: opts.root.id, state: 'starting', queued: 0, lastError: null, lastSync: null };
    this.bigFree = this.o.concurrency;
  }

  private get rootId(): number {
    return this.o.root.id;
  }

  private get platform(): Platform {
    return this.o.platform ?? (process.platform === 'win32' ? 'win32' : process.platform === 'darwin' ? 'darwin' : 'linux');
  }

  private get caseInsensitive(): boolean {
    return this.o.caseInsensitive ?? this.platform !== 'linux';
  }

  private now(): Date {
    return (this.o.clock ?? (() => new Date()))();
  }

  async start(): Promise<void> {
    await fsp.mkdir(this.o.root.localPath, { recursive: true });
    this.rootDir = await fsp.realpath(this.o.root.localPath);
    await this.cleanTempFiles();
    // Folders only: a folder's fs.watch reports changes to every entry in it (the 'raw' events),
    // so no file needs a watch of its own. Our temp names are dropped before any stat.
    this.watcher = watchFolders(this.rootDir, { skipName: (name) => name.startsWith(TEMP_PREFIX) });
    this.watcher.on('raw', (event, filename, details) => this.onRawEvent(event, filename, details));
    this.watcher.on('addDir', (p) => this.onNewDir(p));
    this.watcher.on('unlinkDir', (p) => this.markDirtyAbs(p));
    this.watcher.on('error', (err) => {
      this.o.log.warn({ err, root: this.rootId }, 'file watcher error; rescanning the whole folder');
      this.fullScanNeeded = true;
      this.schedule();
    });
    this.rescanTimer = setInterval(() => {
      this.fullScanNeeded = true;
      this.schedule();
    }, this.o.rescanMs);
    this.rescanTimer.unref();
    this.loopDone = this.loop();
    this.pollDone = this.pollLoop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.pollAbort.abort();
    clearInterval(this.rescanTimer);
    clearTimeout(this.retryTimer);
    clearTimeout(this.debounce);
    clearTimeout(this.newDirTimer);
    clearTimeout(this.settleTimer);
    clearTimeout(this.reviveTimer);
    this.wakeUp?.();
    await this.watcher?.close();
    await Promise.allSettled([this.loopDone]);
    // Carried transfers see `stopped` and start no new one; the running ones finish (a write
    // or an upload is never cut half way by a clean stop).
    await Promise.allSettled([...this.carriedRuns]);
    // Files just deleted or replaced are watched a moment for late writes (usually 0.1 s).
    await lateWritesSettled();
    for (const w of this.pulledWaiters.splice(0)) w();
    // The change-feed poll may wait for the loop to go idle, which a stopped loop never does.
    for (const w of this.idleWaiters.splice(0)) w();
    await Promise.allSettled([this.pollDone]);
    this.status.state = 'stopped';
    for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Wakes the sync loop (debounced) for a new plan (policy, pause, retry times, resolved collisions). */
  poke(): void {
    this.needPlan = true;
    this.schedule();
  }

  /** The watched folders (absolute path → entry names chokidar tracks), for tests and diagnostics. */
  watchedFolders(): Record<string, string[]> {
    return this.watcher?.getWatched() ?? {};
  }

  /** Wakes the loop after the debounce (restarted by each call, at most MAX_DEBOUNCE_MS after the first). */
  private schedule(): void {
    this.dirty = true;
    const now = Date.now();
    if (this.debounce !== undefined && now - this.debounceSince >= MAX_DEBOUNCE_MS) return;
    if (this.debounce === undefined) this.debounceSince = now;
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      this.wakeUp?.();
    }, this.o.debounceMs);
  }

  /** A folder's fs.watch saw `filename` change (no I/O here: the next cycle looks). */
  private onRawEvent(event: string, filename: unknown, details: unknown): void {
    const dir = (details as { watchedPath?: unknown } | undefined)?.watchedPath;
    if (typeof dir !== 'string') return;
    if (filename === null || filename === undefined || filename === '') return this.markDirtyAbs(dir);
    const name = String(filename);
    if (path.basename(name).startsWith(TEMP_PREFIX)) return;
    // The folder itself removed or moved away is reported under its own name.
    if (event === 'rename' && name === path.basename(dir)) this.maybeRevive(dir);
    this.markDirtyAbs(path.join(dir, name));
  }

  /**
   * A watched folder was removed or moved away. If a new folder took its path meanwhile (rm -r
   * and mkdir back to back), chokidar may still hold the fs.watch of the old one, which reports
   * nothing: watch the path afresh (and scan it).
   */
  private maybeRevive(dir: string): void {
    this.reviving.add(dir);
    this.reviveTimer ??= setTimeout(() => {
      this.reviveTimer = undefined;
      const dirs = [...this.reviving];
      this.reviving.clear();
      if (this.stopped || !this.watcher) return;
      for (const d of dirs) {
        // (An entry of the folder with the folder's own name reports the same way.)
        if (lstatSync(path.join(d, path.basename(d)), { throwIfNoEntry: false })) continue;
        if (!lstatSync(d, { throwIfNoEntry: false })?.isDirectory()) continue;
        this.watcher.unwatch(d);
        this.watcher.add(d);
        this.markDirtyAbs(d);
        this.newDirs.set(d, 0);
        this.checkNewDirs();
      }
    }, 100);
  }

  private markDirtyAbs(abs: string): void {
    const rel = path.relative(this.rootDir, abs);
    if (rel.startsWith('..') || path.isAbsolute(rel)) return;
    if (rel === '') this.fullScanNeeded = true;
    else this.addDirty(path.sep === '/' ? rel : rel.split(path.sep).join('/'));
    this.schedule();
  }

  private markDirty(rel: string): void {
    this.addDirty(rel);
    this.dirty = true;
  }

  private addDirty(rel: string): void {
    this.dirtyPaths.add(rel);
    const k = pathKey(rel, true);
    const spellings = this.dirtyFolded.get(k);
    if (spellings) spellings.add(rel);
    else this.dirtyFolded.set(k, new Set([rel]));
  }

  /**
   * Whether an entry spelled like `rel` in other letter case may have appeared in its folder
   * since the scan this cycle planned from. The plan saw every entry the scan found (and plans
   * nothing onto a name that clashes with one); anything that changed in the folder since is a
   * dirty path now (the watcher names every entry that changes). Only then is the folder read.
   * (An entry made microseconds before our own, its event not yet handled, would give a pair
   * of names that differ in case: the next plan reports the clash; nothing is overwritten.)
   */
  private mayHaveCaseTwin(rel: string): boolean {
    if (this.fullScanNeeded) return true;
    for (let a = parentPath(rel); a !== ''; a = parentPath(a)) if (this.dirtyPaths.has(a)) return true;
    const spellings = this.dirtyFolded.get(pathKey(rel, true));
    if (spellings) for (const p of spellings) if (p !== rel) return true;
    return false;
  }

  /**
   * chokidar adds a new folder's fs.watch after it read the folder: entries made in between
   * would go unnoticed, so the folder is scanned now and once more as soon as its watch exists
   * (chokidar registers the watch's closer under the folder's path then).
   */
  private onNewDir(abs: string): void {
    this.markDirtyAbs(abs);
    this.newDirs.set(abs, 0);
    this.checkNewDirs();
  }

  private checkNewDirs(): void {
    if (this.newDirTimer || this.newDirs.size === 0 || this.stopped) return;
    this.newDirTimer = setTimeout(() => {
      this.newDirTimer = undefined;
      const closers = (this.watcher as unknown as { _closers?: Map<string, unknown> } | undefined)?._closers;
      for (const [d, tries] of this.newDirs) {
        if (closers?.has(d) || tries >= 40) {
          this.newDirs.delete(d);
          // Watched now (or gone, or never: then look at everything).
          if (closers?.has(d) || closers === undefined) this.markDirtyAbs(d);
          else if (lstatSync(d, { throwIfNoEntry: false })?.isDirectory()) {
            this.fullScanNeeded = true;
            this.schedule();
          }
        } else this.newDirs.set(d, tries + 1);
      }
      this.checkNewDirs();
    }, 250);
  }

  /** Resolves once the engine has nothing left to do (used by tests and `sync --once`). */
  whenIdle(): Promise<void> {
    if (this.status.state === 'idle' && !this.dirty && !this.cycling && this.carried.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  private async loop(): Promise<void> {
    let failures = 0;
    while (!this.stopped) {
      if (this.o.store.root(this.rootId)?.paused) {
        this.status.state = 'paused';
        await this.sleepUntilWoken(60_000);
        continue;
      }
      if (!this.dirty && this.settleScanPending) {
        // Things happened since the last full scan: once quiet, one more full look (at most
        // every settleScanMs) catches whatever the watcher may have missed.
        const wait = this.lastFullScan + this.o.settleScanMs - Date.now();
        if (wait <= 0) {
          this.settleScanPending = false;
          this.fullScanNeeded = true;
          this.dirty = true;
        } else {
          clearTimeout(this.settleTimer);
          this.settleTimer = setTimeout(() => this.schedule(), wait);
        }
      }
      if (!this.dirty) {
        if (this.carried.size > 0) {
          // Transfers of an earlier cycle still run: not idle (their end wakes the loop).
          await this.sleepUntilWoken(this.o.rescanMs);
          continue;
        }
        this.status.state = 'idle';
        for (const w of this.idleWaiters.splice(0)) w();
        for (const w of this.pulledWaiters.splice(0)) w();
        await this.sleepUntilWoken(this.o.rescanMs);
        continue;
      }
      if (this.carried.size > 0 && !this.lastCycleWorked) {
        // The last plan found nothing to start beside the carried transfers: plan again at
        // most every CARRIED_REPLAN_MS meanwhile (each change, each finished transfer would
        // otherwise plan the whole tree again), or at once when they are done.
        const wait = this.lastCycleStart + CARRIED_REPLAN_MS - Date.now();
        if (wait > 0) {
          await this.sleepUntilWoken(wait);
          continue;
        }
      }
      this.dirty = false;
      // A round that only looks (the change feed echoing our own upload, the safety-net scan)
      // leaves a synced root "synced": the state turns to syncing once there is work (see cycle),
      // so the tray and the UI do not flicker every time the agent checks.
      if (this.status.state !== 'idle') this.status.state = 'syncing';
      this.cycling = true;
      try {
        const worked = await this.cycle();
        failures = 0;
        if (worked > 0) {
          this.dirty = true;
          this.settleScanPending = true;
        }
        this.status.lastSync = this.now().toISOString();
        this.status.lastError = null;
      } catch (err) {
        failures++;
        const msg = (err as Error).message;
        this.status.lastError = msg;
        this.status.state = apiErrorCode(err) === undefined && /ECONN|ETIMEDOUT|ENOTFOUND|socket|network/i.test(msg) ? 'offline' : 'error';
        this.o.log.warn({ err, root: this.rootId }, 'sync cycle failed; retrying');
        this.dirty = true;
        this.needPlan = true;
        await this.sleepUntilWoken(Math.min(30_000, 500 * 2 ** Math.min(failures, 6)));
      } finally {
        this.cycling = false;
      }
    }
  }

  private sleepUntilWoken(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        resolve();
      }
      this.wakeUp = done;
    }).then(() => {
      this.wakeUp = undefined;
    });
  }

  /** Long-polls the change feed only to learn that something changed; the cycle reads it. */
  private async pollLoop(): Promise<void> {
    while (!this.stopped) {
      if (this.feedSupported === false) {
        // No change feed: poll (each folder answers 304 when unchanged).
        await delay(this.o.pollMs);
        this.schedule();
        continue;
      }
      const cursor = this.o.store.root(this.rootId)?.cursor ?? 0;
      try {
        const page = await this.o.api.changes(this.rootId, { cursor, limit: 1, timeout: this.o.longPollSeconds, signal: this.pollAbort.signal });
        if (this.stopped) return;
        if (page.results.length > 0) {
          this.poke();
          // Let the cycle consume the change before polling again from the new cursor: once
          // idle, or (while big transfers are carried, when idle is far) once a cycle that
          // started with them running has read the feed: the next one learns of new changes.
          await new Promise<void>((resolve) => this.pulledWaiters.push(resolve));
        } else if (this.o.longPollSeconds === 0) await delay(this.o.pollMs);
      } catch (err) {
        if (this.stopped) return;
        this.o.log.debug({ err }, 'change feed poll failed');
        await delay(this.o.pollMs);
      }
    }
  }

  /** One plan-and-execute round; returns how many operations were attempted. */
  async cycle(): Promise<number> {
    this.lastCycleStart = Date.now();
    this.lastCycleWorked = false;
    // The transfers carried from earlier cycles as this one starts to look: whatever the trees
    // show of their paths may change under this cycle (one finishing between the scan and the
    // plan would look like a deletion), so nothing is planned on their paths, above or below
    // them, until they are done.
    const carriedPaths = this.carried.size > 0 ? carriedPathKeys(this.carried, this.caseInsensitive) : undefined;
    const remoteChanged = await this.pullRemote();
    if (carriedPaths) for (const w of this.pulledWaiters.splice(0)) w();
    const localChanged = await this.scanLocal();
    // A change in the folder is work to do (whatever the plan says next).
    if (localChanged) this.status.state = 'syncing';
    const policy: PlanPolicy = { ...this.o.policy(), platform: this.platform, caseInsensitive: this.caseInsensitive };
    const policyKey = JSON.stringify(policy);
    // The plan is a pure function of the trees and the policy: unchanged since a plan that left
    // nothing to do (and no retry pending), it would be the same again.
    if (!this.needPlan && !remoteChanged && !localChanged && policyKey === this.lastPolicyKey) return 0;
    this.needPlan = false;
    this.lastPolicyKey = policyKey;
    this.verified = new Set();
    // The trees as the store and the local cache hold them, not copies: the plan reads them at
    // once; the operations look up their own paths in them later, by then as they are then.
    const remote = this.o.store.remoteTreeView(this.rootId);
    const trees: Trees = {
      remote: remote.tree,
      local: this.localCache!,
      synced: this.o.store.syncedTreeView(this.rootId),
    };
    const ops = withinSpaceLeft(planRoot(trees, policy, this.agreement), this.o.spaceLeft?.(), trees);
    // A failure recorded for a path that has nothing planned any more (the world moved on) is
    // not retried: forget it, so no stale "retrying" warning stays behind.
    const planned = new Set(ops.filter((o) => !PASSIVE.has(o.type)).map(opPath));
    for (const p of this.o.store.backoffs(this.rootId).keys()) if (!planned.has(p)) this.o.store.clearFailure(this.rootId, p);
    const warnings = ops.filter((o) => o.type === 'warning');
    const rejected = remote.rejected;
    this.o.store.setWarnings(this.rootId, [
      ...warnings.map((w) => ({ side: w.side, path: w.path, code: w.code, message: w.message })),
      ...rejected.map((r) => ({ side: 'remote', path: r.name, code: 'invalidRemotePath', message: r.reason })),
      ...[...this.o.store.backoffs(this.rootId)].map(([p, b]) => ({ side: 'local', path: p, code: 'retrying', message: `${b.lastError} (attempt ${b.attempts})` })),
    ]);
    const colliding = new Set<string>();
    const now = this.now();
    const backoffs = this.o.store.backoffs(this.rootId);
    const todo: Operation[] = [];
    let retryAt = Number.POSITIVE_INFINITY;
    for (const op of ops) {
      if (PASSIVE.has(op.type)) continue;
      if (op.type === 'collision' && op.mode === 'manual') {
        colliding.add(op.localPath);
        this.o.store.recordCollision(this.rootId, op, now);
        continue;
      }
      if (carriedPaths && touchesCarried(op, carriedPaths, this.caseInsensitive)) {
        // Planned again once they are done: the plan must not be skipped as unchanged then (a
        // carried transfer that ended during this cycle has already asked for its re-plan,
        // which this one used up).
        this.needPlan = true;
        continue;
      }
      const b = backoffs.get(opPath(op));
      if (b && b.nextTry > now.getTime()) {
        retryAt = Math.min(retryAt, b.nextTry);
        continue;
      }
      todo.push(op);
    }
    // Postponed operations: wake up when the first may be retried (else nothing would, once
    // the folder and the server fall quiet).
    clearTimeout(this.retryTimer);
    if (retryAt !== Number.POSITIVE_INFINITY) this.retryTimer = setTimeout(() => this.poke(), Math.max(0, retryAt - now.getTime()));
    this.o.store.closeStaleCollisions(this.rootId, colliding, now);
    this.status.queued = todo.length + this.carried.size;
    if (todo.length === 0) return 0;
    this.lastCycleWorked = true;
    this.status.state = 'syncing';
    // Something will change: the next cycle plans again.
    this.needPlan = true;
    // Big transfers (bandwidth-bound) have a queue and `concurrency` slots of their own (shared
    // with the big transfers carried from earlier cycles); every other operation (small
    // transfers, paced by per-file latency: round trips, fsyncs; folders; moves) has
    // SMALL_FACTOR times as many workers. Small files keep moving while big ones do (with one
    // queue, workers that met a big operation waited for a slot, and the small operations
    // behind them waited too), and once the small ones are done the cycle returns and leaves
    // the big ones running, "carried": the next cycle plans around them (see carriedPaths).
    //
    // Folders created in this round: an operation below one waits until it exists (else it
    // would find its folder missing, skip and wait for the next round). Small operations wait
    // for a creation another worker has started (as one queue ran them: a parent comes before
    // its children); big ones for any creation in the round, which the small queue reaches in
    // its turn (the small queue never waits for the big one, so this cannot deadlock).
    const creating = new Map<string, { started: boolean; done: Promise<void>; resolve: () => void }>();
    for (const op of todo) {
      if (op.type !== 'createLocalFolder' && op.type !== 'createRemoteFolder') continue;
      let resolve!: () => void;
      const done = new Promise<void>((r) => (resolve = r));
      creating.set(op.localPath, { started: false, done, resolve });
    }
    const big: Operation[] = [];
    const small: Operation[] = [];
    for (const op of todo) (transferSize(op) >= BIG_TRANSFER ? big : small).push(op);
    const waitForFolders = async (op: Operation, isBig: boolean) => {
      if (creating.size === 0) return;
      for (let p = parentPath(opPath(op)); p !== ''; p = parentPath(p)) {
        const c = creating.get(p);
        if (c && (isBig || c.started)) await c.done;
      }
    };
    let nextSmall = 0;
    const smallWorker = async () => {
      while (!this.stopped && nextSmall < small.length) {
        const op = small[nextSmall++]!;
        const folder = op.type === 'createLocalFolder' || op.type === 'createRemoteFolder' ? creating.get(op.localPath) : undefined;
        if (folder) folder.started = true;
        await waitForFolders(op, false);
        try {
          await this.runOne(op, trees);
        } finally {
          folder?.resolve();
        }
        this.status.queued = Math.max(0, this.status.queued - 1);
      }
    };
    let nextBig = 0;
    const bigWorker = async () => {
      while (!this.stopped && nextBig < big.length) {
        const op = big[nextBig++]!;
        await waitForFolders(op, true);
        await this.acquireBig();
        try {
          if (!this.stopped) await this.runOne(op, trees);
        } finally {
          this.releaseBig();
          this.carried.delete(op);
        }
        this.status.queued = Math.max(0, this.status.queued - 1);
      }
    };
    for (const op of big) this.carried.add(op);
    let carriedOn = false;
    const bigDone = Promise.all(Array.from({ length: Math.min(this.o.concurrency, big.length) }, bigWorker)).finally(() => {
      // (Stopped half way: the ones not started are not carried any more.)
      for (const op of big) this.carried.delete(op);
    });
    this.carriedRuns.add(bigDone);
    bigDone
      .catch((err: unknown) => {
        // Once carried, a failure is not this cycle's to throw (the loop has moved on).
        if (carriedOn) this.o.log.warn({ err, root: this.rootId }, 'a carried transfer failed; re-planning');
      })
      .finally(() => {
        this.carriedRuns.delete(bigDone);
        if (!carriedOn || this.stopped) return;
        // Their paths can be planned again: re-plan now.
        this.needPlan = true;
        this.schedule();
      });
    try {
      await Promise.all(Array.from({ length: Math.min(this.o.concurrency * SMALL_FACTOR, small.length) }, smallWorker));
    } finally {
      // (Stopped half way: nothing may wait for a folder that no worker will create.)
      for (const c of creating.values()) c.resolve();
    }
    if (!this.stopped && big.some((op) => this.carried.has(op))) {
      carriedOn = true;
      return todo.length;
    }
    await bigDone;
    return todo.length;
  }

  private async acquireBig(): Promise<void> {
    while (this.bigFree === 0) await new Promise<void>((r) => this.bigWaiters.push(r));
    this.bigFree--;
  }

  private releaseBig(): void {
    this.bigFree++;
    this.bigWaiters.shift()?.();
  }

  private async runOne(op: Operation, trees: Trees): Promise<void> {
    const p = opPath(op);
    const opKey = `${op.type} ${p}`;
    try {
      const outcome = await this.execute(op, trees);
      let change = syncedChange(op, outcome);
      if (op.type === 'upload' && change.kind === 'put' && outcome.sha256 && outcome.sha256 !== op.expectLocal.sha256) {
        // The file changed while it was sent: the base is what the server got.
        change = { ...change, entry: { ...change.entry, sha256: outcome.sha256, size: outcome.uploadedSize ?? change.entry.size } };
      }
      // One transaction: the merge base, the failure record and the activity log line (in the
      // group commit of the operations finishing with this one).
      await this.o.store.commitSoon(() =>
        this.o.store.applySyncedChange(this.rootId, change, () => {
          this.o.store.clearFailure(this.rootId, p);
          this.o.store.activity(this.rootId, op.type, p);
        }),
      );
      this.touchedLocally(op, outcome);
      this.replanned.delete(opKey);
      this.emit('operation', op);
    } catch (err) {
      // A skip or a stale refusal re-plans at once the first time (the trees were just behind).
      // When the same operation meets it again, something the trees cannot show is in the way
      // (a named pipe where a file should go, a server node we do not list): back off like a
      // failure, else the engine would re-plan the same operation in a hot loop forever.
      const code = apiErrorCode(err);
      const stale = err instanceof Skip || (code !== undefined && STALE_CODES.has(code));
      // Whatever the disk holds there now, the next scan looks again (the local tree may be behind).
      for (const rel of localPathsOf(op)) this.markDirty(rel);
      if (stale && !this.replanned.has(opKey)) {
        this.replanned.add(opKey);
        this.o.log.debug({ op: op.type, path: p, why: err instanceof Skip ? err.message : code }, 'operation skipped; re-planning');
        return;
      }
      const msg = err instanceof ConfinementError ? err.message : `${(err as Error).message}`;
      const attempts = this.o.store.recordFailure(this.rootId, p, msg, Date.now());
      this.o.log.warn({ op: op.type, path: p, attempts, err: msg }, 'operation failed; will retry later');
    }
  }

  /**
   * What an operation changed on the disk is scanned again in the next cycle, whether or not
   * the watcher reports it (a missed event must never leave the local tree behind the disk).
   */
  private touchedLocally(op: Operation, outcome: OpOutcome): void {
    switch (op.type) {
      case 'download':
        if (outcome.localFileId && outcome.mtime !== undefined && outcome.sha256) {
          this.hints.set(op.localPath, { size: op.size, mtimeMs: outcome.mtime, inode: outcome.localFileId, sha256: outcome.sha256 });
        }
        this.markDirty(op.localPath);
        break;
      case 'createLocalFolder':
      case 'deleteLocal':
        this.markDirty(op.localPath);
        break;
      case 'moveLocal':
        this.markDirty(op.from);
        this.markDirty(op.to);
        break;
      case 'collision':
        this.markDirty(op.localPath);
        if (outcome.copyPath) this.markDirty(outcome.copyPath);
        break;
      default:
        break;
    }
  }

  // ----- observers -----

  /** Reads the change feed to its end; true if anything changed. */
  private async pullRemote(): Promise<boolean> {
    if (this.feedSupported === false) {
      await this.walkRemote();
      return true;
    }
    let changed = false;
    for (let i = 0; i < 10_000 && !this.stopped; i++) {
      const cursor = this.o.store.root(this.rootId)?.cursor ?? 0;
      let page;
      try {
        page = await this.o.api.changes(this.rootId, { cursor, limit: 1000, timeout: 0 });
        this.feedSupported = true;
      } catch (err) {
        if (this.feedSupported === undefined && apiErrorCode(err) === 'not_found') {
          // Either the root is gone (this throws) or the server has no change feed.
          await this.o.api.root(this.rootId, { includeDeleted: false });
          this.feedSupported = false;
          this.o.log.info({ root: this.rootId }, 'the server has no change feed; polling folder listings instead');
          await this.walkRemote();
          return true;
        }
        throw err;
      }
      this.o.store.applyRemoteChanges(
        this.rootId,
        page.results.map((c) => ({
          id: c.id,
          parentId: c.parent_id,
          name: c.name,
          kind: c.type,
          isDeleted: c.is_deleted,
          revisionId: c.type === 'file' ? (c.revision_id ?? null) : null,
          size: c.type === 'file' ? (c.size ?? 0) : 0,
          sha256: c.type === 'file' ? (c.sha256 ?? null) : null,
          modified: c.modified ?? null,
        })),
        page.cursor,
      );
      if (page.results.length > 0) changed = true;
      if (!page.has_more) return changed;
    }
    return changed;
  }

  private async walkRemote(): Promise<void> {
    this.walker ??= new RemoteWalker(this.o.api, this.rootId);
    this.o.store.replaceRemoteTree(this.rootId, await this.walker.walk());
  }

  /**
   * Brings the local tree up to date with the disk: a full scan at start, after watcher errors
   * and periodically; otherwise only the dirty paths (a folder with its subtree). Only rows that
   * changed are written. Returns whether the tree changed.
   */
  private async scanLocal(): Promise<boolean> {
    const rules = ignoreRules(this.o.policy().excludedExtensions ?? []);
    const temps: string[] = [];
    const hints = this.hints;
    const dirty = this.dirtyPaths;
    this.hints = new Map();
    this.dirtyPaths = new Set();
    this.dirtyFolded = new Map();
    const full = this.fullScanNeeded || !this.localCache;
    // A full scan over a tree the watcher kept up to date (not the first one, nothing dirty
    // pending) should find nothing new: say so if it does.
    const safetyNet = full && this.localCache !== undefined && dirty.size === 0;
    this.fullScanNeeded = false;
    const opts = (previous: ReadonlyMap<string, LocalEntry>): ScanOptions => ({
      onTempFile: (abs) => temps.push(abs),
      // Junk and our temp files are never synced; policy exclusions reach the planner, which
      // explains them as warnings.
      ignore: (name) => {
        const r = rules(name);
        return r !== null && r.kind !== 'excluded';
      },
      previous: (rel) => hints.get(rel) ?? asPrevious(previous.get(rel)),
    });
    let changed: boolean;
    try {
      if (full) {
        changed = await this.fullScan(opts);
        if (changed && safetyNet) this.o.log.info({ root: this.rootId }, 'a full rescan found changes the watcher had not reported');
      }
      else if (dirty.size === 0) return false;
      else changed = await this.partialScan(dirty, opts);
    } catch (err) {
      // Whatever was dirty is still unknown: look at everything next time.
      this.fullScanNeeded = true;
      throw err;
    }
    // No operation of this engine runs during a scan: temp files not being written are leftovers
    // (e.g. of a download whose folder the user renamed meanwhile).
    for (const abs of temps) if (isStaleTempFile(abs)) await fsp.rm(abs, { force: true, recursive: true }).catch(() => undefined);
    return changed;
  }

  private logProblems(problems: readonly ScanProblem[]): void {
    for (const pr of problems) this.o.log.debug({ root: this.rootId, ...pr }, 'scan problem');
  }

  private async fullScan(opts: (previous: ReadonlyMap<string, LocalEntry>) => ScanOptions): Promise<boolean> {
    const previous = this.localCache ?? this.o.store.localTree(this.rootId);
    this.lastFullScan = Date.now();
    const { entries, problems } = await scanTree(this.rootDir, opts(previous));
    this.logProblems(problems);
    const next = new JournaledMap<string, LocalEntry>();
    const puts: LocalEntry[] = [];
    for (const e of entries) {
      const le = toLocal(e);
      const old = previous.get(le.path);
      if (old && sameLocal(old, le)) {
        // Unchanged: keep the entry (and its strings) the cache already holds, so the new one is
        // garbage at once and a full scan retains no second copy of the tree.
        next.set(old.path, old);
        continue;
      }
      next.set(le.path, le);
      puts.push(le);
    }
    const removes: string[] = [];
    for (const p of previous.keys()) if (!next.has(p)) removes.push(p);
    this.o.store.updateLocalTree(this.rootId, puts, removes);
    this.localCache = next;
    return puts.length > 0 || removes.length > 0;
  }

  /** Re-scans the dirty paths only (each with its subtree if it is a folder). */
  private async partialScan(dirty: ReadonlySet<string>, opts: (previous: ReadonlyMap<string, LocalEntry>) => ScanOptions): Promise<boolean> {
    const cache = this.localCache!;
    const o = opts(cache);
    // Each dirty path, or its highest ancestor the tree does not know as a folder (a new
    // folder's entries are scanned with it); then only the topmost of nested ones.
    const tops = new Set<string>();
    for (let rel of dirty) {
      for (let p = parentPath(rel); p !== '' && cache.get(p)?.kind !== 'folder'; p = parentPath(p)) rel = p;
      tops.add(rel);
    }
    const list = [...tops].filter((r) => {
      for (let p = parentPath(r); p !== ''; p = parentPath(p)) if (tops.has(p)) return false;
      return true;
    });
    // Their folders must still be folders inside the root (no symlink on the way); if not, the
    // tree is too far behind for a partial look.
    const verified = new Set<string>();
    for (const r of list) {
      const parent = parentPath(r);
      if (parent === '') continue;
      let ok = false;
      try {
        ok = (await lstatInside(this.rootDir, parent, verified)).st?.isDirectory() === true;
      } catch (err) {
        if (!(err instanceof ConfinementError)) throw err;
      }
      if (!ok) return this.fullScan(opts);
    }
    const problems: ScanProblem[] = [];
    const found = new Map<string, LocalEntry>();
    for (const r of list) {
      const e = await scanEntry(path.join(this.rootDir, ...r.split('/')), r, o, problems);
      if (!e) continue;
      found.set(r, toLocal(e));
      if (e.kind === 'folder') {
        const sub = await scanTree(this.rootDir, o, r);
        problems.push(...sub.problems);
        for (const x of sub.entries) found.set(x.path, toLocal(x));
      }
    }
    this.logProblems(problems);
    // What the tree held at and below each path.
    const gone = new Set<string>();
    const folders = new Set<string>();
    for (const r of list) {
      const old = cache.get(r);
      if (!old) continue;
      if (!found.has(r)) gone.add(r);
      if (old.kind === 'folder') folders.add(r);
    }
    if (folders.size > 0) {
      for (const p of cache.keys()) {
        if (found.has(p) || gone.has(p)) continue;
        for (let a = parentPath(p); a !== ''; a = parentPath(a)) {
          if (folders.has(a)) {
            gone.add(p);
            break;
          }
        }
      }
    }
    const puts: LocalEntry[] = [];
    for (const [p, e] of found) {
      const old = cache.get(p);
      if (!old || !sameLocal(old, e)) puts.push(e);
    }
    const removes = [...gone];
    this.o.store.updateLocalTree(this.rootId, puts, removes);
    for (const p of removes) cache.delete(p);
    for (const e of puts) cache.set(e.path, e);
    return puts.length > 0 || removes.length > 0;
  }

  private async cleanTempFiles(): Promise<void> {
    // Temp files of downloads interrupted by a crash: never visible as synced content.
    const walk = async (dir: string): Promise<void> => {
      for (const d of await fsp.readdir(dir, { withFileTypes: true }).catch(() => [])) {
        const abs = path.join(dir, d.name);
        if (d.name.startsWith(`${TEMP_PREFIX}case-`)) {
          // The middle step of a case-only rename interrupted by a crash: this is the user's own
          // file or folder. Put it back under its target name (or a free "recovered" name).
          const wanted = d.name.replace(/^\.axis-tmp-case-\d+-?/, '');
          let target = wanted ? path.join(dir, wanted) : '';
          if (!target || (await fsp.lstat(target).then(() => true, () => false))) target = path.join(dir, `recovered ${Date.now()} ${wanted || 'item'}`);
          await fsp.rename(abs, target);
          this.o.log.warn({ root: this.rootId, from: abs, to: target }, 'recovered an item left by an interrupted case-only rename');
        } else if (d.name.startsWith(TEMP_PREFIX)) await fsp.rm(abs, { force: true, recursive: true });
        else if (d.isDirectory()) await walk(abs);
      }
    };
    await walk(this.rootDir);
  }

  // ----- the executor -----

  /**
   * The absolute path of `rel` (confined: no symlink or file on the way) and its lstat. Cached:
   * folders checked earlier in this cycle are not checked again (reads and first looks only;
   * deletes, moves and the last look before a rename check the whole chain).
   */
  private async lstatLocal(rel: string, cached = false): Promise<{ abs: string; st: Stats | undefined }> {
    return lstatInside(this.rootDir, rel, cached ? this.verified : undefined);
  }

  /** The local entry must still be what the scan saw (same file id, size and mtime). */
  private async expectUnchanged(rel: string, expect: { fileId: string } | null, scanned: LocalEntry | undefined, cached = false): Promise<string> {
    const { abs, st } = await this.lstatLocal(rel, cached);
    // Early looks of a cached round leave the letter-case twin to the last look before the swap.
    this.compareEntry(rel, expect, scanned, st, !cached);
    return abs;
  }

  /**
   * expectUnchanged on a stat the caller took (synchronous: used right before a swap). `twins`:
   * also look for the name in other letter case (a folder listing; done at the last look).
   */
  private compareEntry(rel: string, expect: { fileId: string } | null, scanned: LocalEntry | undefined, st: Stats | undefined, twins = true): void {
    if (expect === null) {
      if (st) throw new Skip(`${rel} appeared locally`);
      if (!twins) return;
      const twin = this.caseTwin(rel);
      if (twin !== undefined) throw new Skip(`${rel} appeared locally as ${twin}`);
      return;
    }
    if (!st) throw new Skip(`${rel} is gone locally`);
    if (fileId(st) !== expect.fileId) throw new Skip(`${rel} is another file now`);
    if (scanned && st.isFile() && (st.size !== scanned.size || Math.trunc(st.mtimeMs) !== scanned.mtime)) throw new Skip(`${rel} changed since the scan`);
  }

  /**
   * On a case-sensitive disk whose names the planner compares case-insensitively (the server
   * folds case), another entry in `rel`'s folder with `rel`'s name in other letter case (an
   * exact-name look-up cannot see it; a case-insensitive disk finds it by itself).
   */
  private caseTwin(rel: string, except?: string): string | undefined {
    if (this.caseInsensitive || !keysCaseInsensitive({ ...this.o.policy(), caseInsensitive: false })) return undefined;
    if (!this.mayHaveCaseTwin(rel)) return undefined;
    const dir = parentPath(rel);
    const name = baseName(rel);
    let names: string[];
    try {
      names = readdirSync(dir === '' ? this.rootDir : path.join(this.rootDir, ...dir.split('/')));
    } catch {
      return undefined;
    }
    const key = pathKey(name, true);
    return names.find((n) => n !== name && n !== except && !n.startsWith(TEMP_PREFIX) && pathKey(n, true) === key);
  }

  private async execute(op: Operation, trees: Trees): Promise<OpOutcome & { uploadedSize?: number }> {
    const api = this.o.api;
    const rootId = this.rootId;
    switch (op.type) {
      case 'upload': {
        const abs = await this.expectUnchanged(op.localPath, op.expectLocal, trees.local.get(op.localPath), true);
        const key = `up:${op.localPath}`;
        const info: TransferInfo = { rootId, path: op.localPath, direction: 'up', size: op.expectLocal.size, started: this.now().toISOString(), done: 0 };
        this.transfers.set(key, info);
        try {
          const sigs = this.o.signatures;
          const base = op.synced.replaces !== null ? trees.synced.get(op.synced.replaces) : undefined;
          if (sigs && op.remoteId !== null && op.baseRevisionId !== null && base?.revisionId === op.baseRevisionId) {
            try {
              const viaDelta = await tryDeltaUpload(api, sigs, this.counters, {
                rootId,
                fileId: op.remoteId,
                baseRevisionId: op.baseRevisionId,
                baseSize: base.size,
                abs,
                name: op.name,
                size: op.expectLocal.size,
                sha256: op.expectLocal.sha256,
                modified: new Date(op.expectLocal.mtime),
              });
              if (viaDelta) return { remoteId: viaDelta.id, revisionId: viaDelta.revision_id, sha256: viaDelta.sha256 ?? undefined, uploadedSize: viaDelta.size };
            } catch (err) {
              if (err instanceof FileChangedError) throw new Skip(err.message);
              throw err;
            }
          }
          // Exactly the scanned size, or the request is aborted at once (see readExactly).
          let changed: string | undefined;
          const body = readExactly(abs, op.expectLocal.size, (why) => (changed = why));
          // A failure before the request listens (while the signature's temp file is made) stays
          // on the stream for the request; it must not be an uncaught exception meanwhile.
          body.on('error', () => undefined);
          // The signature of the sent bytes is made while they are sent (for later deltas).
          const signing = sigs ? await signWhileUploading(sigs, { rootId, size: op.expectLocal.size }, body) : undefined;
          // Progress: the bytes the request has taken (it reads through the bandwidth limiter).
          const source = signing?.stream ?? body;
          const sent = counter((n) => (info.done += n));
          source.on('error', (err) => sent.destroy(err));
          source.pipe(sent);
          let file: Awaited<ReturnType<RemoteApi['upload']>>;
          try {
            file = await api.upload(rootId, op.remoteParentId, op.name, sent, {
              size: op.expectLocal.size,
              modified: new Date(op.expectLocal.mtime),
              ...(op.remoteId !== null ? { fileId: op.remoteId, baseRevisionId: op.baseRevisionId ?? undefined } : {}),
            });
          } catch (err) {
            await signing?.discard().catch(() => undefined);
            if (changed !== undefined) throw new Skip(`${op.localPath} ${changed} while it was sent`);
            throw err;
          } finally {
            body.destroy();
            sent.destroy();
          }
          // The server stored every byte: none of the read buffers can still be read (see
          // FileChunks). (Not when a signature was made of them meanwhile: that has its own pace.)
          if (source === body && body instanceof FileChunks) body.release();
          this.counters.bytesUp += op.expectLocal.size;
          this.counters.wholeUploads++;
          await signing?.keep(file.id, file.revision_id).catch((err: unknown) => this.o.log.debug({ err }, 'could not keep the signature of an uploaded file'));
          return { remoteId: file.id, revisionId: file.revision_id, sha256: file.sha256 ?? undefined, uploadedSize: file.size };
        } finally {
          this.transfers.delete(key);
        }
      }
      case 'download': {
        const scanned = trees.local.get(op.localPath);
        await this.expectUnchanged(op.localPath, op.expectLocal, scanned, true);
        await this.expectFolder(parentPath(op.localPath));
        const key = `down:${op.localPath}`;
        const info: TransferInfo = { rootId, path: op.localPath, direction: 'down', size: op.size, started: this.now().toISOString(), done: 0 };
        this.transfers.set(key, info);
        const sigs = this.o.signatures;
        let signature: Awaited<ReturnType<typeof withSignature>> | undefined;
        try {
          const base = op.synced.replaces !== null ? trees.synced.get(op.synced.replaces) : undefined;
          let body: Readable | undefined;
          if (op.expectLocal && base && base.revisionId !== null && base.remoteId === op.remoteId && op.expectLocal.sha256 === base.sha256) {
            body = await tryDeltaDownload(api, this.counters, {
              rootId,
              fileId: op.remoteId,
              baseRevisionId: base.revisionId,
              revisionId: op.revisionId,
              basisAbs: await resolveInside(this.rootDir, op.localPath, this.verified),
              baseSize: base.size,
              size: op.size,
            });
          }
          // A whole download's bytes on the wire are the bytes of the new content: counted with
          // the progress below (one pass-through stream less per download).
          const whole = !body;
          if (!body) {
            body = await api.download(rootId, op.remoteId, { revisionId: op.revisionId, size: op.size });
            this.counters.wholeDownloads++;
          }
          // The body may fail (a delta patched from a local base the user just changed or
          // removed) before anything consumes it: an unheard 'error' would crash the agent. The
          // consumers still see the error (the stream is left errored).
          body.on('error', () => undefined);
          if (sigs) {
            signature = await withSignature(sigs, { rootId, fileId: op.remoteId, revisionId: op.revisionId, size: op.size }, body);
            body = signature.stream;
            body.on('error', () => undefined);
          }
          // Progress: the bytes of the new content produced so far (whole or patched from a delta).
          const produced = body;
          const progress = counter(
            whole
              ? (n) => {
                  info.done += n;
                  this.counters.bytesDown += n;
                }
              : (n) => (info.done += n),
          );
          produced.on('error', (err) => progress.destroy(err));
          body = produced.pipe(progress);
          body.on('error', () => undefined);
          const remote = trees.remote.get(op.remotePath);
          const mtimeMs = remote?.modified ? Date.parse(`${remote.modified}Z`) : undefined;
          const res = await writeFileAtomic(this.rootDir, op.localPath, body, {
            createParents: false,
            verified: this.verified,
            dirSyncer: this.dirSyncer,
            expectedSha256: op.sha256 ?? undefined,
            mtimeMs: Number.isFinite(mtimeMs) ? mtimeMs : undefined,
            // (The last look at the target, synchronous with the swap: see swapIntoPlace.)
            lastCheck: (st) => this.compareEntry(op.localPath, op.expectLocal, scanned, st),
          }).catch((err: unknown) => {
            if (err instanceof TargetChangedError) throw new Skip(err.message);
            throw err;
          });
          await signature?.keep().catch(() => undefined);
          signature = undefined;
          return { localFileId: fileId(res.stat), mtime: Math.trunc(res.stat.mtimeMs), sha256: res.sha256 };
        } finally {
          await signature?.discard().catch(() => undefined);
          this.transfers.delete(key);
        }
      }
      case 'createLocalFolder': {
        const { abs, st } = await this.lstatLocal(op.localPath);
        if (st) throw new Skip(`${op.localPath} exists`);
        await this.expectFolder(parentPath(op.localPath));
        // The last look (letter-case twin) and the mkdir back to back (no await between): a folder
        // the user makes meanwhile in other letter case must not end up beside ours.
        const twin = this.caseTwin(op.localPath);
        if (twin !== undefined) throw new Skip(`${op.localPath} exists as ${twin}`);
        try {
          mkdirSync(abs);
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          throw code === 'EEXIST' || code === 'ENOENT' ? new Skip(`${op.localPath}: ${code}`) : err;
        }
        return { localFileId: fileId(await fsp.lstat(abs)) };
      }
      case 'createRemoteFolder': {
        await this.expectUnchanged(op.localPath, op.expectLocal, undefined);
        const f = await api.createFolder(rootId, op.remoteParentId, op.name);
        return { remoteId: f.id };
      }
      case 'deleteLocal': {
        const scanned = trees.local.get(op.localPath);
        const abs = await this.expectUnchanged(op.localPath, op.expectLocal, scanned);
        if (op.kind === 'file') {
          try {
            removeFileChecked(abs, (st) => this.compareEntry(op.localPath, op.expectLocal, scanned, st));
          } catch (err) {
            if (err instanceof TargetChangedError) throw new Skip(err.message);
            throw err;
          }
        } else {
          // Only junk may remain inside (the planner checked the tree; re-check the disk).
          for (const name of await fsp.readdir(abs)) {
            const r = ignoreReason(name);
            if (!r || r.kind === 'excluded') throw new Skip(`${op.localPath} is not empty`);
            await fsp.rm(path.join(abs, name), { force: true, recursive: true });
          }
          await fsp.rmdir(abs);
        }
        return {};
      }
      case 'deleteRemote':
        if (!this.caseInsensitive && !trees.local.has(op.syncedPath)) {
          // The local tree says it is gone: the disk must agree (the tree is kept up to date by
          // watcher events; one missed must not delete the server's copy of a file that is there).
          const { st } = await this.lstatLocal(op.syncedPath, true);
          if (st && (st.isFile() || st.isDirectory())) throw new Skip(`${op.syncedPath} is there locally`);
        }
        await api.delete(rootId, { type: op.kind, id: op.remoteId }, op.kind === 'file' && op.baseRevisionId !== null ? { baseRevisionId: op.baseRevisionId } : {});
        return {};
      case 'moveLocal': {
        const from = await this.expectUnchanged(op.from, op.expectLocal, undefined);
        const { abs: to, st } = await this.lstatLocal(op.to);
        // A case-only rename finds the entry itself at `to` on a case-insensitive disk; on a
        // case-sensitive one `to` may be another file, which must never be overwritten.
        if (st && (!op.caseOnly || fileId(st) !== op.expectLocal.fileId)) throw new Skip(`${op.to} exists`);
        const parent = parentPath(op.to);
        if (parent) {
          const pp = await this.lstatLocal(parent);
          if (!pp.st?.isDirectory()) throw new Skip(`folder ${parent} is missing`);
        }
        if (op.caseOnly && st) {
          // Case-insensitive disk: through a temporary name, put back if the second step fails.
          // The temp name carries the target name, so a crash between the two steps is recovered
          // at the next start (cleanTempFiles) instead of hiding the user's file.
          const tmpName = `${TEMP_PREFIX}case-${process.pid}-${path.basename(to)}`;
          const tmp = path.join(path.dirname(from), Buffer.byteLength(tmpName) <= 255 ? tmpName : `${TEMP_PREFIX}case-${process.pid}`);
          await fsp.rename(from, tmp);
          try {
            await fsp.rename(tmp, to);
          } catch (err) {
            await fsp.rename(tmp, from).catch(() => undefined);
            throw err;
          }
        } else {
          // The last look and the rename back to back (no await between): never over an entry
          // that appeared at `to` (or, on a case-sensitive disk, at `to` in other letter case).
          const twin = this.caseTwin(op.to, parentPath(op.from) === parent ? baseName(op.from) : undefined);
          if (lstatSync(to, { throwIfNoEntry: false }) || twin !== undefined) throw new Skip(`${op.to} appeared locally`);
          renameSync(from, to);
        }
        return {};
      }
      case 'moveRemote':
        await this.moveRemoteNode(op, trees);
        return {};
      case 'collision':
        return this.keepBoth(op, trees);
      case 'updateSynced':
        return {};
      case 'warning':
        return {};
    }
  }

  /** The local folder `rel` ('' = the root) must exist (the user may have moved or removed it since the scan). */
  private async expectFolder(rel: string): Promise<void> {
    if (rel === '') return;
    const { st } = await this.lstatLocal(rel, true);
    if (!st?.isDirectory()) throw new Skip(`folder ${rel} is missing`);
  }

  /**
   * The API moves and renames in separate calls, and only the final slot (new folder, new
   * name) is known to be free. When both change, the first call passes through an intermediate
   * slot that may be taken: the old name in the new folder (move first), or the new name in the
   * old folder (rename first). Try one, then the other, then a temporary name; if a later step
   * fails, undo the earlier ones (best effort) so the server does not keep a half-done move.
   */
  private async moveRemoteNode(op: MoveRemoteOp, trees: Trees): Promise<void> {
    const api = this.o.api;
    const rootId = this.rootId;
    const node = { type: op.kind, id: op.remoteId } as const;
    const oldName = baseName(op.from);
    const moving = parentPath(op.from) !== parentPath(op.to) || op.parking;
    const renaming = oldName !== op.name;
    if (!moving || !renaming) {
      if (moving) await api.move(rootId, node, op.toParentId);
      if (renaming) await api.rename(rootId, node, op.name);
      return;
    }
    const fromParent = parentPath(op.from);
    const fromParentId = fromParent === '' ? null : (trees.remote.get(fromParent)?.id ?? null);
    const undo = async (steps: (() => Promise<unknown>)[]) => {
      for (const step of steps) await step().catch((err: unknown) => this.o.log.warn({ err, path: op.from }, 'could not undo part of a remote move'));
    };
    const taken = (err: unknown) => apiErrorCode(err) === 'name_conflict';
    const moveBack = () => api.move(rootId, node, fromParentId);
    const renameBack = () => api.rename(rootId, node, oldName);
    const sequences: { first: () => Promise<unknown>; then: (() => Promise<unknown>)[]; undo: (() => Promise<unknown>)[][] }[] = [
      { first: () => api.move(rootId, node, op.toParentId), then: [() => api.rename(rootId, node, op.name)], undo: [[moveBack]] },
      { first: () => api.rename(rootId, node, op.name), then: [() => api.move(rootId, node, op.toParentId)], undo: [[renameBack]] },
    ];
    const { stem, ext } = op.kind === 'folder' ? { stem: oldName, ext: '' } : splitExtension(oldName);
    const temp = `${stem} (moving ${randomBytes(3).toString('hex')})${ext}`;
    sequences.push({
      first: () => api.rename(rootId, node, temp),
      then: [() => api.move(rootId, node, op.toParentId), () => api.rename(rootId, node, op.name)],
      undo: [[renameBack], [moveBack, renameBack]],
    });
    for (let i = 0; i < sequences.length; i++) {
      const seq = sequences[i]!;
      try {
        await seq.first();
      } catch (err) {
        if (taken(err) && i < sequences.length - 1) continue;
        throw err;
      }
      for (let j = 0; j < seq.then.length; j++) {
        try {
          await seq.then[j]!();
        } catch (err) {
          await undo(seq.undo[j]!);
          throw err;
        }
      }
      return;
    }
  }

  /** keepBoth: the local version moves aside to a collision copy; the next rounds sync both. */
  private async keepBoth(op: CollisionOp, trees: Trees): Promise<OpOutcome> {
    const abs = await this.expectUnchanged(op.localPath, op.expectLocal, trees.local.get(op.localPath));
    const folder = parentPath(op.localPath);
    // Taken as the planner and the server see names (two copies made in one second of "b.txt"
    // and "B.txt" must not differ only in letter case).
    const ci = keysCaseInsensitive({ ...this.o.policy(), caseInsensitive: this.caseInsensitive });
    const taken = new Set([...trees.local.keys(), ...trees.remote.keys()].map((p) => pathKey(p, ci)));
    const name = uniqueCollisionCopyName(
      baseName(op.localPath),
      this.now(),
      this.o.machineName,
      (c) => taken.has(pathKey(joinPath(folder, c), ci)),
      { isFolder: op.local.kind === 'folder', platform: this.platform, utcOffsetMinutes: -this.now().getTimezoneOffset() },
    );
    const copy = joinPath(folder, name);
    const { abs: target, st } = await this.lstatLocal(copy);
    if (st) throw new Skip(`${copy} exists`);
    // The last look and the rename back to back (no await between them).
    const twin = this.caseTwin(copy);
    if (lstatSync(target, { throwIfNoEntry: false }) || twin !== undefined) throw new Skip(`${copy} appeared locally`);
    renameSync(abs, target);
    this.o.store.activity(this.rootId, 'collision-copy', op.localPath, copy);
    return { copyPath: copy };
  }

  /** Remote entry of a path (for callers that resolve collisions). */
  remoteEntry(p: string): RemoteEntry | undefined {
    return this.o.store.remoteTreeView(this.rootId).tree.get(p);
  }
}

/** Bytes an operation transfers (0: none). */
function transferSize(op: Operation): number {
  if (op.type === 'upload') return op.expectLocal.size;
  if (op.type === 'download') return op.size;
  return 0;
}

/** Local paths an operation looks at or changes. */
function localPathsOf(op: Operation): string[] {
  switch (op.type) {
    case 'moveLocal':
    case 'moveRemote':
      return [op.from, op.to];
    case 'deleteRemote':
      return [op.syncedPath];
    case 'warning':
      return [];
    case 'updateSynced':
      return op.localPath ? [op.localPath] : [];
    default:
      return [op.localPath];
  }
}

function opPath(op: Operation): string {
  switch (op.type) {
    case 'moveLocal':
    case 'moveRemote':
      return op.from;
    case 'warning':
      return op.path;
    case 'deleteRemote':
      return op.remotePath;
    case 'updateSynced':
      return op.localPath ?? op.remotePath ?? op.path ?? '';
    default:
      return op.localPath;
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Every path an operation names (local, remote, merge base), for carriedPathKeys and touchesCarried. */
function pathsNamedBy(op: Operation): string[] {
  const out = [...localPathsOf(op), opPath(op)];
  const o = op as unknown as Record<string, unknown>;
  for (const k of ['localPath', 'remotePath', 'syncedPath', 'from', 'to', 'path']) {
    const v = o[k];
    if (typeof v === 'string') out.push(v);
  }
  const synced = o.synced as { path?: unknown; replaces?: unknown } | undefined;
  if (synced && typeof synced.path === 'string') out.push(synced.path);
  if (synced && typeof synced.replaces === 'string') out.push(synced.replaces);
  return out.filter((p) => p !== '');
}

/** The carried transfers' paths and every folder above them, by path key. */
interface CarriedPaths {
  exact: Set<string>;
  above: Set<string>;
}

function carriedPathKeys(ops: Iterable<Operation>, caseInsensitive: boolean): CarriedPaths {
  const exact = new Set<string>();
  const above = new Set<string>();
  for (const op of ops) {
    for (const p of pathsNamedBy(op)) {
      exact.add(pathKey(p, caseInsensitive));
      for (let d = parentPath(p); d !== ''; d = parentPath(d)) above.add(pathKey(d, caseInsensitive));
    }
  }
  return { exact, above };
}

/** Whether `op` names a carried path, a folder above one, or something below one. */
function touchesCarried(op: Operation, c: CarriedPaths, caseInsensitive: boolean): boolean {
  for (const p of pathsNamedBy(op)) {
    const k = pathKey(p, caseInsensitive);
    if (c.exact.has(k) || c.above.has(k)) return true;
    for (let d = parentPath(p); d !== ''; d = parentPath(d)) if (c.exact.has(pathKey(d, caseInsensitive))) return true;
  }
  return false;
}
