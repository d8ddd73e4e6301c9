// Where the agent keeps secrets (OAuth2 tokens, the machine's security key).
//
// SecretStore is the seam; openSecretStore() is the one factory everything that opens the
// secrets of a home uses (account.ts, daemon.ts, the control service). Which store it opens
// depends on who runs the agent (SecretsConfig):
//
//   - plain `axis-agent` (the default, source 'cli'): FileSecretStore, <home>/credentials.json;
//   - the desktop app (src/agent/service-entry.ts with AXIS_AGENT_SECRETS=parent): Electron
//     main hands over a 32-byte data key that it keeps sealed by safeStorage (docs/desktop.md
//     "Secrets"). With the key: EncryptedFileSecretStore, <home>/credentials.enc.json
//     (AES-256-GCM); a plaintext credentials.json found there is migrated into it and deleted.
//     Without a key (no keyring on this computer): FileSecretStore as the CLI.
//
// The service entry installs the app's config for its whole process (installSecretsConfig), so
// every store the agent opens there is the app's; tests pass a config explicitly.
//
// CAVEAT of FileSecretStore: credentials.json is PLAINTEXT JSON protected only by file
// permissions (0600, in a 0700 folder). Anyone who can read the file as this user (or as
// root / an administrator, or from a backup of the home folder) can use the tokens until they
// expire or are revoked (`axis-agent logout` revokes them). On Windows the POSIX mode is not
// enforced; the file inherits the ACL of %APPDATA% (private to the user by default).
// EncryptedFileSecretStore protects the disk (backups, copies of the home, other users): the
// key lives only in the OS keychain (sealed) and in the memory of the running app and agent.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { homePaths, readJsonFile, writeFileAtomic } from './home.js';

export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

export interface SecretStore {
  /** How the secrets are protected, for `axis-agent` diagnostics. */
  readonly protection: string;
  get(name: string): Promise<JsonValue | undefined>;
  set(name: string, value: JsonValue): Promise<void>;
  delete(name: string): Promise<void>;
  /**
   * Runs fn holding an exclusive lock shared by every process using this store (for
   * read-modify-write sequences such as a token refresh). Re-entrant within a process.
   */
  withLock<T>(fn: () => Promise<T>): Promise<T>;
}

type Secrets = Record<string, JsonValue>;

interface CredentialsFile {
  version: 1;
  secrets: Secrets;
}

const LOCK_STALE_MS = 30_000;
const LOCK_WAIT_MS = 15_000;

export const PLAINTEXT_PROTECTION = 'plaintext file readable only by this user (mode 0600)';
const ENCRYPTED_PROTECTION = 'encrypted (AES-256-GCM) with a key kept by the desktop app';

/** The exclusive lock of a store: one holder per process (a queue), one per machine (a lock file). */
class FileLock {
  private depth = 0;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(readonly file: string) {}

