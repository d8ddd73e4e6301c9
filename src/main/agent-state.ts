// The parts of the control API's shapes (docs/control-api.md) that the Electron main process
// reads. Structural copies of the documented JSON, so src/main does not depend on the agent's
// internal modules for them; extra fields the agent sends are ignored.

export type LoginView =
  | { state: 'logged_out'; server: string | null; error?: string }
  | { state: 'twostep'; server: string; username: string; mode: 'authenticator' | 'email' | 'sms'; hint: string }
  | {
      state: 'logged_in';
      server: string;
      username: string;
      display_name: string;
      email: string;
      machine_id: number | null;
      /** Syncing could not start (server unreachable, …); the agent retries by itself. */
      error?: string;
    };

export interface RootView {
  id: number;
  name: string;
  type: string;
  path: string;
  synced: boolean;
  queued: number;
  collisions: number;
  /** 'starting' | 'syncing' | 'idle' | 'paused' | 'offline' | 'error' | 'stopped' (engine states). */
  state: string;
  paused: boolean;
  last_error: string | null;
}

export interface TransferView {
  root_id: number;
  path: string;
  direction: 'up' | 'down';
  size: number;
}

export interface StatusView {
  running: boolean;
  roots: RootView[];
  transfers: TransferView[];
}

export interface SettingsView {
  server: string | null;
  sync_dir: string | null;
  paused: boolean;
  start_at_login: boolean;
}

/** `State` of `GET /api/state` and `event: state`. */
export interface AgentStateView {
  login: LoginView;
  status: StatusView | null;
  settings: SettingsView;
  collisions: number;
}

/** `ActivityEntry`. */
export interface ActivityView {
  id: number;
  /** null for entries about the agent rather than one root (login, pause). */
  root_id: number | null;
  time: string;
  kind: string;
  path: string | null;
  detail: string | null;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Checks the few fields the main process relies on; anything else is the agent's business.
 * Returns undefined for a body that is not a State (a newer or broken agent): the tray then
 * keeps its previous state rather than crash.
 */
export function parseAgentState(v: unknown): AgentStateView | undefined {
  if (!isObject(v) || !isObject(v.login) || !isObject(v.settings)) return undefined;
  const login = v.login;
  if (login.state !== 'logged_out' && login.state !== 'twostep' && login.state !== 'logged_in') return undefined;
  if (typeof v.collisions !== 'number' || !Number.isFinite(v.collisions)) return undefined;
  const s = v.settings;
  if (typeof s.paused !== 'boolean' || typeof s.start_at_login !== 'boolean') return undefined;
  if (s.sync_dir !== null && typeof s.sync_dir !== 'string') return undefined;
  if (v.status !== null) {
    if (!isObject(v.status) || !Array.isArray(v.status.roots) || !Array.isArray(v.status.transfers)) return undefined;
    for (const r of v.status.roots as unknown[]) {
      if (!isObject(r) || typeof r.id !== 'number' || typeof r.name !== 'string' || typeof r.state !== 'string' || typeof r.path !== 'string') return undefined;
    }
  }
  return v as unknown as AgentStateView;
}

export function parseActivityEntry(v: unknown): ActivityView | undefined {
  if (!isObject(v)) return undefined;
  const nullable = (x: unknown, type: 'number' | 'string') => x === null || x === undefined || typeof x === type;
  if (typeof v.id !== 'number' || typeof v.time !== 'string' || typeof v.kind !== 'string') return undefined;
  if (!nullable(v.root_id, 'number') || !nullable(v.path, 'string') || !nullable(v.detail, 'string')) return undefined;
  return {
    id: v.id,
    root_id: (v.root_id as number | null | undefined) ?? null,
    time: v.time,
    kind: v.kind,
    path: (v.path as string | null | undefined) ?? null,
    detail: (v.detail as string | null | undefined) ?? null,
  };
}

/** The newest `max` entries, newest first, without duplicates (an entry seen twice counts once). */
export function pushActivity(list: readonly ActivityView[], entry: ActivityView, max = 5): ActivityView[] {
  const rest = list.filter((e) => e.id !== entry.id);
  return [entry, ...rest].sort((a, b) => b.id - a.id).slice(0, max);
}
