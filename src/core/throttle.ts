// Bandwidth throttle schedule: which upload/download limit applies at a given instant, and when
// it next changes. Pure functions: no I/O and no clock (the instant is a parameter); time zones
// come from the Intl API, so DST transitions follow the IANA database of the running Node.
//
// Inputs are the documented throttle fields of a machine and of its organization (001
// "/machine/update/", "/organization/create/"; 002 machine and organization objects):
//
//   throttled                    boolean   throttling enabled
//   bandwidth_throttle           integer   the limit, KiB/s
//   throttle_exception_dow       [int]     days of the exception window, 0 = Monday … 6 = Sunday
//   throttle_exception_days      string    'weekdays' = [0..4], 'weekends' = [5,6]; overrides dow
//   throttle_exception_start     'HH:mm' or 'HH:mm:ss', local time of the machine
//   throttle_exception_end       'HH:mm' or 'HH:mm:ss', local time of the machine
//   throttle_exception_throttle  integer   the limit inside the exception window, KiB/s
//
// Decisions (the documents leave these open; docs/protocol.md records them):
//
// - Units: both limits are KiB/s (1 KiB = 1024 bytes). 0, null, a negative or a non-finite
//   value means "unlimited". Results are in bytes/s, with null meaning unlimited.
// - Precedence (`resolveThrottleSettings`): a machine's non-null setting wins over its
//   organization's, field by field, with two refinements:
//     * `throttled` is a boolean on both objects (never null), so throttling is on when either
//       the machine or the organization has it on. A machine is exempted from its
//       organization's throttle by giving it non-null limits of 0 (= unlimited).
//     * the exception days are one setting: the machine's day set (its `days` if set, else its
//       `dow`) wins as a whole over the organization's when it is non-null.
// - Without `throttled`, there is no limit at all (the exception window is irrelevant).
// - A window exists only when start and end are both valid. Day set: null (neither `days` nor
//   `dow` set) = every day; an empty list = no exception days (no window).
// - A window belongs to the day it starts on: the window of day D runs from `start` on D to
//   `end` on D when end > start, and to `end` on D+1 when end ≤ start (it crosses midnight).
//   So start == end is a whole day: 24 hours of wall-clock time from `start` on D (23 or 25
//   real hours across a DST change). Windows of consecutive selected days that touch merge.
// - Windows are half-open: the exception applies from `start` inclusive to `end` exclusive,
//   with one-second precision ('HH:mm' = 'HH:mm:00').
// - DST: each window edge is the first instant at which the machine's local clock reads that
//   wall time (on that date) or later. In a spring-forward gap (02:30 when clocks jump from
//   02:00 to 03:00) that is the moment of the jump, 03:00; a window lying entirely inside the
//   gap does not occur that day. In a fall-back overlap the first occurrence counts, and an
//   edge never happens twice, so the limit never flaps while the clock repeats an hour.

export interface ThrottleSettings {
  throttled?: boolean | null;
  bandwidth_throttle?: number | null;
  throttle_exception_dow?: readonly number[] | null;
  throttle_exception_days?: string | null;
  throttle_exception_start?: string | null;
  throttle_exception_end?: string | null;
  throttle_exception_throttle?: number | null;
}

/** Settings after precedence: every field present; `throttle_exception_dow` is the day set in force. */
export interface ResolvedThrottleSettings {
  throttled: boolean;
  bandwidth_throttle: number | null;
  /** Days the exception applies to (0 = Monday); null = every day, [] = none. */
  throttle_exception_dow: number[] | null;
  /** The `days` value the day set came from, if any. */
  throttle_exception_days: 'weekdays' | 'weekends' | null;
  throttle_exception_start: string | null;
  throttle_exception_end: string | null;
  throttle_exception_throttle: number | null;
}

