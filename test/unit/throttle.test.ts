// The bandwidth throttle schedule (src/core/throttle.ts): units, machine-over-organization
// precedence, exception windows (days, midnight crossing, start == end, seconds), DST in
// Europe/Berlin and America/New_York, and the "next change" instant.
import { describe, expect, it } from 'vitest';
import {
  dayOfWeek,
  effectiveThrottleAt,
  exceptionDaySet,
  isValidTimeZone,
  kibToBytesPerSecond,
  LOCAL_TIME_ZONE,
  localDateTime,
  parseTimeOfDay,
  resolveThrottleSettings,
  throttleAt,
  zonedInstant,
  type ThrottleSettings,
} from '../../src/core/throttle.js';

const utc = (y: number, mo: number, d: number, h = 0, mi = 0, s = 0, ms = 0) => Date.UTC(y, mo - 1, d, h, mi, s, ms);
const iso = (ms: number) => new Date(ms).toISOString();
const epochDay = (y: number, mo: number, d: number) => Date.UTC(y, mo - 1, d) / 86_400_000;

const KIB = 1024;
const BASE = 100; // KiB/s
const EXC = 1000; // KiB/s

function win(start: string, end: string, extra: ThrottleSettings = {}): ThrottleSettings {
  return { throttled: true, bandwidth_throttle: BASE, throttle_exception_throttle: EXC, throttle_exception_start: start, throttle_exception_end: end, ...extra };
}

/** limit / inException / nextChange (ISO) at `at`. */
function at(s: ThrottleSettings, t: number, zone = 'UTC') {
  const r = throttleAt(s, t, zone);
  return { limit: r.limit, inException: r.inException, next: r.nextChange ? iso(r.nextChange.getTime()) : null };
}

const base = (next: string | null) => ({ limit: BASE * KIB, inException: false, next });
const exc = (next: string | null) => ({ limit: EXC * KIB, inException: true, next });

