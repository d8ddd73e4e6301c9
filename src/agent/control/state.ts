// The shapes of the control API (docs/control-api.md): what the UI reads.
import type { AgentStatus } from '../status.js';

export type TwoStepModeName = 'authenticator' | 'email' | 'sms';

export type LoginState =
  | { state: 'logged_out'; server: string | null; error?: string }
  | { state: 'twostep'; server: string; username: string; mode: TwoStepModeName; hint: string }
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
  server_roots: { id: number; name: string; type: string; subscribed: boolean }[];
  policy: { user_overwrite_collisions: boolean; user_bulk_resolve_warnings: boolean } | null;
  settings: Settings;
  collisions: number;
}

export interface Collision {
  id: number;
  root_id: number;
  path: string;
  created: string;
  reason: string;
  local: { size: number | null; mtime: string | null; machine: string };
  server: { size: number | null; mtime: string | null; machine: string | null; revision_id: number | null };
}

export interface ActivityEntry {
  id: number;
  root_id: number | null;
  time: string;
  kind: string;
  path: string | null;
  detail: string | null;
}

/** A failure the control API answers with `status` and `{"error": {code, message}, ...extra}`. */
export class ControlError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = 'ControlError';
  }
}