  run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.depth > 0) return fn();
    const run = async () => {
      await this.acquire();
      this.depth++;
      try {
        return await fn();
      } finally {
        this.depth--;
        await fsp.rm(this.file, { force: true });
      }
    };
    const p = this.queue.then(run, run);
    this.queue = p.catch(() => undefined);
    return p;
  }

  private async acquire(): Promise<void> {
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (;;) {
      try {
        const fh = await fsp.open(this.file, 'wx', 0o600);
        await fh.writeFile(`${process.pid}\n`);
        await fh.close();
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const st = await fsp.stat(this.file).catch(() => undefined);
      if (st && Date.now() - st.mtimeMs > LOCK_STALE_MS) {
        // Left behind by a process that died while holding it.
        await fsp.rm(this.file, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`${this.file} is held by another process; try again (or delete it if no agent is running)`);
      await sleep(50 + Math.floor(Math.random() * 50));
    }
  }
}

function isSecrets(v: unknown): v is Secrets {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Secrets in one JSON file (mode 0600). See the caveat at the top of this file. */
export class FileSecretStore implements SecretStore {
  private readonly lock: FileLock;

  constructor(
    readonly file: string,
    readonly lockFile: string = `${file}.lock`,
    readonly protection: string = PLAINTEXT_PROTECTION,
  ) {
    this.lock = new FileLock(lockFile);
  }

  private async read(): Promise<CredentialsFile> {
    const raw = await readJsonFile(this.file);
    if (raw === undefined) return { version: 1, secrets: {} };
    const r = raw as Partial<CredentialsFile>;
    if (r.version !== 1 || !isSecrets(r.secrets)) {
      throw new Error(`${this.file} has an unknown format; delete it and log in again`);
    }
    return { version: 1, secrets: r.secrets };
  }

  /** Every secret (the migration into an encrypted store). */
  async all(): Promise<Secrets> {
    return (await this.read()).secrets;
  }

  async get(name: string): Promise<JsonValue | undefined> {
    return (await this.read()).secrets[name];
  }

  async set(name: string, value: JsonValue): Promise<void> {
    const f = await this.read();
    f.secrets[name] = value;
    await writeFileAtomic(this.file, `${JSON.stringify(f, null, 2)}\n`, 0o600);
  }

  /** Removes a secret; the file itself goes away with the last one. */
  async delete(name: string): Promise<void> {
    const f = await this.read();
    if (!(name in f.secrets)) return;
    delete f.secrets[name];
    if (Object.keys(f.secrets).length === 0) await fsp.rm(this.file, { force: true });
    else await writeFileAtomic(this.file, `${JSON.stringify(f, null, 2)}\n`, 0o600);
  }

  withLock<T>(fn: () => Promise<T>): Promise<T> {
    return this.lock.run(fn);
  }
}

// ---- the encrypted store (desktop app) -------------------------------------------------------

/** <home>/credentials.enc.json */
export const ENCRYPTED_CREDENTIALS_FILE = 'credentials.enc.json';
export const DATA_KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const ALG = 'A256GCM';
/** Additional authenticated data: binds the ciphertext to this use and format version. */
const AAD = Buffer.from('axis-credentials-v1', 'utf8');
const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** What credentials.enc.json holds. */
export interface EncryptedCredentialsFile {
  version: 1;
  alg: 'A256GCM';
  /** base64 of the 12-byte GCM nonce (fresh for every write). */
  iv: string;
  /** base64 of the 16-byte GCM authentication tag. */
  tag: string;
  /** base64 of AES-256-GCM({"version": 1, "secrets": {…}}) under the data key, AAD "axis-credentials-v1". */
  data: string;
}

function decodeBase64(s: unknown, bytes?: number): Buffer | undefined {
  if (typeof s !== 'string' || !BASE64.test(s)) return undefined;
  const b = Buffer.from(s, 'base64');
  return bytes === undefined || b.length === bytes ? b : undefined;
}

function seal(key: Buffer, secrets: Secrets): EncryptedCredentialsFile {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(AAD);
  const plain = JSON.stringify({ version: 1, secrets } satisfies CredentialsFile);
  const data = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
  return { version: 1, alg: ALG, iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), data: data.toString('base64') };
}

/** The secrets of an encrypted file's text, or why it cannot be read. */
function unseal(key: Buffer, text: string): { secrets: Secrets } | { error: string } {
  let f: Partial<EncryptedCredentialsFile>;
  try {
    f = JSON.parse(text) as Partial<EncryptedCredentialsFile>;
  } catch {
    return { error: 'not valid JSON' };
  }
  if (typeof f !== 'object' || f === null || f.version !== 1 || f.alg !== ALG) return { error: 'unknown format' };
  const iv = decodeBase64(f.iv, IV_BYTES);
  const tag = decodeBase64(f.tag, TAG_BYTES);
  const data = decodeBase64(f.data);
  if (!iv || !tag || !data) return { error: 'unknown format' };
  let plain: string;
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    decipher.setAAD(AAD);
    decipher.setAuthTag(tag);
    plain = Buffer.concat([decipher.update(data), decipher.final()]).toString('utf8');
  } catch {
    return { error: 'it does not decrypt with this key (another key, or the file was altered)' };
  }
  try {
    const inner = JSON.parse(plain) as Partial<CredentialsFile>;
    if (inner.version === 1 && isSecrets(inner.secrets)) return { secrets: inner.secrets };
  } catch {
    // below
  }
  return { error: 'unknown format inside' };
}

function asideName(file: string): string {
  return `${file}.unreadable-${new Date().toISOString().replace(/[:.]/g, '-')}`;
}

export interface EncryptedStoreOptions {
  /** The lock file (shared with the plaintext store of the same home). */
  lockFile: string;
  /** A plaintext FileSecretStore file to move into this store (then deleted) whenever one is found. */
  migrateFrom?: string;
  /** For diagnostics (default: AES-256-GCM with the app's key). */
  protection?: string;
}

