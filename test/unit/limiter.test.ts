// The bandwidth limiter (src/engine/limiter.ts) on a fake clock: the token bucket's long-run
// rate, one bucket for both directions, rate changes taking effect at once, switching at the
// exception window's edge, pass-through when unlimited, and aborted streams leaving the queue.
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { BandwidthLimiter } from '../../src/engine/limiter.js';

const KiB = 1024;
const START = Date.UTC(2025, 5, 2, 11, 58, 30); // Monday 11:58:30 UTC

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'], now: START });
});

afterEach(() => {
  vi.useRealTimers();
});

/** Keeps taking `piece`-byte grants for `ms` of fake time; returns the bytes granted. */
async function grantedDuring(l: BandwidthLimiter, ms: number, piece = 4 * KiB): Promise<number> {
  let granted = 0;
  let running = true;
  const loop = (async () => {
    while (running) {
      await l.take(piece);
      if (running) granted += piece;
    }
  })();
  await vi.advanceTimersByTimeAsync(ms);
  running = false;
  l.setRate(null); // release the last waiter
  await loop;
  return granted;
}

/** Streams `total` bytes through the limiter's Transform; records (fake time, bytes so far). */
function flow(l: BandwidthLimiter, direction: 'up' | 'down', total: number) {
  const seen: { t: number; bytes: number }[] = [];
  let bytes = 0;
  const chunk = Buffer.alloc(64 * KiB, 7);
  const src = Readable.from(
    (function* () {
      for (let sent = 0; sent < total; sent += chunk.length) yield chunk.subarray(0, Math.min(chunk.length, total - sent));
    })(),
  );
  const sink = new Writable({
    write(c: Buffer, _e, cb) {
      bytes += c.length;
      seen.push({ t: Date.now(), bytes });
      cb();
    },
  });
  const done = pipeline(src, l.transform(direction), sink);
  return { seen, done, bytes: () => bytes };
}

describe('token bucket', () => {
  it('unlimited is a pass-through that still counts', async () => {
    const l = new BandwidthLimiter();
    const f = flow(l, 'up', 3 * 1024 * KiB);
    await f.done;
    expect(f.bytes()).toBe(3 * 1024 * KiB);
    expect(l.bytesUp).toBe(3 * 1024 * KiB);
    expect(l.snapshot()).toMatchObject({ limit: null, inException: false, nextChange: null });
    // No time had to pass.
    expect(Date.now()).toBe(START);
  });

  it('holds a stream to the rate over several seconds', async () => {
    const l = new BandwidthLimiter();
    l.setRate(200 * KiB);
    const f = flow(l, 'down', 4 * 1024 * KiB);
    await vi.advanceTimersByTimeAsync(5_000);
    // 5 s at 200 KiB/s, give or take one bucket (0.25 s) and one piece.
    expect(f.bytes()).toBeGreaterThanOrEqual(5 * 200 * KiB - 64 * KiB);
    expect(f.bytes()).toBeLessThanOrEqual(5 * 200 * KiB + 64 * KiB);
    expect(l.bytesDown).toBe(f.bytes());
    l.setRate(null);
    await f.done;
    expect(f.bytes()).toBe(4 * 1024 * KiB);
  });

  it('shares one bucket between uploads and downloads', async () => {
    const l = new BandwidthLimiter();
    l.setRate(100 * KiB);
    const up = flow(l, 'up', 8 * 1024 * KiB);
    const down = flow(l, 'down', 8 * 1024 * KiB);
    await vi.advanceTimersByTimeAsync(10_000);
    const total = up.bytes() + down.bytes();
    expect(total).toBeGreaterThanOrEqual(1000 * KiB - 64 * KiB);
    expect(total).toBeLessThanOrEqual(1000 * KiB + 64 * KiB);
    // First come, first served: neither direction starves.
    expect(up.bytes()).toBeGreaterThan(300 * KiB);
    expect(down.bytes()).toBeGreaterThan(300 * KiB);
    l.close();
    await Promise.all([up.done, down.done]);
  });

  it('a new rate applies to waiting transfers within a second', async () => {
    const l = new BandwidthLimiter();
    l.setRate(10 * KiB);
    const f = flow(l, 'up', 16 * 1024 * KiB);
    await vi.advanceTimersByTimeAsync(2_000);
    const slow = f.bytes();
    expect(slow).toBeLessThanOrEqual(30 * KiB);
    l.setRate(1024 * KiB);
    await vi.advanceTimersByTimeAsync(1_000);
    // Within the first second after the change the new rate is in force.
    expect(f.bytes() - slow).toBeGreaterThan(900 * KiB);
    l.setRate(5 * KiB);
    const before = f.bytes();
    await vi.advanceTimersByTimeAsync(2_000);
    expect(f.bytes() - before).toBeLessThanOrEqual(2 * 5 * KiB + 16 * KiB);
    l.close();
    await f.done;
  });

  it('grants pieces in arrival order and keeps the long-run rate with small pieces', async () => {
    const l = new BandwidthLimiter();
    l.setRate(50 * KiB);
    const granted = await grantedDuring(l, 8_000, 1 * KiB);
    expect(granted).toBeGreaterThanOrEqual(8 * 50 * KiB - 16 * KiB);
    expect(granted).toBeLessThanOrEqual(8 * 50 * KiB + 16 * KiB);
  });

  it('a destroyed stream leaves the queue; the others go on', async () => {
    const l = new BandwidthLimiter();
    l.setRate(20 * KiB);
    const a = l.transform('up');
    const sinkA = new Writable({ write: (_c, _e, cb) => cb() });
    a.pipe(sinkA);
    a.write(Buffer.alloc(512 * KiB));
    const b = flow(l, 'down', 64 * KiB);
    await vi.advanceTimersByTimeAsync(500);
    a.destroy();
    await vi.advanceTimersByTimeAsync(4_000);
    await b.done;
    expect(b.bytes()).toBe(64 * KiB);
  });
});

