// The agent's status as `axis-agent status --json` prints it:
// {"roots": [{"id","name","type","path","synced","queued","collisions","warnings",…}], "transfers": […]}
// (keys fixed by the issue; scripts outside the repo rely on them). Added by the admin-policy
// issue: `excl_files` per root (files the policy keeps from syncing: excluded extensions, over
// max_file_size or the space left by the quota), and `throttle` / `machine` while running.
import type { LimiterSnapshot } from '../engine/limiter.js';
import type { RootSync } from '../engine/sync.js';
import { rsyncAvailable, rsyncLoadError } from '../native/librsync.js';
import type { StateStore } from '../engine/store.js';

export interface RootStatusJson {
  id: number;
  name: string;
  type: string;
  path: string;
  synced: boolean;
  queued: number;
  collisions: number;
  warnings: number;
  /** Files not synced because of the policy (excluded extension, too large, over quota): the health report's excl_files. */
  excl_files: number;
  state: string;
  paused: boolean;
  last_error: string | null;
  last_sync: string | null;
  /** Payload bytes and transfer kinds since the agent started. */
  bytes_up: number;
  bytes_down: number;
  delta_uploads: number;
  delta_downloads: number;
  whole_uploads: number;
  whole_downloads: number;
}

export interface AgentStatus {
  running: boolean;
  pid: number | null;
  updated: string;
  roots: RootStatusJson[];
  /** Whether delta transfers are possible (the librsync addon loaded), and why not. */
  delta: { available: boolean; reason: string | null };
  /** In-flight transfers; `done` is the content bytes sent or written so far (progress). */
  transfers: { root_id: number; path: string; direction: 'up' | 'down'; size: number; started: string; done: number }[];
  /**
   * The bandwidth limit in force (bytes/s, null = unlimited), whether an exception window is
   * on, its next edge, and the content bytes that passed the limiter since the agent started.
   */
  throttle?: { limit: number | null; in_exception: boolean; next_change: string | null; bytes_up: number; bytes_down: number };
  /** The machine this agent runs as, and its health reports. */
  machine?: { id: number; guid: string; health_reports: number; next_health_report: string | null } | null;
}

/** Warning codes of files the policy keeps from syncing (counted as excl_files). */
export const EXCLUSION_CODES: ReadonlySet<string> = new Set(['excluded', 'tooLarge']);

export interface LiveState {
  pid: number;
  engines: RootSync[];
  throttle?: LimiterSnapshot;
  machine?: AgentStatus['machine'];
}

export function buildStatus(store: StateStore, live: LiveState | undefined): AgentStatus {
  const collisions = store.collisions();
  const engines = new Map((live?.engines ?? []).map((e) => [e.status.rootId, e]));
  return {
    running: !!live,
    pid: live?.pid ?? null,
    updated: new Date().toISOString(),
    delta: { available: rsyncAvailable(), reason: rsyncAvailable() ? null : (rsyncLoadError() ?? 'unknown') },
    roots: store.roots().map((r) => {
      const e = engines.get(r.id);
      const open = collisions.filter((c) => c.rootId === r.id).length;
      const all = store.warnings(r.id);
      const warnings = all.length;
      const excluded = new Set(all.filter((w) => EXCLUSION_CODES.has(w.code)).map((w) => w.path)).size;
      const state = r.paused ? 'paused' : (e?.status.state ?? 'stopped');
      const queued = e?.status.queued ?? 0;
      return {
        id: r.id,
        name: r.name,
        type: r.type,
        path: r.localPath,
        synced: state === 'idle' && queued === 0 && open === 0,
        queued,
        collisions: open,
        warnings,
        excl_files: excluded,
        state,
        paused: r.paused,
        last_error: e?.status.lastError ?? null,
        last_sync: e?.status.lastSync ?? null,
        bytes_up: e?.counters.bytesUp ?? 0,
        bytes_down: e?.counters.bytesDown ?? 0,
        delta_uploads: e?.counters.deltaUploads ?? 0,
        delta_downloads: e?.counters.deltaDownloads ?? 0,
        whole_uploads: e?.counters.wholeUploads ?? 0,
        whole_downloads: e?.counters.wholeDownloads ?? 0,
      };
    }),
    transfers: [...(live?.engines ?? [])].flatMap((e) =>
      [...e.transfers.values()].map((t) => ({ root_id: t.rootId, path: t.path, direction: t.direction, size: t.size, started: t.started, done: Math.min(t.done, t.size) })),
    ),
    ...(live?.throttle
      ? {
          throttle: {
            limit: live.throttle.limit,
            in_exception: live.throttle.inException,
            next_change: live.throttle.nextChange,
            bytes_up: live.throttle.bytesUp,
            bytes_down: live.throttle.bytesDown,
          },
        }
      : {}),
    ...(live?.machine !== undefined ? { machine: live.machine } : {}),
  };
}