/**
 * Secrets in one file encrypted with AES-256-GCM under a 32-byte data key (docs/desktop.md
 * "Secrets"): a fresh random IV on every write, written atomically with mode 0600, the same lock
 * and semantics as FileSecretStore. A file that does not decrypt (another key, altered bytes) is
 * moved aside as `<file>.unreadable-<time>` and the store is empty from then on (`setAside`
 * lists what was moved, for the "sign in again" message).
 *
 * A plaintext `migrateFrom` file is only ever written by a process without the key (the CLI,
 * or the app without a keyring), so it is the newer of the two: it replaces the encrypted
 * content and is deleted.
 */
export class EncryptedFileSecretStore implements SecretStore {
  readonly protection: string;
  readonly lockFile: string;
  /** Files this store moved aside as unreadable (oldest first). */
  readonly setAside: string[] = [];
  private readonly key: Buffer;
  private readonly lock: FileLock;
  private readonly migrateFrom: string | undefined;

  constructor(
    readonly file: string,
    key: Uint8Array,
    o: EncryptedStoreOptions,
  ) {
    if (key.length !== DATA_KEY_BYTES) throw new Error(`the secrets key must be ${DATA_KEY_BYTES} bytes (got ${key.length})`);
    this.key = Buffer.from(key);
    this.lockFile = o.lockFile;
    this.lock = new FileLock(o.lockFile);
    this.migrateFrom = o.migrateFrom;
    this.protection = o.protection || ENCRYPTED_PROTECTION;
  }

