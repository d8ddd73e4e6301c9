// Roots: what this machine syncs (sync folder, shares, backups) with live status, and every
// root the account sees, marked when this machine is subscribed to it.
import type { RootStatus, State } from '../api.js';
import { Badge, Notice, rootStatus, ScreenHeading } from '../components/ui.js';
import { dateTime, plural } from '../format.js';
import type { ScreenProps } from './index.js';

const GROUPS: { type: string; title: string }[] = [
  { type: 'sync', title: 'Sync folder' },
  { type: 'share', title: 'Shares' },
  { type: 'backup', title: 'Backups' },
];

export function RootsScreen({ live }: ScreenProps) {
  const s = live.state as State;
  const roots = s.status?.roots ?? [];
  const other = roots.filter((r) => !GROUPS.some((g) => g.type === r.type));
  return (
    <>
      <ScreenHeading>Roots</ScreenHeading>
      {s.login.state === 'logged_in' && s.login.error && <Notice kind="error">{s.login.error}</Notice>}
      {!s.status && !(s.login.state === 'logged_in' && s.login.error) && (
        <p class="muted" role="status">
          Starting to sync…
        </p>
      )}
      {s.status && roots.length === 0 && <p>This machine does not sync any root yet.</p>}
      {GROUPS.map((g) => {
        const list = roots.filter((r) => r.type === g.type);
        if (list.length === 0) return null;
        return (
          <section key={g.type} aria-labelledby={`group-${g.type}`}>
            <h2 id={`group-${g.type}`}>{g.title}</h2>
            <ul class="cards">
              {list.map((r) => (
                <RootCard key={r.id} root={r} />
              ))}
            </ul>
          </section>
        );
      })}
      {other.length > 0 && (
        <section aria-labelledby="group-other">
          <h2 id="group-other">Other</h2>
          <ul class="cards">
            {other.map((r) => (
              <RootCard key={r.id} root={r} />
            ))}
          </ul>
        </section>
      )}
      <section aria-labelledby="account-roots">
        <h2 id="account-roots">Roots on your account</h2>
        {s.server_roots.length === 0 ? (
          <p class="muted">The server lists no roots for this account.</p>
        ) : (
          <table class="table" data-testid="server-roots">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Type</th>
                <th scope="col">On this machine</th>
              </tr>
            </thead>
            <tbody>
              {s.server_roots.map((r) => (
                <tr key={r.id} data-root-id={r.id}>
                  <td>{r.name}</td>
                  <td>{r.type}</td>
                  <td>{r.subscribed ? <Badge tone="ok">Subscribed</Badge> : <span class="muted">Not synced here</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </>
  );
}

function RootCard({ root: r }: { root: RootStatus }) {
  const st = rootStatus(r);
  return (
    <li class="card root" data-root-id={r.id} aria-labelledby={`root-${r.id}-name`}>
      <div class="root-head">
        <h3 id={`root-${r.id}-name`}>{r.name}</h3>
        <Badge tone={st.tone}>{st.label}</Badge>
      </div>
      <p class="path" title={r.path}>
        {r.path}
      </p>
      <dl class="facts">
        <div>
          <dt>Queued</dt>
          <dd data-fact="queued">{r.queued}</dd>
        </div>
        <div>
          <dt>Collisions</dt>
          <dd data-fact="collisions">{r.collisions > 0 ? <a href="#/collisions">{r.collisions}</a> : 0}</dd>
        </div>
        <div>
          <dt>Warnings</dt>
          <dd data-fact="warnings">{r.warnings}</dd>
        </div>
        <div>
          <dt>Excluded by policy</dt>
          <dd data-fact="excl_files">{r.excl_files}</dd>
        </div>
        <div>
          <dt>Last sync</dt>
          <dd>{dateTime(r.last_sync)}</dd>
        </div>
      </dl>
      {r.excl_files > 0 && (
        <p class="muted small">
          {plural(r.excl_files, 'file')} not synced: your organization's policy excludes {r.excl_files === 1 ? 'it' : 'them'} (file type, size or space quota).
        </p>
      )}
      {r.last_error && (
        <p class="notice notice-error" role="alert">
          {r.last_error}
        </p>
      )}
    </li>
  );
}
