import { describe, expect, it } from 'vitest';
import {
  TEMP_PREFIX,
  baseName,
  collisionCopyName,
  defaultMaxPathLength,
  differOnlyInCase,
  findNameClashes,
  fromServerPath,
  ignoreReason,
  isIgnoredName,
  isSameOrAncestor,
  isStrictAncestor,
  joinPath,
  localNameProblem,
  localPathProblem,
  parentPath,
  parseExcludedExtensions,
  pathDepth,
  pathKey,
  platformLength,
  rebasePath,
  splitExtension,
  toServerPath,
  uniqueCollisionCopyName,
  validateRelativePath,
  validateServerName,
} from '../../src/core/paths.js';

const NFD_E = 'e\u0301'; // "é" decomposed
const NFC_E = '\u00e9'; // "é" composed

describe('validateServerName (confinement of one name)', () => {
  it.each(['a', 'file.txt', 'a b', '..a', 'a..', '.hidden', '...', 'é', NFD_E, '日本語.txt', 'ab:c', 'name.', 'x '])('accepts %j', (name) => {
    expect(validateServerName(name)).toEqual({ ok: true });
  });
  it.each([
    ['', 'empty'],
    ['.', 'dot'],
    ['..', 'dotdot'],
    ['a/b', 'separator'],
    ['/', 'separator'],
    ['a\\b', 'backslash'],
    ['\\\\server', 'backslash'],
    ['a\u0000b', 'control'],
    ['a\u001fb', 'control'],
    ['\u007f', 'control'],
    ['a\u0085', 'control'],
    ['line\nbreak', 'control'],
    ['C:', 'drive'],
    ['c:evil', 'drive'],
    ['Z:x.txt', 'drive'],
  ])('rejects %j (%s) with a reason', (name, code) => {
    const v = validateServerName(name);
    expect(v.ok).toBe(false);
    if (!v.ok) {
      expect(v.code).toBe(code);
      expect(v.reason.length).toBeGreaterThan(5);
    }
  });
});

describe('validateRelativePath (confinement of a path)', () => {
  it.each(['a', 'a/b/c.txt', 'dir with space/x', `${NFC_E}/${NFD_E}`, '..a/b..', 'a/.hidden'])('accepts %j', (p) => {
    expect(validateRelativePath(p)).toEqual({ ok: true });
  });
  it.each([
    ['', 'empty'],
    ['.', 'dot'],
    ['..', 'dotdot'],
    ['../x', 'dotdot'],
    ['a/../../etc/passwd', 'dotdot'],
    ['a/..', 'dotdot'],
    ['a/./b', 'dot'],
    ['/etc/passwd', 'absolute'],
    ['/', 'absolute'],
    ['//server/share/x', 'unc'],
    ['\\\\server\\share\\x', 'unc'],
    ['C:/Windows', 'drive'],
    ['c:', 'drive'],
    ['C:x', 'drive'],
    ['a/C:x', 'drive'],
    ['a\\..\\..\\x', 'backslash'],
    ['a//b', 'emptySegment'],
    ['a/', 'emptySegment'],
    ['a/b\u0000.txt', 'control'],
    ['a/\u0007', 'control'],
  ])('rejects %j (%s)', (p, code) => {
    const v = validateRelativePath(p);
    expect(v.ok).toBe(false);
    if (!v.ok) expect(v.code).toBe(code);
  });
  it('rejects non-strings as a typed result, not an exception', () => {
    expect(validateRelativePath(undefined as unknown as string)).toMatchObject({ ok: false, code: 'notString' });
    expect(validateServerName(42 as unknown as string)).toMatchObject({ ok: false, code: 'notString' });
  });
});