describe('schedule', () => {
  // Throttled at 200 KiB/s; an exception window of 600 KiB/s from 12:00 to 12:10 UTC every day.
  const settings = {
    throttled: true,
    bandwidth_throttle: 200,
    throttle_exception_throttle: 600,
    throttle_exception_start: '12:00',
    throttle_exception_end: '12:10',
  };

  it('switches the rate at the window edges, by timer', async () => {
    const l = new BandwidthLimiter({ timeZone: 'UTC' });
    const changes: { t: number; limit: number | null }[] = [];
    l.onChange((s) => changes.push({ t: Date.now(), limit: s.limit }));
    l.setSchedule(settings);
    expect(l.snapshot()).toEqual({ limit: 200 * KiB, inException: false, nextChange: '2025-06-02T12:00:00.000Z', bytesUp: 0, bytesDown: 0 });
    await vi.advanceTimersByTimeAsync(89_999);
    expect(l.limit).toBe(200 * KiB);
    await vi.advanceTimersByTimeAsync(1);
    expect(l.snapshot()).toMatchObject({ limit: 600 * KiB, inException: true, nextChange: '2025-06-02T12:10:00.000Z' });
    await vi.advanceTimersByTimeAsync(600_000);
    expect(l.snapshot()).toMatchObject({ limit: 200 * KiB, inException: false, nextChange: '2025-06-03T12:00:00.000Z' });
    expect(changes).toEqual([
      { t: START, limit: 200 * KiB },
      { t: Date.UTC(2025, 5, 2, 12, 0, 0), limit: 600 * KiB },
      { t: Date.UTC(2025, 5, 2, 12, 10, 0), limit: 200 * KiB },
    ]);
    l.close();
  });

  it('the edge changes the rate of a running transfer', async () => {
    const l = new BandwidthLimiter({ timeZone: 'UTC' });
    l.setSchedule(settings);
    const f = flow(l, 'up', 64 * 1024 * KiB);
    await vi.advanceTimersByTimeAsync(85_000);
    const atBase = f.bytes();
    await vi.advanceTimersByTimeAsync(5_000); // 11:59:55 → 12:00:00
    const beforeEdge = f.bytes() - atBase;
    await vi.advanceTimersByTimeAsync(5_000); // 12:00:00 → 12:00:05
    const afterEdge = f.bytes() - atBase - beforeEdge;
    expect(beforeEdge).toBeGreaterThanOrEqual(5 * 200 * KiB - 32 * KiB);
    expect(beforeEdge).toBeLessThanOrEqual(5 * 200 * KiB + 32 * KiB);
    expect(afterEdge).toBeGreaterThanOrEqual(5 * 600 * KiB - 64 * KiB);
    expect(afterEdge).toBeLessThanOrEqual(5 * 600 * KiB + 64 * KiB);
    l.close();
    await f.done;
  });

  it('a clock offset moves the schedule (the agent test clock)', () => {
    const l = new BandwidthLimiter({ timeZone: 'UTC', now: () => Date.now() + 90_000 });
    l.setSchedule(settings);
    expect(l.snapshot()).toMatchObject({ limit: 600 * KiB, inException: true });
    l.close();
  });

  it('follows the time zone of the machine', () => {
    // 11:58:30 UTC is 13:58:30 in Berlin (CEST): the window 12:00–12:10 local is over for today.
    const l = new BandwidthLimiter({ timeZone: 'Europe/Berlin' });
    l.setSchedule(settings);
    expect(l.snapshot()).toMatchObject({ limit: 200 * KiB, nextChange: '2025-06-03T10:00:00.000Z' });
    l.close();
  });

  it('not throttled, or no settings: unlimited; new settings apply at once', () => {
    const l = new BandwidthLimiter({ timeZone: 'UTC' });
    l.setSchedule({ ...settings, throttled: false });
    expect(l.limit).toBeNull();
    l.setSchedule(settings);
    expect(l.limit).toBe(200 * KiB);
    l.setSchedule(null);
    expect(l.snapshot()).toMatchObject({ limit: null, nextChange: null });
    l.setSchedule({ throttled: true, bandwidth_throttle: 0 });
    expect(l.limit).toBeNull();
    l.close();
  });
});
