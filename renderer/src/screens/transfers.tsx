// Transfers in flight: progress, speed and time left. Speed comes from the bytes-done counter
// of each transfer between two states; an agent that does not report `done` gets the measured
// rate of its direction (bandwidth samples) shared among the transfers of that direction.
import { useRef } from 'preact/hooks';
import type { BandwidthSample, Transfer } from '../api.js';
import { ScreenHeading } from '../components/ui.js';
import { bytes, dateTime, duration, rate, splitPath } from '../format.js';
import type { ScreenProps } from './index.js';

interface Seen {
  done: number;
  at: number;
  speed: number | null;
}

function recentRate(samples: BandwidthSample[], dir: 'up' | 'down'): number | null {
  const last = samples.slice(-3);
  if (last.length === 0) return null;
  return last.reduce((a, s) => a + s[dir], 0) / last.length;
}

export function TransfersScreen({ live }: ScreenProps) {
  const transfers = live.state?.status?.transfers ?? [];
  const seen = useRef(new Map<string, Seen>());
  const now = Date.now();
  const samples = live.bandwidth?.samples ?? [];

  // Smoothed speed per transfer from successive `done` values.
  const keys = new Set<string>();
  for (const t of transfers) {
    const key = `${t.root_id}:${t.direction}:${t.path}`;
    keys.add(key);
    if (t.done === undefined) continue;
    const prev = seen.current.get(key);
    if (!prev) seen.current.set(key, { done: t.done, at: now, speed: null });
    else if (t.done !== prev.done && now > prev.at) {
      const inst = ((t.done - prev.done) * 1000) / (now - prev.at);
      seen.current.set(key, { done: t.done, at: now, speed: prev.speed === null ? inst : prev.speed * 0.6 + inst * 0.4 });
    }
  }
  for (const k of [...seen.current.keys()]) if (!keys.has(k)) seen.current.delete(k);

  const perDir = { up: transfers.filter((t) => t.direction === 'up').length, down: transfers.filter((t) => t.direction === 'down').length };
  const speedOf = (t: Transfer): number | null => {
    const s = seen.current.get(`${t.root_id}:${t.direction}:${t.path}`)?.speed;
    if (s !== undefined && s !== null) return s;
    const r = recentRate(samples, t.direction);
    return r === null ? null : r / Math.max(1, perDir[t.direction]);
  };

  return (
    <>
      <ScreenHeading>Transfers</ScreenHeading>
      {transfers.length === 0 ? (
        <p data-testid="no-transfers">Nothing is being transferred right now.</p>
      ) : (
        <ul class="cards">
          {transfers.map((t) => {
            const { name, folder } = splitPath(t.path);
            const speed = speedOf(t);
            const done = t.done;
            const left = done !== undefined ? Math.max(0, t.size - done) : null;
            const eta = left !== null && speed ? left / speed : null;
            const pct = done !== undefined && t.size > 0 ? Math.min(100, Math.round((done / t.size) * 100)) : null;
            const id = `t-${t.root_id}-${t.direction}-${t.path}`.replace(/[^\w-]/g, '_');
            return (
              <li key={id} class="card transfer" data-path={t.path} data-direction={t.direction} aria-labelledby={`${id}-name`}>
                <div class="root-head">
                  <h2 id={`${id}-name`} class="file-name">
                    <span aria-hidden="true" class={`dir dir-${t.direction}`}>
                      {t.direction === 'up' ? '↑' : '↓'}
                    </span>{' '}
                    {name}
                  </h2>
                  <span class="muted">{t.direction === 'up' ? 'Uploading' : 'Downloading'}</span>
                </div>
                {folder && <p class="path">{folder}</p>}
                <progress id={`${id}-progress`} max={t.size || 1} value={done} aria-labelledby={`${id}-name`} aria-valuetext={pct !== null ? `${pct} %` : 'in progress'} />
                <dl class="facts">
                  <div>
                    <dt>Progress</dt>
                    <dd data-fact="progress">{done !== undefined ? `${bytes(done)} of ${bytes(t.size)} (${pct} %)` : `${bytes(t.size)}`}</dd>
                  </div>
                  <div>
                    <dt>Speed</dt>
                    <dd data-fact="speed">{speed !== null ? rate(speed) : '—'}</dd>
                  </div>
                  <div>
                    <dt>Time left</dt>
                    <dd data-fact="eta">{duration(eta)}</dd>
                  </div>
                  <div>
                    <dt>Started</dt>
                    <dd>{dateTime(t.started)}</dd>
                  </div>
                </dl>
              </li>
            );
          })}
        </ul>
      )}
    </>
  );
}
