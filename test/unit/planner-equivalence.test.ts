// A tripwire for the planner's exact output. The planner is optimized for large trees (path facts
// computed once per entry, one map of slots, …) and must stay bit-for-bit what it was: the same
// operations in the same order with the same warnings. This test runs it over a fixed set of
// generated inputs (small trees full of odd names, case and normalization clashes, moves,
// deletes, type changes, pending hashes, broken bases; and a large bench-like tree with changes
// spread over it) and compares a digest of all outputs with the one recorded from the planner
// before the optimization.
//
// If the digest changes, the planner's behaviour changed for some input. When that is intended
// (a deliberate change of the planning rules), check the difference with the previous version
// and record the new digest; otherwise it is a bug.

import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { Operation } from '../../src/core/operations.js';
import { plan } from '../../src/core/planner.js';
import type { PlanInput } from '../../src/core/planner.js';
import { generate, Rng } from '../helpers/planner-inputs.js';

/** Digest of the outputs for CASES generated inputs (seed 1), recorded from the unoptimized planner. */
const EXPECTED = { cases: 400, ops: 4266, digest: '3757305cc3943d7473e98293e6303cbd870df49bf2ea44cf1d97e8743e397812' };

const outcome = (input: PlanInput): string => {
  try {
    return JSON.stringify(plan(input));
  } catch (err) {
    return `threw ${(err as Error).message}`;
  }
};

const snapshot = (input: PlanInput): string => JSON.stringify([input.remote, input.local, input.synced].map((t) => (t instanceof Map ? [...t] : t)));

describe('planner output, bit for bit', () => {
  it('matches the recorded digest over the generated inputs', () => {
    const hash = createHash('sha256');
    let ops = 0;
    for (const input of generate(1, EXPECTED.cases)) {
      const out = outcome(input);
      hash.update(out).update('\n');
      if (!out.startsWith('threw')) ops += (JSON.parse(out) as Operation[]).length;
    }
    expect({ cases: EXPECTED.cases, ops, digest: hash.digest('hex') }).toEqual(EXPECTED);
  });

  it('does not depend on the order of the input maps, and leaves its input alone', () => {
    const rng = new Rng(2);
    for (const input of generate(3, 60)) {
      const before = snapshot(input);
      const out = outcome(input);
      expect(snapshot(input)).toBe(before);
      // The same trees in another insertion order (and in path order: the already-sorted case).
      const reorder = <E,>(t: ReadonlyMap<string, E> | readonly E[], sorted: boolean): ReadonlyMap<string, E> | readonly E[] => {
        if (Array.isArray(t)) return t;
        const list = [...(t as ReadonlyMap<string, E>)];
        if (sorted) list.sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
        else rng.shuffle(list);
        return new Map(list);
      };
      for (const sorted of [false, true]) {
        const again: PlanInput = {
          remote: reorder(input.remote, sorted),
          local: reorder(input.local, sorted),
          synced: reorder(input.synced, sorted),
          policy: input.policy,
        };
        expect(outcome(again)).toBe(out);
      }
    }
  });
});
