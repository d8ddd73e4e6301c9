// The agent's secret stores (src/agent/secrets.ts) on real files with real crypto: the desktop
// app's encrypted store (credentials.enc.json, AES-256-GCM under the key Electron main sends),
// the migration from the plaintext store, refusal of anything that does not decrypt, the lock,
// and which store the factory opens for the CLI and for the app.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  APP_SECRETS_MESSAGE,
  CLI_SECRETS,
  EncryptedFileSecretStore,
  encryptedOnly,
  FileSecretStore,
  KEY_UNAVAILABLE_MESSAGE,
  openSecretStore,
  PLAINTEXT_PROTECTION,
  secretsConfigFromMessage,
  secretsNotice,
  type SecretsConfig,
} from '../../src/agent/secrets.js';

let home: string;
let key: Buffer;
let app: SecretsConfig;

beforeEach(async () => {
  home = await fsp.mkdtemp(path.join(os.tmpdir(), 'axis-secrets-'));
  key = randomBytes(32);
  app = { source: 'app', key, protection: 'encrypted with a key kept in the test keychain' };
});
afterEach(async () => {
  await fsp.rm(home, { recursive: true, force: true });
});

const enc = () => path.join(home, 'credentials.enc.json');
const plain = () => path.join(home, 'credentials.json');
const readEnc = async () => JSON.parse(await fsp.readFile(enc(), 'utf8')) as { version: number; alg: string; iv: string; tag: string; data: string };
const asides = async (prefix: string) => (await fsp.readdir(home)).filter((f) => f.startsWith(`${prefix}.unreadable-`));

/** Decrypts the file independently of the code under test (the documented format). */
function decrypt(f: { iv: string; tag: string; data: string }, k: Buffer, aad = 'axis-credentials-v1'): unknown {
  const d = createDecipheriv('aes-256-gcm', k, Buffer.from(f.iv, 'base64'), { authTagLength: 16 });
  d.setAAD(Buffer.from(aad));
  d.setAuthTag(Buffer.from(f.tag, 'base64'));
  return JSON.parse(Buffer.concat([d.update(Buffer.from(f.data, 'base64')), d.final()]).toString('utf8'));
}

/** Encrypts like the store, with any key and AAD (to forge files). */
function encrypt(content: unknown, k: Buffer, aad: string): string {
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', k, iv, { authTagLength: 16 });
  c.setAAD(Buffer.from(aad));
  const data = Buffer.concat([c.update(JSON.stringify(content), 'utf8'), c.final()]);
  return JSON.stringify({ version: 1, alg: 'A256GCM', iv: iv.toString('base64'), tag: c.getAuthTag().toString('base64'), data: data.toString('base64') });
}

const TOKENS = { kind: 'oauth2', access_token: 'access-SECRET-1234', refresh_token: 'refresh-SECRET-5678' };
const MACHINE = { guid: '3f2b1c9e-0000-4000-8000-000000000001', machine_id: 7, security_key: 'machine-KEY-abcdef', server: 'https://sync.example.test' };

