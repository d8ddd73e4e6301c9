// src/main's file-backed parts on real temp folders: the sealed secrets key, the Linux
// autostart entry, the first-run demo config.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DEMO_FILES, demoLoginBody, demoSignIn, demoWanted, newDemoConfig, readDemoConfig, seedDemoFolder, writeDemoConfig } from '../../src/main/demo.js';
import { applyLinuxAutostart, autostartExec, desktopEntry, execArg, linuxAutostartEnabled, linuxAutostartPath } from '../../src/main/login-item.js';
import { DATA_KEY_BYTES, DataKeyUnreadable, loadOrCreateDataKey, protectionFor, type Sealer } from '../../src/main/secret-key.js';

let dir: string;
beforeEach(async () => {
  dir = await fsp.mkdtemp(path.join(os.tmpdir(), 'axis-main-'));
});
afterEach(async () => {
  await fsp.rm(dir, { recursive: true, force: true });
});

/**
 * Stands in for Electron's safeStorage (which needs the Electron binary and an OS keyring):
 * AES-256-GCM under a key of its own, like the OS-held key safeStorage uses.
 */
class TestSealer implements Sealer {
  seals = 0;
  reseal = false;
  constructor(private readonly key: Buffer = randomBytes(32)) {}
  async seal(plain: string): Promise<Buffer> {
    this.seals++;
    const iv = randomBytes(12);
    const c = createCipheriv('aes-256-gcm', this.key, iv);
    const body = Buffer.concat([c.update(plain, 'utf8'), c.final()]);
    return Buffer.concat([iv, c.getAuthTag(), body]);
  }
  async unseal(sealed: Buffer): Promise<{ plain: string; reseal: boolean }> {
    const d = createDecipheriv('aes-256-gcm', this.key, sealed.subarray(0, 12));
    d.setAuthTag(sealed.subarray(12, 28));
    const plain = Buffer.concat([d.update(sealed.subarray(28)), d.final()]).toString('utf8');
    return { plain, reseal: this.reseal };
  }
}

describe('secrets data key (safeStorage envelope)', () => {
  it('makes a 256-bit key once, stores it only sealed (0600), and unseals the same key later', async () => {
    const file = path.join(dir, 'home', 'credentials.key');
    const sealer = new TestSealer();
    const first = await loadOrCreateDataKey(file, sealer);
    expect(first.created).toBe(true);
    expect(Buffer.from(first.key, 'base64')).toHaveLength(DATA_KEY_BYTES);
    const text = await fsp.readFile(file, 'utf8');
    expect(text).not.toContain(first.key);
    expect(JSON.parse(text)).toMatchObject({ version: 1 });
    if (process.platform !== 'win32') expect((await fsp.stat(file)).mode & 0o777).toBe(0o600);

    const again = await loadOrCreateDataKey(file, sealer);
    expect(again).toEqual({ key: first.key, created: false });
    expect(sealer.seals).toBe(1);
  });

  it('reseals when safeStorage asks for it, keeping the key', async () => {
    const file = path.join(dir, 'credentials.key');
    const sealer = new TestSealer();
    const first = await loadOrCreateDataKey(file, sealer);
    const before = await fsp.readFile(file, 'utf8');
    sealer.reseal = true;
    const again = await loadOrCreateDataKey(file, sealer);
    expect(again.key).toBe(first.key);
    expect(sealer.seals).toBe(2);
    const after = JSON.parse(await fsp.readFile(file, 'utf8')) as { sealed: string; created: string };
    expect(after.sealed).not.toBe((JSON.parse(before) as { sealed: string }).sealed);
    expect(after.created).toBe((JSON.parse(before) as { created: string }).created);
  });

  it('refuses an unreadable key file unless told to replace it (keychain reset, copied home)', async () => {
    const file = path.join(dir, 'credentials.key');
    const first = await loadOrCreateDataKey(file, new TestSealer());
    const before = await fsp.readFile(file, 'utf8');
    // Another OS key cannot unseal it: maybe only a locked keychain, so nothing is touched.
    await expect(loadOrCreateDataKey(file, new TestSealer())).rejects.toBeInstanceOf(DataKeyUnreadable);
    expect(await fsp.readFile(file, 'utf8')).toBe(before);
    const other = await loadOrCreateDataKey(file, new TestSealer(), { replaceUnreadable: true });
    expect(other.created).toBe(true);
    expect(other.key).not.toBe(first.key);
    expect(other.setAside).toMatch(/credentials\.key\.unreadable-/);
    expect(await fsp.readFile(other.setAside!, 'utf8')).toContain('"sealed"');
    // A malformed file holds no key to lose: replaced at once.
    await fsp.writeFile(file, 'garbage');
    const third = await loadOrCreateDataKey(file, new TestSealer());
    expect(third.created).toBe(true);
    expect(third.setAside).toBeDefined();
  });

  it('uses safeStorage only where it protects something', () => {
    expect(protectionFor('darwin', true, undefined)).toMatchObject({ usable: true, description: expect.stringMatching(/Keychain/) });
    expect(protectionFor('win32', true, undefined)).toMatchObject({ usable: true, description: expect.stringMatching(/DPAPI/) });
    expect(protectionFor('linux', true, 'gnome_libsecret').usable).toBe(true);
    expect(protectionFor('linux', true, 'kwallet6').usable).toBe(true);
    // basic_text encrypts with a fixed, public password: no better than the 0600 file.
    expect(protectionFor('linux', true, 'basic_text')).toMatchObject({ usable: false, description: expect.stringMatching(/basic_text/) });
    expect(protectionFor('linux', true, 'unknown').usable).toBe(false);
    expect(protectionFor('darwin', false, undefined).usable).toBe(false);
  });
});

