// Where the agent keeps secrets (OAuth2 tokens; later machine credentials).
//
// SecretStore is the seam: the plain-Node agent (CLI, headless file servers) uses
// FileSecretStore; the desktop app can plug in a store backed by Electron's safeStorage
// (encrypting each value with the OS keychain / DPAPI / libsecret) without the engine
// knowing. Passwords are never stored by anyone: login exchanges them for tokens.
//
// CAVEAT of FileSecretStore: <home>/credentials.json is PLAINTEXT JSON protected only by file
// permissions (0600, in a 0700 folder). Anyone who can read the file as this user (or as
// root / an administrator, or from a backup of the home folder) can use the tokens until they
// expire or are revoked (`axis-agent logout` revokes them). On Windows the POSIX mode is not
// enforced; the file inherits the ACL of %APPDATA% (private to the user by default).
import { promises as fsp } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { readJsonFile, writeFileAtomic } from './home.js';

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

interface CredentialsFile {
  version: 1;
  secrets: Record<string, JsonValue>;
}

const LOCK_STALE_MS = 30_000;
const LOCK_WAIT_MS = 15_000;

/** Secrets in one JSON file (mode 0600). See the caveat at the top of this file. */
export class FileSecretStore implements SecretStore {
  readonly protection = 'plaintext file readable only by this user (mode 0600)';
  private lockDepth = 0;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(
    readonly file: string,
    readonly lockFile: string = `${file}.lock`,
  ) {}

  private async read(): Promise<CredentialsFile> {
    const raw = await readJsonFile(this.file);
    if (raw === undefined) return { version: 1, secrets: {} };
    const r = raw as Partial<CredentialsFile>;
    if (r.version !== 1 || !r.secrets || typeof r.secrets !== 'object' || Array.isArray(r.secrets)) {
      throw new Error(`${this.file} has an unknown format; delete it and log in again`);
    }
    return { version: 1, secrets: r.secrets };
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

  async withLock<T>(fn: () => Promise<T>): Promise<T> {
    if (this.lockDepth > 0) return fn();
    // One holder per process (queue), one per machine (lock file created exclusively).
    const run = async () => {
      await this.acquire();
      this.lockDepth++;
      try {
        return await fn();
      } finally {
        this.lockDepth--;
        await fsp.rm(this.lockFile, { force: true });
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
        const fh = await fsp.open(this.lockFile, 'wx', 0o600);
        await fh.writeFile(`${process.pid}\n`);
        await fh.close();
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      const st = await fsp.stat(this.lockFile).catch(() => undefined);
      if (st && Date.now() - st.mtimeMs > LOCK_STALE_MS) {
        // Left behind by a process that died while holding it.
        await fsp.rm(this.lockFile, { force: true });
        continue;
      }
      if (Date.now() > deadline) throw new Error(`${this.lockFile} is held by another process; try again (or delete it if no agent is running)`);
      await sleep(50 + Math.floor(Math.random() * 50));
    }
  }
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
