// The tray's pure logic (src/main): state → icon and tooltip, the menu model and its Electron
// template, and when notifications fire.
import { describe, expect, it } from 'vitest';
import type { ActivityView, AgentStateView, RootView } from '../../src/main/agent-state.js';
import { activityLabel, activityLocalPath, buildTrayMenu, toMenuTemplate, type MenuAction, type MenuItemModel } from '../../src/main/menu-model.js';
import { decideNotifications, INITIAL_NOTIFY_MEMORY, type NotifyMemory } from '../../src/main/notify-model.js';
import { TOOLTIP_MAX, TRAY_STATUSES, trayIconFile, trayTooltip, trayView, type AgentProcessState } from '../../src/main/tray-model.js';
import path from 'node:path';

function root(over: Partial<RootView> = {}): RootView {
  return { id: 1, name: 'My Files', type: 'sync', path: '/home/u/AXIS CloudSync', synced: true, queued: 0, collisions: 0, state: 'idle', paused: false, last_error: null, ...over };
}

function loggedIn(over: Partial<AgentStateView> = {}, roots: RootView[] = [root()]): AgentStateView {
  return {
    login: { state: 'logged_in', server: 'https://s:8443', username: 'u', display_name: 'U', email: 'u@x', machine_id: 3 },
    status: { running: true, roots, transfers: [] },
    settings: { server: 'https://s:8443', sync_dir: '/home/u/AXIS CloudSync', paused: false, start_at_login: false },
    collisions: 0,
    ...over,
  };
}

function loggedOut(error?: string): AgentStateView {
  return {
    login: error === undefined ? { state: 'logged_out', server: null } : { state: 'logged_out', server: 'https://s:8443', error },
    status: null,
    settings: { server: null, sync_dir: null, paused: false, start_at_login: false },
    collisions: 0,
  };
}

const entry = (id: number, kind: string, p: string | null, root_id: number | null = 1): ActivityView => ({ id, root_id, time: '2026-11-23T10:00:00Z', kind, path: p, detail: null });

