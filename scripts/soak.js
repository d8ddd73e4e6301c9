#!/usr/bin/env node
// Soak test of two-way sync: the scenario of test/integration/sync-random.test.ts (two real
// agents on one account, a real reference server, a random user working in each sync folder)
// run in rounds for N minutes or N steps, with every check after every round: folders and
// server converge, no version is lost, no temp file is left, both agents still run.
//
//   node scripts/soak.js --minutes 10 --seed 42
//   node scripts/soak.js --ops 20000 --round-ops 500        (steps in total / per user per round)
//   options: --minutes N  --ops N  --seed N (default: random, printed)  --round-ops N (400)
//            --quiesce-ms N (60000)  --no-build (dist/ is already current)
//
// On failure it prints the seed, the round, what was lost or differs, and where the full report
// and the agents' and server's folders were kept. Exit code: vitest's (0 = all rounds passed).
import { spawn } from 'node:child_process';
import { randomInt } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

function usage(msg) {
  if (msg) process.stderr.write(`soak: ${msg}\n`);
  process.stderr.write('usage: node scripts/soak.js [--minutes N] [--ops N] [--seed N] [--round-ops N] [--quiesce-ms N] [--no-build]\n');
  process.exit(2);
}

const opts = { minutes: undefined, ops: undefined, seed: undefined, roundOps: 400, quiesceMs: 60_000, build: true };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const num = (name, { integer = true, min = 1 } = {}) => {
    const v = Number(argv[++i]);
    if (argv[i] === undefined || !Number.isFinite(v) || v < min || (integer && !Number.isInteger(v))) usage(`${name} needs a number ≥ ${min}`);
    return v;
  };
  if (a === '--minutes') opts.minutes = num('--minutes', { integer: false, min: 0.1 });
  else if (a === '--ops') opts.ops = num('--ops');
  else if (a === '--seed') opts.seed = num('--seed', { min: 0 });
  else if (a === '--round-ops') opts.roundOps = num('--round-ops');
  else if (a === '--quiesce-ms') opts.quiesceMs = num('--quiesce-ms', { min: 1000 });
  else if (a === '--no-build') opts.build = false;
  else if (a === '--help' || a === '-h') usage();
  else usage(`unknown argument ${a}`);
}
if (opts.minutes === undefined && opts.ops === undefined) opts.minutes = 10;
opts.seed ??= randomInt(1, 2 ** 31 - 1);

function run(cmd, args, env) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: repo, env: { ...process.env, ...env }, stdio: 'inherit' });
    const forward = (sig) => child.kill(sig);
    process.once('SIGINT', forward);
    process.once('SIGTERM', forward);
    child.on('close', (code, signal) => {
      process.off('SIGINT', forward);
      process.off('SIGTERM', forward);
      resolve(code ?? (signal ? 1 : 0));
    });
  });
}

const limits = [opts.minutes !== undefined ? `${opts.minutes} min` : null, opts.ops !== undefined ? `${opts.ops} steps` : null].filter(Boolean).join(' or ');
process.stdout.write(`soak: seed ${opts.seed}, ${limits}, rounds of ${opts.roundOps} steps per user\n`);

if (opts.build) {
  // The agents run from dist/: compile first so they run the current source.
  const code = await run(process.execPath, [path.join(repo, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.json'], {});
  if (code !== 0) {
    process.stderr.write('soak: the build failed\n');
    process.exit(code);
  }
}

// The test's own timeout: the soak length plus time for the last round to settle and be checked.
const timeoutMs = Math.round((opts.minutes ?? 24 * 60) * 60_000 + 10 * 60_000);
const code = await run(
  process.execPath,
  [path.join(repo, 'node_modules/vitest/vitest.mjs'), 'run', 'test/integration/sync-random.test.ts', `--testTimeout=${timeoutMs}`, '--hookTimeout=120000'],
  {
    AXIS_SEED: String(opts.seed),
    AXIS_SOAK_MINUTES: opts.minutes !== undefined ? String(opts.minutes) : '',
    AXIS_SOAK_OPS: opts.ops !== undefined ? String(opts.ops) : '',
    AXIS_RANDOM_OPS: String(opts.roundOps),
    AXIS_QUIESCE_MS: String(opts.quiesceMs),
  },
);
process.stdout.write(
  code === 0
    ? `soak: passed (seed ${opts.seed})\n`
    : `soak: FAILED (seed ${opts.seed}); replay: node scripts/soak.js --seed ${opts.seed} ${opts.minutes !== undefined ? `--minutes ${opts.minutes}` : `--ops ${opts.ops}`} --round-ops ${opts.roundOps}\n`,
);
process.exit(code);