// 2025-06-02 is a Monday.
describe('building blocks', () => {
  it('parses HH:mm and HH:mm:ss only', () => {
    expect(parseTimeOfDay('00:00')).toBe(0);
    expect(parseTimeOfDay('09:30')).toBe(9 * 3600 + 30 * 60);
    expect(parseTimeOfDay('23:59:59')).toBe(86_399);
    expect(parseTimeOfDay('12:00:30')).toBe(12 * 3600 + 30);
    for (const bad of ['25:00', '24:00', '12:60', '1200', '12:00:61', '12:00:60', '7:00', '07:0', '', ' 12:00', '12:00 ', '12:00:5', '12-00', 'noon', '12:00:00:00']) {
      expect(parseTimeOfDay(bad), bad).toBeUndefined();
    }
  });

  it('converts KiB/s to bytes/s; 0, null, negative and non-finite are unlimited', () => {
    expect(kibToBytesPerSecond(1)).toBe(1024);
    expect(kibToBytesPerSecond(100)).toBe(102_400);
    for (const v of [0, null, undefined, -5, Number.NaN, Number.POSITIVE_INFINITY]) expect(kibToBytesPerSecond(v)).toBeNull();
  });

  it('day sets: days overrides dow; dow is cleaned; null = not set', () => {
    expect(exceptionDaySet({ throttle_exception_days: 'weekdays', throttle_exception_dow: [6] })).toEqual([0, 1, 2, 3, 4]);
    expect(exceptionDaySet({ throttle_exception_days: 'weekends', throttle_exception_dow: [0] })).toEqual([5, 6]);
    expect(exceptionDaySet({ throttle_exception_dow: [3, 1, 1, 7, -1, 2.5] })).toEqual([1, 3]);
    expect(exceptionDaySet({ throttle_exception_dow: [] })).toEqual([]);
    expect(exceptionDaySet({})).toBeNull();
    expect(exceptionDaySet({ throttle_exception_days: 'holidays' })).toBeNull();
  });

  it('days of the week count from Monday = 0', () => {
    expect(dayOfWeek(0)).toBe(3); // 1970-01-01, a Thursday
    expect(dayOfWeek(epochDay(2025, 6, 2))).toBe(0);
    expect(dayOfWeek(epochDay(2025, 6, 8))).toBe(6);
    expect(dayOfWeek(-1)).toBe(2);
  });

  it('local date and time follow the zone, not UTC', () => {
    // 2025-06-03 03:30 UTC is still Monday 23:30 in New York (EDT, UTC-4).
    expect(localDateTime(utc(2025, 6, 3, 3, 30), 'America/New_York')).toEqual({ epochDay: epochDay(2025, 6, 2), secondOfDay: 23 * 3600 + 30 * 60, dow: 0 });
    expect(localDateTime(new Date(utc(2025, 6, 3, 3, 30, 15, 999)), 'UTC')).toEqual({ epochDay: epochDay(2025, 6, 3), secondOfDay: 3 * 3600 + 30 * 60 + 15, dow: 1 });
    expect(localDateTime(utc(2025, 1, 15, 23, 30), 'Europe/Berlin').dow).toBe(3); // Thursday 00:30 CET
  });

  it('wall times to instants: ordinary, gap (moment of the jump), overlap (first occurrence)', () => {
    const berlin = 'Europe/Berlin';
    expect(iso(zonedInstant(epochDay(2025, 1, 15), 9 * 3600, berlin))).toBe('2025-01-15T08:00:00.000Z');
    expect(iso(zonedInstant(epochDay(2025, 7, 15), 9 * 3600, berlin))).toBe('2025-07-15T07:00:00.000Z');
    // 2025-03-30: 02:00 CET → 03:00 CEST. 02:30 never happens; the clock passes it at 01:00 UTC.
    expect(iso(zonedInstant(epochDay(2025, 3, 30), 2 * 3600 + 1800, berlin))).toBe('2025-03-30T01:00:00.000Z');
    expect(iso(zonedInstant(epochDay(2025, 3, 30), 2 * 3600, berlin))).toBe('2025-03-30T01:00:00.000Z');
    expect(iso(zonedInstant(epochDay(2025, 3, 30), 3 * 3600, berlin))).toBe('2025-03-30T01:00:00.000Z');
    expect(iso(zonedInstant(epochDay(2025, 3, 30), 3600 + 3599, berlin))).toBe('2025-03-30T00:59:59.000Z');
    // 2025-10-26: 03:00 CEST → 02:00 CET. 02:30 happens twice; the first is 00:30 UTC.
    expect(iso(zonedInstant(epochDay(2025, 10, 26), 2 * 3600 + 1800, berlin))).toBe('2025-10-26T00:30:00.000Z');
    expect(iso(zonedInstant(epochDay(2025, 10, 26), 3 * 3600, berlin))).toBe('2025-10-26T02:00:00.000Z');
    const ny = 'America/New_York';
    expect(iso(zonedInstant(epochDay(2025, 3, 9), 2 * 3600 + 1800, ny))).toBe('2025-03-09T07:00:00.000Z');
    expect(iso(zonedInstant(epochDay(2025, 11, 2), 3600 + 1800, ny))).toBe('2025-11-02T05:30:00.000Z');
    // 02:00 on the fall-back day exists once (EST), after the repeated 01:00-01:59.
    expect(iso(zonedInstant(epochDay(2025, 11, 2), 2 * 3600, ny))).toBe('2025-11-02T07:00:00.000Z');
  });

  it('time zones: IANA names only; an unknown zone throws', () => {
    expect(isValidTimeZone('Europe/Berlin')).toBe(true);
    expect(isValidTimeZone('Mars/Olympus')).toBe(false);
    expect(() => throttleAt(win('09:00', '17:00'), 0, 'Mars/Olympus')).toThrow(RangeError);
  });
});