describe('server paths', () => {
  it('converts the documented "/path/to/file.ext" form and normalizes to NFC', () => {
    expect(fromServerPath('/path/to/file.ext')).toEqual({ ok: true, path: 'path/to/file.ext' });
    expect(fromServerPath(`/caf${NFD_E}/x`)).toEqual({ ok: true, path: `caf${NFC_E}/x` });
    expect(fromServerPath('a/b')).toEqual({ ok: true, path: 'a/b' });
    expect(toServerPath('a/b')).toBe('/a/b');
  });
  it.each(['/', '', '/../x', '/a/../../b', '//host/share', '/C:/x', '/a\\b', '/a/\u0000'])('refuses %j', (p) => {
    expect(fromServerPath(p).ok).toBe(false);
  });
});

describe('path helpers', () => {
  it('join, parent, base name, depth', () => {
    expect(joinPath('', 'a')).toBe('a');
    expect(joinPath('a/b', 'c')).toBe('a/b/c');
    expect(parentPath('a')).toBe('');
    expect(parentPath('a/b/c')).toBe('a/b');
    expect(baseName('a/b/c.txt')).toBe('c.txt');
    expect(baseName('c')).toBe('c');
    expect(pathDepth('')).toBe(0);
    expect(pathDepth('a')).toBe(1);
    expect(pathDepth('a/b/c')).toBe(3);
  });
  it('ancestors compare whole segments', () => {
    expect(isStrictAncestor('a', 'a/b')).toBe(true);
    expect(isStrictAncestor('a', 'ab/c')).toBe(false);
    expect(isStrictAncestor('a', 'a')).toBe(false);
    expect(isStrictAncestor('', 'a')).toBe(true);
    expect(isSameOrAncestor('a', 'a')).toBe(true);
    expect(isSameOrAncestor('a/b', 'a')).toBe(false);
  });
  it('rebases a path onto a new prefix', () => {
    expect(rebasePath('a/b/c', 'a/b', 'x')).toBe('x/c');
    expect(rebasePath('a', 'a', 'z/y')).toBe('z/y');
    expect(rebasePath('a/b', '', 'r')).toBe('r/a/b');
    expect(() => rebasePath('ab/c', 'a', 'x')).toThrow();
  });
});

describe('pathKey, case folding and Unicode', () => {
  it('is NFC-insensitive always and case-insensitive on request', () => {
    expect(pathKey(`caf${NFD_E}`, false)).toBe(pathKey(`caf${NFC_E}`, false));
    expect(pathKey('A.txt', false)).not.toBe(pathKey('a.txt', false));
    expect(pathKey('A.txt', true)).toBe(pathKey('a.txt', true));
    expect(pathKey(`Caf${NFD_E}/X`, true)).toBe(pathKey(`caf${NFC_E}/x`, true));
  });
  it('uses simple (one-to-one) folding like NTFS and APFS', () => {
    expect(pathKey('\u03a3', true)).toBe(pathKey('\u03c3', true)); // Σ σ
    expect(pathKey('\u03c2', true)).toBe(pathKey('\u03c3', true)); // ς σ
    expect(pathKey('stra\u00dfe', true)).not.toBe(pathKey('STRASSE', true)); // ß is not SS
    expect(pathKey('\u00c9T\u00c9', true)).toBe(pathKey('\u00e9t\u00e9', true));
  });
  it('differOnlyInCase', () => {
    expect(differOnlyInCase('a.txt', 'A.TXT')).toBe(true);
    expect(differOnlyInCase('a.txt', 'a.txt')).toBe(false);
    expect(differOnlyInCase('a.txt', 'b.txt')).toBe(false);
  });
  it('finds case clashes and normalization variants in a set of names', () => {
    expect(findNameClashes(['A.txt', 'a.txt', 'b', 'B.md'], true)).toEqual([{ key: 'a.txt', names: ['A.txt', 'a.txt'], kind: 'case' }]);
    expect(findNameClashes(['A.txt', 'a.txt'], false)).toEqual([]);
    const nf = findNameClashes([`caf${NFC_E}`, `caf${NFD_E}`, 'x'], false);
    expect(nf).toHaveLength(1);
    expect(nf[0]!.kind).toBe('normalization');
    expect(nf[0]!.names).toHaveLength(2);
    expect(findNameClashes([`Caf${NFC_E}`, `caf${NFD_E}`], true)[0]!.kind).toBe('case');
  });
});

