#!/usr/bin/env node
// Benchmark of the librsync binding against the rdiff CLI (same librsync, same parameters):
// signature / delta / patch throughput on a ~256 MiB file (by wall-clock time, and by CPU time:
// ours = this process's user+system time, all threads; rdiff's = the waited-for child's, from
// /proc/self/stat; on a shared machine the CPU figures are the steadier; each operation runs
// BENCH_RSYNC_ROUNDS times (default 5) after one untimed warm-up run each, ours and rdiff
// alternating, medians shown), and peak RSS while computing
// the delta of a 1 GiB file (process.resourceUsage().maxRSS of a fresh node process; rdiff's
// via getrusage(RUSAGE_CHILDREN) when python3 is around).
//
//   npx tsc -p tsconfig.json && node scripts/bench-rsync.js
//   BENCH_RSYNC_MB=256 BENCH_RSYNC_BIG_MB=1024 node scripts/bench-rsync.js
//
// Needs the built addon (scripts/build-native.js) and `rdiff`. Takes well under two minutes
// on 2 cores; temp files (~2.5 GB at most) go to $TMPDIR and are removed.
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { createReadStream, mkdtempSync, openSync, closeSync, writeSync, readSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const wrapperPath = path.join(root, 'dist', 'src', 'native', 'librsync.js');
const rs = await import(pathToFileURL(wrapperPath).href).catch((err) => {
  console.error(`cannot import ${path.relative(root, wrapperPath)} (run \`npx tsc -p tsconfig.json\` first): ${err.message}`);
  process.exit(1);
});
if (!rs.rsyncAvailable()) {
  console.error(`the librsync addon is not available: ${rs.rsyncLoadError()}`);
  process.exit(1);
}
try {
  execFileSync('rdiff', ['--version'], { stdio: 'ignore' });
} catch {
  console.error('rdiff not found (Debian: apt-get install rdiff)');
  process.exit(1);
}

const MiB = 1 << 20;
const size = Number(process.env.BENCH_RSYNC_MB ?? 256) * MiB;
const bigSize = Number(process.env.BENCH_RSYNC_BIG_MB ?? 1024) * MiB;
const dir = mkdtempSync(path.join(os.tmpdir(), 'axis-bench-rsync-'));
const f = (name) => path.join(dir, name);

/** Random basis of `bytes`, and a new version: scattered overwrites, one insertion, one deletion, an append. */
function makeFiles(basisPath, newPath, bytes) {
  const chunk = Buffer.allocUnsafe(4 * MiB);
  const b = openSync(basisPath, 'w');
  for (let off = 0; off < bytes; off += chunk.length) {
    randomFillSync(chunk);
    writeSync(b, chunk, 0, Math.min(chunk.length, bytes - off));
  }
  closeSync(b);
  const src = openSync(basisPath, 'r');
  const dst = openSync(newPath, 'w');
  const insertAt = Math.floor(bytes * 0.4);
  const deleteAt = Math.floor(bytes * 0.7);
  let out = 0;
  for (let off = 0; off < bytes; ) {
    let n = readSync(src, chunk, 0, Math.min(chunk.length, bytes - off), off);
    if (off <= insertAt && insertAt < off + n) {
      writeSync(dst, chunk, 0, insertAt - off);
      writeSync(dst, randomFillSync(Buffer.alloc(1000)));
      writeSync(dst, chunk, insertAt - off, n - (insertAt - off));
    } else if (off <= deleteAt && deleteAt < off + n) {
      writeSync(dst, chunk, 0, deleteAt - off);
      writeSync(dst, chunk, Math.min(n, deleteAt - off + 5000), Math.max(0, n - (deleteAt - off + 5000)));
    } else {
      writeSync(dst, chunk, 0, n);
    }
    out += n;
    off += n;
    if (n === 0) break;
  }
  // 20 scattered 4 KiB overwrites, then 64 KiB appended.
  const patch = Buffer.alloc(4096);
  for (let i = 0; i < 20; i++) writeSync(dst, randomFillSync(patch), 0, patch.length, Math.floor(((i + 0.5) / 20) * (out - patch.length)));
  writeSync(dst, randomFillSync(Buffer.alloc(65536)), 0, 65536, statSync(newPath).size);
  closeSync(src);
  closeSync(dst);
}

async function sha256(file) {
  const h = createHash('sha256');
  for await (const c of createReadStream(file, { highWaterMark: MiB })) h.update(c);
  return h.digest('hex');
}

/** CPU ms (user + system) of the waited-for children of this process (Linux; NaN elsewhere). */
function childrenCpuMs() {
  try {
    const stat = readFileSync('/proc/self/stat', 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[13]) + Number(f[14])) * 1000) / CLK_TCK;
  } catch {
    return NaN;
  }
}
const CLK_TCK = (() => {
  try {
    return Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;
  } catch {
    return 100;
  }
})();