describe('precedence: machine over organization', () => {
  const org: ThrottleSettings = {
    throttled: true,
    bandwidth_throttle: 100,
    throttle_exception_throttle: 500,
    throttle_exception_start: '18:00',
    throttle_exception_end: '06:00',
    throttle_exception_days: 'weekdays',
    throttle_exception_dow: [0, 1, 2, 3, 4],
  };

  it('a machine without settings takes the organization settings', () => {
    expect(resolveThrottleSettings({ throttled: false }, org)).toEqual({
      throttled: true,
      bandwidth_throttle: 100,
      throttle_exception_dow: [0, 1, 2, 3, 4],
      throttle_exception_days: 'weekdays',
      throttle_exception_start: '18:00',
      throttle_exception_end: '06:00',
      throttle_exception_throttle: 500,
    });
  });

  it('each non-null machine field wins; null falls back', () => {
    const r = resolveThrottleSettings({ throttled: false, bandwidth_throttle: 50, throttle_exception_start: '20:00', throttle_exception_end: null }, org);
    expect(r.bandwidth_throttle).toBe(50);
    expect(r.throttle_exception_start).toBe('20:00');
    expect(r.throttle_exception_end).toBe('06:00');
    expect(r.throttle_exception_throttle).toBe(500);
  });

  it('throttled is on when either has it on', () => {
    expect(resolveThrottleSettings({ throttled: true }, { throttled: false }).throttled).toBe(true);
    expect(resolveThrottleSettings({ throttled: false }, { throttled: true }).throttled).toBe(true);
    expect(resolveThrottleSettings({ throttled: false }, { throttled: false }).throttled).toBe(false);
    expect(resolveThrottleSettings(null, null)).toEqual({
      throttled: false,
      bandwidth_throttle: null,
      throttle_exception_dow: null,
      throttle_exception_days: null,
      throttle_exception_start: null,
      throttle_exception_end: null,
      throttle_exception_throttle: null,
    });
  });

  it('the day set is one setting: a machine dow list beats an organization weekdays/weekends', () => {
    const r = resolveThrottleSettings({ throttle_exception_dow: [1] }, org);
    expect(r.throttle_exception_dow).toEqual([1]);
    expect(r.throttle_exception_days).toBeNull();
    const w = resolveThrottleSettings({ throttle_exception_days: 'weekends' }, { throttle_exception_dow: [0] });
    expect(w.throttle_exception_dow).toEqual([5, 6]);
    expect(w.throttle_exception_days).toBe('weekends');
    // An empty machine list is a setting too: no exception days.
    expect(resolveThrottleSettings({ throttle_exception_dow: [] }, org).throttle_exception_dow).toEqual([]);
  });

  it('a machine limit of 0 (unlimited) exempts it from the organization limit', () => {
    const t = utc(2025, 6, 2, 12); // Monday noon: outside the evening window
    expect(effectiveThrottleAt({ throttled: false }, org, t, 'UTC').limit).toBe(100 * KIB);
    expect(effectiveThrottleAt({ throttled: false, bandwidth_throttle: 0 }, org, t, 'UTC').limit).toBeNull();
    expect(effectiveThrottleAt({ throttled: true, bandwidth_throttle: 20 }, null, t, 'UTC').limit).toBe(20 * KIB);
    // Monday 19:00: the organization's window, the machine's exception limit.
    expect(effectiveThrottleAt({ throttle_exception_throttle: 5 }, org, utc(2025, 6, 2, 19), 'UTC')).toEqual({
      limit: 5 * KIB,
      inException: true,
      nextChange: new Date(utc(2025, 6, 3, 6)),
    });
  });
});

describe('limits without an exception window', () => {
  it('not throttled: unlimited, never changes, windows ignored', () => {
    expect(at({ ...win('09:00', '17:00'), throttled: false }, utc(2025, 6, 2, 10))).toEqual({ limit: null, inException: false, next: null });
    expect(at({}, utc(2025, 6, 2, 10))).toEqual({ limit: null, inException: false, next: null });
  });

  it('throttled without a complete window: the base limit, constant', () => {
    const t = utc(2025, 6, 2, 10);
    expect(at({ throttled: true, bandwidth_throttle: BASE }, t)).toEqual(base(null));
    expect(at({ ...win('09:00', '17:00'), throttle_exception_end: null }, t)).toEqual(base(null));
    expect(at({ ...win('09:00', '17:00'), throttle_exception_start: null }, t)).toEqual(base(null));
    expect(at(win('9:00', '17:00'), t)).toEqual(base(null));
    expect(at(win('09:00', '25:00'), t)).toEqual(base(null));
    expect(at({ throttled: true, bandwidth_throttle: 0 }, t)).toEqual({ limit: null, inException: false, next: null });
  });

  it('an empty day list means no exception days', () => {
    expect(at(win('09:00', '17:00', { throttle_exception_dow: [] }), utc(2025, 6, 2, 10))).toEqual(base(null));
  });
});

