// Space quota before uploading (issue "admin policy…"): uploads that cannot fit into the space
// the account has left are not attempted (no bytes wasted on an upload the server would refuse
// with 409 policy_error); each is explained as a warning instead, with the 'tooLarge' code (too
// large for the space left), so it counts among the files the policy keeps from syncing.
//
// Uploads are admitted in plan order while they fit. A new revision counts only what it adds:
// the server frees the size of the revision it replaces. The space left is what the agent last
// read from the server (a hint); the server stays the judge.
import type { Operation, WarningOp } from '../core/operations.js';
import type { Trees } from '../core/tree.js';

export function withinSpaceLeft(ops: Operation[], spaceLeft: number | null | undefined, trees: Trees): Operation[] {
  if (spaceLeft === null || spaceLeft === undefined || !Number.isFinite(spaceLeft)) return ops;
  let sizes: Map<number, number> | undefined;
  const currentSize = (remoteId: number): number => {
    if (!sizes) {
      sizes = new Map();
      for (const e of trees.remote.values()) if (e.kind === 'file') sizes.set(e.id, e.size);
    }
    return sizes.get(remoteId) ?? 0;
  };
  let left = spaceLeft;
  return ops.map((op): Operation => {
    if (op.type !== 'upload') return op;
    const grows = op.expectLocal.size - (op.remoteId !== null ? currentSize(op.remoteId) : 0);
    if (grows <= 0 || grows <= left) {
      left -= Math.max(0, grows);
      return op;
    }
    const warning: WarningOp = {
      type: 'warning',
      side: 'local',
      path: op.localPath,
      code: 'tooLarge',
      message: `not uploaded: it needs ${grows} more bytes, but only ${Math.max(0, left)} bytes are left of the space quota`,
    };
    return warning;
  });
}