describe('EncryptedFileSecretStore', () => {
  it('round trip: the documented format, readable with the key only, the file goes with the last secret', async () => {
    const s = openSecretStore(home, app);
    expect(s).toBeInstanceOf(EncryptedFileSecretStore);
    expect(s.protection).toBe('encrypted with a key kept in the test keychain');
    await s.set('tokens', TOKENS);
    await s.set('machine', MACHINE);

    const f = await readEnc();
    expect(Object.keys(f).sort()).toEqual(['alg', 'data', 'iv', 'tag', 'version']);
    expect(f.version).toBe(1);
    expect(f.alg).toBe('A256GCM');
    expect(Buffer.from(f.iv, 'base64')).toHaveLength(12);
    expect(Buffer.from(f.tag, 'base64')).toHaveLength(16);
    expect(decrypt(f, key)).toEqual({ version: 1, secrets: { tokens: TOKENS, machine: MACHINE } });
    const text = await fsp.readFile(enc(), 'utf8');
    for (const secret of ['access-SECRET-1234', 'refresh-SECRET-5678', 'machine-KEY-abcdef']) expect(text).not.toContain(secret);
    expect(existsSync(plain())).toBe(false);

    // Another store (another process) with the same key reads the same secrets.
    const again = openSecretStore(home, { source: 'app', key: Buffer.from(key), protection: 'x' });
    expect(await again.get('tokens')).toEqual(TOKENS);
    expect(await again.get('machine')).toEqual(MACHINE);
    expect(await again.get('nothing')).toBeUndefined();

    await again.delete('tokens');
    expect(await s.get('tokens')).toBeUndefined();
    expect(await s.get('machine')).toEqual(MACHINE);
    await s.delete('machine');
    expect(existsSync(enc())).toBe(false);
    expect(await s.get('machine')).toBeUndefined();
  });

  it('uses a fresh IV on every write, and writes the file with mode 0600', async () => {
    const s = openSecretStore(home, app);
    const ivs = new Set<string>();
    const datas = new Set<string>();
    for (let i = 0; i < 5; i++) {
      await s.set('tokens', TOKENS); // the same content every time
      const f = await readEnc();
      ivs.add(f.iv);
      datas.add(f.data);
      if (process.platform !== 'win32') expect((await fsp.stat(enc())).mode & 0o777).toBe(0o600);
    }
    expect(ivs.size).toBe(5);
    expect(datas.size).toBe(5);
    // No temporary files left behind.
    expect((await fsp.readdir(home)).sort()).toEqual(['credentials.enc.json']);
  });

  const tampered: [string, (f: { iv: string; tag: string; data: string }) => string][] = [
    [
      'a flipped bit of the data',
      (f) => {
        const d = Buffer.from(f.data, 'base64');
        d[0] = d[0]! ^ 1;
        return JSON.stringify({ ...f, data: d.toString('base64') });
      },
    ],
    [
      'another tag',
      (f) => {
        const t = Buffer.from(f.tag, 'base64');
        t[15] = t[15]! ^ 0x80;
        return JSON.stringify({ ...f, tag: t.toString('base64') });
      },
    ],
    ['a truncated tag', (f) => JSON.stringify({ ...f, tag: Buffer.from(f.tag, 'base64').subarray(0, 12).toString('base64') })],
    ['another IV', (f) => JSON.stringify({ ...f, iv: randomBytes(12).toString('base64') })],
    ['other additional authenticated data', () => encrypt({ version: 1, secrets: { tokens: TOKENS } }, key, 'axis-credentials-v2')],
    ['another key', () => encrypt({ version: 1, secrets: { tokens: TOKENS } }, randomBytes(32), 'axis-credentials-v1')],
    ['not JSON', () => 'garbage'],
  ];
  for (const [what, forge] of tampered) {
    it(`refuses ${what}: the file is set aside, the store is empty, the notice says to sign in again`, async () => {
      const s = openSecretStore(home, app);
      await s.set('tokens', TOKENS);
      const forged = forge(await readEnc());
      await fsp.writeFile(enc(), forged, { mode: 0o600 });

      expect(await secretsNotice(home, app)).toMatch(/^The saved sign-in could not be read .*set aside as credentials\.enc\.json\.unreadable-.*\. Sign in again\.$/);
      expect(existsSync(enc())).toBe(false);
      const aside = await asides('credentials.enc.json');
      expect(aside).toHaveLength(1);
      expect(await fsp.readFile(path.join(home, aside[0]!), 'utf8')).toBe(forged);
      expect(await s.get('tokens')).toBeUndefined();
      // Once set aside, nothing more to say; new secrets are stored normally.
      expect(await secretsNotice(home, app)).toBeUndefined();
      await s.set('tokens', TOKENS);
      expect(await openSecretStore(home, app).get('tokens')).toEqual(TOKENS);
    });
  }

  it('a store read with the wrong key refuses the file (and a later get of the right key finds nothing)', async () => {
    await openSecretStore(home, app).set('tokens', TOKENS);
    const wrong = openSecretStore(home, { source: 'app', key: randomBytes(32), protection: '' }) as EncryptedFileSecretStore;
    expect(await wrong.get('tokens')).toBeUndefined();
    expect(wrong.setAside).toHaveLength(1);
    expect(path.basename(wrong.setAside[0]!)).toMatch(/^credentials\.enc\.json\.unreadable-\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d-\d{3}Z$/);
    expect(existsSync(enc())).toBe(false);
    // The data is not lost: the set-aside file still decrypts with the right key.
    expect(decrypt(JSON.parse(await fsp.readFile(wrong.setAside[0]!, 'utf8')), key)).toEqual({ version: 1, secrets: { tokens: TOKENS } });
  });

  it('refuses a key that is not 32 bytes', () => {
    expect(() => new EncryptedFileSecretStore(enc(), randomBytes(16), { lockFile: path.join(home, 'credentials.lock') })).toThrow(/32 bytes/);
  });

  it('migrates a plaintext credentials.json into the encrypted store and deletes it', async () => {
    const cli = new FileSecretStore(plain(), path.join(home, 'credentials.lock'));
    await cli.set('tokens', TOKENS);
    await cli.set('machine', MACHINE);
    expect(existsSync(plain())).toBe(true);

    expect(await secretsNotice(home, app)).toBeUndefined();
    expect(existsSync(plain())).toBe(false);
    expect(decrypt(await readEnc(), key)).toEqual({ version: 1, secrets: { tokens: TOKENS, machine: MACHINE } });
    if (process.platform !== 'win32') expect((await fsp.stat(enc())).mode & 0o777).toBe(0o600);
    expect(await openSecretStore(home, app).get('machine')).toEqual(MACHINE);
  });

  it('a plaintext file written later (the CLI logged in again) replaces the encrypted content', async () => {
    const s = openSecretStore(home, app);
    await s.set('tokens', TOKENS);
    await s.set('machine', MACHINE);
    const newer = { kind: 'oauth2', access_token: 'access-NEWER' };
    await new FileSecretStore(plain()).set('tokens', newer);

    // Any read migrates it, also on a store that was already open.
    expect(await s.get('tokens')).toEqual(newer);
    expect(await s.get('machine')).toBeUndefined();
    expect(existsSync(plain())).toBe(false);
    expect(decrypt(await readEnc(), key)).toEqual({ version: 1, secrets: { tokens: newer } });
  });

  it('a damaged plaintext file is set aside, not migrated and not deleted', async () => {
    await fsp.writeFile(plain(), '{"version": 1, "secrets": ', { mode: 0o600 });
    expect(await secretsNotice(home, app)).toMatch(/set aside as credentials\.json\.unreadable-.*Sign in again\.$/);
    expect(existsSync(plain())).toBe(false);
    expect(await asides('credentials.json')).toHaveLength(1);
    expect(existsSync(enc())).toBe(false);
  });

  it('concurrent writers (separate stores, as separate processes) serialize on the lock file', async () => {
    const writers = 4;
    const rounds = 8;
    const stores = Array.from({ length: writers }, () => openSecretStore(home, app));
    await Promise.all(
      stores.map(async (s, w) => {
        for (let i = 0; i < rounds; i++) {
          await s.withLock(async () => {
            const n = ((await s.get('counter')) as number | undefined) ?? 0;
            await new Promise((r) => setTimeout(r, 1)); // a read-modify-write that yields
            await s.set('counter', n + 1);
            await s.set(`writer-${w}`, i);
          });
        }
      }),
    );
    const check = openSecretStore(home, app);
    expect(await check.get('counter')).toBe(writers * rounds);
    for (let w = 0; w < writers; w++) expect(await check.get(`writer-${w}`)).toBe(rounds - 1);
    expect(existsSync(path.join(home, 'credentials.lock'))).toBe(false);
    expect((await fsp.readdir(home)).sort()).toEqual(['credentials.enc.json']);
  });

  it('the lock is re-entrant within a store (a refresh inside a locked sequence)', async () => {
    const s = openSecretStore(home, app);
    const r = await s.withLock(() => s.withLock(async () => (await s.set('a', 1), s.get('a'))));
    expect(r).toBe(1);
  });
});