export interface ThrottleState {
  /** Limit in bytes per second; null = unlimited. */
  limit: number | null;
  /** True while an exception window is in force (even when both limits happen to be equal). */
  inException: boolean;
  /** The next instant at which `limit` changes (whole second), or null when it never changes. */
  nextChange: Date | null;
}

export const WEEKDAYS: readonly number[] = [0, 1, 2, 3, 4];
export const WEEKENDS: readonly number[] = [5, 6];

const TIME_OF_DAY = /^([01]\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$/;

/** 'HH:mm' or 'HH:mm:ss' (24-hour, two digits each) → seconds after midnight; undefined when malformed. */
export function parseTimeOfDay(s: string): number | undefined {
  const m = TIME_OF_DAY.exec(s);
  if (!m) return undefined;
  return Number(m[1]) * 3600 + Number(m[2]) * 60 + (m[3] === undefined ? 0 : Number(m[3]));
}

/** A limit field (KiB/s) in bytes/s; null = unlimited (null, 0, negative or not finite). */
export function kibToBytesPerSecond(kib: number | null | undefined): number | null {
  if (kib === null || kib === undefined || !Number.isFinite(kib) || kib <= 0) return null;
  return Math.round(kib * 1024);
}

/**
 * The exception day set of one settings object: `days` ('weekdays' / 'weekends') overrides
 * `dow`; otherwise `dow` with out-of-range entries dropped, de-duplicated and sorted.
 * null = not set.
 */
export function exceptionDaySet(s: Pick<ThrottleSettings, 'throttle_exception_dow' | 'throttle_exception_days'>): number[] | null {
  if (s.throttle_exception_days === 'weekdays') return [...WEEKDAYS];
  if (s.throttle_exception_days === 'weekends') return [...WEEKENDS];
  const dow = s.throttle_exception_dow;
  if (dow === null || dow === undefined) return null;
  return [...new Set(dow.filter((d) => Number.isInteger(d) && d >= 0 && d <= 6))].sort((a, b) => a - b);
}

function daysName(s: ThrottleSettings): 'weekdays' | 'weekends' | null {
  return s.throttle_exception_days === 'weekdays' || s.throttle_exception_days === 'weekends' ? s.throttle_exception_days : null;
}

function pick<T>(machine: T | null | undefined, org: T | null | undefined): T | null {
  if (machine !== null && machine !== undefined) return machine;
  return org ?? null;
}

/** Machine settings over organization settings (see the precedence rules at the top of this file). */
export function resolveThrottleSettings(machine: ThrottleSettings | null | undefined, organization: ThrottleSettings | null | undefined): ResolvedThrottleSettings {
  const m = machine ?? {};
  const o = organization ?? {};
  const mDays = exceptionDaySet(m);
  const fromMachine = mDays !== null;
  return {
    throttled: m.throttled === true || o.throttled === true,
    bandwidth_throttle: pick(m.bandwidth_throttle, o.bandwidth_throttle),
    throttle_exception_dow: fromMachine ? mDays : exceptionDaySet(o),
    throttle_exception_days: fromMachine ? daysName(m) : daysName(o),
    throttle_exception_start: pick(m.throttle_exception_start, o.throttle_exception_start),
    throttle_exception_end: pick(m.throttle_exception_end, o.throttle_exception_end),
    throttle_exception_throttle: pick(m.throttle_exception_throttle, o.throttle_exception_throttle),
  };
}

// ---- time zones ------------------------------------------------------------------------------

const DAY_MS = 86_400_000;
const HOUR_MS = 3_600_000;
const formatters = new Map<string, Intl.DateTimeFormat>();

function formatter(timeZone: string): Intl.DateTimeFormat {
  let f = formatters.get(timeZone);
  if (!f) {
    // Throws RangeError for an unknown zone.
    f = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: '2-digit',
      day: '2-digit',
      hour: '2-digit',
      minute: '2-digit',
      second: '2-digit',
      era: 'short',
    });
    formatters.set(timeZone, f);
  }
  return f;
}