describe('localNameProblem', () => {
  it.each(['CON', 'con', 'Con.txt', 'PRN', 'aux.tar.gz', 'NUL', 'nul.', 'COM1', 'com9.log', 'LPT1', 'lpt9.txt', 'COM\u00b9', 'CON .txt'])('Windows reserves %j', (name) => {
    const p = localNameProblem(name, 'win32');
    expect(p).not.toBeNull();
  });
  it('names the reserved device', () => {
    expect(localNameProblem('con.txt', 'win32')).toBe('CON is a reserved device name on Windows');
  });
  it.each(['CONSOLE', 'COM0', 'LPT10', 'xCON', 'con-x.txt', 'nul_', 'AUXILIARY.txt'])('Windows allows %j', (name) => {
    expect(localNameProblem(name, 'win32')).toBeNull();
  });
  it.each(['a<b', 'a>b', 'ab:c', 'a"b', 'a|b', 'a?b', 'a*b'])('Windows rejects the character in %j', (name) => {
    expect(localNameProblem(name, 'win32')).toMatch(/does not allow the character/);
  });
  it.each(['name.', 'name ', 'a..', 'x. '])('Windows rejects the trailing dot/space in %j', (name) => {
    expect(localNameProblem(name, 'win32')).toMatch(/end with a dot or a space/);
  });
  it('the same names are fine on Linux and macOS', () => {
    for (const name of ['CON', 'ab:c', 'a?b', 'name.', 'name ', 'a*b']) {
      expect(localNameProblem(name, 'linux')).toBeNull();
      expect(localNameProblem(name, 'darwin')).toBeNull();
    }
  });
  it('rejects control characters and separators everywhere', () => {
    for (const platform of ['win32', 'darwin', 'linux'] as const) {
      expect(localNameProblem('a\u0001', platform)).not.toBeNull();
      expect(localNameProblem('a/b', platform)).not.toBeNull();
      expect(localNameProblem('a\\b', platform)).not.toBeNull();
    }
  });
  it('counts length in UTF-8 bytes on Linux and UTF-16 units on Windows and macOS', () => {
    const e127 = NFC_E.repeat(127); // 254 bytes, 127 units
    const e128 = NFC_E.repeat(128); // 256 bytes
    expect(localNameProblem(e127, 'linux')).toBeNull();
    expect(localNameProblem(e128, 'linux')).toMatch(/255 bytes/);
    expect(localNameProblem(e128, 'win32')).toBeNull();
    expect(localNameProblem(NFC_E.repeat(255), 'darwin')).toBeNull();
    expect(localNameProblem(NFC_E.repeat(256), 'darwin')).toMatch(/255 characters/);
    expect(localNameProblem('x'.repeat(255), 'win32')).toBeNull();
    expect(localNameProblem('x'.repeat(256), 'win32')).toMatch(/255 characters/);
    const emoji = '\u{1F600}';
    expect(platformLength(emoji, 'linux')).toBe(4);
    expect(platformLength(emoji, 'win32')).toBe(2);
    expect(localNameProblem(emoji.repeat(63), 'linux')).toBeNull(); // 252 bytes
    expect(localNameProblem(emoji.repeat(64), 'linux')).not.toBeNull(); // 256 bytes
    expect(localNameProblem(emoji.repeat(128), 'win32')).not.toBeNull(); // 256 units
  });
});

