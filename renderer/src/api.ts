// The control API as the UI sees it (docs/control-api.md is the contract; these types mirror it).
// Same origin as the page: the HttpOnly cookie (browser) or the header Electron injects carries
// the authentication, so nothing here handles a token.

export type LoginMode = 'authenticator' | 'email' | 'sms';

export type LoginState =
  | { state: 'logged_out'; server: string | null; error?: string }
  | { state: 'twostep'; server: string; username: string; mode: LoginMode; hint: string }
  | { state: 'logged_in'; server: string; username: string; display_name: string; email: string; machine_id: number | null; error?: string };

export interface RootStatus {
  id: number;
  name: string;
  type: string;
  path: string;
  synced: boolean;
  queued: number;
  collisions: number;
  warnings: number;
  excl_files: number;
  state: string;
  paused: boolean;
  last_error: string | null;
  last_sync: string | null;
  bytes_up: number;
  bytes_down: number;
}

export interface Transfer {
  root_id: number;
  path: string;
  direction: 'up' | 'down';
  size: number;
  started: string;
  /** Bytes moved so far (contract addition; absent from agents that do not report it). */
  done?: number;
}

export interface AgentStatus {
  running: boolean;
  pid: number | null;
  updated: string;
  roots: RootStatus[];
  transfers: Transfer[];
  throttle?: { limit: number | null; in_exception: boolean; next_change: string | null; bytes_up: number; bytes_down: number };
  machine?: { id: number; guid: string } | null;
}

export interface ServerRoot {
  id: number;
  name: string;
  type: string;
  subscribed: boolean;
}

export interface Policy {
  user_overwrite_collisions: boolean;
  user_bulk_resolve_warnings: boolean;
}

export interface Settings {
  server: string | null;
  fingerprint: string | null;
  sync_dir: string | null;
  paused: boolean;
  manual_collisions: boolean;
  start_at_login: boolean;
}

export interface State {
  agent: { version: string; pid: number; started: string };
  login: LoginState;
  status: AgentStatus | null;
  server_roots: ServerRoot[];
  policy: Policy | null;
  settings: Settings;
  collisions: number;
}

export interface CollisionSide {
  size: number | null;
  mtime: string | null;
  machine: string | null;
}

export interface Collision {
  id: number;
  root_id: number;
  path: string;
  created: string;
  reason: string;
  local: CollisionSide & { machine: string };
  server: CollisionSide & { revision_id: number | null };
}

export interface CollisionList {
  collisions: Collision[];
  keep_mine_allowed: boolean;
  bulk_allowed: boolean;
}

export interface ActivityEntry {
  id: number;
  root_id: number | null;
  time: string;
  kind: string;
  path: string | null;
  detail: string | null;
}

export interface BandwidthSample {
  t: number;
  up: number;
  down: number;
  limit: number | null;
}

export interface ExceptionWindow {
  start: string;
  end: string;
  limit: number | null;
}

export interface Bandwidth {
  samples: BandwidthSample[];
  limit: number | null;
  in_exception: boolean;
  next_change: string | null;
  schedule: {
    throttled: boolean;
    bandwidth_throttle: number | null;
    exception: { days: number[]; start: string; end: string; throttle: number | null } | null;
  };
  windows: ExceptionWindow[];
}

export type Keep = 'mine' | 'server' | 'both';

/** An error answer of the control API: `{"error": {"code", "message"}}` plus any extra fields. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly body: Record<string, unknown>,
  ) {
    super(message);
  }
}

async function request<T>(method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown): Promise<T> {
  const init: RequestInit = { method, credentials: 'same-origin', headers: { accept: 'application/json' } };
  if (body !== undefined) {
    init.headers = { accept: 'application/json', 'content-type': 'application/json' };
    init.body = JSON.stringify(body);
  }
  let res: Response;
  try {
    res = await fetch(path, init);
  } catch {
    throw new ApiError(0, 'agent_unreachable', 'The agent does not answer. Is it running?', {});
  }
  const text = await res.text();
  let parsed: unknown = null;
  try {
    parsed = text ? JSON.parse(text) : null;
  } catch {
    parsed = null;
  }
  if (!res.ok) {
    const obj = (parsed && typeof parsed === 'object' ? parsed : {}) as Record<string, unknown>;
    const err = (obj.error && typeof obj.error === 'object' ? obj.error : {}) as { code?: unknown; message?: unknown };
    const code = typeof err.code === 'string' ? err.code : `http_${res.status}`;
    const message = typeof err.message === 'string' && err.message ? err.message : `${res.status} ${res.statusText}`;
    throw new ApiError(res.status, code, message, obj);
  }
  return parsed as T;
}

export const api = {
  state: () => request<State>('GET', '/api/state'),
  login: (b: { server: string; username: string; password: string; trust_fingerprint?: string }) => request<{ login: LoginState }>('POST', '/api/login', b),
  loginCode: (code: string) => request<{ login: LoginState }>('POST', '/api/login/code', { code }),
  resend: () => request<{ login: LoginState }>('POST', '/api/login/resend', {}),
  logout: () => request<{ login: LoginState }>('POST', '/api/logout', {}),
  collisions: () => request<CollisionList>('GET', '/api/collisions'),
  resolve: (id: number, keep: Keep) => request<{ message: string }>('POST', `/api/collisions/${id}/resolve`, { keep }),
  resolveAll: (keep: Keep) => request<{ resolved: number; failed: { id: number; message: string }[] }>('POST', '/api/collisions/resolve-all', { keep }),
  activity: (limit = 200) => request<{ activity: ActivityEntry[] }>('GET', `/api/activity?limit=${limit}`),
  bandwidth: () => request<Bandwidth>('GET', '/api/bandwidth'),
  pause: () => request<{ paused: boolean }>('POST', '/api/pause', {}),
  resume: () => request<{ paused: boolean }>('POST', '/api/resume', {}),
  settings: (patch: { start_at_login?: boolean; manual_collisions?: boolean }) => request<{ settings: Settings }>('PUT', '/api/settings', patch),
};

export function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
