// Bandwidth for the UI's chart: one sample per second of the bytes that passed the agent's
// limiter (both directions), the limit in force, and the throttle schedule with the exception
// windows around the sampled span, computed with the pure schedule of src/core/throttle.ts.
import type { ThrottleFields } from '../../api/schemas.js';
import { exceptionDaySet, kibToBytesPerSecond, resolveThrottleSettings, throttleAt } from '../../core/throttle.js';
import type { LimiterSnapshot } from '../../engine/limiter.js';

export interface BandwidthSample {
  /** ms since epoch (the agent's schedule clock). */
  t: number;
  /** bytes/s over that second. */
  up: number;
  down: number;
  limit: number | null;
}

export interface BandwidthSchedule {
  throttled: boolean;
  bandwidth_throttle: number | null;
  exception: { days: number[]; start: string; end: string; throttle: number | null } | null;
}

export interface Bandwidth {
  samples: BandwidthSample[];
  limit: number | null;
  in_exception: boolean;
  next_change: string | null;
  schedule: BandwidthSchedule;
  windows: { start: string; end: string; limit: number | null }[];
}

/** Ten minutes of one-per-second samples. */
export const SAMPLE_SPAN = 600;

/** Keeps the last SAMPLE_SPAN samples, taking one per call of `take` (once a second). */
export class BandwidthSampler {
  private readonly samples: BandwidthSample[] = [];
  private last: { up: number; down: number; t: number } | undefined;

  /** `snap`: the limiter's counters now (undefined: nothing is syncing, zero traffic). */
  take(t: number, snap: LimiterSnapshot | undefined): BandwidthSample {
    let up = 0;
    let down = 0;
    if (snap) {
      if (this.last && snap.bytesUp >= this.last.up && snap.bytesDown >= this.last.down) {
        const seconds = Math.max(0.001, (t - this.last.t) / 1000);
        up = Math.round((snap.bytesUp - this.last.up) / seconds);
        down = Math.round((snap.bytesDown - this.last.down) / seconds);
      }
      this.last = { up: snap.bytesUp, down: snap.bytesDown, t };
    } else this.last = undefined;
    const sample = { t, up, down, limit: snap?.limit ?? null };
    this.samples.push(sample);
    if (this.samples.length > SAMPLE_SPAN) this.samples.splice(0, this.samples.length - SAMPLE_SPAN);
    return sample;
  }

  /** A new limiter (a new daemon after a login): its counters start at zero. */
  reset(): void {
    this.last = undefined;
  }

  list(): BandwidthSample[] {
    return [...this.samples];
  }
}

export function scheduleOf(settings: ThrottleFields | null): BandwidthSchedule {
  if (!settings) return { throttled: false, bandwidth_throttle: null, exception: null };
  const r = resolveThrottleSettings(settings, null);
  const days = exceptionDaySet(r) ?? [0, 1, 2, 3, 4, 5, 6];
  const exception =
    r.throttle_exception_start && r.throttle_exception_end ? { days, start: r.throttle_exception_start, end: r.throttle_exception_end, throttle: r.throttle_exception_throttle } : null;
  return { throttled: r.throttled, bandwidth_throttle: r.bandwidth_throttle, exception };
}

/** The exception windows that overlap [from, to] (ms), clipped to nothing: whole windows as the schedule has them, as far as they are known. */
export function exceptionWindows(settings: ThrottleFields | null, from: number, to: number, timeZone: string): { start: string; end: string; limit: number | null }[] {
  if (!settings || settings.throttled !== true) return [];
  const out: { start: string; end: string; limit: number | null }[] = [];
  let t = from;
  // Each step moves to the schedule's next edge; a bounded number of edges fits in 70 minutes.
  for (let i = 0; i < 100 && t <= to; i++) {
    const s = throttleAt(settings, t, timeZone);
    const next = s.nextChange?.getTime();
    if (s.inException) {
      const limit = kibToBytesPerSecond(settings.throttle_exception_throttle);
      const end = next ?? to;
      const prev = out[out.length - 1];
      if (prev && Date.parse(prev.end) === t) prev.end = new Date(end).toISOString();
      else out.push({ start: new Date(t).toISOString(), end: new Date(end).toISOString(), limit });
    }
    if (next === undefined || next <= t) break;
    t = next;
  }
  return out;
}