  private async load(): Promise<{ secrets: Secrets } | { error: string }> {
    let text: string;
    try {
      text = await fsp.readFile(this.file, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { secrets: {} };
      throw err;
    }
    return unseal(this.key, text);
  }

  private async moveAside(file: string): Promise<void> {
    const aside = asideName(file);
    try {
      await fsp.rename(file, aside);
      this.setAside.push(aside);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }

  private async write(secrets: Secrets): Promise<void> {
    if (Object.keys(secrets).length === 0) await fsp.rm(this.file, { force: true });
    else await writeFileAtomic(this.file, `${JSON.stringify(seal(this.key, secrets), null, 2)}\n`, 0o600);
  }

  private async migrate(): Promise<void> {
    const plain = this.migrateFrom;
    if (!plain || !(await exists(plain))) return;
    await this.lock.run(async () => {
      if (!(await exists(plain))) return; // another process migrated it meanwhile
      let secrets: Secrets;
      try {
        secrets = await new FileSecretStore(plain, this.lockFile).all();
      } catch {
        // Damaged: nothing to migrate, but never delete what could still be read by hand.
        await this.moveAside(plain);
        return;
      }
      await this.write(secrets);
      await fsp.rm(plain, { force: true });
    });
  }

  private async read(): Promise<Secrets> {
    await this.migrate();
    const first = await this.load();
    if ('secrets' in first) return first.secrets;
    // Under the lock, and only if it still fails: a writer may have replaced it meanwhile.
    return this.lock.run(async () => {
      const again = await this.load();
      if ('secrets' in again) return again.secrets;
      await this.moveAside(this.file);
      return {};
    });
  }

  /**
   * Migrates and reads the store once: the file this call moved aside (it could not be
   * decrypted, or a plaintext file to migrate was damaged), if any.
   */
  async check(): Promise<string | undefined> {
    const before = this.setAside.length;
    await this.read();
    return this.setAside[before];
  }

  async get(name: string): Promise<JsonValue | undefined> {
    return (await this.read())[name];
  }

  async set(name: string, value: JsonValue): Promise<void> {
    const secrets = await this.read();
    secrets[name] = value;
    await this.write(secrets);
  }

  /** Removes a secret; the file itself goes away with the last one. */
  async delete(name: string): Promise<void> {
    const secrets = await this.read();
    if (!(name in secrets)) return;
    delete secrets[name];
    await this.write(secrets);
  }

  withLock<T>(fn: () => Promise<T>): Promise<T> {
    return this.lock.run(fn);
  }
}

async function exists(file: string): Promise<boolean> {
  return fsp.stat(file).then(
    () => true,
    () => false,
  );
}

// ---- which store: the factory ----------------------------------------------------------------

/**
 * Who runs the agent. 'cli': plain `axis-agent` (FileSecretStore). 'app': the desktop app's
 * agent, with the data key Electron main sent (null: no OS protection, FileSecretStore).
 */
export type SecretsConfig = { source: 'cli' } | { source: 'app'; key: Buffer | null; protection: string };

export const CLI_SECRETS: SecretsConfig = { source: 'cli' };

/** The environment variable the desktop app sets: wait for the parent's `secrets` message. */
export const SECRETS_ENV = 'AXIS_AGENT_SECRETS';
export const SECRETS_FROM_PARENT = 'parent';

/** What the CLI says about a home whose credentials only the desktop app can decrypt. */
export const APP_SECRETS_MESSAGE =
  "This agent home is used by the AXIS desktop app; its credentials are encrypted with the app's key. Use the app, or log in again with axis-agent login to use this home from the command line.";

/** What `axis-agent logout` says about such a home (it cannot revoke what it cannot read). */
export const APP_SECRETS_LOGOUT_MESSAGE =
  "This agent home is used by the AXIS desktop app; its credentials are encrypted with the app's key, so only the app can sign out: sign out in the app.";

/** The app without a key (no keyring now) finding the encrypted store of an earlier run. */
export const KEY_UNAVAILABLE_MESSAGE =
  "The saved sign-in is encrypted with a key kept in this computer's keyring, which is not available now. Sign in again (or make the keyring available and restart the app).";

let processConfig: SecretsConfig = CLI_SECRETS;

/** Makes `config` the default of every openSecretStore() of this process (the service entry, once). */
export function installSecretsConfig(config: SecretsConfig): void {
  processConfig = config;
}

/** The store of a home's secrets under `config` (default: what this process installed). */
export function openSecretStore(home: string, config: SecretsConfig = processConfig): SecretStore {
  const paths = homePaths(home);
  if (config.source === 'app' && config.key) {
    return new EncryptedFileSecretStore(path.join(home, ENCRYPTED_CREDENTIALS_FILE), config.key, {
      lockFile: paths.credentialsLock,
      migrateFrom: paths.credentials,
      protection: config.protection,
    });
  }
  return new FileSecretStore(paths.credentials, paths.credentialsLock, config.source === 'app' ? config.protection || PLAINTEXT_PROTECTION : PLAINTEXT_PROTECTION);
}

/** Whether the home's credentials are only in the app's encrypted store (and `config` has no key for it). */
export async function encryptedOnly(home: string, config: SecretsConfig = processConfig): Promise<boolean> {
  if (config.source === 'app' && config.key) return false;
  const paths = homePaths(home);
  return (await exists(path.join(home, ENCRYPTED_CREDENTIALS_FILE))) && !(await exists(paths.credentials));
}

/**
 * Opens the home's secrets once (migrating a plaintext file into the encrypted store) and says
 * why the user must sign in again, if there is a reason beyond "never logged in": the encrypted
 * file did not decrypt (moved aside), the CLI finding the app's encrypted credentials, or the
 * app without its key finding them.
 */
export async function secretsNotice(home: string, config: SecretsConfig = processConfig): Promise<string | undefined> {
  const store = openSecretStore(home, config);
  if (store instanceof EncryptedFileSecretStore) {
    const aside = await store.check();
    if (!aside) return undefined;
    return `The saved sign-in could not be read (the app's key changed, or the file was altered); it was set aside as ${path.basename(aside)}. Sign in again.`;
  }
  if (!(await encryptedOnly(home, config))) return undefined;
  return config.source === 'cli' ? APP_SECRETS_MESSAGE : KEY_UNAVAILABLE_MESSAGE;
}

/**
 * The config of Electron main's `{type: "secrets", key: <base64 of 32 bytes> | null, protection}`
 * message (src/main/agent-protocol.ts SecretsMessage). Throws on anything else.
 */
export function secretsConfigFromMessage(message: unknown): SecretsConfig {
  const m = message as { type?: unknown; key?: unknown; protection?: unknown } | null;
  if (typeof m !== 'object' || m === null || m.type !== 'secrets') throw new Error('not a secrets message');
  if (m.protection !== undefined && typeof m.protection !== 'string') throw new Error('the secrets message has no valid protection text');
  const protection = typeof m.protection === 'string' ? m.protection : '';
  if (m.key === null) return { source: 'app', key: null, protection };
  const key = decodeBase64(m.key, DATA_KEY_BYTES);
  if (!key) throw new Error(`the secrets message's key is not the base64 of ${DATA_KEY_BYTES} bytes`);
  return { source: 'app', key, protection };
}

/** Secrets in memory only (tests, and a login that has not succeeded yet). */
export class MemorySecretStore implements SecretStore {
  readonly protection = 'memory only';
  private readonly map = new Map<string, JsonValue>();

  async get(name: string): Promise<JsonValue | undefined> {
    return this.map.get(name);
  }

  async set(name: string, value: JsonValue): Promise<void> {
    this.map.set(name, value);
  }

  async delete(name: string): Promise<void> {
    this.map.delete(name);
  }

  async withLock<T>(fn: () => Promise<T>): Promise<T> {
    return fn();
  }
}