describe('localPathProblem', () => {
  it('checks every segment', () => {
    expect(localPathProblem('ok/CON/x.txt', 'win32', 'file')).toBe('"CON": CON is a reserved device name on Windows');
    expect(localPathProblem('ok/CON/x.txt', 'linux', 'file')).toBeNull();
  });
  it('checks the full length against a configurable limit (Windows MAX_PATH by default)', () => {
    expect(defaultMaxPathLength('win32')).toBe(259);
    const rel = 'd/'.repeat(25) + 'f.txt'; // 55 characters
    expect(localPathProblem(rel, 'win32', 'file', { rootLength: 200 })).toBeNull(); // 200 + 1 + 55 = 256
    expect(localPathProblem(rel, 'win32', 'file', { rootLength: 204 })).toMatch(/260 characters long, more than the 259/);
    expect(localPathProblem(rel, 'win32', 'file', { rootLength: 204, maxPathLength: null })).toBeNull(); // long paths enabled
    expect(localPathProblem(rel, 'win32', 'file', { rootLength: 204, maxPathLength: 32767 })).toBeNull();
    // A folder needs room for an 8.3 name below it.
    expect(localPathProblem(rel, 'win32', 'folder', { rootLength: 200 })).toMatch(/more than the 247/);
    expect(localPathProblem(rel, 'linux', 'folder', { rootLength: 200 })).toBeNull();
    expect(localPathProblem('x'.repeat(200) + '/' + 'y'.repeat(200), 'linux', 'file', { rootLength: 3700 })).toMatch(/4095/);
  });
});

describe('ignore rules', () => {
  it.each([
    '.DS_Store',
    '.ds_store',
    'Thumbs.db',
    'thumbs.DB',
    'desktop.ini',
    'Desktop.ini',
    '._report.docx',
    '~$report.docx',
    '~WRL0001.tmp',
    '.~lock.budget.ods#',
    '.notes.txt.swp',
    'draft.txt~',
    '#draft.txt#',
    '.#draft.txt',
    '$RECYCLE.BIN',
    '.Spotlight-V100',
    'Icon\r',
  ])('%j is junk', (name) => {
    expect(ignoreReason(name)?.kind).toBe('junk');
    expect(isIgnoredName(name, [])).toBe(true);
  });
  it.each(['report.docx', '~report.docx', 'a~b', 'thumbs.db.txt', '.gitignore', 'Icon', 'notes.tmp', 'lock.#'])('%j is not junk', (name) => {
    expect(ignoreReason(name)).toBeNull();
  });
  it('our own temp files are ignored', () => {
    expect(ignoreReason(`${TEMP_PREFIX}123-report.docx`)?.kind).toBe('temp');
  });
  it('applies the policy list case-insensitively, multi-dot included', () => {
    const list = '.exe,.tmp,.QBW.TLG,*.mp3, log';
    expect(ignoreReason('setup.EXE', list)).toEqual({ kind: 'excluded', reason: 'files ending in .exe are excluded by policy' });
    expect(ignoreReason('x.tmp', list)?.kind).toBe('excluded');
    expect(ignoreReason('company.qbw.tlg', list)?.kind).toBe('excluded');
    expect(ignoreReason('company.tlg', list)).toBeNull();
    expect(ignoreReason('song.Mp3', list)?.kind).toBe('excluded');
    expect(ignoreReason('server.log', list)?.kind).toBe('excluded');
    expect(ignoreReason('setup.exe.txt', list)).toBeNull();
    expect(ignoreReason('.tmp', list)).toBeNull(); // as on the server: the name must be longer than the extension
    expect(isIgnoredName('a.exe', ['.exe', '.tmp'])).toBe(true);
    expect(isIgnoredName('a.exe', [])).toBe(false);
  });
  it('parses policy lists like the server', () => {
    expect(parseExcludedExtensions('.exe, *.Tmp ,mp3,,.,*')).toEqual(['.exe', '.tmp', '.mp3']);
    expect(parseExcludedExtensions(['.a,.b', '.c'])).toEqual(['.a', '.b', '.c']);
    expect(parseExcludedExtensions(undefined)).toEqual([]);
    expect(parseExcludedExtensions('.QBW.TLG')).toEqual(['.qbw.tlg']);
  });
});

