// The machine identity of this agent (issue "Machine identity, admin policy…"): what it tells
// the server when it registers (guid, dns_name, os_type, os_version, agent_version), and the
// machine credentials it keeps instead of any password.
//
// The guid is a UUID derived from two inputs:
//   - the operating system's machine id (node-machine-id: /var/lib/dbus/machine-id or
//     /etc/machine-id on Linux — the host name when neither exists —, IOPlatformUUID on macOS,
//     MachineGuid on Windows), as node-machine-id hashes it;
//   - a random per-install id kept in <home>/machine.json.
// The install id is the tie-breaker for cloned images, which share the OS machine id: each
// agent home has its own install id, so two agents never share a guid. machine.json also
// records (a hash of) the machine id it was made on: a home copied to another machine gets a
// new install id there, hence a new guid, and must log in again — the copied machine
// credentials belong to the original machine.
// AXIS_MACHINE_GUID (a UUID) overrides all of this (tests; images whose machine id cannot be
// trusted).
import { createHash, randomUUID } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import machineIdModule from 'node-machine-id';
import { z } from 'zod';
import type { MachineCredentials } from '../api/client.js';
import { ensureHome, readJsonFile, writeFileAtomic } from './home.js';
import type { SecretStore } from './secrets.js';

export const MACHINE_GUID_ENV = 'AXIS_MACHINE_GUID';
/** The SecretStore entry with the machine credentials. */
export const MACHINE_SECRET = 'machine';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export type OsType = 'win' | 'osx' | 'linux';

export interface MachineIdentity {
  guid: string;
  dnsName: string;
  osType: OsType;
  osVersion: string;
  agentVersion: string;
  /** Where the guid came from. */
  source: 'override' | 'machine-id' | 'install-id';
}

const InstallRecordSchema = z.object({
  version: z.literal(1),
  install_id: z.string().regex(UUID),
  /** SHA-256 (hex) of the OS machine id this install was made on; null when it could not be read. */
  machine: z.string().nullable(),
});
type InstallRecord = z.infer<typeof InstallRecordSchema>;

export function installRecordPath(home: string): string {
  return path.join(home, 'machine.json');
}

/** The OS machine id as node-machine-id hashes it (SHA-256 hex), hashed once more; null when unreadable. */
export function osMachineHash(): string | null {
  try {
    const id = machineIdModule.machineIdSync();
    return typeof id === 'string' && id.length > 0 ? createHash('sha256').update(`axis-agent:${id}`).digest('hex') : null;
  } catch {
    return null;
  }
}

/** A UUID (RFC 9562 version 8 layout) from the machine hash and the install id. */
export function guidFrom(machineHash: string | null, installId: string): string {
  const h = createHash('sha256').update(`axis-machine-guid\u0000${machineHash ?? ''}\u0000${installId.toLowerCase()}`).digest();
  h[6] = (h[6]! & 0x0f) | 0x80;
  h[8] = (h[8]! & 0x3f) | 0x80;
  const x = h.subarray(0, 16).toString('hex');
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20, 32)}`;
}

export function osTypeOf(platform: NodeJS.Platform = process.platform): OsType {
  return platform === 'win32' ? 'win' : platform === 'darwin' ? 'osx' : 'linux';
}

export function osVersionString(): string {
  const v = process.platform === 'win32' ? os.version() : `${os.type()} ${os.release()}`;
  return (v || os.release() || 'unknown').slice(0, 255);
}

export function isUuid(s: string): boolean {
  return UUID.test(s);
}

export interface IdentityOptions {
  env?: NodeJS.ProcessEnv;
  agentVersion: string;
  /** For tests: the machine hash instead of node-machine-id's. */
  machineHash?: () => string | null;
}

/**
 * This install's record (made, or renewed when it was made on another machine). `renew`
 * forces a new install id (the server refused the guid: it belongs to someone else).
 */
async function installRecord(home: string, machineHash: string | null, renew: boolean): Promise<InstallRecord> {
  const file = installRecordPath(home);
  if (!renew) {
    const raw = await readJsonFile(file).catch(() => undefined);
    const r = InstallRecordSchema.safeParse(raw);
    if (r.success && r.data.machine === machineHash) return r.data;
  }
  const rec: InstallRecord = { version: 1, install_id: randomUUID(), machine: machineHash };
  await ensureHome(home);
  await writeFileAtomic(file, `${JSON.stringify(rec, null, 2)}\n`, 0o600);
  return rec;
}

/** The identity this agent registers with (see the top of this file). */
export async function machineIdentity(home: string, opts: IdentityOptions, renew = false): Promise<MachineIdentity> {
  const env = opts.env ?? process.env;
  const base = {
    dnsName: (os.hostname() || 'unknown').slice(0, 255),
    osType: osTypeOf(),
    osVersion: osVersionString(),
    agentVersion: opts.agentVersion.slice(0, 255),
  };
  const override = env[MACHINE_GUID_ENV]?.trim();
  if (override) {
    if (!isUuid(override)) throw new Error(`${MACHINE_GUID_ENV} must be a UUID such as 794f7f67-3bd6-407c-9274-be735b880143 (got ${JSON.stringify(override)})`);
    return { guid: override.toLowerCase(), ...base, source: 'override' };
  }
  const machineHash = (opts.machineHash ?? osMachineHash)();
  const rec = await installRecord(home, machineHash, renew);
  return { guid: guidFrom(rec.machine, rec.install_id), ...base, source: machineHash ? 'machine-id' : 'install-id' };
}

// ---- the machine credentials in the SecretStore ----------------------------------------------

const StoredMachineSchema = z.object({
  guid: z.string().regex(UUID),
  machine_id: z.int().positive(),
  security_key: z.string().min(1),
  /** The server the key belongs to. */
  server: z.string(),
});

export interface StoredMachine {
  guid: string;
  machineId: number;
  securityKey: string;
  server: string;
}

export async function loadMachineSecret(secrets: SecretStore): Promise<StoredMachine | undefined> {
  const r = StoredMachineSchema.safeParse(await secrets.get(MACHINE_SECRET));
  if (!r.success) return undefined;
  return { guid: r.data.guid, machineId: r.data.machine_id, securityKey: r.data.security_key, server: r.data.server };
}

export async function saveMachineSecret(secrets: SecretStore, m: StoredMachine): Promise<void> {
  await secrets.set(MACHINE_SECRET, { guid: m.guid, machine_id: m.machineId, security_key: m.securityKey, server: m.server });
}

/** For AxisClientOptions.machine: the stored credentials, when they belong to `server`. */
export function machineCredentialsFor(secrets: SecretStore, server: string): () => Promise<MachineCredentials | undefined> {
  return async () => {
    const m = await loadMachineSecret(secrets);
    return m && m.server === server ? { guid: m.guid, securityKey: m.securityKey } : undefined;
  };
}
