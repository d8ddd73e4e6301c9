// The bandwidth limiter (issue "admin policy: throttle windows"): one token bucket shared by
// every upload and download of the agent, so the admin's limit caps both directions together.
//
// - `setSchedule(settings)` takes the machine's throttle settings (already resolved over its
//   organization's: /api/2/machine/<id>/policy `throttle`) and applies the pure schedule of
//   src/core/throttle.ts: the limit in force now, and a timer for the next window edge, where
//   the rate switches (at the edge, not on the next poll). New settings apply at once.
// - A rate change applies to bytes not yet granted: waiting streams are re-timed immediately,
//   and content moves in pieces of at most 1/10 s of the rate (≤ 16 KiB), so a new rate is in
//   force within a fraction of a second.
// - Unlimited (no throttle, `throttled` false, limit 0/null) is a pass-through that only counts.
// - `now()` (epoch ms) and the time zone are injectable: tests move the schedule's clock
//   (the agent's AXIS_AGENT_CLOCK_OFFSET_MS), the bucket only ever uses differences of it.
import { Transform, type Readable, type TransformCallback } from 'node:stream';
import { LOCAL_TIME_ZONE, throttleAt, type ThrottleSettings, type ThrottleState } from '../core/throttle.js';

export interface LimiterOptions {
  /** Clock in epoch ms (schedule and bucket). Default Date.now. */
  now?: () => number;
  /** IANA time zone of the machine's local time, for exception windows. Default: the runtime's (TZ). */
  timeZone?: string;
  /** Bucket depth: how many seconds of the rate may pass at once after a pause. Default 0.25. */
  burstSeconds?: number;
}

export interface LimiterSnapshot {
  /** Bytes per second in force; null = unlimited. */
  limit: number | null;
  inException: boolean;
  /** The next window edge (ISO), or null. */
  nextChange: string | null;
  /** Content bytes that passed, per direction, since the limiter was made. */
  bytesUp: number;
  bytesDown: number;
}

interface Waiter {
  n: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

/** Longest single timer: the schedule is re-read at least this often (clock jumps, suspend). */
const MAX_EDGE_WAIT_MS = 60_000;
const MAX_PIECE = 16 * 1024;
const MIN_PIECE = 1024;
/** Unlimited: chunks pass as they come. */
const UNLIMITED_PIECE = 1 << 20;

/** The machine's own time zone (see LOCAL_TIME_ZONE: no ICU formatter loaded for it). */
export function localTimeZone(): string {
  return LOCAL_TIME_ZONE;
}

export class BandwidthLimiter {
  private readonly now: () => number;
  private readonly burstSeconds: number;
  private timeZone: string;
  private rate: number | null = null;
  private tokens = 0;
  private last: number;
  private readonly queue: Waiter[] = [];
  private pumpTimer: NodeJS.Timeout | undefined;
  private edgeTimer: NodeJS.Timeout | undefined;
  private settings: ThrottleSettings | null = null;
  private state: ThrottleState = { limit: null, inException: false, nextChange: null };
  private closed = false;
  private readonly listeners = new Set<(s: LimiterSnapshot) => void>();
  bytesUp = 0;
  bytesDown = 0;

  constructor(opts: LimiterOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.timeZone = opts.timeZone ?? localTimeZone();
    this.burstSeconds = opts.burstSeconds ?? 0.25;
    this.last = this.now();
  }

  /** Bytes per second in force (null = unlimited). */
  get limit(): number | null {
    return this.rate;
  }

  snapshot(): LimiterSnapshot {
    return {
      limit: this.rate,
      inException: this.state.inException,
      nextChange: this.state.nextChange ? this.state.nextChange.toISOString() : null,
      bytesUp: this.bytesUp,
      bytesDown: this.bytesDown,
    };
  }

