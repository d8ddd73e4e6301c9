#!/usr/bin/env node
// Builds the librsync addon (native/ → native/build/Release/axis_rsync.node) with node-gyp.
//
// Run from the package's `prepare` script (and by hand). The addon is optional at run time
// (without it the agent uses whole-file transfers), so a failed build prints one warning
// saying how to install librsync and exits 0 — except when CI=true or
// AXIS_REQUIRE_NATIVE=1, where it exits 1.
//
// Linking: librsync is linked statically when a static archive is found (the packaged app
// then carries no extra library), else dynamically; if the static build fails it retries
// dynamically. AXIS_RSYNC_LINK=static|dynamic forces one (no retry). LIBRSYNC_PREFIX
// points at a non-standard install. See native/README.md.
//
// node-gyp: the one npm provides to lifecycle scripts (npm_config_node_gyp), a local
// node_modules/node-gyp, or the one bundled with the npm next to this node. When this
// node ships its headers (include/node/node_api.h, e.g. Debian's /usr), they are used,
// so the build needs no download.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const nativeDir = path.join(root, 'native');
const addonPath = path.join(nativeDir, 'build', 'Release', 'axis_rsync.node');
const required = process.env.CI === 'true' || process.env.AXIS_REQUIRE_NATIVE === '1';
const isWin = process.platform === 'win32';

function findNodeGyp() {
  const candidates = [process.env.npm_config_node_gyp];
  try {
    candidates.push(createRequire(path.join(root, 'package.json')).resolve('node-gyp/bin/node-gyp.js'));
  } catch {
    // not a dependency of the project
  }
  const nodeDir = path.dirname(process.execPath);
  candidates.push(
    isWin
      ? path.join(nodeDir, 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')
      : path.join(nodeDir, '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  );
  const npmPrefix = spawnSync(isWin ? 'npm.cmd' : 'npm', ['prefix', '-g'], { encoding: 'utf8', shell: isWin, timeout: 30_000 });
  if (npmPrefix.status === 0) {
    const prefix = npmPrefix.stdout.trim();
    candidates.push(
      isWin
        ? path.join(prefix, 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')
        : path.join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    );
  }
  return candidates.find((c) => c && c.endsWith('.js') && existsSync(c));
}

function localNodeDir() {
  const prefix = path.resolve(path.dirname(process.execPath), isWin ? '.' : '..');
  const inc = path.join(prefix, 'include', 'node');
  return existsSync(path.join(inc, 'node_api.h')) && existsSync(path.join(inc, 'common.gypi')) ? prefix : undefined;
}

/** Builds once; returns undefined on success or a one-line reason. */
function build(nodeGyp, link) {
  const env = { ...process.env };
  if (link) env.AXIS_RSYNC_LINK = link;
  else delete env.AXIS_RSYNC_LINK;
  // Pre-flight: find librsync first, so "not installed" is reported as such.
  const config = spawnSync(process.execPath, [path.join(nativeDir, 'tools', 'librsync-config.js'), 'summary'], { cwd: nativeDir, env, encoding: 'utf8' });
  if (config.status !== 0) return (config.stderr || 'librsync-config.js failed').trim().replace(/^axis_rsync: /, '');
  process.stdout.write(`axis_rsync: using ${config.stdout.trim()}\n`);
  const args = [nodeGyp, 'rebuild'];
  const nodedir = process.env.npm_config_nodedir || localNodeDir();
  if (nodedir) args.push(`--nodedir=${nodedir}`);
  process.stdout.write(`axis_rsync: node-gyp rebuild${link ? ` (${link} librsync)` : ''} in ${nativeDir}\n`);
  const r = spawnSync(process.execPath, args, { cwd: nativeDir, stdio: 'inherit', env });
  if (r.error) return `could not run node-gyp: ${r.error.message}`;
  if (r.status !== 0) return `node-gyp rebuild failed (${r.status === null ? `signal ${r.signal}` : `exit code ${r.status}`})`;
  // Load it in a fresh process: catches unresolved symbols and missing shared libraries.
  const probe = `const a = require(${JSON.stringify(addonPath)});
if (typeof a.Job !== 'function') throw new Error('not the axis_rsync addon');
process.stdout.write(a.librsyncVersion + ', linked ' + a.linkage + (a.blake2Shim ? ', BLAKE2b shim' : '') + ', Node-API ' + a.napiVersion);`;
  const check = spawnSync(process.execPath, ['-e', probe], { encoding: 'utf8' });
  if (check.status !== 0) return `the built addon does not load: ${(check.stderr || '').trim().split('\n')[0]}`;
  process.stdout.write(`axis_rsync: built ${path.relative(root, addonPath)} (${check.stdout.trim()})\n`);
  return undefined;
}

function main() {
  const nodeGyp = findNodeGyp();
  let reason;
  if (!nodeGyp) {
    reason = 'node-gyp not found (it comes with npm; or add it as a devDependency)';
  } else if (process.env.AXIS_RSYNC_LINK) {
    reason = build(nodeGyp, process.env.AXIS_RSYNC_LINK);
  } else {
    reason = build(nodeGyp, undefined);
    if (reason) {
      const retry = build(nodeGyp, 'dynamic');
      if (!retry) {
        process.stdout.write(`axis_rsync: note: static linking failed (${reason}); linked librsync dynamically instead\n`);
      }
      reason = retry && retry !== reason ? `${reason}; dynamic: ${retry}` : retry;
    }
  }
  if (!reason) return 0;

  const lines = [
    '',
    `axis_rsync: ${required ? 'ERROR' : 'WARNING'}: the librsync addon was not built: ${reason}.`,
    '  Without it the agent still works but sends whole files instead of rsync deltas.',
    '  To build it, install a C++ toolchain and librsync, then run `node scripts/build-native.js`:',
    '    Debian/Ubuntu: sudo apt-get install -y build-essential python3 librsync-dev   (rdiff for the tests)',
    '    macOS:         xcode-select --install; brew install librsync',
    '    Windows:       VS Build Tools (C++); vcpkg install librsync:x64-windows-static; set VCPKG_ROOT',
    '  Details: native/README.md',
  ];
  if (required) lines.push('  (CI=true or AXIS_REQUIRE_NATIVE=1: failing the build)');
  process.stderr.write(lines.join('\n') + '\n\n');
  return required ? 1 : 0;
}

process.exitCode = main();
