// What the tray shows: one of five states, its icon file and its tooltip, from the agent's
// State (docs/control-api.md) and whether the agent process is up. Pure; no Electron.
import type { AgentStateView, RootView } from './agent-state.js';

export type TrayStatus = 'synced' | 'syncing' | 'paused' | 'attention' | 'offline';
export const TRAY_STATUSES: readonly TrayStatus[] = ['synced', 'syncing', 'paused', 'attention', 'offline'];

/** The agent process as the main process sees it. */
export type AgentProcessState = 'starting' | 'running' | 'restarting' | 'stopped';

export interface TrayInput {
  agent: AgentProcessState;
  /** The last State the agent sent; undefined until the first one. */
  state: AgentStateView | undefined;
}

export interface TrayView {
  status: TrayStatus;
  /** Why, in a few words (the tooltip's second part and the menu's first line). */
  detail: string;
}

export const PRODUCT_NAME = 'AXIS CloudSync';
/** Windows truncates tray tooltips at 127 UTF-16 units (NOTIFYICONDATA.szTip). */
export const TOOLTIP_MAX = 127;

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** True when a logged-out state carries an error: the agent lost its login (revoked machine, refused token). */
export function authProblem(state: AgentStateView | undefined): string | undefined {
  if (!state || state.login.state !== 'logged_out') return undefined;
  const e = state.login.error;
  return e && e.trim() !== '' ? e.trim() : undefined;
}

function errorRoots(roots: readonly RootView[]): RootView[] {
  return roots.filter((r) => !r.paused && r.state === 'error');
}

export function trayView(input: TrayInput): TrayView {
  const { agent, state } = input;
  if (agent === 'stopped') return { status: 'offline', detail: 'Stopped' };
  if (agent === 'restarting') return { status: 'offline', detail: 'The sync agent stopped; restarting it' };
  if (agent === 'starting' || !state) return { status: 'offline', detail: 'Starting…' };

  const auth = authProblem(state);
  if (auth) return { status: 'attention', detail: `Sign in again: ${auth}` };
  if (state.login.state === 'twostep') return { status: 'offline', detail: 'Waiting for the sign-in code' };
  if (state.login.state === 'logged_out') return { status: 'offline', detail: 'Not signed in' };

  const roots = state.status?.roots ?? [];
  const transfers = state.status?.transfers ?? [];
  if (state.collisions > 0) return { status: 'attention', detail: `${plural(state.collisions, 'collision')} to resolve` };
  const failing = errorRoots(roots);
  if (failing.length > 0) {
    const first = failing[0]!;
    const why = first.last_error ? `: ${first.last_error}` : '';
    return { status: 'attention', detail: failing.length === 1 ? `${first.name} has a problem${why}` : `${failing.length} folders have problems` };
  }
  if (state.settings.paused || (roots.length > 0 && roots.every((r) => r.paused))) return { status: 'paused', detail: 'Paused' };
  if (state.login.error && roots.length === 0) return { status: 'offline', detail: `Not syncing: ${state.login.error}` };
  if (!state.status) return { status: 'syncing', detail: 'Starting…' };
  const active = roots.filter((r) => !r.paused);
  if (active.length > 0 && active.every((r) => r.state === 'offline')) return { status: 'offline', detail: 'Cannot reach the server' };
  const queued = active.reduce((n, r) => n + Math.max(0, r.queued), 0);
  const busy = transfers.length > 0 || queued > 0 || active.some((r) => r.state === 'syncing' || r.state === 'starting');
  if (busy) {
    const n = Math.max(queued, transfers.length);
    return { status: 'syncing', detail: n > 0 ? `Syncing ${plural(n, 'file')}` : 'Syncing…' };
  }
  if (roots.length === 0) return { status: 'synced', detail: 'No folders to sync' };
  return { status: 'synced', detail: 'Up to date' };
}

/**
 * The icon file, relative to assets/: tray/<status>.png, or tray/<status>Template.png on macOS
 * (a black-and-alpha image the menu bar tints). Electron picks the @2x file next to it on
 * high-DPI screens by itself.
 */
export function trayIconFile(status: TrayStatus, platform: NodeJS.Platform): string {
  return platform === 'darwin' ? `tray/${status}Template.png` : `tray/${status}.png`;
}

export function trayTooltip(view: TrayView): string {
  const text = `${PRODUCT_NAME} — ${view.detail}`;
  return text.length <= TOOLTIP_MAX ? text : `${text.slice(0, TOOLTIP_MAX - 1)}…`;
}
