// Path and name rules of the sync engine. Pure functions, no I/O.
//
// Conventions used everywhere in src/core:
//
// - A *relative path* names an entry inside one sync root: segments separated by "/", no leading
//   or trailing slash, no empty segment. The root itself is the empty string "". The server's
//   documented form ("/path/to/file.ext", see `path` of the File object in the v2 API) converts
//   with `fromServerPath` / `toServerPath`.
// - Paths coming from the server are NFC-normalized by `fromServerPath`. Local paths are kept as
//   the disk spells them (Linux may hold NFD names); the planner compares paths through
//   `pathKey`, which is NFC- and (optionally) case-insensitive.
// - Nothing here touches the file system: the executor joins a validated relative path to its
//   root with the platform's path module, after `validateRelativePath` said yes.

export type Platform = 'win32' | 'darwin' | 'linux';

/** Outcome of a validation: ok, or a machine-readable code with a sentence for the user. */
export type Validation = { ok: true } | { ok: false; code: InvalidCode; reason: string };

export type InvalidCode =
  | 'empty'
  | 'dot'
  | 'dotdot'
  | 'separator'
  | 'backslash'
  | 'control'
  | 'drive'
  | 'absolute'
  | 'unc'
  | 'emptySegment'
  | 'notString';

/** Prefix of the agent's own temporary files (downloads in progress, atomic replaces). */
export const TEMP_PREFIX = '.axis-tmp-';

const ok: Validation = { ok: true };
const bad = (code: InvalidCode, reason: string): Validation => ({ ok: false, code, reason });

// C0 controls, DEL and C1 controls. NUL is among them.
// eslint-disable-next-line no-control-regex
const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f]/;
const DRIVE_RE = /^[A-Za-z]:/;

function printable(s: string): string {
  return JSON.stringify(s);
}

/**
 * Whether `name` may be one path segment of something the server tells us (or that we send to
 * it). This is the confinement rule: a name that passes cannot, joined to a root with either
 * `path.posix` or `path.win32`, address anything outside that root.
 */
export function validateServerName(name: string): Validation {
  if (isPlainName(name)) return ok;
  if (typeof name !== 'string') return bad('notString', 'the name is not a string');
  if (name === '') return bad('empty', 'the name is empty');
  if (name === '.') return bad('dot', 'the name "." refers to the folder itself');
  if (name === '..') return bad('dotdot', 'the name ".." refers to the parent folder');
  if (name.includes('/')) return bad('separator', `the name ${printable(name)} contains "/"`);
  if (name.includes('\\')) return bad('backslash', `the name ${printable(name)} contains "\\"`);
  if (CONTROL_RE.test(name)) return bad('control', `the name ${printable(name)} contains a control character`);
  if (DRIVE_RE.test(name)) return bad('drive', `the name ${printable(name)} starts with a drive letter`);
  return ok;
}

/**
 * Whether `p` is a relative path inside a root (the internal form: no leading slash, "/"
 * separators, every segment a valid server name). Rejects "", ".", "..", any ".." segment,
 * absolute and UNC paths, backslashes, drive letters, NUL and other control characters.
 */
export function validateRelativePath(p: string): Validation {
  if (isPlainRelativePath(p)) return ok;
  if (typeof p !== 'string') return bad('notString', 'the path is not a string');
  if (p === '') return bad('empty', 'the path is empty');
  if (p.startsWith('//') || p.startsWith('\\\\')) return bad('unc', `the path ${printable(p)} is a UNC path`);
  if (p.startsWith('/')) return bad('absolute', `the path ${printable(p)} is absolute`);
  if (DRIVE_RE.test(p)) return bad('drive', `the path ${printable(p)} starts with a drive letter`);
  if (p.includes('\\')) return bad('backslash', `the path ${printable(p)} contains "\\"`);
  for (const seg of p.split('/')) {
    if (seg === '') return bad('emptySegment', `the path ${printable(p)} has an empty segment`);
    const v = validateServerName(seg);
    if (!v.ok) return { ok: false, code: v.code, reason: `in ${printable(p)}: ${v.reason}` };
  }
  return ok;
}

// The planner validates every entry of every tree on each call, so the common case (a valid
// name or path) is decided in one pass over the characters, without splitting or regexes.
// These say true exactly when the rules above find nothing; for anything else the functions
// above run their checks in order to name the first problem.

