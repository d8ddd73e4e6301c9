// The client's retry decision and backoff (src/api/retry.ts).
import { describe, expect, it } from 'vitest';
import { backoffDelay, isRetryable, retryDelay, type RetryPolicy } from '../../src/api/retry.js';

const policy: RetryPolicy = { limit: 3, baseDelayMs: 100, maxDelayMs: 1000, maxRetryAfterMs: 5000 };

describe('isRetryable', () => {
  it('retries idempotent methods on 503 and transient network failures', () => {
    for (const method of ['GET', 'HEAD', 'PUT', 'DELETE', 'get']) {
      expect(isRetryable({ method, statusCode: 503 }), method).toBe(true);
      for (const errorCode of ['ECONNRESET', 'ETIMEDOUT', 'ECONNREFUSED', 'EPIPE', 'EAI_AGAIN']) expect(isRetryable({ method, errorCode }), `${method} ${errorCode}`).toBe(true);
    }
  });

  it('never retries POST', () => {
    expect(isRetryable({ method: 'POST', statusCode: 503 })).toBe(false);
    expect(isRetryable({ method: 'POST', errorCode: 'ECONNRESET' })).toBe(false);
    expect(isRetryable({ method: 'PATCH', errorCode: 'ECONNRESET' })).toBe(false);
  });

  it('does not retry other statuses, certificate errors or unknown failures', () => {
    for (const statusCode of [400, 401, 403, 404, 409, 410, 429, 500, 502, 504]) expect(isRetryable({ method: 'GET', statusCode }), String(statusCode)).toBe(false);
    for (const errorCode of ['DEPTH_ZERO_SELF_SIGNED_CERT', 'ERR_AXIS_CERT_FINGERPRINT_MISMATCH', 'ERR_GOT_REQUEST_ERROR', undefined]) {
      expect(isRetryable({ method: 'GET', errorCode }), String(errorCode)).toBe(false);
    }
  });

  it('a status wins over an error code (an answered request is judged by its status)', () => {
    expect(isRetryable({ method: 'GET', statusCode: 500, errorCode: 'ECONNRESET' })).toBe(false);
  });
});

describe('backoffDelay (full jitter)', () => {
  it('is uniform in [0, base·2^(attempt-1)] capped at maxDelay, and at least 1 ms', () => {
    expect(backoffDelay(1, policy, () => 0.999)).toBe(99);
    expect(backoffDelay(2, policy, () => 0.5)).toBe(100);
    expect(backoffDelay(3, policy, () => 0.999)).toBe(399);
    expect(backoffDelay(10, policy, () => 0.999)).toBe(999);
    expect(backoffDelay(60, policy, () => 0.999)).toBe(999);
    expect(backoffDelay(1, policy, () => 0)).toBe(1);
  });

  it('spreads waits with real randomness', () => {
    const waits = new Set(Array.from({ length: 50 }, () => backoffDelay(4, policy)));
    expect(waits.size).toBeGreaterThan(10);
    for (const w of waits) {
      expect(w).toBeGreaterThanOrEqual(1);
      expect(w).toBeLessThanOrEqual(800);
    }
  });
});

describe('retryDelay', () => {
  it('stops after the limit', () => {
    expect(retryDelay({ method: 'GET', statusCode: 503, attempt: 3 }, policy, () => 0.5)).toBeGreaterThan(0);
    expect(retryDelay({ method: 'GET', statusCode: 503, attempt: 4 }, policy, () => 0.5)).toBe(0);
  });

  it('is 0 (no retry) when the request may not be retried', () => {
    expect(retryDelay({ method: 'POST', statusCode: 503, attempt: 1 }, policy)).toBe(0);
    expect(retryDelay({ method: 'GET', statusCode: 404, attempt: 1 }, policy)).toBe(0);
  });

  it('honours Retry-After up to maxRetryAfter, and gives up beyond it', () => {
    expect(retryDelay({ method: 'GET', statusCode: 503, attempt: 1, retryAfterMs: 2000 }, policy, () => 0.5)).toBe(2000);
    expect(retryDelay({ method: 'GET', statusCode: 503, attempt: 1, retryAfterMs: 60_000 }, policy, () => 0.5)).toBe(0);
  });
});