describe('which store: openSecretStore, the notices, the parent message', () => {
  it('the CLI and the app without a key use the plaintext file; the app with a key never writes it', async () => {
    const cli = openSecretStore(home, CLI_SECRETS);
    expect(cli).toBeInstanceOf(FileSecretStore);
    expect(cli.protection).toBe(PLAINTEXT_PROTECTION);
    await cli.set('tokens', TOKENS);
    expect(JSON.parse(await fsp.readFile(plain(), 'utf8'))).toEqual({ version: 1, secrets: { tokens: TOKENS } });

    const noKey = openSecretStore(home, { source: 'app', key: null, protection: 'plaintext; no keyring found' });
    expect(noKey).toBeInstanceOf(FileSecretStore);
    expect(noKey.protection).toBe('plaintext; no keyring found');
    expect(await noKey.get('tokens')).toEqual(TOKENS);
    expect(existsSync(enc())).toBe(false);
  });

  it('the CLI finding only the app\'s encrypted credentials says whose they are', async () => {
    await openSecretStore(home, app).set('tokens', TOKENS);
    expect(await encryptedOnly(home, CLI_SECRETS)).toBe(true);
    expect(await secretsNotice(home, CLI_SECRETS)).toBe(APP_SECRETS_MESSAGE);
    expect(APP_SECRETS_MESSAGE).toContain("encrypted with the app's key");
    // The app without its key (no keyring now) says so too, and keeps the file for later.
    expect(await secretsNotice(home, { source: 'app', key: null, protection: '' })).toBe(KEY_UNAVAILABLE_MESSAGE);
    expect(existsSync(enc())).toBe(true);
    // With a plaintext file as well (the CLI logged in again), the CLI uses it and says nothing.
    await new FileSecretStore(plain()).set('tokens', TOKENS);
    expect(await encryptedOnly(home, CLI_SECRETS)).toBe(false);
    expect(await secretsNotice(home, CLI_SECRETS)).toBeUndefined();
    // An empty home: nothing to say either way.
    const empty = path.join(home, 'empty');
    expect(await secretsNotice(empty, CLI_SECRETS)).toBeUndefined();
    expect(await secretsNotice(empty, app)).toBeUndefined();
  });

  it('reads the secrets message of Electron main and refuses malformed ones', () => {
    const k = randomBytes(32);
    const c = secretsConfigFromMessage({ type: 'secrets', key: k.toString('base64'), protection: 'Keychain' });
    expect(c).toEqual({ source: 'app', key: k, protection: 'Keychain' });
    expect(secretsConfigFromMessage({ type: 'secrets', key: null, protection: 'plaintext' })).toEqual({ source: 'app', key: null, protection: 'plaintext' });
    expect(() => secretsConfigFromMessage({ type: 'stop' })).toThrow();
    expect(() => secretsConfigFromMessage(null)).toThrow();
    expect(() => secretsConfigFromMessage({ type: 'secrets', key: randomBytes(16).toString('base64'), protection: '' })).toThrow(/32 bytes/);
    expect(() => secretsConfigFromMessage({ type: 'secrets', key: 'not base64!'.repeat(4), protection: '' })).toThrow(/32 bytes/);
    expect(() => secretsConfigFromMessage({ type: 'secrets', protection: '' })).toThrow(/32 bytes/);
    expect(() => secretsConfigFromMessage({ type: 'secrets', key: null, protection: 5 })).toThrow(/protection/);
  });
});