/** Wall-clock ms and CPU ms of `fn` (ours: this process; `child`: rdiff, a waited-for child). */
async function timed(fn, { child = false } = {}) {
  const t0 = process.hrtime.bigint();
  const c0 = child ? childrenCpuMs() : process.cpuUsage();
  await fn();
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  const c = child ? childrenCpuMs() - c0 : process.cpuUsage(c0);
  return { ms, cpu: child ? c : (c.user + c.system) / 1000 };
}

function rdiff(...args) {
  const r = spawnSync('rdiff', ['-f', ...args], { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`rdiff ${args.join(' ')}: ${r.stderr}`);
}

const ROUNDS = Math.max(1, Number(process.env.BENCH_RSYNC_ROUNDS ?? 5));
const median = (xs) => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};
/** Runs ours and rdiff's version once untimed, then ROUNDS times alternating; medians of wall and of CPU time. */
async function compare(ours, theirs) {
  await ours();
  theirs();
  const o = [];
  const t = [];
  for (let i = 0; i < ROUNDS; i++) {
    o.push(await timed(ours));
    t.push(await timed(theirs, { child: true }));
  }
  const med = (runs) => ({ ms: median(runs.map((r) => r.ms)), cpu: median(runs.map((r) => r.cpu)) });
  return [med(o), med(t)];
}

const rows = [];
const mbps = (bytes, ms) => (bytes / MiB / (ms / 1000)).toFixed(0);