describe('exception windows (UTC)', () => {
  const monday = win('09:00', '17:00', { throttle_exception_dow: [0] });

  it('switches at the edges: start inclusive, end exclusive', () => {
    expect(at(monday, utc(2025, 6, 2, 8, 59, 59, 999))).toEqual(base('2025-06-02T09:00:00.000Z'));
    expect(at(monday, utc(2025, 6, 2, 9))).toEqual(exc('2025-06-02T17:00:00.000Z'));
    expect(at(monday, utc(2025, 6, 2, 16, 59, 59, 999))).toEqual(exc('2025-06-02T17:00:00.000Z'));
    expect(at(monday, utc(2025, 6, 2, 17))).toEqual(base('2025-06-09T09:00:00.000Z'));
  });

  it('applies only on the listed days; the next change may be days ahead', () => {
    expect(at(monday, utc(2025, 6, 3, 10))).toEqual(base('2025-06-09T09:00:00.000Z'));
    expect(at(monday, utc(2025, 6, 8, 23, 59, 59))).toEqual(base('2025-06-09T09:00:00.000Z'));
    const wedFri = win('09:00', '17:00', { throttle_exception_dow: [4, 2] });
    expect(at(wedFri, utc(2025, 6, 2, 10))).toEqual(base('2025-06-04T09:00:00.000Z'));
    expect(at(wedFri, utc(2025, 6, 4, 17))).toEqual(base('2025-06-06T09:00:00.000Z'));
  });

  it('no day list at all means every day', () => {
    const daily = win('09:00', '17:00');
    expect(at(daily, utc(2025, 6, 3, 10))).toEqual(exc('2025-06-03T17:00:00.000Z'));
    expect(at(daily, utc(2025, 6, 7, 18))).toEqual(base('2025-06-08T09:00:00.000Z'));
  });

  it('weekdays / weekends override the dow list', () => {
    const weekends = win('09:00', '17:00', { throttle_exception_days: 'weekends', throttle_exception_dow: [0] });
    expect(at(weekends, utc(2025, 6, 2, 10))).toEqual(base('2025-06-07T09:00:00.000Z'));
    expect(at(weekends, utc(2025, 6, 7, 10))).toEqual(exc('2025-06-07T17:00:00.000Z'));
    expect(at(weekends, utc(2025, 6, 8, 10))).toEqual(exc('2025-06-08T17:00:00.000Z'));
    expect(at(weekends, utc(2025, 6, 8, 17))).toEqual(base('2025-06-14T09:00:00.000Z'));
    const weekdays = win('09:00', '17:00', { throttle_exception_days: 'weekdays', throttle_exception_dow: [6] });
    expect(at(weekdays, utc(2025, 6, 8, 10))).toEqual(base('2025-06-09T09:00:00.000Z'));
    expect(at(weekdays, utc(2025, 6, 6, 10))).toEqual(exc('2025-06-06T17:00:00.000Z'));
    expect(at(weekdays, utc(2025, 6, 6, 17))).toEqual(base('2025-06-09T09:00:00.000Z'));
  });

  it('seconds precision', () => {
    const s = win('09:00:30', '09:00:45', { throttle_exception_dow: [0] });
    expect(at(s, utc(2025, 6, 2, 9, 0, 29, 999))).toEqual(base('2025-06-02T09:00:30.000Z'));
    expect(at(s, utc(2025, 6, 2, 9, 0, 30))).toEqual(exc('2025-06-02T09:00:45.000Z'));
    expect(at(s, utc(2025, 6, 2, 9, 0, 44, 999))).toEqual(exc('2025-06-02T09:00:45.000Z'));
    expect(at(s, utc(2025, 6, 2, 9, 0, 45))).toEqual(base('2025-06-09T09:00:30.000Z'));
  });

  it('a window crossing midnight belongs to the day it starts on', () => {
    const friday = win('22:00', '06:00', { throttle_exception_dow: [4] }); // 2025-06-06 is a Friday
    expect(at(friday, utc(2025, 6, 6, 2))).toEqual(base('2025-06-06T22:00:00.000Z')); // Thursday's night: not listed
    expect(at(friday, utc(2025, 6, 6, 21, 59, 59))).toEqual(base('2025-06-06T22:00:00.000Z'));
    expect(at(friday, utc(2025, 6, 6, 22))).toEqual(exc('2025-06-07T06:00:00.000Z'));
    expect(at(friday, utc(2025, 6, 7, 0))).toEqual(exc('2025-06-07T06:00:00.000Z'));
    expect(at(friday, utc(2025, 6, 7, 5, 59, 59, 999))).toEqual(exc('2025-06-07T06:00:00.000Z'));
    expect(at(friday, utc(2025, 6, 7, 6))).toEqual(base('2025-06-13T22:00:00.000Z'));
    expect(at(friday, utc(2025, 6, 7, 23))).toEqual(base('2025-06-13T22:00:00.000Z')); // Saturday night: not listed
  });

  it('midnight crossing wraps from Sunday into Monday', () => {
    expect(at(win('23:00', '01:00', { throttle_exception_dow: [6] }), utc(2025, 6, 9, 0, 30))).toEqual(exc('2025-06-09T01:00:00.000Z'));
    expect(at(win('23:00', '01:00', { throttle_exception_dow: [0] }), utc(2025, 6, 9, 0, 30))).toEqual(base('2025-06-09T23:00:00.000Z'));
  });

  it('start == end is a whole day from start', () => {
    const wednesday = win('00:00', '00:00', { throttle_exception_dow: [2] }); // 2025-06-04
    expect(at(wednesday, utc(2025, 6, 3, 23, 59, 59))).toEqual(base('2025-06-04T00:00:00.000Z'));
    expect(at(wednesday, utc(2025, 6, 4, 0))).toEqual(exc('2025-06-05T00:00:00.000Z'));
    expect(at(wednesday, utc(2025, 6, 4, 23, 59, 59))).toEqual(exc('2025-06-05T00:00:00.000Z'));
    expect(at(wednesday, utc(2025, 6, 5, 0))).toEqual(base('2025-06-11T00:00:00.000Z'));
    const noon = win('12:00', '12:00', { throttle_exception_dow: [2] });
    expect(at(noon, utc(2025, 6, 4, 11, 59, 59))).toEqual(base('2025-06-04T12:00:00.000Z'));
    expect(at(noon, utc(2025, 6, 5, 11))).toEqual(exc('2025-06-05T12:00:00.000Z'));
  });

  it('whole days on consecutive listed days merge into one run', () => {
    const weekends = win('00:00', '00:00', { throttle_exception_days: 'weekends' });
    expect(at(weekends, utc(2025, 6, 7, 10))).toEqual(exc('2025-06-09T00:00:00.000Z'));
    expect(at(weekends, utc(2025, 6, 8, 23, 59, 59))).toEqual(exc('2025-06-09T00:00:00.000Z'));
    const sixDays = win('06:00', '06:00', { throttle_exception_dow: [0, 1, 2, 3, 4, 5] });
    expect(at(sixDays, utc(2025, 6, 2, 10))).toEqual(exc('2025-06-08T06:00:00.000Z'));
    expect(at(sixDays, utc(2025, 6, 8, 10))).toEqual(base('2025-06-09T06:00:00.000Z'));
  });

  it('every day, all day: the exception limit, constant', () => {
    expect(at(win('00:00', '00:00'), utc(2025, 6, 2, 10))).toEqual(exc(null));
    expect(at(win('07:30', '07:30', { throttle_exception_dow: [0, 1, 2, 3, 4, 5, 6] }), utc(2025, 6, 2, 10))).toEqual(exc(null));
  });

  it('equal limits never change, though the window is reported', () => {
    const same = win('09:00', '17:00', { throttle_exception_throttle: BASE });
    expect(at(same, utc(2025, 6, 2, 10))).toEqual({ limit: BASE * KIB, inException: true, next: null });
    expect(at(same, utc(2025, 6, 2, 8))).toEqual({ limit: BASE * KIB, inException: false, next: null });
    const bothUnlimited = win('09:00', '17:00', { bandwidth_throttle: 0, throttle_exception_throttle: null });
    expect(at(bothUnlimited, utc(2025, 6, 2, 8))).toEqual({ limit: null, inException: false, next: null });
  });

  it('an exception limit of null or 0 lifts the limit inside the window', () => {
    const s = win('18:00', '06:00', { throttle_exception_throttle: null });
    expect(at(s, utc(2025, 6, 2, 19))).toEqual({ limit: null, inException: true, next: '2025-06-03T06:00:00.000Z' });
    expect(at({ ...s, throttle_exception_throttle: 0 }, utc(2025, 6, 2, 19)).limit).toBeNull();
    // ...and an unlimited base with a limited window.
    expect(at(win('09:00', '17:00', { bandwidth_throttle: null }), utc(2025, 6, 2, 8))).toEqual({ limit: null, inException: false, next: '2025-06-02T09:00:00.000Z' });
  });

  it('accepts the instant as a Date or a number', () => {
    expect(throttleAt(win('09:00', '17:00'), new Date(utc(2025, 6, 2, 10)), 'UTC')).toEqual(throttleAt(win('09:00', '17:00'), utc(2025, 6, 2, 10), 'UTC'));
  });
});

