// The control API's JSON contract (docs/control-api.md) is declared three times: by the agent
// that sends it (src/agent/control/), by the UI that reads it (renderer/src/api.ts, a separate
// browser build) and by Electron main (src/main/agent-state.ts, checked in main-protocol.test.ts).
// These compile-time checks (run by `tsc -p tsconfig.test.json` in npm test) fail when what the
// agent sends no longer fits what the UI expects.
import { describe, expect, expectTypeOf, it } from 'vitest';
import type { Bandwidth } from '../../src/agent/control/bandwidth.js';
import type { ActivityEntry, Collision, State } from '../../src/agent/control/state.js';
import type { ActivityEntry as UiActivityEntry, Bandwidth as UiBandwidth, Collision as UiCollision, State as UiState } from '../../renderer/src/api.js';

describe('control API contract', () => {
  it("the agent's State, Collision, ActivityEntry and Bandwidth fit the renderer's declarations", () => {
    expectTypeOf<State>().toExtend<UiState>();
    expectTypeOf<Collision>().toExtend<UiCollision>();
    expectTypeOf<ActivityEntry>().toExtend<UiActivityEntry>();
    expectTypeOf<Bandwidth>().toExtend<UiBandwidth>();
    expect(true).toBe(true);
  });
});