describe('start at login on Linux (XDG autostart)', () => {
  it('puts the entry under $XDG_CONFIG_HOME/autostart, else ~/.config/autostart', () => {
    expect(linuxAutostartPath({ XDG_CONFIG_HOME: '/x/cfg' }, '/home/u')).toBe('/x/cfg/autostart/axis-cloudsync.desktop');
    expect(linuxAutostartPath({ XDG_CONFIG_HOME: 'relative' }, '/home/u')).toBe('/home/u/.config/autostart/axis-cloudsync.desktop');
    expect(linuxAutostartPath({}, '/home/u')).toBe('/home/u/.config/autostart/axis-cloudsync.desktop');
  });

  it('starts the AppImage file itself when running from one', () => {
    expect(autostartExec({ APPIMAGE: '/home/u/Apps/AXIS.AppImage' }, '/tmp/.mount_x/axis')).toBe('/home/u/Apps/AXIS.AppImage');
    expect(autostartExec({}, '/opt/AXIS CloudSync/axis-cloudsync')).toBe('/opt/AXIS CloudSync/axis-cloudsync');
  });

  it('quotes Exec arguments as the Desktop Entry spec says', () => {
    expect(execArg('/usr/bin/axis')).toBe('/usr/bin/axis');
    expect(execArg('/opt/AXIS CloudSync/axis')).toBe('"/opt/AXIS CloudSync/axis"');
    expect(execArg('a"b$c`d\\e')).toBe('"a\\"b\\$c\\`d\\\\e"');
    expect(execArg('100%')).toBe('100%%');
    expect(execArg('')).toBe('""');
    const text = desktopEntry({ name: 'AXIS CloudSync', exec: '/opt/AXIS CloudSync/axis', args: ['--hidden'], comment: 'line\nbreak' });
    expect(text).toContain('Exec="/opt/AXIS CloudSync/axis" --hidden\n');
    expect(text).toContain('Comment=line break\n');
    expect(text.startsWith('[Desktop Entry]\nType=Application\n')).toBe(true);
    // A backslash inside quotes is escaped twice: once for Exec, once as a string value.
    expect(desktopEntry({ name: 'n', exec: '/a\\b c', args: [] })).toContain('Exec="/a\\\\\\\\b c"\n');
  });

  it('writes the entry when enabled, rewrites only on change, removes it when disabled', async () => {
    const file = linuxAutostartPath({ XDG_CONFIG_HOME: path.join(dir, 'cfg') });
    const entry = { name: 'AXIS CloudSync', exec: '/opt/axis/axis', args: ['--hidden'] };
    expect(await linuxAutostartEnabled(file)).toBe(false);
    expect(await applyLinuxAutostart(file, true, entry)).toBe(true);
    expect(await fsp.readFile(file, 'utf8')).toBe(desktopEntry(entry));
    expect(await linuxAutostartEnabled(file)).toBe(true);
    expect(await applyLinuxAutostart(file, true, entry)).toBe(false);
    expect(await applyLinuxAutostart(file, true, { ...entry, exec: '/new/axis' })).toBe(true);
    expect(await fsp.readFile(file, 'utf8')).toContain('Exec=/new/axis --hidden');
    expect(await applyLinuxAutostart(file, false, entry)).toBe(true);
    expect(await linuxAutostartEnabled(file)).toBe(false);
    expect(await applyLinuxAutostart(file, false, entry)).toBe(false);
    // A user who disabled it in their desktop's settings (Hidden=true) counts as off.
    await fsp.writeFile(file, `${desktopEntry(entry)}Hidden=true\n`);
    expect(await linuxAutostartEnabled(file)).toBe(false);
  });
});

