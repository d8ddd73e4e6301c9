// Delta transfers end to end: an edit of 4 KiB in the middle of a large file and 100 bytes
// inserted near its start travel as librsync deltas both ways (agent A uploads a delta, agent
// B downloads one), both files end byte-identical, and the payload bytes are recorded.
// Size: 256 MiB as the issue asks (AXIS_DELTA_E2E_MB overrides it for quick local runs).
import { createHash, randomFillSync } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rsyncAvailable } from '../../src/native/librsync.js';
import { eventually, type TestAgent } from '../helpers/agents.js';
import { startAgentPair, type AgentPair } from '../helpers/pair.js';
import type { TestServer } from '../helpers/server.js';

const MB = Number(process.env.AXIS_DELTA_E2E_MB ?? 256);
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let t: TestServer;
let a: TestAgent;
let b: TestAgent;

/**
 * Waits until B's copy of big.bin hashes to `want`. Hashing 256 MiB is costly, so it is done
 * only when the size already matches (the in-process server shares this process's CPU).
 */
async function arrived(agent: TestAgent, want: string, size: number, timeoutMs: number): Promise<void> {
  await eventually(
    () => {
      try {
        return statSync(agent.file('big.bin')).size === size && sha(readFileSync(agent.file('big.bin'))) === want;
      } catch {
        return false;
      }
    },
    timeoutMs,
    `big.bin to arrive on ${agent.name}`,
  );
}

let pair: AgentPair | undefined;

beforeAll(async () => {
  expect(rsyncAvailable(), 'the librsync addon must be built (npm install builds it)').toBe(true);
  pair = await startAgentPair(['da', 'db']);
  ({ t, a, b } = pair);
}, 60_000);

afterAll(async () => {
  await pair?.stop();
});

describe(`delta transfer of a ${MB} MiB file`, () => {
  it('uploads and downloads deltas for a small edit, and both files are byte-identical', async () => {
    const v1 = Buffer.allocUnsafe(MB * 1024 * 1024);
    randomFillSync(v1);
    let t0 = Date.now();
    await writeFile(a.file('big.bin'), v1);
    await arrived(b, sha(v1), v1.length, 300_000);
    await Promise.all([a.waitIdle(120_000), b.waitIdle(120_000)]);
    console.log(`initial transfer took ${Date.now() - t0} ms`);
    t0 = Date.now();
    expect(sha(readFileSync(b.file('big.bin')))).toBe(sha(v1));
    const before = [(await a.status()).roots[0]!, (await b.status()).roots[0]!];

    const mid = Math.floor(v1.length / 2);
    const edit = Buffer.allocUnsafe(4096);
    randomFillSync(edit);
    const inserted = Buffer.alloc(100, 0x41);
    const v2 = Buffer.concat([v1.subarray(0, 1000), inserted, v1.subarray(1000, mid), edit, v1.subarray(mid + 4096)]);
    await writeFile(a.file('big.bin'), v2);
    const want = sha(v2);
    await arrived(b, want, v2.length, 300_000);
    console.log(`edit reached beta after ${Date.now() - t0} ms`);
    await Promise.all([a.waitIdle(120_000), b.waitIdle(120_000)]);
    expect(sha(readFileSync(a.file('big.bin')))).toBe(want);

    const [sa, sb] = [(await a.status()).roots[0]!, (await b.status()).roots[0]!];
    const up = sa.bytes_up - before[0]!.bytes_up;
    const down = sb.bytes_down - before[1]!.bytes_down;
    const rev = t.server.ctx.db.prepare(`SELECT delta_size, file_size FROM revisions ORDER BY id DESC LIMIT 1`).get() as { delta_size: number | null; file_size: number };
    // Recorded for docs/benchmarks.md (rsync moves about 230 KB both ways for this edit).
    console.log(`delta e2e (${MB} MiB): upload ${up} B (server delta_size ${rev.delta_size}), download ${down} B`);
    expect(sa.delta_uploads - before[0]!.delta_uploads).toBe(1);
    expect(sb.delta_downloads - before[1]!.delta_downloads).toBe(1);
    expect(rev.file_size).toBe(v2.length);
    expect(rev.delta_size).toBe(up);
    expect(up).toBeLessThan(64 * 1024);
    expect(down).toBeLessThan(64 * 1024);
  }, 400_000);
});
