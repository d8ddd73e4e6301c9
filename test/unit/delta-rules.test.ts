import { describe, expect, it } from 'vitest';
import { DELTA_MIN_SIZE, deltaBlockLen, deltaWorthwhile } from '../../src/core/delta.js';

describe('delta rules', () => {
  it('chooses power-of-two blocks of about √size/16 within 512 B … 16 KiB', () => {
    expect(deltaBlockLen(0)).toBe(512);
    expect(deltaBlockLen(1)).toBe(512);
    expect(deltaBlockLen(1024 * 1024)).toBe(512);
    expect(deltaBlockLen(256 * 1024 * 1024)).toBe(1024);
    expect(deltaBlockLen(4 * 1024 ** 3)).toBe(4096);
    expect(deltaBlockLen(2 ** 50)).toBe(16 * 1024);
    for (const size of [1e3, 1e5, 1e7, 1e9, 1e11]) {
      const b = deltaBlockLen(size);
      expect(b & (b - 1)).toBe(0);
    }
  });
  it('sends small files whole', () => {
    expect(deltaWorthwhile(DELTA_MIN_SIZE - 1, 10 * DELTA_MIN_SIZE)).toBe(false);
    expect(deltaWorthwhile(10 * DELTA_MIN_SIZE, DELTA_MIN_SIZE - 1)).toBe(false);
    expect(deltaWorthwhile(DELTA_MIN_SIZE, DELTA_MIN_SIZE)).toBe(true);
  });
});
