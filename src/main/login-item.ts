// Start at login. macOS and Windows: app.setLoginItemSettings (main.ts). Linux has no such API
// in Electron: an XDG autostart entry, ~/.config/autostart/<id>.desktop, written here.
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The argument telling the app it was started at login: stay in the tray, open no window. */
export const HIDDEN_ARG = '--hidden';
export const AUTOSTART_FILE_NAME = 'axis-cloudsync.desktop';

/** $XDG_CONFIG_HOME/autostart/axis-cloudsync.desktop (default ~/.config/autostart/…). */
export function linuxAutostartPath(env: NodeJS.ProcessEnv = process.env, homedir: string = os.homedir()): string {
  const xdg = env.XDG_CONFIG_HOME && path.posix.isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : path.posix.join(homedir, '.config');
  return path.posix.join(xdg, 'autostart', AUTOSTART_FILE_NAME);
}

/**
 * One argument of a desktop entry's Exec key (Desktop Entry Specification, "The Exec key"):
 * quoted when it holds a reserved character, with `"`, `` ` ``, `$` and `\` escaped inside the
 * quotes; `%` doubled (field codes). The whole value is then escaped as a string value
 * (backslashes doubled) by desktopEntry().
 */
export function execArg(arg: string): string {
  const escaped = arg.replace(/%/g, '%%');
  if (escaped !== '' && !/[\s"'\\><~|&;$*?#()`]/.test(escaped)) return escaped;
  return `"${escaped.replace(/(["`$\\])/g, '\\$1')}"`;
}

export interface AutostartEntry {
  name: string;
  /** The program: the AppImage file when running from one ($APPIMAGE), else process.execPath. */
  exec: string;
  args: string[];
  comment?: string;
}

export function desktopEntry(e: AutostartEntry): string {
  const execValue = [e.exec, ...e.args].map(execArg).join(' ').replace(/\\/g, '\\\\');
  const clean = (s: string) => s.replace(/[\r\n]+/g, ' ');
  return [
    '[Desktop Entry]',
    'Type=Application',
    `Name=${clean(e.name)}`,
    ...(e.comment ? [`Comment=${clean(e.comment)}`] : []),
    `Exec=${execValue}`,
    'Terminal=false',
    'X-GNOME-Autostart-enabled=true',
    '',
  ].join('\n');
}

/** The program to start at login: an AppImage's own file (its mount point changes every run). */
export function autostartExec(env: NodeJS.ProcessEnv = process.env, execPath: string = process.execPath): string {
  return env.APPIMAGE && path.isAbsolute(env.APPIMAGE) ? env.APPIMAGE : execPath;
}

/** Writes (enabled) or removes (disabled) the autostart entry; returns whether anything changed. */
export async function applyLinuxAutostart(file: string, enabled: boolean, entry: AutostartEntry): Promise<boolean> {
  if (!enabled) {
    try {
      await fsp.rm(file);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw err;
    }
  }
  const text = desktopEntry(entry);
  const current = await fsp.readFile(file, 'utf8').catch(() => undefined);
  if (current === text) return false;
  await fsp.mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await fsp.writeFile(tmp, text, { mode: 0o644 });
  await fsp.rename(tmp, file);
  return true;
}

export async function linuxAutostartEnabled(file: string): Promise<boolean> {
  const text = await fsp.readFile(file, 'utf8').catch(() => undefined);
  return text !== undefined && !/^Hidden\s*=\s*true\s*$/m.test(text) && !/^X-GNOME-Autostart-enabled\s*=\s*false\s*$/m.test(text);
}
