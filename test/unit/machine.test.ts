// Machine identity (src/agent/machine.ts), the health report schedule (src/agent/health.ts) and
// the space-quota gate before uploads (src/engine/quota.ts): real files in a temp home, no server.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { healthPeriod, nextHealthDelayMs } from '../../src/agent/health.js';
import { guidFrom, installRecordPath, isUuid, MACHINE_GUID_ENV, machineIdentity, osMachineHash, osTypeOf } from '../../src/agent/machine.js';
import type { Operation, UploadOp } from '../../src/core/operations.js';
import type { RemoteEntry, Trees } from '../../src/core/tree.js';
import { withinSpaceLeft } from '../../src/engine/quota.js';

const tmp = mkdtempSync(path.join(os.tmpdir(), 'axis-machine-unit-'));
let n = 0;
const newHome = () => path.join(tmp, `home-${++n}`);
const UUID_V8 = /^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const opts = (machine: string | null, env: NodeJS.ProcessEnv = {}) => ({ env, agentVersion: '1.2.3', machineHash: () => machine });

afterAll(() => rmSync(tmp, { recursive: true, force: true }));

describe('machine identity', () => {
  it('the guid is a UUID made from the machine id and the install id, stable for the same pair', () => {
    const a = guidFrom('m'.repeat(64), '11111111-2222-4333-8444-555555555555');
    expect(a).toMatch(UUID_V8);
    expect(isUuid(a)).toBe(true);
    expect(guidFrom('m'.repeat(64), '11111111-2222-4333-8444-555555555555')).toBe(a);
    expect(guidFrom('n'.repeat(64), '11111111-2222-4333-8444-555555555555')).not.toBe(a);
    expect(guidFrom('m'.repeat(64), '11111111-2222-4333-8444-555555555556')).not.toBe(a);
    expect(guidFrom(null, '11111111-2222-4333-8444-555555555555')).toMatch(UUID_V8);
  });

  it('node-machine-id answers on this machine (hashed, never the raw id)', () => {
    const h = osMachineHash();
    expect(h).toMatch(/^[0-9a-f]{64}$/);
    expect(osMachineHash()).toBe(h);
  });

  it('is stable across runs of one home; two homes on one machine (cloned images) differ', async () => {
    const home = newHome();
    const first = await machineIdentity(home, opts('a'.repeat(64)));
    expect(first).toMatchObject({ source: 'machine-id', agentVersion: '1.2.3', dnsName: os.hostname(), osType: osTypeOf() });
    expect(first.osVersion.length).toBeGreaterThan(0);
    expect((await machineIdentity(home, opts('a'.repeat(64)))).guid).toBe(first.guid);
    const rec = JSON.parse(readFileSync(installRecordPath(home), 'utf8'));
    expect(rec).toEqual({ version: 1, install_id: expect.any(String), machine: 'a'.repeat(64) });
    expect(guidFrom('a'.repeat(64), rec.install_id)).toBe(first.guid);

    const other = await machineIdentity(newHome(), opts('a'.repeat(64)));
    expect(other.guid).not.toBe(first.guid);
  });

  it('a home copied to another machine gets a new install id there (and keeps it)', async () => {
    const home = newHome();
    const here = await machineIdentity(home, opts('a'.repeat(64)));
    const before = JSON.parse(readFileSync(installRecordPath(home), 'utf8'));
    const there = await machineIdentity(home, opts('b'.repeat(64)));
    const after = JSON.parse(readFileSync(installRecordPath(home), 'utf8'));
    expect(there.guid).not.toBe(here.guid);
    expect(after.install_id).not.toBe(before.install_id);
    expect(after.machine).toBe('b'.repeat(64));
    expect((await machineIdentity(home, opts('b'.repeat(64)))).guid).toBe(there.guid);
  });

  it('renew (a guid taken by another account) draws a new install id', async () => {
    const home = newHome();
    const a = await machineIdentity(home, opts('a'.repeat(64)));
    const b = await machineIdentity(home, opts('a'.repeat(64)), true);
    expect(b.guid).not.toBe(a.guid);
    expect((await machineIdentity(home, opts('a'.repeat(64)))).guid).toBe(b.guid);
  });

  it('without a readable machine id the install id alone decides', async () => {
    const home = newHome();
    const a = await machineIdentity(home, opts(null));
    expect(a.source).toBe('install-id');
    expect((await machineIdentity(home, opts(null))).guid).toBe(a.guid);
  });

  it('a damaged machine.json is replaced', async () => {
    const home = newHome();
    const a = await machineIdentity(home, opts('a'.repeat(64)));
    writeFileSync(installRecordPath(home), '{"version":1,"install_id":"nope"}');
    const b = await machineIdentity(home, opts('a'.repeat(64)));
    expect(b.guid).not.toBe(a.guid);
    expect(isUuid(JSON.parse(readFileSync(installRecordPath(home), 'utf8')).install_id)).toBe(true);
  });

  it(`${MACHINE_GUID_ENV} overrides the guid (lower-cased) and must be a UUID`, async () => {
    const home = newHome();
    const id = await machineIdentity(home, opts('a'.repeat(64), { [MACHINE_GUID_ENV]: '794F7F67-3BD6-407C-9274-BE735B880143' }));
    expect(id).toMatchObject({ guid: '794f7f67-3bd6-407c-9274-be735b880143', source: 'override' });
    await expect(machineIdentity(home, opts('a'.repeat(64), { [MACHINE_GUID_ENV]: 'not-a-uuid' }))).rejects.toThrow(/must be a UUID/);
  });

  it('os_type is win, osx or linux', () => {
    expect(osTypeOf('win32')).toBe('win');
    expect(osTypeOf('darwin')).toBe('osx');
    expect(osTypeOf('linux')).toBe('linux');
    expect(osTypeOf('freebsd')).toBe('linux');
  });
});

