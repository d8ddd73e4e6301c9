// Settings: the server and the certificate fingerprint trusted at first connection, pause and
// resume, start at login, manual collisions; sign out.
import { api, type State } from '../api.js';
import { applyState } from '../live.js';
import { Notice, ScreenHeading, useAction } from '../components/ui.js';
import { dateTime } from '../format.js';
import type { ScreenProps } from './index.js';

export function SettingsScreen({ live }: ScreenProps) {
  const s = live.state as State;
  const action = useAction();
  const set = s.settings;
  const login = s.login;

  // Optimistic: the box shows the new value at once, and goes back if the agent refuses.
  const toggle = (key: 'start_at_login' | 'manual_collisions', value: boolean) =>
    action.run(async () => {
      applyState({ settings: { ...set, [key]: value } });
      try {
        const r = await api.settings({ [key]: value });
        applyState({ settings: r.settings });
      } catch (err) {
        applyState({ settings: { ...set, [key]: !value } });
        throw err;
      }
    });

  const pause = () =>
    action.run(async () => {
      const r = set.paused ? await api.resume() : await api.pause();
      applyState({ settings: { ...set, paused: r.paused } });
      return r.paused ? 'Syncing is paused.' : 'Syncing resumed.';
    });

  const logout = () =>
    action.run(async () => {
      const r = await api.logout();
      applyState({ login: r.login });
    });

  return (
    <>
      <ScreenHeading>Settings</ScreenHeading>
      <div aria-live="polite">
        {action.message && <Notice kind="ok">{action.message}</Notice>}
        {action.error && <Notice kind="error">{action.error}</Notice>}
      </div>
      <section class="card" aria-labelledby="set-server">
        <h2 id="set-server">Server</h2>
        <dl class="facts wide">
          <div>
            <dt>Address</dt>
            <dd data-fact="server">{set.server ?? '—'}</dd>
          </div>
          {login.state === 'logged_in' && (
            <div>
              <dt>Signed in as</dt>
              <dd data-fact="user">
                {login.display_name || login.username}
                {login.email && login.email !== (login.display_name || login.username) ? ` (${login.email})` : ''}
              </dd>
            </div>
          )}
          <div>
            <dt>Trusted certificate (SHA-256)</dt>
            <dd class="fingerprint" data-fact="fingerprint">
              {set.fingerprint ?? 'Signed by a trusted authority'}
            </dd>
          </div>
          <div>
            <dt>Sync folder</dt>
            <dd class="path">{set.sync_dir ?? '—'}</dd>
          </div>
        </dl>
        <div class="actions">
          <button type="button" disabled={action.busy} onClick={() => void logout()}>
            Sign out
          </button>
        </div>
      </section>
      <section class="card" aria-labelledby="set-sync">
        <h2 id="set-sync">Syncing</h2>
        <p>
          Syncing is <strong data-testid="paused-state">{set.paused ? 'paused' : 'running'}</strong>.
        </p>
        <div class="actions">
          <button type="button" class="primary" disabled={action.busy} onClick={() => void pause()}>
            {set.paused ? 'Resume syncing' : 'Pause syncing'}
          </button>
        </div>
        <div class="check">
          <input id="set-manual" type="checkbox" checked={set.manual_collisions} disabled={action.busy} onChange={(e) => void toggle('manual_collisions', e.currentTarget.checked)} aria-describedby="set-manual-help" />
          <label for="set-manual">Let me resolve collisions myself</label>
        </div>
        <p id="set-manual-help" class="muted small">
          When off, the agent keeps both versions by itself (yours is saved as a copy next to the file).
        </p>
      </section>
      <section class="card" aria-labelledby="set-app">
        <h2 id="set-app">This computer</h2>
        <div class="check">
          <input id="set-login" type="checkbox" checked={set.start_at_login} disabled={action.busy} onChange={(e) => void toggle('start_at_login', e.currentTarget.checked)} />
          <label for="set-login">Start AXIS CloudSync when I log in</label>
        </div>
        <p class="muted small">
          Agent {s.agent.version}, running since {dateTime(s.agent.started)}.
        </p>
      </section>
    </>
  );
}