describe('tray state', () => {
  const running = (state: AgentStateView) => trayView({ agent: 'running', state });

  it('is offline while the agent is not running, whatever the last state said', () => {
    for (const agent of ['starting', 'restarting', 'stopped'] as AgentProcessState[]) {
      expect(trayView({ agent, state: loggedIn() }).status).toBe('offline');
    }
    expect(trayView({ agent: 'running', state: undefined })).toEqual({ status: 'offline', detail: 'Starting…' });
    expect(trayView({ agent: 'restarting', state: undefined }).detail).toMatch(/restarting/);
  });

  it('is synced when every root is idle with nothing queued', () => {
    expect(running(loggedIn())).toEqual({ status: 'synced', detail: 'Up to date' });
    expect(running(loggedIn({}, []))).toEqual({ status: 'synced', detail: 'No folders to sync' });
  });

  it('is syncing while a root syncs, has a queue or a transfer runs', () => {
    expect(running(loggedIn({}, [root({ state: 'syncing' })]))).toEqual({ status: 'syncing', detail: 'Syncing…' });
    expect(running(loggedIn({}, [root({ state: 'starting' })])).status).toBe('syncing');
    expect(running(loggedIn({}, [root({ queued: 1 })]))).toEqual({ status: 'syncing', detail: 'Syncing 1 file' });
    expect(running(loggedIn({}, [root({ queued: 3 }), root({ id: 2, queued: 4 })]))).toEqual({ status: 'syncing', detail: 'Syncing 7 files' });
    const s = loggedIn();
    s.status!.transfers = [{ root_id: 1, path: 'a', direction: 'up', size: 5 }];
    expect(running(s)).toEqual({ status: 'syncing', detail: 'Syncing 1 file' });
    // Logged in, engine not reported yet.
    expect(running(loggedIn({ status: null })).status).toBe('syncing');
  });

  it('is paused when the agent or every root is paused', () => {
    expect(running(loggedIn({ settings: { server: 's', sync_dir: '/d', paused: true, start_at_login: false } }))).toEqual({ status: 'paused', detail: 'Paused' });
    expect(running(loggedIn({}, [root({ paused: true, state: 'paused' }), root({ id: 2, paused: true, state: 'paused' })])).status).toBe('paused');
    // One paused root of two: the other one decides.
    expect(running(loggedIn({}, [root({ paused: true, state: 'paused' }), root({ id: 2, state: 'syncing' })])).status).toBe('syncing');
  });

  it('needs attention for collisions, root errors and auth problems, before paused', () => {
    expect(running(loggedIn({ collisions: 1 }))).toEqual({ status: 'attention', detail: '1 collision to resolve' });
    expect(running(loggedIn({ collisions: 4 })).detail).toBe('4 collisions to resolve');
    const pausedWithCollisions = loggedIn({ collisions: 2, settings: { server: 's', sync_dir: '/d', paused: true, start_at_login: false } });
    expect(running(pausedWithCollisions).status).toBe('attention');
    expect(running(loggedIn({}, [root({ state: 'error', last_error: 'disk full' })]))).toEqual({ status: 'attention', detail: 'My Files has a problem: disk full' });
    expect(running(loggedIn({}, [root({ state: 'error' }), root({ id: 2, state: 'error' })])).detail).toBe('2 folders have problems');
    // A paused root in error is not a problem now.
    expect(running(loggedIn({}, [root({ state: 'error', paused: true }), root({ id: 2 })])).status).toBe('synced');
    expect(running(loggedOut('the machine was revoked'))).toEqual({ status: 'attention', detail: 'Sign in again: the machine was revoked' });
  });

  it('is offline when logged out, waiting for a code, or the server is unreachable', () => {
    expect(running(loggedOut())).toEqual({ status: 'offline', detail: 'Not signed in' });
    expect(running(loggedOut('   '))).toEqual({ status: 'offline', detail: 'Not signed in' });
    const twostep: AgentStateView = { ...loggedOut(), login: { state: 'twostep', server: 's', username: 'u', mode: 'sms', hint: '…12' } };
    expect(running(twostep)).toEqual({ status: 'offline', detail: 'Waiting for the sign-in code' });
    expect(running(loggedIn({}, [root({ state: 'offline' }), root({ id: 2, state: 'offline' })]))).toEqual({ status: 'offline', detail: 'Cannot reach the server' });
    const notStarted = loggedIn({ status: null });
    notStarted.login = { ...(notStarted.login as Extract<AgentStateView['login'], { state: 'logged_in' }>), error: 'server unreachable' };
    expect(running(notStarted)).toEqual({ status: 'offline', detail: 'Not syncing: server unreachable' });
    // One root offline, one idle: not offline.
    expect(running(loggedIn({}, [root({ state: 'offline' }), root({ id: 2 })])).status).toBe('synced');
  });

  it('names icon files per platform, template images on macOS, one per state', () => {
    expect(trayIconFile('synced', 'linux')).toBe('tray/synced.png');
    expect(trayIconFile('attention', 'win32')).toBe('tray/attention.png');
    expect(trayIconFile('paused', 'darwin')).toBe('tray/pausedTemplate.png');
    const files = new Set(TRAY_STATUSES.flatMap((s) => [trayIconFile(s, 'linux'), trayIconFile(s, 'darwin')]));
    expect(files.size).toBe(10);
  });

  it('ships every icon file the tray asks for, at 1x and 2x, with the right sizes', async () => {
    const { readFileSync } = await import('node:fs');
    for (const s of TRAY_STATUSES) {
      for (const platform of ['linux', 'darwin'] as const) {
        const rel = trayIconFile(s, platform);
        for (const [file, size] of [[rel, 16], [rel.replace(/\.png$/, '@2x.png'), 32]] as const) {
          const png = readFileSync(path.join('assets', file));
          expect(png.subarray(1, 4).toString('ascii')).toBe('PNG');
          expect([png.readUInt32BE(16), png.readUInt32BE(20)]).toEqual([size, size]);
        }
      }
    }
    const icon = readFileSync(path.join('assets', 'icon.png'));
    expect(icon.readUInt32BE(16)).toBeGreaterThanOrEqual(512); // macOS needs 512+, Windows 256+
  });

  it('makes tooltips with the product name, cut to what Windows shows', () => {
    expect(trayTooltip({ status: 'synced', detail: 'Up to date' })).toBe('AXIS CloudSync — Up to date');
    const long = trayTooltip({ status: 'attention', detail: `Sign in again: ${'x'.repeat(300)}` });
    expect(long.length).toBe(TOOLTIP_MAX);
    expect(long.endsWith('…')).toBe(true);
  });
});

