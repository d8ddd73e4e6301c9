// Activity: what the agent did, newest first (live).
import { useEffect } from 'preact/hooks';
import { ScreenHeading } from '../components/ui.js';
import { refreshActivity } from '../live.js';
import { collisionReason, dateTime } from '../format.js';
import type { ScreenProps } from './index.js';

const KINDS: Record<string, string> = {
  upload: 'Uploaded',
  download: 'Downloaded',
  createLocalFolder: 'Folder created here',
  createRemoteFolder: 'Folder created on the server',
  deleteLocal: 'Deleted here',
  deleteRemote: 'Deleted on the server',
  moveLocal: 'Moved here',
  moveRemote: 'Moved on the server',
  collision: 'Collision',
  'collision-copy': 'Kept both (copy)',
  'resolve-both': 'Resolved: kept both',
  'resolve-mine': 'Resolved: kept yours',
  'resolve-server': "Resolved: kept the server's",
};

export function kindLabel(kind: string): string {
  return KINDS[kind] ?? kind;
}

export function ActivityScreen({ live }: ScreenProps) {
  useEffect(() => {
    void refreshActivity();
  }, []);
  const roots = new Map((live.state?.status?.roots ?? []).map((r) => [r.id, r.name]));
  const list = live.activity;
  return (
    <>
      <ScreenHeading>Activity</ScreenHeading>
      {list.length === 0 ? (
        <p>No activity yet.</p>
      ) : (
        <table class="table activity" data-testid="activity">
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">What</th>
              <th scope="col">File</th>
              <th scope="col">Root</th>
            </tr>
          </thead>
          <tbody>
            {list.map((a) => (
              <tr key={a.id} data-kind={a.kind}>
                <td class="nowrap">{dateTime(a.time)}</td>
                <td>{kindLabel(a.kind)}</td>
                <td class="path-cell">
                  {a.path ?? '—'}
                  {a.detail && <span class="muted small block">{a.kind === 'collision' ? collisionReason(a.detail) : a.detail}</span>}
                </td>
                <td>{(a.root_id !== null && roots.get(a.root_id)) || '—'}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}
