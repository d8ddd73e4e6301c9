// Delta transfers of a mid-size file (2 MiB): the agents keep no signature of such files
// (only files of LOCAL_SIGNATURE_MIN and more keep one), so an edit is uploaded as a delta
// against the base's signature fetched from the server, and downloaded as a delta the server
// computes. Both directions, both agents; the files end byte-identical and no local signature
// is written. Real agents, real server, real librsync.
import { createHash, randomFillSync } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rsyncAvailable } from '../../src/native/librsync.js';
import { LOCAL_SIGNATURE_MIN } from '../../src/engine/transfer.js';
import { eventually, type TestAgent } from '../helpers/agents.js';
import { startAgentPair, type AgentPair } from '../helpers/pair.js';
import type { TestServer } from '../helpers/server.js';

const SIZE = 2 * 1024 * 1024;
const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

let t: TestServer;
let a: TestAgent;
let b: TestAgent;
let pair: AgentPair | undefined;

async function arrived(agent: TestAgent, want: Buffer): Promise<void> {
  await eventually(
    () => {
      try {
        return statSync(agent.file('mid.bin')).size === want.length && sha(readFileSync(agent.file('mid.bin'))) === sha(want);
      } catch {
        return false;
      }
    },
    60_000,
    `mid.bin to arrive on ${agent.name}`,
  );
}

/** Signature files the agent keeps (none for files under LOCAL_SIGNATURE_MIN). */
function keptSignatures(agent: TestAgent): string[] {
  const dir = path.join(agent.home, 'signatures');
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(path.join(d, e.name));
      else if (e.name.endsWith('.sig')) out.push(path.join(d, e.name));
    }
  };
  walk(dir);
  return out;
}

function editMiddle(v: Buffer): Buffer {
  const mid = Math.floor(v.length / 2);
  const edit = Buffer.allocUnsafe(4096);
  randomFillSync(edit);
  return Buffer.concat([v.subarray(0, mid), edit, v.subarray(mid + 4096)]);
}

beforeAll(async () => {
  expect(rsyncAvailable(), 'the librsync addon must be built (npm install builds it)').toBe(true);
  expect(SIZE).toBeLessThan(LOCAL_SIGNATURE_MIN);
  pair = await startAgentPair(['ma', 'mb']);
  ({ t, a, b } = pair);
}, 60_000);

afterAll(async () => {
  await pair?.stop();
});

describe('delta transfer of a 2 MiB file (server-side signatures)', () => {
  it('edits travel as deltas both ways, with no signature kept by the agents', async () => {
    const v1 = Buffer.allocUnsafe(SIZE);
    randomFillSync(v1);
    await writeFile(a.file('mid.bin'), v1);
    await arrived(b, v1);
    await Promise.all([a.waitIdle(60_000), b.waitIdle(60_000)]);

    // A edits: a delta upload against the server's signature of the base, a delta download on B.
    let before = [(await a.status()).roots[0]!, (await b.status()).roots[0]!];
    const v2 = editMiddle(v1);
    await writeFile(a.file('mid.bin'), v2);
    await arrived(b, v2);
    await Promise.all([a.waitIdle(60_000), b.waitIdle(60_000)]);
    let [sa, sb] = [(await a.status()).roots[0]!, (await b.status()).roots[0]!];
    expect(sa.delta_uploads - before[0]!.delta_uploads).toBe(1);
    expect(sb.delta_downloads - before[1]!.delta_downloads).toBe(1);
    const up = sa.bytes_up - before[0]!.bytes_up;
    const rev = t.server.ctx.db.prepare(`SELECT delta_size, file_size FROM revisions ORDER BY id DESC LIMIT 1`).get() as { delta_size: number | null; file_size: number };
    expect(rev.file_size).toBe(SIZE);
    expect(rev.delta_size).toBe(up);
    expect(up).toBeLessThan(64 * 1024);
    // The signature came from the server: a few percent of the file, far less than the file.
    const sigDown = sa.bytes_down - before[0]!.bytes_down;
    expect(sigDown).toBeGreaterThan(0);
    expect(sigDown).toBeLessThan(SIZE / 10);

    // B edits the copy it downloaded: the same the other way round.
    before = [sa, sb];
    const v3 = editMiddle(v2);
    await writeFile(b.file('mid.bin'), v3);
    await arrived(a, v3);
    await Promise.all([a.waitIdle(60_000), b.waitIdle(60_000)]);
    [sa, sb] = [(await a.status()).roots[0]!, (await b.status()).roots[0]!];
    expect(sb.delta_uploads - before[1]!.delta_uploads).toBe(1);
    expect(sa.delta_downloads - before[0]!.delta_downloads).toBe(1);
    expect(sb.bytes_up - before[1]!.bytes_up).toBeLessThan(64 * 1024);

    expect(keptSignatures(a)).toEqual([]);
    expect(keptSignatures(b)).toEqual([]);
  }, 180_000);
});