describe('local time zones and DST', () => {
  const BERLIN = 'Europe/Berlin';
  const NY = 'America/New_York';

  it('windows are in local time: the UTC instant moves with the offset', () => {
    const daily = win('09:00', '17:00');
    expect(at(daily, utc(2025, 1, 15, 7, 59, 59), BERLIN)).toEqual(base('2025-01-15T08:00:00.000Z'));
    expect(at(daily, utc(2025, 7, 15, 6, 59, 59), BERLIN)).toEqual(base('2025-07-15T07:00:00.000Z'));
    expect(at(daily, utc(2025, 1, 15, 13, 59, 59), NY)).toEqual(base('2025-01-15T14:00:00.000Z'));
    expect(at(daily, utc(2025, 7, 15, 13), NY)).toEqual(exc('2025-07-15T21:00:00.000Z'));
  });

  it('the day of the week is the local one', () => {
    // Monday 23:30 in New York is Tuesday 03:30 UTC.
    expect(at(win('23:00', '01:00', { throttle_exception_dow: [0] }), utc(2025, 6, 3, 3, 30), NY)).toEqual(exc('2025-06-03T05:00:00.000Z'));
    expect(at(win('23:00', '01:00', { throttle_exception_dow: [1] }), utc(2025, 6, 3, 3, 30), NY)).toEqual(base('2025-06-04T03:00:00.000Z'));
  });

  it('Berlin, spring forward: the next change crosses the transition', () => {
    // Saturday 2025-03-29 18:00 CET → Sunday 09:00 CEST = 07:00 UTC.
    expect(at(win('09:00', '17:00'), utc(2025, 3, 29, 17), BERLIN)).toEqual(base('2025-03-30T07:00:00.000Z'));
    // A night window into the short night: 22:00 CET → 06:00 CEST is 6 real hours.
    expect(at(win('22:00', '06:00'), utc(2025, 3, 29, 21), BERLIN)).toEqual(exc('2025-03-30T04:00:00.000Z'));
  });

  it('Berlin, a window starting at 02:30 on the spring-forward day starts when the clock jumps', () => {
    const sunday = win('02:30', '04:00', { throttle_exception_dow: [6] });
    expect(at(sunday, utc(2025, 3, 30, 0, 59, 59), BERLIN)).toEqual(base('2025-03-30T01:00:00.000Z'));
    expect(at(sunday, utc(2025, 3, 30, 1), BERLIN)).toEqual(exc('2025-03-30T02:00:00.000Z'));
    expect(at(sunday, utc(2025, 3, 30, 2), BERLIN)).toEqual(base('2025-04-06T00:30:00.000Z'));
  });

  it('Berlin, a window lying inside the gap does not happen that day', () => {
    const gap = win('02:00', '02:30', { throttle_exception_dow: [6] });
    expect(at(gap, utc(2025, 3, 29, 12), BERLIN)).toEqual(base('2025-04-06T00:00:00.000Z'));
    expect(at(gap, utc(2025, 3, 30, 1), BERLIN)).toEqual(base('2025-04-06T00:00:00.000Z'));
    expect(at(gap, utc(2025, 3, 23, 1), BERLIN)).toEqual(exc('2025-03-23T01:30:00.000Z')); // a week before: normal
  });

  it('Berlin, a whole day on the spring-forward day lasts 23 hours', () => {
    const sunday = win('00:00', '00:00', { throttle_exception_dow: [6] });
    expect(at(sunday, utc(2025, 3, 29, 23), BERLIN)).toEqual(exc('2025-03-30T22:00:00.000Z'));
    expect(at(sunday, utc(2025, 3, 30, 21, 59, 59), BERLIN)).toEqual(exc('2025-03-30T22:00:00.000Z'));
    expect(at(sunday, utc(2025, 3, 30, 22), BERLIN)).toEqual(base('2025-04-05T22:00:00.000Z'));
  });

  it('Berlin, fall back: edges use the first occurrence and never repeat', () => {
    // 2025-10-26: 03:00 CEST → 02:00 CET; 02:00–02:59 happens twice.
    const inOverlap = win('02:30', '03:30', { throttle_exception_dow: [6] });
    expect(at(inOverlap, utc(2025, 10, 26, 0, 29, 59), BERLIN)).toEqual(base('2025-10-26T00:30:00.000Z'));
    expect(at(inOverlap, utc(2025, 10, 26, 0, 30), BERLIN)).toEqual(exc('2025-10-26T02:30:00.000Z'));
    expect(at(inOverlap, utc(2025, 10, 26, 1, 15), BERLIN)).toEqual(exc('2025-10-26T02:30:00.000Z')); // 02:15 CET, second pass
    expect(at(inOverlap, utc(2025, 10, 26, 2, 30), BERLIN)).toEqual(base('2025-11-02T01:30:00.000Z'));
    // Ending at 02:30: the first 02:30 ends it; the repeated 02:00-02:30 does not reopen it.
    const endsInOverlap = win('01:00', '02:30', { throttle_exception_dow: [6] });
    expect(at(endsInOverlap, utc(2025, 10, 25, 23), BERLIN)).toEqual(exc('2025-10-26T00:30:00.000Z'));
    expect(at(endsInOverlap, utc(2025, 10, 26, 1, 15), BERLIN)).toEqual(base('2025-11-02T00:00:00.000Z'));
  });

  it('New York, spring forward at 02:00: a 02:30 start begins at 03:00 EDT', () => {
    const sunday = win('02:30', '03:30', { throttle_exception_dow: [6] });
    expect(at(sunday, utc(2025, 3, 9, 6, 59, 59), NY)).toEqual(base('2025-03-09T07:00:00.000Z'));
    expect(at(sunday, utc(2025, 3, 9, 7), NY)).toEqual(exc('2025-03-09T07:30:00.000Z'));
    expect(at(sunday, utc(2025, 3, 9, 7, 30), NY)).toEqual(base('2025-03-16T06:30:00.000Z'));
  });

  it('New York, fall back: a window through the repeated hour stays open until the clock first reads its end', () => {
    // 2025-11-02: 02:00 EDT → 01:00 EST. 01:30 EDT = 05:30 UTC; 02:00 happens once, at 07:00 UTC.
    const sunday = win('01:30', '02:00', { throttle_exception_dow: [6] });
    expect(at(sunday, utc(2025, 11, 2, 5, 29, 59), NY)).toEqual(base('2025-11-02T05:30:00.000Z'));
    expect(at(sunday, utc(2025, 11, 2, 6, 15), NY)).toEqual(exc('2025-11-02T07:00:00.000Z')); // 01:15 EST
    expect(at(sunday, utc(2025, 11, 2, 7), NY)).toEqual(base('2025-11-09T06:30:00.000Z'));
  });
});