/** Whether c is a C0 control, DEL or a C1 control (CONTROL_RE). */
function isControl(c: number): boolean {
  return c <= 0x1f || (c >= 0x7f && c <= 0x9f);
}

/** Whether `s` has a segment starting at `at` that begins with a drive letter (DRIVE_RE). */
function driveAt(s: string, at: number): boolean {
  const c = s.charCodeAt(at) | 0x20; // ASCII letters to lower case
  return s.charCodeAt(at + 1) === 58 && c >= 97 && c <= 122;
}

/** True only when `validateServerName(name)` is ok. */
function isPlainName(name: string): boolean {
  if (typeof name !== 'string' || name === '' || name === '.' || name === '..' || driveAt(name, 0)) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c === 47 || c === 92 || isControl(c)) return false;
  }
  return true;
}

/** True only when `validateRelativePath(p)` is ok: no empty, ".", ".." or drive segment, no "\\" or control character. */
function isPlainRelativePath(p: string): boolean {
  if (typeof p !== 'string' || p === '') return false;
  let start = 0; // of the current segment
  for (let i = 0; i <= p.length; i++) {
    const c = i < p.length ? p.charCodeAt(i) : 47; // the end closes the last segment
    if (c === 47) {
      const len = i - start;
      if (len === 0) return false; // empty segment (also a leading "/" or "//", a trailing "/")
      if (p.charCodeAt(start) === 46 && (len === 1 || (len === 2 && p.charCodeAt(start + 1) === 46))) return false; // "." or ".."
      if (driveAt(p, start)) return false; // "C:…"
      start = i + 1;
    } else if (c === 92 || isControl(c)) return false;
  }
  return true;
}

/** A server path ("/a/b.txt", as in the v2 File object) as an NFC relative path, or why not. */
export function fromServerPath(serverPath: string): { ok: true; path: string } | { ok: false; code: InvalidCode; reason: string } {
  if (typeof serverPath !== 'string') return { ok: false, code: 'notString', reason: 'the path is not a string' };
  if (serverPath.startsWith('//')) return { ok: false, code: 'unc', reason: `the path ${printable(serverPath)} is a UNC path` };
  const rel = serverPath.startsWith('/') ? serverPath.slice(1) : serverPath;
  const v = validateRelativePath(rel);
  if (!v.ok) return v;
  return { ok: true, path: rel.normalize('NFC') };
}

/** The server's spelling of a relative path: "/" + path ("" → "/"). */
export function toServerPath(p: string): string {
  return '/' + p;
}

/** Join a parent path ("" for the root) and one name. */
export function joinPath(parent: string, name: string): string {
  return parent === '' ? name : `${parent}/${name}`;
}

/** The parent of a relative path ("" for a top-level entry). */
export function parentPath(p: string): string {
  const i = p.lastIndexOf('/');
  return i < 0 ? '' : p.slice(0, i);
}

/** The last segment of a relative path. */
export function baseName(p: string): string {
  return p.slice(p.lastIndexOf('/') + 1);
}

/** Number of segments ("" → 0). */
export function pathDepth(p: string): number {
  if (p === '') return 0;
  let n = 1;
  for (let i = 0; i < p.length; i++) if (p.charCodeAt(i) === 47) n++;
  return n;
}

/** Whether `ancestor` is a strict ancestor of `p` ("" is an ancestor of everything else). */
export function isStrictAncestor(ancestor: string, p: string): boolean {
  if (ancestor === '') return p !== '';
  return p.length > ancestor.length && p.startsWith(ancestor) && p.charCodeAt(ancestor.length) === 47;
}

/** Whether `ancestor` is `p` or one of its ancestors. */
export function isSameOrAncestor(ancestor: string, p: string): boolean {
  return ancestor === p || isStrictAncestor(ancestor, p);
}

/** `p` with its prefix `from` replaced by `to` (p must be `from` or below it). */
export function rebasePath(p: string, from: string, to: string): string {
  if (p === from) return to;
  if (!isStrictAncestor(from, p)) throw new Error(`rebasePath: ${p} is not below ${from}`);
  return from === '' ? joinPath(to, p) : joinPath(to, p.slice(from.length + 1));
}

// ---------------------------------------------------------------------------------------------
// Unicode and case