describe('health report period', () => {
  it('agent default 10–20 minutes when the machine says nothing', () => {
    expect(healthPeriod(undefined)).toEqual({ minMinutes: 10, maxMinutes: 20, avgMinutes: 15 });
    expect(healthPeriod({ health_report_period_minutes: null, health_report_period_minutes_min: null, health_report_period_minutes_max: null })).toEqual({
      minMinutes: 10,
      maxMinutes: 20,
      avgMinutes: 15,
    });
  });

  it('derives what is missing', () => {
    expect(healthPeriod({ health_report_period_minutes_min: 1, health_report_period_minutes_max: 2 })).toEqual({ minMinutes: 1, maxMinutes: 2, avgMinutes: 1.5 });
    expect(healthPeriod({ health_report_period_minutes: 10 })).toEqual({ minMinutes: 5, maxMinutes: 15, avgMinutes: 10 });
    expect(healthPeriod({ health_report_period_minutes_min: 4 })).toEqual({ minMinutes: 4, maxMinutes: 8, avgMinutes: 6 });
    expect(healthPeriod({ health_report_period_minutes_max: 4 })).toEqual({ minMinutes: 2, maxMinutes: 4, avgMinutes: 3 });
    expect(healthPeriod({ health_report_period_minutes: 30, health_report_period_minutes_min: 5, health_report_period_minutes_max: 10 })).toEqual({
      minMinutes: 5,
      maxMinutes: 10,
      avgMinutes: 10,
    });
  });

  it('delays stay within [min, max] and average around the average', () => {
    const p = { minMinutes: 2, maxMinutes: 10, avgMinutes: 4 };
    let seed = 42;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const samples = Array.from({ length: 20_000 }, () => nextHealthDelayMs(p, 1_000, random));
    expect(Math.min(...samples)).toBeGreaterThanOrEqual(2_000);
    expect(Math.max(...samples)).toBeLessThanOrEqual(10_000);
    const mean = samples.reduce((a, b) => a + b, 0) / samples.length;
    expect(Math.abs(mean - 4_000)).toBeLessThan(100);
    // Spread out, not one fixed value.
    expect(new Set(samples.map((s) => Math.round(s / 1000))).size).toBeGreaterThan(5);
    expect(nextHealthDelayMs({ minMinutes: 3, maxMinutes: 3, avgMinutes: 3 }, 1_000)).toBe(3_000);
    expect(nextHealthDelayMs(p, 1_000, () => 0)).toBe(2_000);
    expect(nextHealthDelayMs(p, 1_000, () => 1)).toBe(10_000);
  });
});

describe('space left before uploading', () => {
  const upload = (p: string, size: number, remoteId: number | null = null): UploadOp => ({
    type: 'upload',
    reason: remoteId === null ? 'new' : 'modified',
    localPath: p,
    expectLocal: { fileId: p, sha256: 'x', size, mtime: 0 },
    remoteId,
    baseRevisionId: remoteId === null ? null : 1,
    remoteParentId: null,
    name: p,
    remotePath: p,
    synced: { path: p, replaces: null },
  });
  const remote: RemoteEntry = { path: 'old.bin', kind: 'file', id: 7, revisionId: 1, size: 900, sha256: 'y' };
  const trees: Trees = { remote: new Map([['old.bin', remote]]), local: new Map(), synced: new Map() };

  it('admits uploads in plan order while they fit; the rest become warnings', () => {
    const ops: Operation[] = [upload('a.bin', 600), upload('b.bin', 500), upload('c.bin', 300), upload('old.bin', 1000, 7)];
    const out = withinSpaceLeft(ops, 1000, trees);
    expect(out.map((o) => (o.type === 'warning' ? `warn ${o.path} ${o.code}` : o.type === 'upload' ? `upload ${o.localPath}` : o.type))).toEqual([
      'upload a.bin',
      'warn b.bin tooLarge',
      'upload c.bin',
      // a new revision needs only what it adds: 1000 - 900 = 100 bytes
      'upload old.bin',
    ]);
    const w = out[1]!;
    expect(w.type === 'warning' && w.message).toContain('space quota');
  });

  it('no quota known: nothing changes', () => {
    const ops: Operation[] = [upload('a.bin', 10 ** 12)];
    expect(withinSpaceLeft(ops, null, trees)).toBe(ops);
    expect(withinSpaceLeft(ops, undefined, trees)).toBe(ops);
  });
});