/**
 * The zone of the machine's own clock (`TZ`, else the OS setting), read through Date's local
 * getters. What an agent uses: the same wall clock as an IANA formatter of that zone, without
 * loading ICU's time-zone formatting (about 10 MiB of resident memory in the agent).
 */
export const LOCAL_TIME_ZONE = 'local';

/** True when `timeZone` is LOCAL_TIME_ZONE or an IANA zone name this runtime knows. */
export function isValidTimeZone(timeZone: string): boolean {
  if (timeZone === LOCAL_TIME_ZONE) return true;
  try {
    formatter(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** The local wall clock at instant `ms` as a "naive UTC" millisecond value (whole seconds). */
function wallMs(ms: number, timeZone: string): number {
  if (timeZone === LOCAL_TIME_ZONE) {
    const l = new Date(Math.floor(ms / 1000) * 1000);
    const d = new Date(0);
    d.setUTCFullYear(l.getFullYear(), l.getMonth(), l.getDate());
    d.setUTCHours(l.getHours(), l.getMinutes(), l.getSeconds(), 0);
    return d.getTime();
  }
  const parts = formatter(timeZone).formatToParts(new Date(Math.floor(ms / 1000) * 1000));
  const get = (type: Intl.DateTimeFormatPartTypes) => Number(parts.find((p) => p.type === type)?.value);
  let year = get('year');
  if (parts.find((p) => p.type === 'era')?.value === 'BC') year = 1 - year;
  const d = new Date(0);
  d.setUTCFullYear(year, get('month') - 1, get('day'));
  d.setUTCHours(get('hour'), get('minute'), get('second'), 0);
  return d.getTime();
}

/** UTC offset (ms, east positive) of `timeZone` at instant `ms`. */
function offsetAt(ms: number, timeZone: string): number {
  return wallMs(ms, timeZone) - Math.floor(ms / 1000) * 1000;
}

export interface LocalDateTime {
  /** Days since 1970-01-01 of the local date. */
  epochDay: number;
  /** Seconds after local midnight. */
  secondOfDay: number;
  /** Day of the week, 0 = Monday … 6 = Sunday. */
  dow: number;
}

/** The local date and time of instant `at` in `timeZone`. */
export function localDateTime(at: Date | number, timeZone: string): LocalDateTime {
  const wall = wallMs(typeof at === 'number' ? at : at.getTime(), timeZone);
  const epochDay = Math.floor(wall / DAY_MS);
  return { epochDay, secondOfDay: Math.floor((wall - epochDay * DAY_MS) / 1000), dow: dayOfWeek(epochDay) };
}

/** 0 = Monday … 6 = Sunday for a day number (1970-01-01 was a Thursday). */
export function dayOfWeek(epochDay: number): number {
  return (((epochDay + 3) % 7) + 7) % 7;
}

/**
 * The first instant (ms) at which the local clock of `timeZone` reads `secondOfDay` on local
 * date `epochDay`, or later. Exact for ordinary times; the moment of the jump for a time inside
 * a spring-forward gap; the first occurrence for a time repeated by a fall-back.
 */
export function zonedInstant(epochDay: number, secondOfDay: number, timeZone: string): number {
  const wall = epochDay * DAY_MS + secondOfDay * 1000;
  // Real offsets lie within [-12 h, +14 h], so the instant lies within [wall - 14 h, wall + 12 h].
  // At most one transition is assumed in that span (true of every zone in use).
  const before = offsetAt(wall - 15 * HOUR_MS, timeZone);
  const after = offsetAt(wall + 13 * HOUR_MS, timeZone);
  const valid = [...new Set([wall - before, wall - after])].filter((t) => offsetAt(t, timeZone) === wall - t);
  if (valid.length) return Math.min(...valid);
  // A gap: the clock jumps from before `wall` to after it. Find the jump (whole seconds).
  let lo = wall - after; // still on the old offset
  let hi = wall - before; // already on the new offset
  while (hi - lo > 1000) {
    const mid = Math.floor((lo + hi) / 2000) * 1000;
    if (offsetAt(mid, timeZone) === before) lo = mid;
    else hi = mid;
  }
  return hi;
}

// ---- the schedule ----------------------------------------------------------------------------

interface Window {
  start: number;
  end: number;
}

/**
 * The limit in force at `at` in the machine's local `timeZone` (LOCAL_TIME_ZONE or an IANA
 * name, e.g. "Europe/Berlin"; throws RangeError for an unknown zone), given settings already resolved
 * (or a single object), and when it next changes.
 */
export function throttleAt(settings: ThrottleSettings, at: Date | number, timeZone: string): ThrottleState {
  const t = typeof at === 'number' ? at : at.getTime();
  if (timeZone !== LOCAL_TIME_ZONE) formatter(timeZone);
  if (settings.throttled !== true) return { limit: null, inException: false, nextChange: null };
  const base = kibToBytesPerSecond(settings.bandwidth_throttle);
  const exception = kibToBytesPerSecond(settings.throttle_exception_throttle);
  const start = settings.throttle_exception_start == null ? undefined : parseTimeOfDay(settings.throttle_exception_start);
  const end = settings.throttle_exception_end == null ? undefined : parseTimeOfDay(settings.throttle_exception_end);
  const days = exceptionDaySet(settings);
  if (start === undefined || end === undefined || (days !== null && days.length === 0)) return { limit: base, inException: false, nextChange: null };
  const selected = new Set(days ?? [0, 1, 2, 3, 4, 5, 6]);
  const crosses = end <= start;

  const cache = new Map<number, Window | null>();
  /** The window that starts on local day `day`, or null (day not selected, or empty: inside a gap). */
  const windowOn = (day: number): Window | null => {
    let w = cache.get(day);
    if (w !== undefined) return w;
    w = null;
    if (selected.has(dayOfWeek(day))) {
      const s = zonedInstant(day, start, timeZone);
      const e = zonedInstant(crosses ? day + 1 : day, end, timeZone);
      if (e > s) w = { start: s, end: e };
    }
    cache.set(day, w);
    return w;
  };

  const today = localDateTime(t, timeZone).epochDay;
  let current: { day: number; w: Window } | undefined;
  for (let day = today - 2; day <= today + 1 && !current; day++) {
    const w = windowOn(day);
    if (w && w.start <= t && t < w.end) current = { day, w };
  }

  if (current) {
    const limit = exception;
    if (limit === base) return { limit, inException: true, nextChange: null };
    // Follow windows of the next days that touch this one (whole-day windows on consecutive days).
    let endsAt = current.w.end;
    for (let day = current.day + 1; ; day++) {
      if (day > current.day + 8) return { limit, inException: true, nextChange: null }; // every day, all day
      const w = windowOn(day);
      if (!w || w.start > endsAt) break;
      endsAt = Math.max(endsAt, w.end);
    }
    return { limit, inException: true, nextChange: new Date(endsAt) };
  }

  if (exception === base) return { limit: base, inException: false, nextChange: null };
  // Every selected day recurs weekly; a year covers a selected day whose window is not lost in a gap.
  for (let day = today - 2; day <= today + 370; day++) {
    const w = windowOn(day);
    if (w && w.start > t) return { limit: base, inException: false, nextChange: new Date(w.start) };
  }
  return { limit: base, inException: false, nextChange: null };
}

/** `throttleAt` for a machine under its organization: precedence first, then the schedule. */
export function effectiveThrottleAt(
  machine: ThrottleSettings | null | undefined,
  organization: ThrottleSettings | null | undefined,
  at: Date | number,
  timeZone: string,
): ThrottleState {
  return throttleAt(resolveThrottleSettings(machine, organization), at, timeZone);
}
