// The engine's call into the pure planner (src/core/planner.ts), with the agent's policy.
import type { AgreementTracker } from '../core/agreed.js';
import type { Operation } from '../core/operations.js';
import { plan, type SyncPolicy } from '../core/planner.js';
import type { Trees } from '../core/tree.js';

export type PlanPolicy = SyncPolicy;

export function planRoot(trees: Trees, policy: PlanPolicy, tracker?: AgreementTracker): Operation[] {
  return plan({ remote: trees.remote, local: trees.local, synced: trees.synced, policy }, tracker);
}
