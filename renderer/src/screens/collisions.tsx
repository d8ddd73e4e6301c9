// Collisions: both versions (size, time, machine) side by side; keep mine / keep server /
// keep both per collision, and all at once where the policy allows. "Keep mine" is disabled,
// with the reason shown, while the policy forbids overwriting the server's version.
import { useEffect, useState } from 'preact/hooks';
import { api, errorText, type Collision, type CollisionList, type Keep } from '../api.js';
import { Notice, ScreenHeading, useAction } from '../components/ui.js';
import { bytes, collisionReason, dateTime, plural, splitPath } from '../format.js';
import type { ScreenProps } from './index.js';

const MINE_FORBIDDEN = "Your organization's policy does not allow replacing the server's version with yours. Keep the server's version, or keep both.";

export function CollisionsScreen({ live }: ScreenProps) {
  const [list, setList] = useState<CollisionList | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const action = useAction();
  const open = live.state?.collisions ?? 0;
  const roots = new Map((live.state?.status?.roots ?? []).map((r) => [r.id, r.name]));

  const load = async () => {
    try {
      setList(await api.collisions());
      setLoadError(null);
    } catch (err) {
      setLoadError(errorText(err));
    }
  };
  // Reload when the number of open collisions changes (new ones, or resolved elsewhere).
  useEffect(() => {
    void load();
  }, [open]);

  const resolve = (c: Collision, keep: Keep) =>
    action.run(async () => {
      const r = await api.resolve(c.id, keep);
      await load();
      return r.message;
    });

  const resolveAll = (keep: Keep) =>
    action.run(async () => {
      const r = await api.resolveAll(keep);
      await load();
      const failed = r.failed.length ? ` ${plural(r.failed.length, 'collision')} could not be resolved: ${r.failed.map((f) => f.message).join('; ')}` : '';
      return `Resolved ${plural(r.resolved, 'collision')}.${failed}`;
    });

  // The live policy wins: an admin's change shows without reloading the list.
  const policy = live.state?.policy;
  const mineAllowed = policy ? policy.user_overwrite_collisions : (list?.keep_mine_allowed ?? false);
  const bulkAllowed = policy ? policy.user_bulk_resolve_warnings : (list?.bulk_allowed ?? false);
  return (
    <>
      <ScreenHeading>Collisions</ScreenHeading>
      <p class="muted">A collision happens when a file changed here and on the server before they could sync. Choose which version to keep.</p>
      {loadError && <Notice kind="error">{loadError}</Notice>}
      <div aria-live="polite">
        {action.message && <Notice kind="ok">{action.message}</Notice>}
        {action.error && <Notice kind="error">{action.error}</Notice>}
      </div>
      {list && list.collisions.length === 0 && <p data-testid="no-collisions">No collisions. Everything is in agreement.</p>}
      {list && list.collisions.length > 1 && (
        <section class="card bulk" aria-labelledby="bulk-title">
          <h2 id="bulk-title">Resolve all {list.collisions.length}</h2>
          {bulkAllowed ? (
            <div class="actions">
              <button type="button" disabled={action.busy || !mineAllowed} aria-describedby={!mineAllowed ? 'mine-forbidden' : undefined} onClick={() => void resolveAll('mine')}>
                Keep all mine
              </button>
              <button type="button" disabled={action.busy} onClick={() => void resolveAll('server')}>
                Keep all server versions
              </button>
              <button type="button" disabled={action.busy} onClick={() => void resolveAll('both')}>
                Keep both of all
              </button>
            </div>
          ) : (
            <p class="muted">Your organization's policy asks you to resolve collisions one by one.</p>
          )}
        </section>
      )}
      {list && !mineAllowed && list.collisions.length > 0 && (
        <p id="mine-forbidden" class="muted small">
          {MINE_FORBIDDEN}
        </p>
      )}
      <ul class="cards">
        {list?.collisions.map((c) => {
          const { name, folder } = splitPath(c.path);
          return (
            <li key={c.id} class="card collision" data-collision-id={c.id} aria-labelledby={`c-${c.id}-name`}>
              <h2 id={`c-${c.id}-name`} class="file-name">
                {name}
              </h2>
              <p class="muted small">
                {roots.get(c.root_id) ?? `Root ${c.root_id}`}
                {folder ? ` · ${folder}` : ''} · found {dateTime(c.created)}
                {c.reason ? ` · ${collisionReason(c.reason)}` : ''}
              </p>
              <div class="versions">
                <Version title="Your version" testid="local" size={c.local.size} mtime={c.local.mtime} machine={c.local.machine} />
                <Version title="Server's version" testid="server" size={c.server.size} mtime={c.server.mtime} machine={c.server.machine} revision={c.server.revision_id} />
              </div>
              <div class="actions" role="group" aria-label={`Resolve ${name}`}>
                <button type="button" disabled={action.busy || !mineAllowed} aria-describedby={!mineAllowed ? 'mine-forbidden' : undefined} onClick={() => void resolve(c, 'mine')}>
                  Keep mine
                </button>
                <button type="button" disabled={action.busy} onClick={() => void resolve(c, 'server')}>
                  Keep server's
                </button>
                <button type="button" class="primary" disabled={action.busy} onClick={() => void resolve(c, 'both')}>
                  Keep both
                </button>
              </div>
            </li>
          );
        })}
      </ul>
    </>
  );
}

function Version(p: { title: string; testid: string; size: number | null; mtime: string | null; machine: string | null; revision?: number | null }) {
  return (
    <section class="version" data-version={p.testid} aria-label={p.title}>
      <h3>{p.title}</h3>
      <dl class="facts">
        <div>
          <dt>Size</dt>
          <dd data-fact="size">{bytes(p.size)}</dd>
        </div>
        <div>
          <dt>Modified</dt>
          <dd data-fact="mtime">{dateTime(p.mtime)}</dd>
        </div>
        <div>
          <dt>Machine</dt>
          <dd data-fact="machine">{p.machine ?? 'not recorded'}</dd>
        </div>
        {p.revision !== undefined && p.revision !== null && (
          <div>
            <dt>Revision</dt>
            <dd>{p.revision}</dd>
          </div>
        )}
      </dl>
    </section>
  );
}
