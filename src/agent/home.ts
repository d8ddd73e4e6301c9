// The agent's home folder: all of an agent's state lives in one directory, so several agents
// can run side by side with different homes (--home DIR or AXIS_AGENT_HOME).
//
//   <home>/config.json        server URL, pinned fingerprint, username, account summary (0600)
//   <home>/credentials.json   secrets: OAuth2 tokens (0600; see secrets.ts) — never a password
//   <home>/credentials.enc.json  the desktop app's encrypted secrets instead (secrets.ts)
//   <home>/credentials.lock   transient: held while tokens are refreshed
//   <home>/control.json       the running agent's control API port and token (0600; control/)
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const APP_DIR_NAME = 'AXIS CloudSync Agent';
export const HOME_ENV = 'AXIS_AGENT_HOME';

/**
 * The per-user default: $XDG_CONFIG_HOME/axis-agent (default ~/.config/axis-agent) on Linux
 * and other Unixes, ~/Library/Application Support/AXIS CloudSync Agent on macOS,
 * %APPDATA%\AXIS CloudSync Agent on Windows.
 */
export function defaultHome(env: NodeJS.ProcessEnv = process.env, platform: NodeJS.Platform = process.platform, homedir: string = os.homedir()): string {
  if (platform === 'win32') {
    const appData = env.APPDATA && path.win32.isAbsolute(env.APPDATA) ? env.APPDATA : path.win32.join(homedir, 'AppData', 'Roaming');
    return path.win32.join(appData, APP_DIR_NAME);
  }
  if (platform === 'darwin') return path.posix.join(homedir, 'Library', 'Application Support', APP_DIR_NAME);
  const xdg = env.XDG_CONFIG_HOME && path.posix.isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : path.posix.join(homedir, '.config');
  return path.posix.join(xdg, 'axis-agent');
}

/** --home, else $AXIS_AGENT_HOME, else the per-user default; always absolute. */
export function resolveHome(option: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const chosen = option || env[HOME_ENV] || defaultHome(env);
  return path.resolve(chosen);
}

export interface HomePaths {
  dir: string;
  config: string;
  credentials: string;
  credentialsLock: string;
}

export function homePaths(dir: string): HomePaths {
  return {
    dir,
    config: path.join(dir, 'config.json'),
    credentials: path.join(dir, 'credentials.json'),
    credentialsLock: path.join(dir, 'credentials.lock'),
  };
}

/** Creates the home folder (0700) when missing. */
export async function ensureHome(dir: string): Promise<void> {
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
}

/**
 * Writes a file atomically with the given mode: a temporary file in the same folder, fsync,
 * rename over the target. Readers see the old content or the new, never a mix.
 */
export async function writeFileAtomic(file: string, data: string, mode: number): Promise<void> {
  // pid + time + random: concurrent writers of one file never share a temp name.
  const tmp = `${file}.${process.pid}.${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}.tmp`;
  const fh = await fsp.open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data, 'utf8');
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    // The mode passed to open() is filtered by the umask; make it exact.
    await fsp.chmod(tmp, mode);
    await fsp.rename(tmp, file);
  } catch (err) {
    await fsp.rm(tmp, { force: true });
    throw err;
  }
}

/** Reads and parses a JSON file; undefined when it does not exist. */
export async function readJsonFile(file: string): Promise<unknown> {
  let text: string;
  try {
    text = await fsp.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new Error(`${file} is not valid JSON; fix or delete it`);
  }
}