describe('the machine\'s own zone (LOCAL_TIME_ZONE, read through Date)', () => {
  // The agent uses the local zone without an ICU formatter; it must agree with the IANA zone
  // of the same name to the second, DST transitions included. Node re-reads TZ when it is set.
  const zones = ['Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe', 'Asia/Kolkata', 'UTC'];
  const schedules = [win('09:00', '17:00'), win('22:00', '06:00'), win('02:30', '03:30', { throttle_exception_dow: [6] }), win('00:00', '00:00', { throttle_exception_days: 'weekends' })];

  it.each(zones)('agrees with %s through a year of instants around its transitions', (zone) => {
    const saved = process.env.TZ;
    process.env.TZ = zone;
    try {
      expect(isValidTimeZone(LOCAL_TIME_ZONE)).toBe(true);
      for (let t = utc(2025, 1, 1); t < utc(2026, 1, 1); t += 7 * 3_600_000 + 1_234_000) {
        expect(localDateTime(t, LOCAL_TIME_ZONE)).toEqual(localDateTime(t, zone));
        for (const s of schedules) expect(at(s, t, LOCAL_TIME_ZONE)).toEqual(at(s, t, zone));
      }
      // Right at the 2025 transitions of Berlin and New York (and a second either side).
      for (const edge of [utc(2025, 3, 30, 1), utc(2025, 10, 26, 1), utc(2025, 3, 9, 7), utc(2025, 11, 2, 6)]) {
        for (const t of [edge - 1000, edge, edge + 1000]) for (const s of schedules) expect(at(s, t, LOCAL_TIME_ZONE)).toEqual(at(s, t, zone));
      }
    } finally {
      if (saved === undefined) delete process.env.TZ;
      else process.env.TZ = saved;
    }
  });
});

