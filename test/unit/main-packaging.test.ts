// electron-builder.yml: valid for the electron-builder we depend on (its own schema check),
// the four installer targets, and the files the packaged app needs at run time: the compiled
// main/agent/server, the built UI, the icons, and the native modules unpacked from asar.
// (Building installers needs internet and is not done here: docs/desktop.md.)
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { TRAY_STATUSES, trayIconFile } from '../../src/main/tray-model.js';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// electron-builder's own dependencies (app-builder-lib, builder-util, js-yaml, minimatch).
const require = createRequire(path.join(REPO, 'node_modules/app-builder-lib/package.json'));
const yaml = require('js-yaml') as { load(text: string): unknown };
const { minimatch } = require('minimatch') as { minimatch(p: string, pattern: string, o?: { dot?: boolean }): boolean };

interface TargetEntry {
  target: string;
}
interface BuilderConfig {
  appId: string;
  files: string[];
  asarUnpack: string[];
  extraMetadata: { main: string };
  win: { target: TargetEntry[]; icon: string };
  mac: { target: TargetEntry[]; icon: string; extendInfo?: Record<string, unknown> };
  linux: { target: TargetEntry[]; icon: string };
}

const config = yaml.load(readFileSync(path.join(REPO, 'electron-builder.yml'), 'utf8')) as BuilderConfig;

/** Whether a packaged path is selected by the `files` patterns (later `!` patterns exclude). */
function packaged(rel: string): boolean {
  let inside = false;
  for (const p of config.files) {
    if (p.startsWith('!')) {
      if (minimatch(rel, p.slice(1), { dot: true })) inside = false;
    } else if (minimatch(rel, p, { dot: true })) inside = true;
  }
  return inside;
}

const unpacked = (rel: string) => config.asarUnpack.some((p) => minimatch(rel, p, { dot: true }));

describe('electron-builder.yml', () => {
  it("passes electron-builder's own configuration check", async () => {
    const { validateConfiguration } = require('app-builder-lib/out/util/config/config.js') as { validateConfiguration(c: unknown, l: unknown): Promise<void> };
    const { DebugLogger } = require('builder-util/out/DebugLogger.js') as { DebugLogger: new (enabled: boolean) => unknown };
    await expect(validateConfiguration(config, new DebugLogger(false))).resolves.toBeUndefined();
    // …which does catch mistakes.
    await expect(validateConfiguration({ ...config, asarUnpak: [] }, new DebugLogger(false))).rejects.toThrow(/asarUnpak/);
  });

  it('builds NSIS for Windows, dmg for macOS, AppImage and deb for Linux', () => {
    expect(config.win.target.map((t) => t.target)).toEqual(['nsis']);
    expect(config.mac.target.map((t) => t.target)).toEqual(['dmg']);
    expect(config.linux.target.map((t) => t.target).sort()).toEqual(['AppImage', 'deb']);
    expect(config.mac.extendInfo?.LSUIElement).toBe(true);
  });

  it('starts the compiled main process, the one package.json names', () => {
    const pkg = JSON.parse(readFileSync(path.join(REPO, 'package.json'), 'utf8')) as { main: string };
    expect(config.extraMetadata.main).toBe('dist/src/main/main.js');
    expect(pkg.main).toBe(config.extraMetadata.main);
    for (const f of ['dist/src/main/main.js', 'dist/src/agent/service-entry.js', 'dist/src/main/demo-server-entry.js', 'dist/src/server/app.js', 'package.json']) {
      expect(packaged(f), f).toBe(true);
    }
    expect(packaged('dist/src/main/main.js.map')).toBe(false);
    expect(packaged('src/main/main.ts')).toBe(false);
    expect(packaged('test/unit/main-tray.test.ts')).toBe(false);
  });

  it('packs the built UI and every icon the app loads', () => {
    expect(packaged('dist/renderer/index.html')).toBe(true);
    expect(packaged('dist/renderer/assets/index-abc123.js')).toBe(true);
    for (const s of TRAY_STATUSES) {
      for (const platform of ['win32', 'darwin', 'linux'] as const) {
        const rel = `assets/${trayIconFile(s, platform)}`;
        expect(packaged(rel), rel).toBe(true);
        expect(existsSync(path.join(REPO, rel)), rel).toBe(true);
      }
    }
    for (const icon of [config.win.icon, config.mac.icon, config.linux.icon]) {
      expect(existsSync(path.join(REPO, icon)), icon).toBe(true);
      expect(packaged(icon)).toBe(true); // also the window and notification icon
    }
  });

  it('unpacks the native modules from asar', () => {
    expect(packaged('native/build/Release/axis_rsync.node')).toBe(true);
    expect(unpacked('native/build/Release/axis_rsync.node')).toBe(true);
    expect(unpacked('node_modules/better-sqlite3/build/Release/better_sqlite3.node')).toBe(true);
    expect(unpacked('node_modules/better-sqlite3/lib/database.js')).toBe(true);
    expect(unpacked('dist/src/main/main.js')).toBe(false);
  });
});