  /** Called whenever the rate in force changes (after the change). */
  onChange(fn: (s: LimiterSnapshot) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /**
   * The machine's throttle settings (resolved over its organization's), or null for none.
   * Applies the schedule now and switches at every window edge until replaced.
   */
  setSchedule(settings: ThrottleSettings | null, timeZone?: string): void {
    if (timeZone) this.timeZone = timeZone;
    this.settings = settings;
    this.applySchedule();
  }

  /** A fixed rate (bytes/s; null or ≤ 0 = unlimited), replacing any schedule. */
  setRate(bytesPerSecond: number | null): void {
    this.settings = null;
    clearTimeout(this.edgeTimer);
    const r = bytesPerSecond !== null && Number.isFinite(bytesPerSecond) && bytesPerSecond > 0 ? bytesPerSecond : null;
    this.state = { limit: r, inException: false, nextChange: null };
    this.changeRate(r);
  }

  private applySchedule(): void {
    clearTimeout(this.edgeTimer);
    this.edgeTimer = undefined;
    if (this.closed) return;
    if (!this.settings) {
      this.state = { limit: null, inException: false, nextChange: null };
      this.changeRate(null);
      return;
    }
    const t = this.now();
    this.state = throttleAt(this.settings, t, this.timeZone);
    this.changeRate(this.state.limit);
    const next = this.state.nextChange?.getTime();
    if (next !== undefined) {
      // A timer that fires a little early finds the same state and waits for the rest.
      this.edgeTimer = setTimeout(() => this.applySchedule(), Math.min(MAX_EDGE_WAIT_MS, Math.max(0, next - t)));
      this.edgeTimer.unref?.();
    }
  }

  private changeRate(r: number | null): void {
    const before = this.rate;
    if (r !== before) {
      this.refill();
      this.rate = r;
      // From unlimited: start empty. Between limits: keep any debt, cap the credit.
      if (r !== null) this.tokens = before === null ? 0 : Math.min(this.tokens, this.capacity());
      this.pump();
    }
    if (r !== before) for (const fn of this.listeners) fn(this.snapshot());
  }

  private capacity(): number {
    return this.rate === null ? Number.POSITIVE_INFINITY : Math.max(this.pieceSize(), this.rate * this.burstSeconds);
  }

  /** Size of the pieces content moves in at the current rate. */
  pieceSize(): number {
    if (this.rate === null) return UNLIMITED_PIECE;
    return Math.max(MIN_PIECE, Math.min(MAX_PIECE, Math.floor(this.rate / 10)));
  }

  private refill(): void {
    const t = this.now();
    if (this.rate !== null) this.tokens = Math.min(this.capacity(), this.tokens + ((t - this.last) * this.rate) / 1000);
    this.last = t;
  }

  /**
   * Waits until `n` bytes may pass (first come, first served across every stream). A request
   * larger than the bucket is granted when the bucket is full and leaves it in debt.
   */
  take(n: number, signal?: AbortSignal): Promise<void> {
    if (this.closed || (this.rate === null && this.queue.length === 0)) return Promise.resolve();
    if (signal?.aborted) return Promise.reject(abortError());
    return new Promise<void>((resolve, reject) => {
      const w: Waiter = { n, resolve, reject };
      if (signal) {
        const onAbort = () => {
          const i = this.queue.indexOf(w);
          if (i >= 0) this.queue.splice(i, 1);
          reject(abortError());
          this.pump();
        };
        signal.addEventListener('abort', onAbort, { once: true });
        w.resolve = () => {
          signal.removeEventListener('abort', onAbort);
          resolve();
        };
      }
      this.queue.push(w);
      this.pump();
    });
  }

  private pump(): void {
    clearTimeout(this.pumpTimer);
    this.pumpTimer = undefined;
    if (this.rate === null || this.closed) {
      for (const w of this.queue.splice(0)) w.resolve();
      return;
    }
    this.refill();
    while (this.queue.length > 0) {
      const w = this.queue[0]!;
      if (this.tokens < Math.min(w.n, this.capacity())) break;
      this.tokens -= w.n;
      this.queue.shift();
      w.resolve();
    }
    if (this.queue.length > 0) {
      const missing = Math.min(this.queue[0]!.n, this.capacity()) - this.tokens;
      this.pumpTimer = setTimeout(() => this.pump(), Math.max(1, Math.ceil((missing * 1000) / this.rate)));
    }
  }

  /** A Transform that lets content through at the shared rate and counts it for `direction`. */
  transform(direction: 'up' | 'down'): Transform {
    // Made when the stream first waits for the limit (an AbortController per transfer, and its
    // DOMException on abort, are a measurable cost when thousands of small files pass unlimited).
    let abort: AbortController | undefined;
    // eslint-disable-next-line @typescript-eslint/no-this-alias
    const limiter = this;
    const shaped = new Transform({
      transform(this: Transform, chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback) {
        if (limiter.rate === null && limiter.queue.length === 0) {
          // Unlimited: pass the chunk as it is, only counted.
          if (direction === 'up') limiter.bytesUp += chunk.length;
          else limiter.bytesDown += chunk.length;
          cb(null, chunk);
          return;
        }
        const signal = (abort ??= new AbortController()).signal;
        limiter.pass(this, chunk, direction, signal).then(
          () => cb(),
          (err: Error) => (signal.aborted ? cb() : cb(err)),
        );
      },
      destroy(err: Error | null, cb: (error: Error | null) => void) {
        abort?.abort();
        cb(err);
      },
    });
    // Its source's errors are forwarded into it, possibly after its consumer (a request that
    // failed) stopped listening: they stay on the stream (`errored`), never an uncaught exception.
    shaped.on('error', () => undefined);
    return shaped;
  }

  /**
   * `source` through a limiter Transform (errors and early ends travel both ways). Wired by
   * hand rather than with stream.pipeline, which makes (and aborts, creating a DOMException) an
   * AbortController per call: a measurable cost with thousands of small files.
   */
  shape(direction: 'up' | 'down', source: Readable): Readable {
    const t = this.transform(direction);
    source.on('error', (err) => t.destroy(err));
    // The consumer gave up (or the transform failed): stop reading the source.
    t.once('close', () => {
      if (!source.destroyed && !source.readableEnded) source.destroy();
    });
    source.pipe(t);
    return t;
  }

  private async pass(t: Transform, chunk: Buffer, direction: 'up' | 'down', signal: AbortSignal): Promise<void> {
    const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk);
    let off = 0;
    while (off < buf.length) {
      if (signal.aborted) return;
      const n = Math.min(this.pieceSize(), buf.length - off);
      await this.take(n, signal);
      if (signal.aborted) return;
      const piece = buf.subarray(off, off + n);
      off += n;
      if (direction === 'up') this.bytesUp += n;
      else this.bytesDown += n;
      t.push(piece);
    }
  }

  /** Stops the timers and lets everything waiting pass. */
  close(): void {
    this.closed = true;
    clearTimeout(this.edgeTimer);
    this.pump();
  }
}

function abortError(): Error {
  const e = new Error('The transfer was aborted');
  e.name = 'AbortError';
  return e;
}