describe('consistency over random schedules', () => {
  // A small seeded generator, so a failure reproduces.
  function rng(seed: number): () => number {
    let a = seed >>> 0;
    return () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
    };
  }
  const two = (n: number) => String(n).padStart(2, '0');

  function randomSettings(r: () => number): ThrottleSettings {
    const time = () => `${two(Math.floor(r() * 24))}:${two(Math.floor(r() * 4) * 15)}${r() < 0.3 ? `:${two(Math.floor(r() * 60))}` : ''}`;
    const start = time();
    const dow = [0, 1, 2, 3, 4, 5, 6].filter(() => r() < 0.4);
    return {
      throttled: true,
      bandwidth_throttle: r() < 0.2 ? null : 1 + Math.floor(r() * 50),
      throttle_exception_throttle: r() < 0.2 ? null : 1 + Math.floor(r() * 50),
      throttle_exception_start: start,
      throttle_exception_end: r() < 0.1 ? start : time(),
      throttle_exception_dow: r() < 0.15 ? null : dow,
    };
  }

  /** In UTC there is no DST: the window is a plain wall-clock test. */
  function naiveInWindow(s: ThrottleSettings, t: number): boolean {
    const start = parseTimeOfDay(s.throttle_exception_start!)!;
    const end = parseTimeOfDay(s.throttle_exception_end!)!;
    const days = exceptionDaySet(s);
    if (days !== null && days.length === 0) return false;
    const listed = (d: number) => days === null || days.includes(dayOfWeek(d));
    const day = Math.floor(t / 86_400_000);
    const sec = Math.floor((t - day * 86_400_000) / 1000);
    if (end > start) return listed(day) && sec >= start && sec < end;
    return (listed(day) && sec >= start) || (listed(day - 1) && sec < end);
  }

  it('UTC: the exception state matches a plain wall-clock evaluation', () => {
    const r = rng(42);
    for (let i = 0; i < 150; i++) {
      const s = randomSettings(r);
      for (let j = 0; j < 20; j++) {
        const t = utc(2025, 1, 1) + Math.floor(r() * 365 * 86_400) * 1000;
        expect(throttleAt(s, t, 'UTC').inException, `${JSON.stringify(s)} at ${iso(t)}`).toBe(naiveInWindow(s, t));
      }
    }
  });

  it('the limit holds until nextChange and differs from it on, in every zone', () => {
    const r = rng(7);
    for (const zone of ['UTC', 'Europe/Berlin', 'America/New_York']) {
      for (let i = 0; i < 60; i++) {
        const s = randomSettings(r);
        // Around the 2025 transitions half of the time.
        const t = r() < 0.5 ? utc(2025, 3, 28) + Math.floor(r() * 14 * 86_400) * 1000 : utc(2025, 10, 24) + Math.floor(r() * 14 * 86_400) * 1000;
        const now = throttleAt(s, t, zone);
        const label = `${zone} ${JSON.stringify(s)} at ${iso(t)}`;
        if (now.nextChange === null) {
          for (let k = 1; k <= 20; k++) expect(throttleAt(s, t + k * 3_600_000 * 9, zone).limit, label).toBe(now.limit);
          continue;
        }
        const next = now.nextChange.getTime();
        expect(next, label).toBeGreaterThan(t);
        expect(next % 1000, label).toBe(0);
        for (let k = 0; k < 10; k++) expect(throttleAt(s, t + Math.floor(((next - t) * k) / 10), zone).limit, label).toBe(now.limit);
        expect(throttleAt(s, next - 1, zone).limit, label).toBe(now.limit);
        expect(throttleAt(s, next, zone).limit, label).not.toBe(now.limit);
      }
    }
  });
});
