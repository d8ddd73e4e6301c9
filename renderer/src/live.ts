// Live state of the agent: one EventSource on /api/events (state, bandwidth, activity), with
// its own reconnect (backoff 0.5 s → 10 s) so that a restarted agent or a lost cookie is seen.
// Screens read it through useLive(); nothing else keeps a copy.
import { useEffect, useState } from 'preact/hooks';
import { api, ApiError, type ActivityEntry, type Bandwidth, type BandwidthSample, type State } from './api.js';

export type Connection = 'connecting' | 'open' | 'reconnecting' | 'unauthorized';

export interface Live {
  connection: Connection;
  state: State | null;
  bandwidth: Bandwidth | null;
  activity: ActivityEntry[];
  /** Increases on every new state (screens re-fetch lists when it and their inputs change). */
  version: number;
}

const MAX_SAMPLES = 600;
const MAX_ACTIVITY = 500;

let live: Live = { connection: 'connecting', state: null, bandwidth: null, activity: [], version: 0 };
const listeners = new Set<(l: Live) => void>();

function set(patch: Partial<Live>): void {
  live = { ...live, ...patch };
  for (const l of listeners) l(live);
}

export function getLive(): Live {
  return live;
}

export function useLive(): Live {
  const [value, setValue] = useState(live);
  useEffect(() => {
    listeners.add(setValue);
    setValue(live);
    return () => {
      listeners.delete(setValue);
    };
  }, []);
  return value;
}

/** Applies a state answer of a command at once (the event that follows says the same). */
export function applyState(patch: Partial<State>): void {
  if (live.state) set({ state: { ...live.state, ...patch }, version: live.version + 1 });
}

let source: EventSource | undefined;
let retryMs = 500;
let retryTimer: ReturnType<typeof setTimeout> | undefined;
let throttleKey = '';
let bandwidthTimer: ReturnType<typeof setInterval> | undefined;

async function refreshBandwidth(): Promise<void> {
  try {
    const b = await api.bandwidth();
    // Keep samples that arrived by event while the request ran.
    const last = b.samples.length ? b.samples[b.samples.length - 1]!.t : 0;
    const newer = (live.bandwidth?.samples ?? []).filter((s) => s.t > last);
    set({ bandwidth: { ...b, samples: [...b.samples, ...newer].slice(-MAX_SAMPLES) } });
  } catch {
    // the event stream's error path reconnects
  }
}

export async function refreshActivity(): Promise<void> {
  try {
    const a = await api.activity(200);
    const known = new Set(a.activity.map((e) => e.id));
    const newer = live.activity.filter((e) => !known.has(e.id) && e.id > (a.activity[0]?.id ?? 0));
    set({ activity: [...newer, ...a.activity].slice(0, MAX_ACTIVITY) });
  } catch {
    // as above
  }
}

function onState(s: State): void {
  const t = s.status?.throttle;
  const key = t ? `${t.limit}|${t.in_exception}|${t.next_change}` : '';
  const syncing = !!s.status;
  const wasSyncing = !!live.state?.status;
  set({ state: s, version: live.version + 1 });
  if (key !== throttleKey) {
    throttleKey = key;
    void refreshBandwidth();
  }
  // Syncing started (a login): the history of earlier runs is readable now.
  if (syncing && !wasSyncing && live.connection === 'open') void refreshActivity();
}

function onSample(sample: BandwidthSample): void {
  const b = live.bandwidth;
  if (!b) return;
  const samples = b.samples.length >= MAX_SAMPLES ? b.samples.slice(1 - MAX_SAMPLES) : b.samples.slice();
  samples.push(sample);
  set({ bandwidth: { ...b, samples, limit: sample.limit } });
}

function onActivity(e: ActivityEntry): void {
  if (live.activity.some((a) => a.id === e.id)) return;
  set({ activity: [e, ...live.activity].slice(0, MAX_ACTIVITY) });
}

function parse<T>(ev: Event): T | undefined {
  try {
    return JSON.parse((ev as MessageEvent<string>).data) as T;
  } catch {
    return undefined;
  }
}

function scheduleReconnect(): void {
  source?.close();
  source = undefined;
  if (retryTimer) return;
  retryTimer = setTimeout(() => {
    retryTimer = undefined;
    void connect();
  }, retryMs);
  retryMs = Math.min(retryMs * 2, 10_000);
}

async function connect(): Promise<void> {
  // A plain request first: EventSource cannot tell a 401 from a dead agent.
  try {
    onState(await api.state());
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) set({ connection: 'unauthorized' });
    else set({ connection: live.state ? 'reconnecting' : 'connecting' });
    scheduleReconnect();
    return;
  }
  const es = new EventSource('/api/events');
  source = es;
  es.addEventListener('open', () => {
    retryMs = 500;
    set({ connection: 'open' });
    void refreshBandwidth();
    void refreshActivity();
  });
  es.addEventListener('state', (ev) => {
    const s = parse<State>(ev);
    if (s) onState(s);
  });
  es.addEventListener('bandwidth', (ev) => {
    const s = parse<BandwidthSample>(ev);
    if (s) onSample(s);
  });
  es.addEventListener('activity', (ev) => {
    const a = parse<ActivityEntry>(ev);
    if (a) onActivity(a);
  });
  es.addEventListener('error', () => {
    if (source !== es) return;
    set({ connection: 'reconnecting' });
    scheduleReconnect();
  });
}

export function startLive(): void {
  void connect();
  // The schedule (exception windows ahead) can change without the limit in force changing.
  bandwidthTimer ??= setInterval(() => {
    if (live.connection === 'open') void refreshBandwidth();
  }, 30_000);
}