function item(model: MenuItemModel[], id: string): Extract<MenuItemModel, { type: 'item' }> {
  for (const m of model) {
    if (m.type === 'item' && m.id === id) return m;
    if (m.type === 'submenu') {
      const inner = m.items.find((i) => i.type === 'item' && i.id === id);
      if (inner) return inner as Extract<MenuItemModel, { type: 'item' }>;
    }
  }
  throw new Error(`no item ${id}`);
}

function submenu(model: MenuItemModel[], id: string): Extract<MenuItemModel, { type: 'submenu' }> {
  const m = model.find((x) => x.type === 'submenu' && x.id === id);
  if (!m || m.type !== 'submenu') throw new Error(`no submenu ${id}`);
  return m;
}

describe('tray menu', () => {
  it('has the status line, folder, window, pause, recent activity and quit, in that order', () => {
    const model = buildTrayMenu({ agent: 'running', state: loggedIn(), activity: [] });
    const ids = model.map((m) => (m.type === 'separator' ? '-' : m.id));
    expect(ids).toEqual(['status', '-', 'open-sync-folder', 'open-window', 'pause-resume', 'recent', '-', 'quit']);
    expect(item(model, 'status')).toMatchObject({ label: 'Up to date', enabled: false, action: null });
    expect(item(model, 'open-sync-folder')).toMatchObject({ enabled: true, action: { kind: 'open-sync-folder', path: '/home/u/AXIS CloudSync' } });
    expect(item(model, 'open-window')).toMatchObject({ enabled: true, action: { kind: 'open-window' } });
    expect(item(model, 'pause-resume')).toMatchObject({ label: 'Pause Syncing', enabled: true, action: { kind: 'pause' } });
    expect(item(model, 'quit')).toMatchObject({ enabled: true, action: { kind: 'quit' } });
  });

  it('offers Resume when paused', () => {
    const s = loggedIn({ settings: { server: 's', sync_dir: '/d', paused: true, start_at_login: false } });
    expect(item(buildTrayMenu({ agent: 'running', state: s, activity: [] }), 'pause-resume')).toMatchObject({ label: 'Resume Syncing', enabled: true, action: { kind: 'resume' } });
  });

  it('disables what needs an agent, a login or a sync folder; quit always works', () => {
    const down = buildTrayMenu({ agent: 'restarting', state: loggedIn(), activity: [entry(1, 'upload', 'a.txt')] });
    // The last State of a dead agent is not trusted for anything.
    expect(item(down, 'open-window').enabled).toBe(false);
    expect(item(down, 'pause-resume').enabled).toBe(false);
    expect(item(down, 'open-sync-folder').enabled).toBe(false);
    expect(submenu(down, 'recent').enabled).toBe(false);
    expect(item(down, 'quit').enabled).toBe(true);

    const out = buildTrayMenu({ agent: 'running', state: loggedOut(), activity: [] });
    expect(item(out, 'open-window').enabled).toBe(true); // to sign in
    expect(item(out, 'pause-resume').enabled).toBe(false);
    expect(item(out, 'open-sync-folder')).toMatchObject({ enabled: false, action: null });
    expect(submenu(out, 'recent').enabled).toBe(false);
  });

  it('adds a resolve entry leading to the collisions screen when there are collisions', () => {
    const one = buildTrayMenu({ agent: 'running', state: loggedIn({ collisions: 1 }), activity: [] });
    expect(item(one, 'resolve-collisions')).toMatchObject({ label: 'Resolve 1 Collision…', enabled: true, action: { kind: 'open-window', route: 'collisions' } });
    expect(item(buildTrayMenu({ agent: 'running', state: loggedIn({ collisions: 3 }), activity: [] }), 'resolve-collisions').label).toBe('Resolve 3 Collisions…');
    expect(() => item(buildTrayMenu({ agent: 'running', state: loggedIn(), activity: [] }), 'resolve-collisions')).toThrow();
  });

  it('lists the last five activity entries, each revealing its file, then All Activity', () => {
    const activity = [6, 5, 4, 3, 2, 1].map((id) => entry(id, 'download', `docs/f${id}.txt`));
    const recent = submenu(buildTrayMenu({ agent: 'running', state: loggedIn(), activity }), 'recent');
    expect(recent.enabled).toBe(true);
    const entries = recent.items.filter((i) => i.type === 'item' && i.id.startsWith('recent-') && i.id !== 'recent-all');
    expect(entries.map((e) => (e.type === 'item' ? e.label : ''))).toEqual(['Downloaded f6.txt', 'Downloaded f5.txt', 'Downloaded f4.txt', 'Downloaded f3.txt', 'Downloaded f2.txt']);
    expect(item([recent], 'recent-6')).toMatchObject({ enabled: true, action: { kind: 'reveal', path: path.join('/home/u/AXIS CloudSync', 'docs', 'f6.txt') } });
    expect(item([recent], 'recent-all')).toMatchObject({ action: { kind: 'open-window', route: 'activity' } });
  });

  it('shows "No recent activity" when there is none, and cannot reveal entries of unknown roots', () => {
    const none = submenu(buildTrayMenu({ agent: 'running', state: loggedIn(), activity: [] }), 'recent');
    expect(none.items).toEqual([{ type: 'item', id: 'recent-none', label: 'No recent activity', enabled: false, action: null }]);
    const other = submenu(buildTrayMenu({ agent: 'running', state: loggedIn(), activity: [entry(9, 'upload', 'x.txt', 77), entry(8, 'login', null, null)] }), 'recent');
    expect(item([other], 'recent-9')).toMatchObject({ label: 'Uploaded x.txt', enabled: false, action: null });
    expect(item([other], 'recent-8')).toMatchObject({ label: 'Login', enabled: false });
  });

  it('labels activity readably and keeps paths inside their root', () => {
    // The engine's operation types and the agent's resolve kinds.
    expect(activityLabel(entry(1, 'deleteRemote', 'a/b/c.txt'))).toBe('Deleted on the server c.txt');
    expect(activityLabel(entry(1, 'upload', 'a/b/c.txt'))).toBe('Uploaded c.txt');
    expect(activityLabel(entry(1, 'resolve-mine', 'r.doc'))).toBe('Kept your version of r.doc');
    expect(activityLabel(entry(1, 'collision', 'r.doc'))).toBe('Collision: r.doc');
    expect(activityLabel(entry(1, 'createLocalFolder', 'Photos/'))).toBe('New folder Photos');
    // Kinds added later still read as words.
    expect(activityLabel(entry(1, 'someNewKind', 'x'))).toBe('Some new kind x');
    expect(activityLabel(entry(1, 'other_new-kind', 'x'))).toBe('Other new kind x');
    const long = activityLabel(entry(1, 'upload', `${'n'.repeat(100)}.pdf`));
    expect(long.length).toBe(60);
    expect(long).toMatch(/^Uploaded n+…n+\.pdf$/);
    expect(activityLocalPath(entry(1, 'upload', '../../etc/passwd'), loggedIn())).toBeUndefined();
    expect(activityLocalPath(entry(1, 'upload', 'a/./b'), loggedIn())).toBe(path.join('/home/u/AXIS CloudSync', 'a', 'b'));
  });

  it('translates to an Electron template whose clicks run the item actions', () => {
    const model = buildTrayMenu({ agent: 'running', state: loggedIn({ collisions: 2 }), activity: [entry(3, 'upload', 'r.pdf')] });
    const ran: MenuAction[] = [];
    const template = toMenuTemplate(model, (a) => ran.push(a));
    expect(template.map((t) => t.type ?? t.id)).toEqual(['status', 'separator', 'open-sync-folder', 'open-window', 'resolve-collisions', 'pause-resume', 'recent', 'separator', 'quit']);
    expect(template[0]).toMatchObject({ label: '2 collisions to resolve', enabled: false });
    expect(template[0]!.click).toBeUndefined();
    const click = (id: string) => {
      const t = template.find((x) => x.id === id)!;
      (t.click as () => void)();
    };
    click('pause-resume');
    click('resolve-collisions');
    click('quit');
    const recent = template.find((t) => t.id === 'recent')!;
    const sub = recent.submenu as { id?: string; click?: () => void }[];
    sub.find((s) => s.id === 'recent-3')!.click!();
    expect(ran).toEqual([{ kind: 'pause' }, { kind: 'open-window', route: 'collisions' }, { kind: 'quit' }, { kind: 'reveal', path: path.join('/home/u/AXIS CloudSync', 'r.pdf') }]);
  });
});

