#!/usr/bin/env node
// Locates librsync for binding.gyp and decides how to link it. Called by gyp command
// expansions (`<!(node tools/librsync-config.js <what>)`, cwd = native/), one value per
// call:
//   link          "static" | "dynamic"
//   include_dirs  directory holding librsync.h
//   libraries     what to put on the link line
//   ldflags       extra linker flags
//   defines       preprocessor defines for the addon
//   blake2_shim   1 if the static archive needs our BLAKE2b (Debian's references libb2)
//   log_shim      1 for static links (we provide rs_log0 so trace.o is not linked)
//   summary       human-readable description (for logs)
//
// Inputs (environment):
//   AXIS_RSYNC_LINK      static | dynamic (default: static when a librsync.a / rsync.lib
//                        static archive is found, else dynamic)
//   LIBRSYNC_PREFIX      prefix with include/librsync.h and lib/ (e.g. a from-source
//                        build, $(brew --prefix librsync), vcpkg installed/<triplet>)
//   LIBRSYNC_INCLUDE_DIR / LIBRSYNC_LIB_DIR   explicit directories (override prefix)
//   VCPKG_ROOT / VCPKG_INSTALLATION_ROOT, VCPKG_DEFAULT_TRIPLET   (Windows)
// Exits 1 with an explanation on stderr when librsync cannot be found, which makes gyp
// (and so `node-gyp rebuild`) fail early; scripts/build-native.js turns that into a
// warning or a CI failure.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, openSync, readSync, closeSync } from 'node:fs';
import path from 'node:path';

const platform = process.platform;
const isWin = platform === 'win32';
const isMac = platform === 'darwin';

function unique(list) {
  return [...new Set(list.filter(Boolean))];
}

function brewPrefix() {
  if (!isMac) return [];
  const out = [];
  try {
    out.push(execFileSync('brew', ['--prefix', 'librsync'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 10_000 }).trim());
  } catch {
    // brew missing or formula not installed
  }
  out.push('/opt/homebrew/opt/librsync', '/usr/local/opt/librsync', '/opt/homebrew', '/usr/local');
  return out;
}

function vcpkgPrefixes() {
  if (!isWin) return [];
  const roots = unique([process.env.VCPKG_ROOT, process.env.VCPKG_INSTALLATION_ROOT, 'C:\\vcpkg', 'C:\\src\\vcpkg']);
  const arch = process.arch === 'arm64' ? 'arm64' : process.arch === 'ia32' ? 'x86' : 'x64';
  const triplets = unique([
    process.env.VCPKG_DEFAULT_TRIPLET,
    `${arch}-windows-static`,
    `${arch}-windows-static-md`,
    `${arch}-windows`,
  ]);
  const out = [];
  for (const root of roots) for (const t of triplets) out.push(path.join(root, 'installed', t));
  return out;
}

function linuxLibDirs(prefix) {
  const dirs = [];
  const lib = path.join(prefix, 'lib');
  try {
    for (const e of readdirSync(lib)) if (/-linux-gnu|-linux-musl/.test(e)) dirs.push(path.join(lib, e));
  } catch {
    // no lib dir
  }
  const archFirst = { x64: 'x86_64', arm64: 'aarch64', arm: 'arm', ia32: 'i386', riscv64: 'riscv64', ppc64: 'powerpc64le', s390x: 's390x' }[process.arch];
  dirs.sort((a, b) => Number(path.basename(b).startsWith(archFirst ?? '#')) - Number(path.basename(a).startsWith(archFirst ?? '#')));
  return [...dirs, path.join(prefix, 'lib64'), lib];
}

function candidates() {
  const prefixes = unique([
    process.env.LIBRSYNC_PREFIX,
    ...brewPrefix(),
    ...vcpkgPrefixes(),
    ...(isWin ? [] : ['/usr/local', '/usr']),
  ]);
  return prefixes.map((prefix) => ({
    prefix,
    includeDirs: unique([process.env.LIBRSYNC_INCLUDE_DIR, path.join(prefix, 'include')]),
    libDirs: unique([process.env.LIBRSYNC_LIB_DIR, ...(isWin || isMac ? [path.join(prefix, 'lib')] : linuxLibDirs(prefix))]),
  }));
}

const staticNames = isWin ? ['rsync.lib', 'librsync.lib', 'rsync_static.lib'] : ['librsync.a'];
const dynamicNames = isWin ? ['rsync.lib', 'librsync.lib'] : isMac ? ['librsync.dylib'] : ['librsync.so'];

// True when the archive's symbol index (GNU/MSVC "/" member, BSD "__.SYMDEF") lists a
// definition of blake2b_init, i.e. the archive carries its own BLAKE2 (upstream default).
function archiveDefinesBlake2(file) {
  const fd = openSync(file, 'r');
  try {
    const head = Buffer.alloc(8 + 60);
    if (readSync(fd, head, 0, head.length, 0) < head.length || head.toString('latin1', 0, 8) !== '!<arch>\n') return false;
    let name = head.toString('latin1', 8, 24).trim();
    const size = Number.parseInt(head.toString('latin1', 56, 66).trim(), 10);
    if (!Number.isFinite(size) || size <= 0) return false;
    const data = Buffer.alloc(Math.min(size, 64 << 20));
    readSync(fd, data, 0, data.length, 68);
    let body = data;
    if (name.startsWith('#1/')) {
      const n = Number.parseInt(name.slice(3), 10);
      name = data.toString('latin1', 0, n).replace(/\0+$/, '');
      body = data.subarray(n);
    }
    if (!(name === '/' || name === '/SYM64/' || name.startsWith('__.SYMDEF'))) return false;
    return body.includes(Buffer.from('blake2b_init\0', 'latin1'));
  } finally {
    closeSync(fd);
  }
}

