// RootSync: keeps one server root and one local folder in two-way sync.
//
// One cycle: pull the change feed to its end (remote tree), scan the folder (local tree, no
// re-hash of unchanged files), plan (pure, src/core/planner.ts), carry out the operations with
// bounded concurrency — each re-checks its preconditions against the disk just before acting —
// and commit each finished operation's synced-tree change in one SQLite transaction. Cycles
// repeat until nothing is left to do; then the engine sleeps until the watcher (chokidar), the
// change-feed long poll or the periodic rescan wakes it.
import { watch, type FSWatcher } from 'chokidar';
import { randomBytes } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { promises as fsp, lstatSync, readdirSync, renameSync, type Stats } from 'node:fs';
import path from 'node:path';
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import { syncedChange, type CollisionOp, type MoveRemoteOp, type Operation, type OpOutcome } from '../core/operations.js';
import { baseName, ignoreReason, joinPath, parentPath, pathKey, splitExtension, uniqueCollisionCopyName, type Platform } from '../core/paths.js';
import { keysCaseInsensitive } from '../core/planner.js';
import type { LocalEntry, RemoteEntry, Trees } from '../core/tree.js';
import { planRoot, type PlanPolicy } from './plan.js';
import { withinSpaceLeft } from './quota.js';
import { ConfinementError, fileId, isStaleTempFile, readExactly, removeFileChecked, resolveInside, scanTree, TargetChangedError, TEMP_PREFIX, writeFileAtomic } from './localfs.js';
import { apiErrorCode, type RemoteApi } from './remote.js';
import { RemoteWalker } from './remote-walk.js';
import { counter, FileChangedError, newCounters, rememberUploaded, tryDeltaDownload, tryDeltaUpload, withSignature, type SignatureStore } from './transfer.js';
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

