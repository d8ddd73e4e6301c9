// The agent's status as `axis-agent status --json` prints it:
// {"roots": [{"id","name","type","path","synced","queued","collisions","warnings",…}], "transfers": […]}
// (keys fixed by the issue; scripts outside the repo rely on them).
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
  transfers: { root_id: number; path: string; direction: 'up' | 'down'; size: number; started: string }[];
}

export function buildStatus(store: StateStore, live: { pid: number; engines: RootSync[] } | undefined): AgentStatus {
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
      const warnings = store.warnings(r.id).length;
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
      [...e.transfers.values()].map((t) => ({ root_id: t.rootId, path: t.path, direction: t.direction, size: t.size, started: t.started })),
    ),
  };
}