function resolve() {
  const wanted = (process.env.AXIS_RSYNC_LINK || '').toLowerCase();
  if (wanted && wanted !== 'static' && wanted !== 'dynamic') {
    throw new Error(`AXIS_RSYNC_LINK must be "static" or "dynamic", not "${wanted}"`);
  }
  const tried = [];
  for (const c of candidates()) {
    const includeDir = c.includeDirs.find((d) => existsSync(path.join(d, 'librsync.h')));
    if (!includeDir) {
      tried.push(`${c.prefix} (no include/librsync.h)`);
      continue;
    }
    let staticLib;
    let dynamicLib;
    for (const d of c.libDirs) {
      staticLib ??= staticNames.map((n) => path.join(d, n)).find((f) => existsSync(f));
      dynamicLib ??= dynamicNames.map((n) => path.join(d, n)).find((f) => existsSync(f));
    }
    // On Windows a plain "rsync.lib" is static or an import library depending on the
    // triplet; vcpkg's *-static triplets produce static ones.
    if (isWin && staticLib && !/windows-static/i.test(staticLib) && wanted !== 'static') {
      dynamicLib = staticLib;
      staticLib = undefined;
    }
    if (wanted === 'static' && !staticLib) {
      tried.push(`${c.prefix} (no static archive)`);
      continue;
    }
    if (wanted === 'dynamic' && !dynamicLib) {
      tried.push(`${c.prefix} (no shared library)`);
      continue;
    }
    if (!staticLib && !dynamicLib) {
      tried.push(`${c.prefix} (headers but no library)`);
      continue;
    }
    const link = wanted || (staticLib ? 'static' : 'dynamic');
    const lib = link === 'static' ? staticLib : dynamicLib;
    const blake2Shim = link === 'static' && !archiveDefinesBlake2(lib);
    const defines = [];
    const ldflags = [];
    let libraries;
    if (link === 'static') {
      defines.push('AXIS_RSYNC_STATIC=1', 'AXIS_RSYNC_LOG_SHIM=1', 'LIBRSYNC_STATIC_DEFINE=1');
      if (blake2Shim) defines.push('AXIS_BLAKE2_SHIM=1');
      libraries = [lib];
      // Keep librsync's symbols private to the addon (no clash with another copy).
      if (!isWin && !isMac) ldflags.push('-Wl,--exclude-libs,ALL');
    } else if (isWin) {
      libraries = [lib];
    } else {
      const dir = path.dirname(lib);
      libraries = [`-L${dir}`, '-lrsync'];
      if (!['/usr/lib', '/lib', '/usr/lib64'].includes(dir) && !/^\/usr\/lib\/[^/]+-linux-/.test(dir)) {
        ldflags.push(`-Wl,-rpath,${dir}`);
      }
    }
    return { link, includeDir, lib, libraries, ldflags, defines, blake2Shim, logShim: link === 'static' };
  }
  const hint = isMac
    ? 'brew install librsync'
    : isWin
      ? 'vcpkg install librsync:x64-windows-static and set VCPKG_ROOT'
      : 'sudo apt-get install librsync-dev (Fedora: dnf install librsync-devel)';
  const err = new Error(`librsync not found (${hint}; or set LIBRSYNC_PREFIX). Looked in: ${tried.join(', ') || 'nothing'}`);
  err.code = 'ENOLIBRSYNC';
  throw err;
}

const what = process.argv[2] ?? 'summary';
let r;
try {
  r = resolve();
} catch (e) {
  process.stderr.write(`axis_rsync: ${e.message}\n`);
  process.exit(1);
}
// gyp splits `<!@(...)` output on whitespace; quote entries that contain spaces.
const q = (s) => (/\s/.test(s) ? `"${s}"` : s);
const out = {
  link: r.link,
  // Never pass the compiler's own system include dir (-I/usr/include breaks #include_next).
  include_dirs: ['/usr/include', '/usr/local/include'].includes(r.includeDir) ? '' : q(r.includeDir),
  libraries: r.libraries.map(q).join(' '),
  ldflags: r.ldflags.map(q).join(' '),
  defines: r.defines.join(' '),
  blake2_shim: r.blake2Shim ? '1' : '0',
  log_shim: r.logShim ? '1' : '0',
  summary: `librsync ${r.link} (${r.lib}; headers ${r.includeDir}${r.blake2Shim ? '; bundled BLAKE2b shim' : ''})`,
}[what];
if (out === undefined) {
  process.stderr.write(`axis_rsync: unknown query "${what}"\n`);
  process.exit(2);
}
process.stdout.write(out + '\n');