export class RootSync extends EventEmitter {
  private readonly o: Required<Pick<RootSyncOptions, 'concurrency' | 'longPollSeconds' | 'pollMs' | 'rescanMs' | 'debounceMs'>> & RootSyncOptions;
  private rootDir = '';
  private watcher: FSWatcher | undefined;
  private stopped = false;
  private wakeUp: (() => void) | undefined;
  private dirty = true;
  private debounce: NodeJS.Timeout | undefined;
  private rescanTimer: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  private pollAbort = new AbortController();
  private loopDone: Promise<void> = Promise.resolve();
  private pollDone: Promise<void> = Promise.resolve();
  private idleWaiters: (() => void)[] = [];
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
    this.o = { concurrency: 4, longPollSeconds: 25, pollMs: 5000, rescanMs: 10 * 60_000, debounceMs: 40, ...opts };
    this.status = { rootId: opts.root.id, state: 'starting', queued: 0, lastError: null, lastSync: null };
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
    this.watcher = watch(this.rootDir, {
      ignoreInitial: true,
      followSymlinks: false,
      ignored: (p: string) => path.basename(p).startsWith(TEMP_PREFIX),
    });
    this.watcher.on('all', () => this.poke());
    this.watcher.on('error', (err) => this.o.log.warn({ err, root: this.rootId }, 'file watcher error; relying on periodic rescans'));
    this.rescanTimer = setInterval(() => this.poke(), this.o.rescanMs);
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
    this.wakeUp?.();
    await this.watcher?.close();
    await Promise.allSettled([this.loopDone]);
    // The change-feed poll may wait for the loop to go idle, which a stopped loop never does.
    for (const w of this.idleWaiters.splice(0)) w();
    await Promise.allSettled([this.pollDone]);
    this.status.state = 'stopped';
    for (const w of this.idleWaiters.splice(0)) w();
  }

  /** Wakes the sync loop (debounced). */
  poke(): void {
    this.dirty = true;
    clearTimeout(this.debounce);
    this.debounce = setTimeout(() => this.wakeUp?.(), this.o.debounceMs);
  }

  /** Resolves once the engine has nothing left to do (used by tests and `sync --once`). */
  whenIdle(): Promise<void> {
    if (this.status.state === 'idle' && !this.dirty) return Promise.resolve();
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
      if (!this.dirty) {
        this.status.state = 'idle';
        for (const w of this.idleWaiters.splice(0)) w();
        await this.sleepUntilWoken(this.o.rescanMs);
        continue;
      }
      this.dirty = false;
      this.status.state = 'syncing';
      try {
        const worked = await this.cycle();
        failures = 0;
        if (worked > 0) this.dirty = true;
        this.status.lastSync = this.now().toISOString();
        this.status.lastError = null;
      } catch (err) {
        failures++;
        const msg = (err as Error).message;
        this.status.lastError = msg;
        this.status.state = apiErrorCode(err) === undefined && /ECONN|ETIMEDOUT|ENOTFOUND|socket|network/i.test(msg) ? 'offline' : 'error';
        this.o.log.warn({ err, root: this.rootId }, 'sync cycle failed; retrying');
        this.dirty = true;
        await this.sleepUntilWoken(Math.min(30_000, 500 * 2 ** Math.min(failures, 6)));
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
        this.poke();
        continue;
      }
      const cursor = this.o.store.root(this.rootId)?.cursor ?? 0;
      try {
        const page = await this.o.api.changes(this.rootId, { cursor, limit: 1, timeout: this.o.longPollSeconds, signal: this.pollAbort.signal });
        if (this.stopped) return;
        if (page.results.length > 0) {
          this.poke();
          // Let the cycle consume the change before polling again from the new cursor.
          await this.whenIdle();
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
    await this.pullRemote();
    await this.scanLocal();
    const trees: Trees = {
      remote: this.o.store.remoteTree(this.rootId).tree,
      local: this.o.store.localTree(this.rootId),
      synced: this.o.store.syncedTree(this.rootId),
    };
    const policy: PlanPolicy = { ...this.o.policy(), platform: this.platform, caseInsensitive: this.caseInsensitive };
    const ops = withinSpaceLeft(planRoot(trees, policy), this.o.spaceLeft?.(), trees);
    // A failure recorded for a path that has nothing planned any more (the world moved on) is
    // not retried: forget it, so no stale "retrying" warning stays behind.
    const planned = new Set(ops.filter((o) => !PASSIVE.has(o.type)).map(opPath));
    for (const p of this.o.store.backoffs(this.rootId).keys()) if (!planned.has(p)) this.o.store.clearFailure(this.rootId, p);
    const warnings = ops.filter((o) => o.type === 'warning');
    const rejected = this.o.store.remoteTree(this.rootId).rejected;
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
    this.status.queued = todo.length;
    if (todo.length === 0) return 0;
    let next = 0;
    const worker = async () => {
      while (next < todo.length && !this.stopped) {
        const op = todo[next++]!;
        await this.runOne(op, trees);
        this.status.queued = Math.max(0, this.status.queued - 1);
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.o.concurrency, todo.length) }, worker));
    return todo.length;
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
      this.o.store.applySyncedChange(this.rootId, change, () => this.o.store.clearFailure(this.rootId, p));
      this.replanned.delete(opKey);
      this.o.store.activity(this.rootId, op.type, p);
      this.emit('operation', op);
    } catch (err) {
      // A skip or a stale refusal re-plans at once the first time (the trees were just behind).
      // When the same operation meets it again, something the trees cannot show is in the way
      // (a named pipe where a file should go, a server node we do not list): back off like a
      // failure, else the engine would re-plan the same operation in a hot loop forever.
      const code = apiErrorCode(err);
      const stale = err instanceof Skip || (code !== undefined && STALE_CODES.has(code));
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

  // ----- observers -----

  private async pullRemote(): Promise<void> {
    if (this.feedSupported === false) return this.walkRemote();
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
          return this.walkRemote();
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
      if (!page.has_more) return;
    }
  }

  private async walkRemote(): Promise<void> {
    this.walker ??= new RemoteWalker(this.o.api, this.rootId);
    this.o.store.replaceRemoteTree(this.rootId, await this.walker.walk());
  }

  private async scanLocal(): Promise<void> {
    const previous = this.o.store.localTree(this.rootId);
    const excluded = this.o.policy().excludedExtensions ?? [];
    const temps: string[] = [];
    const { entries, problems } = await scanTree(this.rootDir, {
      onTempFile: (abs) => temps.push(abs),
      // Junk and our temp files are never synced; policy exclusions reach the planner, which
      // explains them as warnings.
      ignore: (name) => {
        const r = ignoreReason(name, excluded);
        return r !== null && r.kind !== 'excluded';
      },
      previous: (rel) => {
        const e = previous.get(rel);
        return e && { size: e.size, mtimeMs: e.mtime, inode: e.fileId, sha256: e.sha256 ?? undefined };
      },
    });
    for (const pr of problems) this.o.log.debug({ root: this.rootId, ...pr }, 'scan problem');
    // No operation of this engine runs during a scan: temp files not being written are leftovers
    // (e.g. of a download whose folder the user renamed meanwhile).
    for (const abs of temps) if (isStaleTempFile(abs)) await fsp.rm(abs, { force: true, recursive: true }).catch(() => undefined);
    this.o.store.replaceLocalTree(
      this.rootId,
      entries.map((e) => ({ path: e.path, kind: e.kind, fileId: e.inode, size: e.size, mtime: e.mtimeMs, sha256: e.kind === 'file' ? (e.sha256 ?? null) : null })),
    );
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

  private async lstatLocal(rel: string): Promise<{ abs: string; st: Stats | undefined }> {
    const abs = await resolveInside(this.rootDir, rel);
    try {
      return { abs, st: await fsp.lstat(abs) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { abs, st: undefined };
      throw err;
    }
  }

  /** The local entry must still be what the scan saw (same file id, size and mtime). */
  private async expectUnchanged(rel: string, expect: { fileId: string } | null, scanned: LocalEntry | undefined): Promise<string> {
    const { abs, st } = await this.lstatLocal(rel);
    this.compareEntry(rel, expect, scanned, st);
    return abs;
  }

  /** expectUnchanged on a stat the caller took (synchronous: used right before a swap). */
  private compareEntry(rel: string, expect: { fileId: string } | null, scanned: LocalEntry | undefined, st: Stats | undefined): void {
    if (expect === null) {
      if (st) throw new Skip(`${rel} appeared locally`);
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
        const abs = await this.expectUnchanged(op.localPath, op.expectLocal, trees.local.get(op.localPath));
        const key = `up:${op.localPath}`;
        this.transfers.set(key, { rootId, path: op.localPath, direction: 'up', size: op.expectLocal.size, started: this.now().toISOString() });
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
          let file: Awaited<ReturnType<RemoteApi['upload']>>;
          try {
            file = await api.upload(rootId, op.remoteParentId, op.name, body, {
              size: op.expectLocal.size,
              modified: new Date(op.expectLocal.mtime),
              ...(op.remoteId !== null ? { fileId: op.remoteId, baseRevisionId: op.baseRevisionId ?? undefined } : {}),
            });
          } catch (err) {
            if (changed !== undefined) throw new Skip(`${op.localPath} ${changed} while it was sent`);
            throw err;
          } finally {
            body.destroy();
          }
          this.counters.bytesUp += op.expectLocal.size;
          this.counters.wholeUploads++;
          if (sigs) {
            await rememberUploaded(sigs, { rootId, fileId: file.id, revisionId: file.revision_id, abs, size: file.size, sha256: file.sha256 ?? op.expectLocal.sha256 }).catch((err: unknown) =>
              this.o.log.debug({ err }, 'could not keep the signature of an uploaded file'),
            );
          }
          return { remoteId: file.id, revisionId: file.revision_id, sha256: file.sha256 ?? undefined, uploadedSize: file.size };
        } finally {
          this.transfers.delete(key);
        }
      }
      case 'download': {
        const scanned = trees.local.get(op.localPath);
        await this.expectUnchanged(op.localPath, op.expectLocal, scanned);
        await this.expectFolder(parentPath(op.localPath));
        const key = `down:${op.localPath}`;
        this.transfers.set(key, { rootId, path: op.localPath, direction: 'down', size: op.size, started: this.now().toISOString() });
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
              basisAbs: await resolveInside(this.rootDir, op.localPath),
              baseSize: base.size,
              size: op.size,
            });
          }
          if (!body) {
            const whole = await api.download(rootId, op.remoteId, { revisionId: op.revisionId });
            this.counters.wholeDownloads++;
            const count = counter((n) => (this.counters.bytesDown += n));
            whole.on('error', (err) => count.destroy(err));
            body = whole.pipe(count);
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
          const remote = trees.remote.get(op.remotePath);
          const mtimeMs = remote?.modified ? Date.parse(`${remote.modified}Z`) : undefined;
          const res = await writeFileAtomic(this.rootDir, op.localPath, body, {
            createParents: false,
            expectedSha256: op.sha256 ?? undefined,
            mtimeMs: Number.isFinite(mtimeMs) ? mtimeMs : undefined,
            beforeRename: async () => {
              await this.expectUnchanged(op.localPath, op.expectLocal, scanned);
            },
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
        const twin = this.caseTwin(op.localPath);
        if (twin !== undefined) throw new Skip(`${op.localPath} exists as ${twin}`);
        await fsp.mkdir(abs).catch((err: NodeJS.ErrnoException) => {
          throw err.code === 'EEXIST' || err.code === 'ENOENT' ? new Skip(`${op.localPath}: ${err.code}`) : err;
        });
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
    const { st } = await this.lstatLocal(rel);
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
    return this.o.store.remoteTree(this.rootId).tree.get(p);
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