// eslint-disable-next-line no-control-regex
const ASCII_RE = /^[\u0000-\u007f]*$/;

/** Whether `s` is plain ASCII (then it is NFC and its case folding is `toLowerCase`). */
export function isAscii(s: string): boolean {
  return ASCII_RE.test(s);
}

/**
 * Simple case folding, one code point at a time: upper-case when that gives exactly one code
 * point (so "ß" stays "ß", as on NTFS and APFS, while "σ", "ς" and "Σ" fold together), then
 * lower-case likewise.
 */
function foldCase(s: string): string {
  if (isAscii(s)) return s.toLowerCase();
  let out = '';
  for (const ch of s) {
    const up = ch.toUpperCase();
    const u = [...up].length === 1 ? up : ch;
    const low = u.toLowerCase();
    out += [...low].length === 1 ? low : u;
  }
  return out;
}

/** NFC, and case-folded when `caseInsensitive`: two paths with one key are the same slot. */
export function pathKey(p: string, caseInsensitive: boolean): string {
  const k = asciiPathKey(p, caseInsensitive);
  if (k !== undefined) return k;
  const n = p.normalize('NFC');
  return caseInsensitive ? foldCase(n) : n;
}

/** `pathKey` of an ASCII path (already NFC; its case folding is `toLowerCase`), undefined for any other. */
export function asciiPathKey(p: string, caseInsensitive: boolean): string | undefined {
  if (!isAscii(p)) return undefined;
  return caseInsensitive ? p.toLowerCase() : p;
}

/** Whether two names differ only in letter case (and/or Unicode normalization). */
export function differOnlyInCase(a: string, b: string): boolean {
  return a !== b && pathKey(a, true) === pathKey(b, true);
}

export interface NameClash {
  /** The shared key. */
  key: string;
  /** The distinct spellings, sorted. */
  names: string[];
  /** 'normalization': the names differ only in Unicode normalization (NFC vs NFD); 'case' otherwise. */
  kind: 'case' | 'normalization';
}

/**
 * Groups of names (or paths) that denote one entry on a file system that is case-insensitive
 * (when `caseInsensitive`) and normalization-insensitive: "A.txt" vs "a.txt", "é" (NFC) vs
 * "é" (NFD). Groups are sorted by key.
 */
export function findNameClashes(names: Iterable<string>, caseInsensitive: boolean): NameClash[] {
  const groups = new Map<string, Set<string>>();
  for (const n of names) {
    const k = pathKey(n, caseInsensitive);
    let g = groups.get(k);
    if (!g) groups.set(k, (g = new Set()));
    g.add(n);
  }
  const out: NameClash[] = [];
  for (const [key, set] of groups) {
    if (set.size < 2) continue;
    const list = [...set].sort(compareStrings);
    const nfc = new Set(list.map((n) => n.normalize('NFC')));
    out.push({ key, names: list, kind: nfc.size === 1 ? 'normalization' : 'case' });
  }
  return out.sort((a, b) => compareStrings(a.key, b.key));
}

/** Code-unit order, the same on every platform and locale. */
export function compareStrings(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

// ---------------------------------------------------------------------------------------------
// Local file system limits

const WIN_RESERVED_RE = /^(con|prn|aux|nul|com[1-9\u00b9\u00b2\u00b3]|lpt[1-9\u00b9\u00b2\u00b3])$/i;
const WIN_BAD_CHARS_RE = /[<>:"/\\|?*]/;

function utf8Length(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) n += 1;
    else if (c < 0x800) n += 2;
    else if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) {
        n += 4;
        i++;
      } else n += 3;
    } else n += 3;
  }
  return n;
}

/** Length of a name or path as the platform counts it: UTF-16 units (Windows, macOS) or UTF-8 bytes (Linux). */
export function platformLength(s: string, platform: Platform): number {
  return platform === 'linux' ? utf8Length(s) : s.length;
}

/** Longest name a platform accepts (255 UTF-16 units on Windows and macOS, 255 bytes on Linux). */
export const MAX_NAME_LENGTH = 255;

/**
 * Why a name that is fine on the server cannot be created on this platform, or null. The text
 * is meant for a sync warning ("… cannot be synced here: <reason>").
 */
