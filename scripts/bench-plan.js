#!/usr/bin/env node
// Micro-benchmark of planning one round over a large root that is nearly in sync: the engine's
// way (the AgreementTracker follows the trees from round to round and the planner sees only what
// is not in agreement), the one-shot pass (`plan()` without a tracker), and the planner over the
// whole trees (`planWhole`). Each round the server has new revisions of BENCH_PLAN_CHANGES files
// (default 50), the three plans are made and compared, and the downloads are then recorded as
// done (local and base follow), as the engine would. Prints the median time of each per round.
//
//   npx tsc -p tsconfig.json && node scripts/bench-plan.js
//   BENCH_PLAN_FILES=100000 BENCH_PLAN_CHANGES=500 node scripts/bench-plan.js
import { performance } from 'node:perf_hooks';
import { AgreementTracker } from '../dist/src/core/agreed.js';
import { plan, planWhole } from '../dist/src/core/planner.js';
import { JournaledMap } from '../dist/src/core/tree.js';

const FILES = Number(process.env.BENCH_PLAN_FILES ?? 10000);
const CHANGES = Number(process.env.BENCH_PLAN_CHANGES ?? 50);
const ROUNDS = Number(process.env.BENCH_PLAN_ROUNDS ?? 40);

// Journaled maps, as the engine's trees (see JournaledMap): the tracker reads what changed.
const remote = new JournaledMap();
const local = new JournaledMap();
const synced = new JournaledMap();
const hex = (n) => n.toString(16).padStart(64, '0');
const files = [];
let nextId = 1;
function add(path, kind, i) {
  const id = nextId++;
  const sha = kind === 'file' ? hex(i) : null;
  const rev = kind === 'file' ? id * 10 : null;
  const size = kind === 'file' ? 1000 + i : 0;
  remote.set(path, { path, kind, id, revisionId: rev, size, sha256: sha, modified: '2026-01-01T00:00:00' });
  local.set(path, { path, kind, fileId: String(100000 + id), size, mtime: 1, sha256: sha });
  synced.set(path, { path, kind, remoteId: id, revisionId: rev, sha256: sha, localFileId: String(100000 + id), size, mtime: 1 });
  if (kind === 'file') files.push(path);
}
// The shape of benchmark 3: 100 folders two levels deep.
for (let a = 0; a < 10; a++) {
  add(`d${a}`, 'folder', 0);
  for (let b = 0; b < 10; b++) add(`d${a}/e${b}`, 'folder', 0);
}
for (let i = 0; i < FILES; i++) add(`d${i % 10}/e${Math.floor(i / 10) % 10}/file-${i}.bin`, 'file', i);

const policy = { caseInsensitive: false, platform: 'linux', manualCollisions: true };
const tracker = new AgreementTracker();
plan({ remote, local, synced, policy }, tracker);
const times = { tracker: [], oneShot: [], whole: [] };
const timed = (list, f) => {
  const t0 = performance.now();
  const out = f();
  list.push(performance.now() - t0);
  return out;
};
for (let round = 0; round < ROUNDS; round++) {
  for (let k = 0; k < CHANGES; k++) {
    const p = files[(round * CHANGES + k) % files.length];
    const r = remote.get(p);
    remote.set(p, { ...r, revisionId: r.revisionId + 1, sha256: hex(1e9 + round * CHANGES + k) });
  }
  const input = { remote, local, synced, policy };
  const a = timed(times.tracker, () => plan(input, tracker));
  const b = timed(times.oneShot, () => plan(input));
  const c = timed(times.whole, () => planWhole(input));
  const ja = JSON.stringify(a);
  if (ja !== JSON.stringify(b) || ja !== JSON.stringify(c) || a.length !== Math.min(CHANGES, files.length)) throw new Error(`round ${round}: the plans differ`);
  for (const op of a) {
    const r = remote.get(op.remotePath);
    local.set(op.localPath, { ...local.get(op.localPath), sha256: r.sha256 });
    synced.set(op.localPath, { ...synced.get(op.localPath), revisionId: r.revisionId, sha256: r.sha256 });
  }
}
const median = (list) => {
  const w = list.slice(3).sort((x, y) => x - y);
  return w[w.length >> 1].toFixed(2);
};
console.log(
  `${remote.size} entries, ${CHANGES} changed per round, ${ROUNDS} rounds: plan with the tracker ${median(times.tracker)} ms, ` +
    `one-shot (withoutAgreed) ${median(times.oneShot)} ms, whole trees ${median(times.whole)} ms (medians per round)`,
);
