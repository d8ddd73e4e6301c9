// When the client retries a request by itself, and how long it waits.
//
// Only idempotent methods are retried (GET, HEAD, PUT, DELETE), and only when the server said
// 503 (temporarily_unavailable) or when the request never got an answer because of a transient
// network failure. POST (uploads, renames, moves, deletes, logins...) is never retried
// automatically: the caller decides, since the server may have carried it out.
// Waits grow exponentially with "full jitter" (a uniformly random wait between 0 and the
// exponential bound), so many agents coming back after an outage do not stampede.

export interface RetryPolicy {
  /** Retries after the first attempt (0 = never retry). */
  limit: number;
  /** Bound of the first wait, in ms; doubles at each attempt. */
  baseDelayMs: number;
  /** Largest bound of any wait, in ms. */
  maxDelayMs: number;
  /** A server's Retry-After longer than this (ms) makes the client give up instead of waiting. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = { limit: 4, baseDelayMs: 500, maxDelayMs: 15_000, maxRetryAfterMs: 60_000 };

export const RETRY_METHODS = ['GET', 'HEAD', 'PUT', 'DELETE'] as const;
export const RETRY_STATUS_CODES = [503] as const;
/** Transient network failures (no HTTP answer). */
export const RETRY_ERROR_CODES = [
  'ETIMEDOUT',
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ENOTFOUND',
  'ENETUNREACH',
  'ENETDOWN',
  'EHOSTUNREACH',
  'EAI_AGAIN',
] as const;

export interface RetryCandidate {
  method: string;
  /** HTTP status of the answer, when there was one. */
  statusCode?: number;
  /** Error code of the failure, when there was no answer. */
  errorCode?: string;
}

/** Whether a failed attempt may be retried at all (ignoring the attempt count). */
export function isRetryable(c: RetryCandidate): boolean {
  if (!(RETRY_METHODS as readonly string[]).includes(c.method.toUpperCase())) return false;
  if (c.statusCode !== undefined) return (RETRY_STATUS_CODES as readonly number[]).includes(c.statusCode);
  return c.errorCode !== undefined && (RETRY_ERROR_CODES as readonly string[]).includes(c.errorCode);
}

/** Full-jitter exponential backoff: uniform in [0, min(max, base·2^(attempt-1))], at least 1 ms. */
export function backoffDelay(attempt: number, policy: Pick<RetryPolicy, 'baseDelayMs' | 'maxDelayMs'>, random: () => number = Math.random): number {
  const exp = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.max(1, Math.floor(random() * exp));
}

/**
 * The wait before retry number `attempt` (1-based), or 0 for "do not retry" — the contract of
 * got's `retry.calculateDelay`.
 */
export function retryDelay(
  c: RetryCandidate & { attempt: number; retryAfterMs?: number },
  policy: RetryPolicy = DEFAULT_RETRY_POLICY,
  random: () => number = Math.random,
): number {
  if (c.attempt > policy.limit || !isRetryable(c)) return 0;
  if (c.retryAfterMs !== undefined && c.retryAfterMs > 0) {
    if (c.retryAfterMs > policy.maxRetryAfterMs) return 0;
    return Math.max(c.retryAfterMs, backoffDelay(c.attempt, policy, random));
  }
  return backoffDelay(c.attempt, policy, random);
}