export function localNameProblem(name: string, platform: Platform): string | null {
  const v = validateServerName(name);
  if (!v.ok) return v.reason;
  if (platformLength(name, platform) > MAX_NAME_LENGTH) {
    return platform === 'linux'
      ? `the name is longer than ${MAX_NAME_LENGTH} bytes`
      : `the name is longer than ${MAX_NAME_LENGTH} characters`;
  }
  if (platform === 'win32') {
    const m = WIN_BAD_CHARS_RE.exec(name);
    if (m) return `Windows does not allow the character ${m[0]} in names`;
    if (/[. ]$/.test(name)) return 'Windows does not allow names that end with a dot or a space';
    // "CON", "con.txt", "Con .txt.bak": the part before the first dot, trailing spaces ignored.
    const stem = (name.split('.')[0] ?? '').replace(/ +$/, '');
    if (WIN_RESERVED_RE.test(stem)) return `${stem.toUpperCase()} is a reserved device name on Windows`;
  }
  return null;
}

/**
 * True only when `localNameProblem` finds nothing in any segment of relPath: outside Windows
 * (which has more rules) a valid name of at most 85 UTF-16 units is at most 255 bytes of UTF-8
 * (3 per unit, 4 per surrogate pair). For the planner's many downloads: no split, no per-name
 * checks.
 */
function namesSurelyFit(relPath: string, platform: Platform): boolean {
  if (platform === 'win32' || !isPlainRelativePath(relPath)) return false;
  const max = platform === 'linux' ? Math.floor(MAX_NAME_LENGTH / 3) : MAX_NAME_LENGTH;
  let start = 0;
  for (let i = relPath.indexOf('/'); ; i = relPath.indexOf('/', start)) {
    const end = i < 0 ? relPath.length : i;
    if (end - start > max) return false;
    if (i < 0) return true;
    start = i + 1;
  }
}

/**
 * Default longest absolute path, in the platform's units, excluding the terminating NUL:
 * Windows MAX_PATH (260) − 1 unless long paths are enabled, macOS PATH_MAX (1024) − 1,
 * Linux PATH_MAX (4096) − 1.
 */
export function defaultMaxPathLength(platform: Platform): number {
  return platform === 'win32' ? 259 : platform === 'darwin' ? 1023 : 4095;
}

export interface LocalPathLimits {
  /** Length of the local root folder's absolute path, in platform units (without a trailing separator). */
  rootLength?: number;
  /** Longest absolute path allowed; null = no limit (Windows with long paths enabled). Default: `defaultMaxPathLength`. */
  maxPathLength?: number | null;
}

/**
 * Why a relative path cannot be created below the local root on this platform (bad name in any
 * segment, or the absolute path too long), or null. On Windows a folder needs room for an 8.3
 * name below it (CreateDirectory allows MAX_PATH − 12), so folders get 12 units less.
 */