describe('notifications', () => {
  const run = (states: (AgentStateView | undefined)[], start: NotifyMemory = INITIAL_NOTIFY_MEMORY) => {
    let memory = start;
    return states.map((s) => {
      const d = decideNotifications(memory, s);
      memory = d.memory;
      return d.notifications.map((n) => `${n.kind}:${n.title}`);
    });
  };

  it('tells about collisions once per new one, not on every state update', () => {
    const out = run([loggedIn(), loggedIn({ collisions: 1 }), loggedIn({ collisions: 1 }), loggedIn({ collisions: 1 }), loggedIn({ collisions: 3 }), loggedIn({ collisions: 3 })]);
    expect(out).toEqual([[], ['collisions:New collision'], [], [], ['collisions:2 new collisions'], []]);
  });

  it('tells again after collisions were resolved and a new one came', () => {
    expect(run([loggedIn({ collisions: 2 }), loggedIn({ collisions: 0 }), loggedIn({ collisions: 1 })])).toEqual([
      ['collisions:2 collisions to resolve'],
      [],
      ['collisions:New collision'],
    ]);
    // Resolving some is no news.
    expect(run([loggedIn(), loggedIn({ collisions: 5 }), loggedIn({ collisions: 4 })])[2]).toEqual([]);
  });

  it('mentions collisions already there at launch once', () => {
    expect(run([loggedIn({ collisions: 1 }), loggedIn({ collisions: 1 })])).toEqual([['collisions:1 collision to resolve'], []]);
  });

  it('ignores collision counts of states that cannot know them (logged out, engine not up)', () => {
    // 3 → logged out (0) → 3 again: the same collisions, no news.
    const out = run([loggedIn({ collisions: 3 }), loggedOut(), loggedIn({ collisions: 3, status: null }), loggedIn({ collisions: 3 })]);
    expect(out).toEqual([['collisions:3 collisions to resolve'], [], [], []]);
    expect(run([undefined, undefined])).toEqual([[], []]);
  });

  it('tells about a lost login once, and again only when it is lost again', () => {
    const AUTH = 'auth:AXIS CloudSync needs you to sign in again';
    const out = run([loggedIn(), loggedOut('machine revoked'), loggedOut('machine revoked'), loggedOut('machine revoked'), loggedIn(), loggedOut('machine locked')]);
    expect(out).toEqual([[], [AUTH], [], [], [], [AUTH]]);
    // At launch, stored credentials refused.
    const d = decideNotifications(INITIAL_NOTIFY_MEMORY, loggedOut('machine revoked'));
    expect(d.notifications.map((n) => `${n.kind}:${n.title}`)).toEqual([AUTH]);
    expect(d.notifications[0]).toMatchObject({ route: 'login', body: 'machine revoked. Syncing is stopped until you sign in.' });
  });

  it('does not notify about a sign-in the user is doing in the window', () => {
    const twostep: AgentStateView = { ...loggedOut(), login: { state: 'twostep', server: 's', username: 'u', mode: 'authenticator', hint: '' } };
    const wrong = loggedOut('Invalid authentication code (3 tries). Log in again.');
    expect(run([loggedOut(), twostep, wrong, wrong])).toEqual([[], [], [], []]);
    // The tray still says what happened.
    expect(trayView({ agent: 'running', state: wrong }).status).toBe('attention');
  });

  it('carries its memory over states from a restarted agent', () => {
    const first = decideNotifications(INITIAL_NOTIFY_MEMORY, loggedIn({ collisions: 2 }));
    expect(first.notifications).toHaveLength(1);
    // Agent restarted: main keeps the memory, the same two collisions are no news.
    expect(decideNotifications(first.memory, undefined).notifications).toEqual([]);
    expect(decideNotifications(first.memory, loggedIn({ collisions: 2 })).notifications).toEqual([]);
    expect(first.memory).toEqual({ collisions: 2, auth: undefined, login: 'logged_in' });
    expect(INITIAL_NOTIFY_MEMORY).toEqual({ collisions: undefined, auth: undefined, login: undefined });
  });
});
