// Bandwidth: the chart of the last minutes (up/down, the throttle limit, exception windows)
// and the schedule in words.
import { useState } from 'preact/hooks';
import { BandwidthChart } from '../components/chart.js';
import { ScreenHeading } from '../components/ui.js';
import { clock, dateTime, rate } from '../format.js';
import type { ScreenProps } from './index.js';

const DAYS = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'];
const KiB = 1024;

function days(list: number[]): string {
  const s = [...list].sort((a, b) => a - b).join(',');
  if (s === '0,1,2,3,4,5,6' || s === '') return 'every day';
  if (s === '0,1,2,3,4') return 'weekdays';
  if (s === '5,6') return 'weekends';
  return list.map((d) => DAYS[d] ?? String(d)).join(', ');
}

export function BandwidthScreen({ live }: ScreenProps) {
  const [minutes, setMinutes] = useState(5);
  const b = live.bandwidth;
  const samples = b?.samples ?? [];
  const last = samples[samples.length - 1];
  const now = last ? Math.max(last.t, Date.now() - 1500) : Date.now();
  const sched = b?.schedule;
  const base = sched?.throttled && sched.bandwidth_throttle !== null ? sched.bandwidth_throttle * KiB : null;
  const limit = live.state?.status?.throttle?.limit ?? b?.limit ?? null;
  const inException = live.state?.status?.throttle?.in_exception ?? b?.in_exception ?? false;
  const nextChange = live.state?.status?.throttle?.next_change ?? b?.next_change ?? null;

  return (
    <>
      <ScreenHeading>Bandwidth</ScreenHeading>
      <div class="toolbar">
        <label for="bw-span">Show the last</label>
        <select id="bw-span" value={String(minutes)} onChange={(e) => setMinutes(Number(e.currentTarget.value))}>
          <option value="1">minute</option>
          <option value="5">5 minutes</option>
          <option value="10">10 minutes</option>
        </select>
      </div>
      {b ? (
        <BandwidthChart samples={samples} windows={b.windows} baseLimit={base} limit={limit} spanMs={minutes * 60_000} now={now} />
      ) : (
        <p>Loading…</p>
      )}
      <ul class="legend" aria-label="Legend">
        <li>
          <svg class="swatch" viewBox="0 0 16 16" aria-hidden="true">
            <rect class="series-up-fill" width="16" height="16" rx="3" />
          </svg>
          Upload
        </li>
        <li>
          <svg class="swatch" viewBox="0 0 16 16" aria-hidden="true">
            <rect class="series-down-fill" width="16" height="16" rx="3" />
          </svg>
          Download
        </li>
        <li>
          <svg class="swatch" viewBox="0 0 16 16" aria-hidden="true">
            <line class="limit" x1="0" x2="16" y1="8" y2="8" />
          </svg>
          Throttle limit
        </li>
        <li>
          <svg class="swatch" viewBox="0 0 16 16" aria-hidden="true">
            <rect class="band" width="16" height="16" rx="3" />
          </svg>
          Exception window
        </li>
      </ul>
      <section aria-labelledby="bw-schedule">
        <h2 id="bw-schedule">Schedule</h2>
        <dl class="facts wide" data-testid="bandwidth-facts">
          <div>
            <dt>Now</dt>
            <dd data-fact="now">
              ↑ {rate(last?.up ?? 0)} · ↓ {rate(last?.down ?? 0)}
            </dd>
          </div>
          <div>
            <dt>Limit in force</dt>
            <dd data-fact="limit">
              {rate(limit)}
              {inException ? ' (exception window)' : ''}
            </dd>
          </div>
          <div>
            <dt>Throttle set by your administrator</dt>
            <dd data-fact="throttle">{sched?.throttled ? rate(base) : 'off'}</dd>
          </div>
          <div>
            <dt>Exception window</dt>
            <dd data-fact="exception">
              {sched?.exception
                ? `${days(sched.exception.days)} ${sched.exception.start}–${sched.exception.end} at ${rate(sched.exception.throttle === null ? null : sched.exception.throttle * KiB)}`
                : 'none'}
            </dd>
          </div>
          <div>
            <dt>Next change</dt>
            <dd>{nextChange ? dateTime(nextChange) : '—'}</dd>
          </div>
        </dl>
        {b && b.windows.length > 0 && (
          <ul class="windows">
            {b.windows.map((w) => (
              <li key={w.start}>
                Window {clock(Date.parse(w.start))}–{clock(Date.parse(w.end))}: {rate(w.limit)}
              </li>
            ))}
          </ul>
        )}
      </section>
    </>
  );
}
