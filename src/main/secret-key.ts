// The main-process side of the agent's secrets under Electron (docs/desktop.md "Secrets").
//
// Envelope encryption: a random 256-bit data key encrypts the agent's secrets file
// (AES-256-GCM, done by the agent); the data key itself is stored only sealed by Electron's
// safeStorage (macOS Keychain, Windows DPAPI, libsecret/KWallet) in <home>/credentials.key.
// Only the main process can unseal it (safeStorage exists in main only); it hands the key to
// the agent over the utility-process message channel ({type: 'secrets', key, protection}).
// Where the OS offers no real protection (Linux with the basic_text backend) no key is made and
// the agent keeps its plaintext 0600 file.
import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';

/** What main.ts wraps Electron's safeStorage in (and tests replace by another cipher). */
export interface Sealer {
  seal(plain: string): Promise<Buffer>;
  unseal(sealed: Buffer): Promise<{ plain: string; reseal: boolean }>;
}

export const KEY_FILE_NAME = 'credentials.key';
export const DATA_KEY_BYTES = 32;

export interface SealedKeyFile {
  version: 1;
  /** safeStorage output, base64. */
  sealed: string;
  created: string;
}

export interface Protection {
  /** Whether safeStorage protects anything here. */
  usable: boolean;
  /** For diagnostics: what protects the agent's secrets. */
  description: string;
}

/**
 * Whether safeStorage is worth using: always on macOS and Windows when available, on Linux only
 * with a real keyring (basic_text encrypts with a fixed, public password).
 */
export function protectionFor(platform: NodeJS.Platform, available: boolean, linuxBackend: string | undefined): Protection {
  const plain = 'plaintext file readable only by this user (mode 0600)';
  if (!available) return { usable: false, description: `${plain}; the OS offers no encryption to this app` };
  if (platform === 'darwin') return { usable: true, description: 'encrypted with a key kept in the macOS Keychain' };
  if (platform === 'win32') return { usable: true, description: 'encrypted with a key protected by Windows DPAPI' };
  switch (linuxBackend) {
    case 'gnome_libsecret':
      return { usable: true, description: 'encrypted with a key kept in the Secret Service (libsecret)' };
    case 'kwallet':
    case 'kwallet5':
    case 'kwallet6':
      return { usable: true, description: 'encrypted with a key kept in KWallet' };
    default:
      return { usable: false, description: `${plain}; no keyring found (safeStorage backend ${linuxBackend ?? 'unknown'})` };
  }
}

async function writeAtomic(file: string, text: string): Promise<void> {
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  await fsp.writeFile(tmp, text, { mode: 0o600, flag: 'wx' });
  try {
    await fsp.chmod(tmp, 0o600);
    await fsp.rename(tmp, file);
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw err;
  }
}

function parseKeyFile(text: string): SealedKeyFile | undefined {
  try {
    const v = JSON.parse(text) as Partial<SealedKeyFile>;
    if (v.version === 1 && typeof v.sealed === 'string' && typeof v.created === 'string') return v as SealedKeyFile;
  } catch {
    // fall through
  }
  return undefined;
}

export interface DataKey {
  /** 32 bytes, base64: what the SecretsMessage carries. */
  key: string;
  /** True when this call made a new key (first run, or the old one could not be unsealed). */
  created: boolean;
  /** Where an unreadable old key file was moved, if that happened. */
  setAside?: string;
}

/** The key file exists but cannot be unsealed (and replaceUnreadable was not given). */
export class DataKeyUnreadable extends Error {
  constructor(readonly file: string) {
    super(`${file} cannot be unsealed with this user's keychain`);
    this.name = 'DataKeyUnreadable';
  }
}

export interface LoadKeyOptions {
  /**
   * What to do with a key file that cannot be unsealed: throw DataKeyUnreadable (default: the
   * keychain may only be locked or the user said no to its prompt; try again later), or move
   * it aside and make a new key (the old secrets are then lost: sign in again).
   */
  replaceUnreadable?: boolean;
  now?: () => Date;
}

/**
 * Unseals the data key from `file`, or makes, seals and stores a new one. A key file that can
 * no longer be unsealed (keychain reset, home copied to another machine) is refused, or with
 * replaceUnreadable moved aside and replaced: the agent then cannot read its old secrets and
 * asks the user to sign in again. A malformed file is always replaced.
 */
export async function loadOrCreateDataKey(file: string, sealer: Sealer, opts: LoadKeyOptions = {}): Promise<DataKey> {
  const now = opts.now ?? (() => new Date());
  const text = await fsp.readFile(file, 'utf8').catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return undefined;
    throw err;
  });
  let setAside: string | undefined;
  if (text !== undefined) {
    const parsed = parseKeyFile(text);
    let plain: { plain: string; reseal: boolean } | undefined;
    if (parsed) plain = await sealer.unseal(Buffer.from(parsed.sealed, 'base64')).catch(() => undefined);
    if (plain && Buffer.from(plain.plain, 'base64').length === DATA_KEY_BYTES) {
      if (plain.reseal) await store(file, plain.plain, sealer, parsed!.created);
      return { key: plain.plain, created: false };
    }
    if (parsed && !plain && !opts.replaceUnreadable) throw new DataKeyUnreadable(file);
    setAside = `${file}.unreadable-${now().toISOString().replace(/[:.]/g, '-')}`;
    await fsp.rename(file, setAside);
  }
  await fsp.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const key = randomBytes(DATA_KEY_BYTES).toString('base64');
  await store(file, key, sealer, now().toISOString());
  return setAside ? { key, created: true, setAside } : { key, created: true };
}

async function store(file: string, key: string, sealer: Sealer, created: string): Promise<void> {
  const sealed = await sealer.seal(key);
  const body: SealedKeyFile = { version: 1, sealed: sealed.toString('base64'), created };
  await writeAtomic(file, `${JSON.stringify(body, null, 2)}\n`);
}