describe('first-run demo', () => {
  it('runs when no server is configured, and later only while the agent still uses the demo server', () => {
    const demo = { ...newDemoConfig(), port: 40123, url: 'https://127.0.0.1:40123', fingerprint: 'AA:BB' };
    expect(demoWanted(null, undefined, false)).toBe(true);
    expect(demoWanted(undefined, demo, false)).toBe(true);
    expect(demoWanted('https://127.0.0.1:40123/', demo, false)).toBe(true);
    expect(demoWanted('https://sync.example.com', demo, false)).toBe(false);
    expect(demoWanted('https://sync.example.com', undefined, false)).toBe(false);
    expect(demoWanted(null, undefined, true)).toBe(false); // AXIS_NO_DEMO=1
  });

  it('remembers port and account (0600) and signs in with them', async () => {
    const d = path.join(dir, 'demo-server');
    expect(await readDemoConfig(d)).toBeUndefined();
    const fresh = newDemoConfig();
    expect(fresh.password.length).toBeGreaterThanOrEqual(16);
    expect(fresh.admin_password).not.toBe(fresh.password);
    expect(newDemoConfig().password).not.toBe(fresh.password);
    expect(demoLoginBody(fresh)).toBeUndefined(); // no URL before the first start
    const started = { ...fresh, port: 40123, url: 'https://127.0.0.1:40123', fingerprint: 'AA:BB' };
    await writeDemoConfig(d, started);
    expect(await readDemoConfig(d)).toEqual(started);
    if (process.platform !== 'win32') expect((await fsp.stat(path.join(d, 'demo.json'))).mode & 0o777).toBe(0o600);
    expect(demoLoginBody(started)).toEqual({ server: 'https://127.0.0.1:40123', username: fresh.email, password: fresh.password, trust_fingerprint: 'AA:BB' });
    await fsp.writeFile(path.join(d, 'demo.json'), '{"version":2}');
    expect(await readDemoConfig(d)).toBeUndefined();
  });

  it('signs in on the first run, again when the server moved, never after a sign-out', () => {
    const demo = { ...newDemoConfig(), port: 40123, url: 'https://127.0.0.1:40123', fingerprint: 'AA:BB' };
    const out = { state: 'logged_out' as const, server: null };
    expect(demoSignIn(out, demo, null, true)).toBe('login');
    expect(demoSignIn(out, demo, null, false)).toBe('none'); // signed out since: leave it
    expect(demoSignIn({ state: 'logged_in', server: 'https://127.0.0.1:40123' }, demo, null, false)).toBe('none');
    expect(demoSignIn({ state: 'twostep', server: 'https://127.0.0.1:40123' }, demo, null, true)).toBe('none');
    // The old port was taken: the agent points at the old URL.
    expect(demoSignIn({ state: 'logged_in', server: 'https://127.0.0.1:39999/' }, demo, 'https://127.0.0.1:39999', false)).toBe('relogin');
    expect(demoSignIn({ state: 'logged_in', server: 'https://sync.example.com' }, demo, 'https://127.0.0.1:39999', false)).toBe('none');
    expect(demoSignIn(out, { ...demo, url: null }, null, true)).toBe('none');
  });

  it('seeds the demo folder once, never overwriting the user\'s files', async () => {
    const sync = path.join(dir, 'sync');
    expect((await seedDemoFolder(sync)).sort()).toEqual(Object.keys(DEMO_FILES).sort());
    expect(await fsp.readFile(path.join(sync, 'Projects', 'plan.md'), 'utf8')).toBe(DEMO_FILES['Projects/plan.md']);
    await fsp.writeFile(path.join(sync, 'Welcome.txt'), 'mine');
    await fsp.rm(path.join(sync, 'Photos'), { recursive: true });
    expect(await seedDemoFolder(sync)).toEqual(['Photos/README.txt']);
    expect(await fsp.readFile(path.join(sync, 'Welcome.txt'), 'utf8')).toBe('mine');
  });
});
