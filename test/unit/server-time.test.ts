import { describe, expect, it } from 'vitest';
import { apiTime, formatSize, parseApiDate, parseApiDatetime } from '../../src/server/time.js';

describe('API time formats', () => {
  it('formats UTC without milliseconds or zone', () => {
    expect(apiTime(new Date('2015-01-01T01:02:03.456Z'))).toBe('2015-01-01T01:02:03');
  });
  it('parses only real YYYY-MM-DDTHH:MM:SS datetimes', () => {
    expect(parseApiDatetime('2015-01-01T01:02:03')?.toISOString()).toBe('2015-01-01T01:02:03.000Z');
    for (const bad of ['2015-01-01', '2015-13-01T00:00:00', '2015-02-30T00:00:00', '2015-01-01T24:00:00', '2015-01-01 01:02:03', 'x']) {
      expect(parseApiDatetime(bad)).toBeUndefined();
    }
  });
  it('parses only real YYYY-MM-DD dates', () => {
    expect(parseApiDate('2024-02-29')?.toISOString()).toBe('2024-02-29T00:00:00.000Z');
    expect(parseApiDate('2023-02-29')).toBeUndefined();
    expect(parseApiDate('2023-2-1')).toBeUndefined();
  });
  it('formats sizes the way the documents do', () => {
    expect(formatSize(100)).toBe('100b');
    expect(formatSize(12205)).toBe('11.92k');
    expect(formatSize(3169361)).toBe('3.02M');
  });
});