describe('collision copy names', () => {
  const date = new Date(Date.UTC(2025, 0, 2, 3, 4, 5));
  it.each([
    ['report.docx', 'report (collision 2025-01-02 030405 on PC).docx'],
    ['.bashrc', '.bashrc (collision 2025-01-02 030405 on PC)'],
    ['noext', 'noext (collision 2025-01-02 030405 on PC)'],
    ['archive.tar.gz', 'archive (collision 2025-01-02 030405 on PC).tar.gz'],
    ['books.QBW.TLG', 'books (collision 2025-01-02 030405 on PC).QBW.TLG'],
    ['photo.2024.jpeg', 'photo.2024 (collision 2025-01-02 030405 on PC).jpeg'],
    ['version 1.2', 'version 1.2 (collision 2025-01-02 030405 on PC)'],
    ['a.b c', 'a.b c (collision 2025-01-02 030405 on PC)'],
    ['.config.json', '.config (collision 2025-01-02 030405 on PC).json'],
  ])('%j → %j', (name, expected) => {
    expect(collisionCopyName(name, date, 'PC')).toBe(expected);
  });
  it('keeps folder names whole, cleans the machine name, honours a time zone and a counter', () => {
    expect(collisionCopyName('my.folder', date, 'PC', { isFolder: true })).toBe('my.folder (collision 2025-01-02 030405 on PC)');
    expect(collisionCopyName('a.txt', date, 'DESK:TOP/1?')).toBe('a (collision 2025-01-02 030405 on DESK_TOP_1_).txt');
    expect(collisionCopyName('a.txt', date, '')).toBe('a (collision 2025-01-02 030405 on unknown).txt');
    expect(collisionCopyName('a.txt', date, 'PC', { utcOffsetMinutes: 120 })).toBe('a (collision 2025-01-02 050405 on PC).txt');
    expect(collisionCopyName('a.txt', date, 'PC', { utcOffsetMinutes: -240 })).toBe('a (collision 2025-01-01 230405 on PC).txt');
    expect(collisionCopyName('a.txt', date, 'PC', { counter: 3 })).toBe('a (collision 2025-01-02 030405 on PC 3).txt');
  });
  it('result is a valid name on every platform and fits in 255', () => {
    const long = collisionCopyName('x'.repeat(250) + '.txt', date, 'PC');
    expect(long.length).toBeLessThanOrEqual(255);
    expect(long.endsWith(' (collision 2025-01-02 030405 on PC).txt')).toBe(true);
    for (const platform of ['win32', 'darwin', 'linux'] as const) {
      expect(localNameProblem(collisionCopyName('CON.txt', date, 'a|b'), platform)).toBeNull();
      expect(localNameProblem(long, platform)).toBeNull();
    }
    const multibyte = collisionCopyName(NFC_E.repeat(200) + '.txt', date, 'PC', { platform: 'linux' });
    expect(platformLength(multibyte, 'linux')).toBeLessThanOrEqual(255);
  });
  it('finds a free name', () => {
    const taken = new Set(['a (collision 2025-01-02 030405 on PC).txt', 'a (collision 2025-01-02 030405 on PC 2).txt']);
    expect(uniqueCollisionCopyName('a.txt', date, 'PC', (c) => taken.has(c))).toBe('a (collision 2025-01-02 030405 on PC 3).txt');
  });
  it('splitExtension', () => {
    expect(splitExtension('a.txt')).toEqual({ stem: 'a', ext: '.txt' });
    expect(splitExtension('.env')).toEqual({ stem: '.env', ext: '' });
    expect(splitExtension('x.7z')).toEqual({ stem: 'x', ext: '.7z' });
    expect(splitExtension('x.123')).toEqual({ stem: 'x.123', ext: '' });
  });
});
