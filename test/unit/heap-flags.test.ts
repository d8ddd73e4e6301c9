import { describe, expect, it } from 'vitest';
import { heapGrowthGiven } from '../../src/agent/heap.js';

describe('the agent keeps a heap growth it was started with', () => {
  it('sees --heap-growing-percent on the command line or in NODE_OPTIONS, in any spelling', () => {
    expect(heapGrowthGiven(['--heap-growing-percent=60'], undefined)).toBe(true);
    expect(heapGrowthGiven(['--max-semi-space-size=2', '--heap_growing_percent=50'], '')).toBe(true);
    expect(heapGrowthGiven([], '--max-old-space-size=64  --heap-growing-percent=45')).toBe(true);
    expect(heapGrowthGiven(['--heap-growing-percent'], undefined)).toBe(true);
  });

  it('applies its own otherwise', () => {
    expect(heapGrowthGiven([], undefined)).toBe(false);
    expect(heapGrowthGiven(['--max-semi-space-size=2'], '--max-old-space-size=64')).toBe(false);
    expect(heapGrowthGiven(['--heap-growing-percentage=5'], '--no-heap-growing-percent-x')).toBe(false);
  });
});