export function localPathProblem(relPath: string, platform: Platform, kind: 'file' | 'folder', limits: LocalPathLimits = {}): string | null {
  if (!namesSurelyFit(relPath, platform)) {
    for (const seg of relPath.split('/')) {
      const p = localNameProblem(seg, platform);
      if (p) return seg === relPath ? p : `${printable(seg)}: ${p}`;
    }
  }
  const max = limits.maxPathLength === undefined ? defaultMaxPathLength(platform) : limits.maxPathLength;
  if (max !== null) {
    const limit = platform === 'win32' && kind === 'folder' ? max - 12 : max;
    const total = (limits.rootLength ?? 0) + 1 + platformLength(relPath, platform);
    if (total > limit) return `the full path would be ${total} characters long, more than the ${limit} this system allows`;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Ignore rules

export type IgnoreKind =
  /** Operating-system or application junk: never synced, never reported. */
  | 'junk'
  /** The agent's own temporary files. */
  | 'temp'
  /** Excluded by the policy's `excluded_extensions`: not synced, reported as a warning. */
  | 'excluded';

export interface IgnoreReason {
  kind: IgnoreKind;
  reason: string;
}

const JUNK_EXACT = new Set(
  [
    '.ds_store', // macOS Finder
    '.localized',
    'thumbs.db', // Windows Explorer thumbnails
    'ehthumbs.db',
    'ehthumbs_vista.db',
    'desktop.ini', // Windows folder settings
    '.spotlight-v100',
    '.trashes',
    '.fseventsd',
    '.temporaryitems',
    '.documentrevisions-v100',
    '$recycle.bin',
    'system volume information',
    'icon\r', // macOS custom folder icon
  ],
);

// Every pattern below needs its name to start with ".", "~" or "#" or to end with "~" or "p"/"P"
// (`junkMayMatch`): other names, nearly all, skip the regexes.
const JUNK_PATTERNS: [RegExp, string][] = [
  [/^\._/, 'a macOS AppleDouble file'],
  [/^~\$/, 'an Office owner (lock) file'],
  [/^~wr[a-z]\d{4}\.tmp$/i, 'a Word temporary file'],
  [/^\.~lock\..*#$/, 'a LibreOffice lock file'],
  [/\.swp$/i, 'an editor swap file'],
  [/~$/, 'an editor backup file'],
  [/^#.*#$/, 'an Emacs auto-save file'],
  [/^\.#/, 'an Emacs lock file'],
];

function junkMayMatch(name: string): boolean {
  const first = name.charCodeAt(0);
  const last = name.charCodeAt(name.length - 1);
  return first === 46 || first === 126 || first === 35 || last === 126 || last === 112 || last === 80; // . ~ # | ~ p P
}

/**
 * The extensions of a policy list, lower-cased with one leading dot: ".exe,*.tmp, mp3" →
 * [".exe", ".tmp", ".mp3"]. Accepts one comma-separated string or a list of such strings.
 */
export function parseExcludedExtensions(list: string | readonly string[] | undefined | null): string[] {
  if (list === undefined || list === null) return [];
  const items = (typeof list === 'string' ? [list] : list).flatMap((s) => s.split(','));
  const out = new Set<string>();
  for (const raw of items) {
    let s = raw.trim().toLowerCase();
    if (s.startsWith('*')) s = s.slice(1);
    if (s === '' || s === '.') continue;
    if (!s.startsWith('.')) s = '.' + s;
    out.add(s);
  }
  return [...out];
}

/**
 * Why a name is not synced, or null. Junk and our own temp files are silent; policy-excluded
 * extensions (case-insensitive, multi-dot like ".qbw.tlg"; the name must be longer than the
 * extension, as on the server) are reported. `excludedExtensions` may be unparsed policy text.
 */
export function ignoreReason(name: string, excludedExtensions: string | readonly string[] = []): IgnoreReason | null {
  return ignoreRules(excludedExtensions)(name);
}

type IgnoreFn = (name: string) => IgnoreReason | null;
/** Compiled rules per policy list (the same list object or text is compiled once). */
const compiledByList = new WeakMap<readonly string[], IgnoreFn>();
const compiledByText = new Map<string, IgnoreFn>();

/**
 * `ignoreReason` with the policy list parsed once: returns a function of the name (what a
 * scanner or the planner calls for every entry). Compiled rules are cached per list object
 * (or list text), so calling this per entry costs a look-up, not a parse.
 */
export function ignoreRules(excludedExtensions: string | readonly string[] = []): IgnoreFn {
  if (typeof excludedExtensions === 'string') {
    let fn = compiledByText.get(excludedExtensions);
    if (!fn) {
      if (compiledByText.size > 64) compiledByText.clear();
      fn = compileIgnoreRules(excludedExtensions);
      compiledByText.set(excludedExtensions, fn);
    }
    return fn;
  }
  let fn = compiledByList.get(excludedExtensions);
  if (!fn) {
    // Keyed by the list object (policies are replaced, not edited in place).
    fn = compileIgnoreRules(excludedExtensions);
    compiledByList.set(excludedExtensions, fn);
  }
  return fn;
}

function compileIgnoreRules(excludedExtensions: string | readonly string[]): IgnoreFn {
  const exts = parseExcludedExtensions(excludedExtensions);
  // Extension -> its position in the list (the first listed match names the reason).
  const order = new Map(exts.map((e, i) => [e, i]));
  return (name) => {
    if (name.startsWith(TEMP_PREFIX)) return { kind: 'temp', reason: 'a temporary file of the sync agent' };
    const lower = name.toLowerCase();
    if (JUNK_EXACT.has(lower)) return { kind: 'junk', reason: `${name.replace('\r', '')} is system junk` };
    if (junkMayMatch(name)) for (const [re, what] of JUNK_PATTERNS) if (re.test(name)) return { kind: 'junk', reason: what };
    if (order.size > 0) {
      // Every listed extension starts with a dot: try each suffix that starts at a dot (not at
      // position 0: the name must be longer than the extension).
      let best: string | undefined;
      let bestAt = Number.POSITIVE_INFINITY;
      for (let i = lower.indexOf('.', 1); i > 0; i = lower.indexOf('.', i + 1)) {
        const at = order.get(lower.slice(i));
        if (at !== undefined && at < bestAt) {
          bestAt = at;
          best = lower.slice(i);
        }
      }
      if (best !== undefined) return { kind: 'excluded', reason: `files ending in ${best} are excluded by policy` };
    }
    return null;
  };
}

/** Whether a name is ignored (junk, our temp file, or an excluded extension). */
export function isIgnoredName(name: string, excludedExtensions: string | readonly string[] = []): boolean {
  return ignoreReason(name, excludedExtensions) !== null;
}

// ---------------------------------------------------------------------------------------------
// Collision copies

// Multi-part extensions kept together: "a.tar.gz" → "a (collision …).tar.gz".
const MULTI_EXT_RE = /\.(tar\.[a-z0-9]{1,8}|qb[a-z]\.tlg)$/i;
const EXT_RE = /\.[A-Za-z0-9_-]*[A-Za-z][A-Za-z0-9_-]*$/;

/** Split a file name into stem and extension ("" when it has none; dotfiles have none). */
export function splitExtension(name: string): { stem: string; ext: string } {
  const multi = MULTI_EXT_RE.exec(name);
  if (multi && multi.index > 0) return { stem: name.slice(0, multi.index), ext: name.slice(multi.index) };
  const m = EXT_RE.exec(name);
  if (!m || m.index === 0 || m[0].length > 17) return { stem: name, ext: '' };
  return { stem: name.slice(0, m.index), ext: m[0] };
}

function pad(n: number, w = 2): string {
  return String(n).padStart(w, '0');
}

export interface CollisionNameOptions {
  /** Folders get no extension split. */
  isFolder?: boolean;
  /** Offset of the user's time zone from UTC in minutes (east positive, `-date.getTimezoneOffset()`); default 0 = UTC. */
  utcOffsetMinutes?: number;
  /** A counter > 1 makes the name unique when the first choice is taken. */
  counter?: number;
  platform?: Platform;
}

/**
 * "name (collision YYYY-MM-DD HHMMSS on MACHINE).ext": the name the local version of a
 * colliding file gets, so both versions are kept. The machine name is cleaned of characters
 * Windows rejects; the stem is shortened so the result fits in 255 units.
 */
export function collisionCopyName(name: string, date: Date, machineName: string, opts: CollisionNameOptions = {}): string {
  const t = new Date(date.getTime() + (opts.utcOffsetMinutes ?? 0) * 60_000);
  const stamp = `${t.getUTCFullYear()}-${pad(t.getUTCMonth() + 1)}-${pad(t.getUTCDate())} ${pad(t.getUTCHours())}${pad(t.getUTCMinutes())}${pad(t.getUTCSeconds())}`;
  // eslint-disable-next-line no-control-regex
  const machine = machineName.replace(/[<>:"/\\|?*\u0000-\u001f\u007f]/g, '_').trim() || 'unknown';
  const counter = opts.counter && opts.counter > 1 ? ` ${opts.counter}` : '';
  const tag = ` (collision ${stamp} on ${machine}${counter})`;
  const { stem, ext } = opts.isFolder ? { stem: name, ext: '' } : splitExtension(name);
  const platform = opts.platform ?? 'linux';
  let s = stem;
  while (s.length > 1 && platformLength(s + tag + ext, platform) > MAX_NAME_LENGTH) s = [...s].slice(0, -1).join('');
  return s + tag + ext;
}

/**
 * The first collision copy name of `name` for which `isTaken` says no (counter 2, 3, … after
 * the plain one). `isTaken` typically checks the local folder and the server folder.
 */
export function uniqueCollisionCopyName(
  name: string,
  date: Date,
  machineName: string,
  isTaken: (candidate: string) => boolean,
  opts: Omit<CollisionNameOptions, 'counter'> = {},
): string {
  for (let counter = 1; ; counter++) {
    const c = collisionCopyName(name, date, machineName, { ...opts, counter });
    if (!isTaken(c)) return c;
  }
}