try {
  process.stdout.write(`preparing ${size / MiB} MiB files in ${dir} ...\n`);
  makeFiles(f('basis'), f('new'), size);
  const newSize = statSync(f('new')).size;
  const params = rs.signatureParams(size);
  const sigArgs = ['-b', String(params.blockLen), '-S', String(params.strongLen)];

  const [tSigOurs, tSigRdiff] = await compare(
    () => rs.signatureFile(f('basis'), f('ours.sig')),
    () => rdiff(...sigArgs, 'signature', f('basis'), f('rdiff.sig')),
  );
  const sameSig = (await sha256(f('ours.sig'))) === (await sha256(f('rdiff.sig')));
  rows.push(['signature', size, tSigOurs, tSigRdiff]);

  const [tDeltaOurs, tDeltaRdiff] = await compare(
    () => rs.deltaFile(f('ours.sig'), f('new'), f('ours.delta')),
    () => rdiff('delta', f('ours.sig'), f('new'), f('rdiff.delta')),
  );
  rows.push(['delta', newSize, tDeltaOurs, tDeltaRdiff]);

  const [tPatchOurs, tPatchRdiff] = await compare(
    () => rs.patchFile(f('basis'), f('ours.delta'), f('ours.out')),
    () => rdiff('patch', f('basis'), f('ours.delta'), f('rdiff.out')),
  );
  rows.push(['patch', newSize, tPatchOurs, tPatchRdiff]);
  const want = await sha256(f('new'));
  const patchedOk = (await sha256(f('ours.out'))) === want && (await sha256(f('rdiff.out'))) === want;
  for (const n of ['ours.out', 'rdiff.out']) rmSync(f(n));

  process.stdout.write(`preparing ${bigSize / MiB} MiB files for the memory measurement ...\n`);
  rmSync(f('basis'));
  rmSync(f('new'));
  makeFiles(f('big.basis'), f('big.new'), bigSize);
  await rs.signatureFile(f('big.basis'), f('big.sig'));
  rmSync(f('big.basis'));
  // Ours: a fresh node process that loads the wrapper, then runs one delta.
  const child = spawnSync(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `const rs = await import(${JSON.stringify(pathToFileURL(wrapperPath).href)});
       rs.rsyncAvailable();
       const before = process.resourceUsage().maxRSS;
       await rs.deltaFile(${JSON.stringify(f('big.sig'))}, ${JSON.stringify(f('big.new'))}, ${JSON.stringify(f('big.delta'))});
       process.stdout.write(JSON.stringify({ before, after: process.resourceUsage().maxRSS }));`,
    ],
    { encoding: 'utf8' },
  );
  if (child.status !== 0) throw new Error(`memory probe failed: ${child.stderr}`);
  const mem = JSON.parse(child.stdout);
  // rdiff: max RSS of the child, if python3 can tell us.
  let rdiffRss = 'n/a';
  const py = spawnSync(
    'python3',
    ['-c', 'import resource,subprocess,sys; subprocess.run(sys.argv[1:], check=True); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)', 'rdiff', '-f', 'delta', f('big.sig'), f('big.new'), f('big.rdiff.delta')],
    { encoding: 'utf8' },
  );
  if (py.status === 0) rdiffRss = `${(Number(py.stdout.trim()) / 1024).toFixed(1)} MiB`;

  const info = rs.rsyncInfo();
  const pad = (s, n) => String(s).padStart(n);
  const lines = [
    '',
    `${info.librsyncVersion}, addon linked ${info.linkage}; ${os.cpus().length} CPUs (${os.cpus()[0]?.model ?? '?'}), load ${os.loadavg()[0].toFixed(2)}`,
    `file ${size / MiB} MiB random; new version: 1 insertion, 1 deletion, 20 overwrites, 64 KiB appended; medians of ${ROUNDS} runs each after a warm-up, ours and rdiff alternating`,
    `signature: block ${params.blockLen} B, strong sum ${params.strongLen} B, rabinkarp+blake2; identical to rdiff's: ${sameSig ? 'yes' : 'NO'}; patches correct: ${patchedOk ? 'yes' : 'NO'}`,
    '',
    `${'operation'.padEnd(10)} ${pad('ours ms', 9)} ${pad('MiB/s', 7)} ${pad('rdiff ms', 9)} ${pad('MiB/s', 7)}   ${pad('ours CPU ms', 11)} ${pad('MiB/CPU-s', 9)} ${pad('rdiff CPU ms', 12)} ${pad('MiB/CPU-s', 9)}`,
    ...rows.map(
      ([op, bytes, ours, theirs]) =>
        `${op.padEnd(10)} ${pad(ours.ms.toFixed(0), 9)} ${pad(mbps(bytes, ours.ms), 7)} ${pad(theirs.ms.toFixed(0), 9)} ${pad(mbps(bytes, theirs.ms), 7)}   ${pad(ours.cpu.toFixed(0), 11)} ${pad(mbps(bytes, ours.cpu), 9)} ${pad(theirs.cpu.toFixed(0), 12)} ${pad(mbps(bytes, theirs.cpu), 9)}`,
    ),
    '(MiB/CPU-s: bytes per CPU second, user + system time of all threads; steadier than wall-clock time on a loaded machine)',
    '',
    `peak RSS, delta of a ${bigSize / MiB} MiB file: ours ${(mem.after / 1024).toFixed(1)} MiB (node process after loading: ${(mem.before / 1024).toFixed(1)} MiB, +${((mem.after - mem.before) / 1024).toFixed(1)} MiB); rdiff ${rdiffRss}`,
    '',
  ];
  process.stdout.write(lines.join('\n'));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
