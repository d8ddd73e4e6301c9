// Health reports (extension, issue "admin policy…"): the running agent posts what it is doing
// to POST /api/2/machine/<id>/health, which GET /api/2/machine/<id>/status then shows in the
// documented shape — per subscription (the synced roots) rsub_id, synced, excl_files,
// synced_folder; overall synced; the current transfers.
//
// When: one report as the agent starts, then at random intervals between the machine's
// health_report_period_minutes_min and _max, spread around health_report_period_minutes (the
// average): uniform on [min, average] or on [average, max], weighted so that the mean is the
// average, so a fleet does not report in lock-step. Missing values are derived (see healthPeriod); all null = the agent
// default, 10–20 minutes (15 on average). A new period applies at once: the pending report is
// re-drawn from the time of the last one (sent at once if that is already past), so every gap
// between two reports lies within the period in force. `minuteMs` shortens a minute for tests
// (AXIS_AGENT_HEALTH_MINUTE_MS).
import type { HealthReportBody } from '../api/client.js';
import { AuthError } from '../api/errors.js';
import type { AgentStatus } from './status.js';

export const DEFAULT_HEALTH_MINUTES = { min: 10, max: 20 } as const;

export interface HealthPeriodSettings {
  health_report_period_minutes?: number | null;
  health_report_period_minutes_min?: number | null;
  health_report_period_minutes_max?: number | null;
}

export interface HealthPeriod {
  minMinutes: number;
  maxMinutes: number;
  avgMinutes: number;
}

const given = (v: number | null | undefined): number | undefined => (typeof v === 'number' && Number.isFinite(v) && v > 0 ? v : undefined);

/**
 * min/max/average from the machine's settings: min and max as given; a missing one from the
 * average (½× and 1½×) or from the other (½× max, 2× min); the average as given (clamped into
 * [min, max]) or the middle.
 */
export function healthPeriod(s: HealthPeriodSettings | undefined): HealthPeriod {
  const avg = given(s?.health_report_period_minutes);
  const gMin = given(s?.health_report_period_minutes_min);
  const gMax = given(s?.health_report_period_minutes_max);
  if (avg === undefined && gMin === undefined && gMax === undefined) {
    const { min, max } = DEFAULT_HEALTH_MINUTES;
    return { minMinutes: min, maxMinutes: max, avgMinutes: (min + max) / 2 };
  }
  let min = gMin ?? (avg !== undefined ? avg / 2 : gMax! / 2);
  let max = gMax ?? (avg !== undefined ? avg * 1.5 : gMin! * 2);
  if (min > max) [min, max] = [max, min];
  const mean = avg === undefined ? (min + max) / 2 : Math.min(max, Math.max(min, avg));
  return { minMinutes: min, maxMinutes: max, avgMinutes: mean };
}

/**
 * A random delay (ms) in [min, max] whose mean is `avg`: uniform on [min, avg] with probability
 * (max − avg) / (max − min), else uniform on [avg, max] (`random` maps monotonically onto it).
 */
export function nextHealthDelayMs(p: HealthPeriod, minuteMs = 60_000, random: () => number = Math.random): number {
  const a = p.minMinutes * minuteMs;
  const b = p.maxMinutes * minuteMs;
  if (b <= a) return Math.round(a);
  const m = Math.min(b, Math.max(a, p.avgMinutes * minuteMs));
  const q = (b - m) / (b - a);
  const u = Math.min(1, Math.max(0, random()));
  const x = u < q ? a + (u / q) * (m - a) : m + (q < 1 ? ((u - q) / (1 - q)) * (b - m) : 0);
  return Math.round(Math.min(b, Math.max(a, x)));
}

/** The report body from the agent's status (status.json's view of the running engines). */
export function healthReportOf(status: AgentStatus): HealthReportBody {
  const subscriptions = status.roots.map((r) => ({ rsub_id: r.id, synced: r.synced, excl_files: r.excl_files, synced_folder: r.path }));
  return {
    subscriptions,
    synced: subscriptions.length > 0 && subscriptions.every((s) => s.synced),
    transfers: status.transfers.map((t) => ({ ...t })),
  };
}

export interface HealthReporterOptions {
  send: (report: HealthReportBody) => Promise<void>;
  snapshot: () => HealthReportBody;
  period: () => HealthPeriod;
  minuteMs?: number;
  random?: () => number;
  log: { debug(obj: object, msg: string): void; warn(obj: object, msg: string): void };
  /** The machine credentials were refused: the agent must stop. */
  onAuthError: (err: AuthError) => void;
}

export class HealthReporter {
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private sending: Promise<void> = Promise.resolve();
  private lastAt: number | undefined;
  private periodKey = '';
  /** Reports sent since start (for status and tests). */
  sent = 0;
  /** When the next report is due (epoch ms). */
  nextAt: number | undefined;

  constructor(private readonly o: HealthReporterOptions) {}

  /** Reports now, then on the schedule. */
  start(): void {
    this.report();
  }

  private drawDelay(): number {
    const p = this.o.period();
    this.periodKey = `${p.minMinutes}/${p.maxMinutes}/${p.avgMinutes}`;
    return nextHealthDelayMs(p, this.o.minuteMs, this.o.random);
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    this.nextAt = Date.now() + ms;
    this.timer = setTimeout(() => this.report(), ms);
    this.timer.unref?.();
  }

  /** The settings may have changed: a new period re-draws the pending report from the last one. */
  reschedule(): void {
    if (this.stopped || this.lastAt === undefined) return;
    const p = this.o.period();
    if (`${p.minMinutes}/${p.maxMinutes}/${p.avgMinutes}` === this.periodKey) return;
    this.schedule(Math.max(0, this.lastAt + this.drawDelay() - Date.now()));
  }

  private report(): void {
    if (this.stopped) return;
    this.lastAt = Date.now();
    this.schedule(this.drawDelay());
    this.sending = this.sending.then(async () => {
      try {
        await this.o.send(this.o.snapshot());
        this.sent++;
      } catch (err) {
        if (err instanceof AuthError) this.o.onAuthError(err);
        else this.o.log.warn({ err }, 'could not send the health report; the next one is on schedule');
      }
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.sending;
  }
}
