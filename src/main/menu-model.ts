// The tray menu as plain data (pure, unit-tested), and its translation to Electron's menu
// template (types only from Electron, so this module runs under plain Node too).
import path from 'node:path';
import type { MenuItemConstructorOptions } from 'electron';
import type { ActivityView, AgentStateView } from './agent-state.js';
import { PRODUCT_NAME, trayView, type TrayInput } from './tray-model.js';

export type MenuAction =
  | { kind: 'open-sync-folder'; path: string }
  | { kind: 'open-window'; route?: string }
  | { kind: 'pause' }
  | { kind: 'resume' }
  | { kind: 'reveal'; path: string }
  | { kind: 'quit' };

export type MenuItemModel =
  | { type: 'item'; id: string; label: string; enabled: boolean; action: MenuAction | null }
  | { type: 'separator' }
  | { type: 'submenu'; id: string; label: string; enabled: boolean; items: MenuItemModel[] };

export interface MenuInput extends TrayInput {
  /** Newest first; the menu shows at most RECENT_MAX. */
  activity: readonly ActivityView[];
}

export const RECENT_MAX = 5;
const LABEL_MAX = 60;

/** Activity kinds (the engine's operation types and the agent's own; lower-cased) → a verb. */
const KIND_LABELS: Record<string, string> = {
  upload: 'Uploaded',
  download: 'Downloaded',
  createlocalfolder: 'New folder',
  createremotefolder: 'New folder',
  deletelocal: 'Deleted here',
  deleteremote: 'Deleted on the server',
  movelocal: 'Moved',
  moveremote: 'Moved',
  collision: 'Collision:',
  'collision-copy': 'Kept a copy of',
  'resolve-both': 'Kept both versions of',
  'resolve-mine': 'Kept your version of',
  'resolve-server': 'Kept the server version of',
  warning: 'Not synced:',
};

/** "Uploaded report.pdf", from an activity kind and its path (long names are shortened in the middle). */
export function activityLabel(entry: ActivityView): string {
  const known = KIND_LABELS[entry.kind.toLowerCase()];
  const words = entry.kind.replace(/([a-z])([A-Z])/g, '$1 $2').replace(/[_-]+/g, ' ').toLowerCase();
  const verb = known ?? words.charAt(0).toUpperCase() + words.slice(1);
  const name = entry.path === null ? '' : (entry.path.split('/').filter((s) => s !== '').pop() ?? entry.path);
  let label = name === '' ? verb : `${verb} ${name}`;
  if (label.length > LABEL_MAX) {
    const keep = LABEL_MAX - 1;
    label = `${label.slice(0, Math.ceil(keep / 2))}…${label.slice(label.length - Math.floor(keep / 2))}`;
  }
  return label;
}

/** The local file an activity entry is about, when its root is synced here; undefined otherwise. */
export function activityLocalPath(entry: ActivityView, state: AgentStateView | undefined): string | undefined {
  if (entry.root_id === null || entry.path === null) return undefined;
  const root = state?.status?.roots.find((r) => r.id === entry.root_id);
  if (!root || !root.path) return undefined;
  const parts = entry.path.split('/').filter((s) => s !== '' && s !== '.');
  if (parts.some((s) => s === '..')) return undefined;
  return path.join(root.path, ...parts);
}

export function buildTrayMenu(input: MenuInput): MenuItemModel[] {
  const view = trayView(input);
  const state = input.agent === 'running' ? input.state : undefined;
  const loggedIn = state?.login.state === 'logged_in';
  const paused = state?.settings.paused ?? false;
  const syncDir = state?.settings.sync_dir ?? null;
  const collisions = state?.collisions ?? 0;

  const items: MenuItemModel[] = [
    { type: 'item', id: 'status', label: view.detail, enabled: false, action: null },
    { type: 'separator' },
    {
      type: 'item',
      id: 'open-sync-folder',
      label: 'Open Sync Folder',
      enabled: syncDir !== null,
      action: syncDir !== null ? { kind: 'open-sync-folder', path: syncDir } : null,
    },
    { type: 'item', id: 'open-window', label: `Open ${PRODUCT_NAME}`, enabled: state !== undefined, action: { kind: 'open-window' } },
  ];
  if (collisions > 0) {
    items.push({
      type: 'item',
      id: 'resolve-collisions',
      label: collisions === 1 ? 'Resolve 1 Collision…' : `Resolve ${collisions} Collisions…`,
      enabled: state !== undefined,
      action: { kind: 'open-window', route: 'collisions' },
    });
  }
  items.push(
    paused
      ? { type: 'item', id: 'pause-resume', label: 'Resume Syncing', enabled: loggedIn, action: { kind: 'resume' } }
      : { type: 'item', id: 'pause-resume', label: 'Pause Syncing', enabled: loggedIn, action: { kind: 'pause' } },
  );

  const recent = input.activity.slice(0, RECENT_MAX);
  const recentItems: MenuItemModel[] =
    recent.length === 0
      ? [{ type: 'item', id: 'recent-none', label: 'No recent activity', enabled: false, action: null }]
      : recent.map((e) => {
          const local = activityLocalPath(e, state);
          return {
            type: 'item' as const,
            id: `recent-${e.id}`,
            label: activityLabel(e),
            enabled: local !== undefined,
            action: local !== undefined ? ({ kind: 'reveal', path: local } as const) : null,
          };
        });
  if (recent.length > 0) {
    recentItems.push({ type: 'separator' });
    recentItems.push({ type: 'item', id: 'recent-all', label: 'All Activity…', enabled: state !== undefined, action: { kind: 'open-window', route: 'activity' } });
  }
  items.push({ type: 'submenu', id: 'recent', label: 'Recent Activity', enabled: loggedIn, items: recentItems });

  items.push({ type: 'separator' }, { type: 'item', id: 'quit', label: `Quit ${PRODUCT_NAME}`, enabled: true, action: { kind: 'quit' } });
  return items;
}

/** Electron's template for a menu model; `run` is called with the action of a clicked item. */
export function toMenuTemplate(model: readonly MenuItemModel[], run: (action: MenuAction) => void): MenuItemConstructorOptions[] {
  return model.map((m): MenuItemConstructorOptions => {
    if (m.type === 'separator') return { type: 'separator' };
    if (m.type === 'submenu') return { id: m.id, label: m.label, enabled: m.enabled, submenu: toMenuTemplate(m.items, run) };
    const action = m.action;
    const item: MenuItemConstructorOptions = { id: m.id, label: m.label, enabled: m.enabled && action !== null };
    if (action) item.click = () => run(action);
    return item;
  });
}
