// Seeded random file operations on a real sync folder, for randomized end-to-end sync tests
// (test/integration/sync-random.test.ts, scripts/soak.js).
//
// A RandomFs plays one user working in one sync folder: it creates, edits (overwrite, append,
// truncate, editor-style save through a junk temp name, rapid same-size re-edits), renames,
// moves and deletes files, creates, renames, moves and deletes folder trees, and renames
// entries in letter case only. Each step looks at the real folder first (the agent changes it
// too), so the next step always fits what is on disk now.
//
// It records every content version it ever wrote (sha256 → where and by which step) and every
// version it destroyed itself (read just before an overwrite or delete: the user's own
// decision). `required()` is what the sync must never lose: versions this user wrote and did
// not destroy. Each must end up somewhere: as a file in a folder, as a collision copy, or as a
// revision on the server.
//
// Writes use synchronous calls with a short check-then-act distance, and new names are only
// chosen when no entry of the folder has the same name in any letter case (the server compares
// names case-insensitively, so a user of a case-sensitive disk who makes "a.txt" next to
// "A.txt" asks for something no case-insensitive peer can hold).
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { TEMP_PREFIX } from '../../src/engine/localfs.js';

/** mulberry32: a small, fast, seedable PRNG (uniform 32-bit output). */
export class Rng {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  /** A uniform float in [0, 1). */
  next(): number {
    let t = (this.state = (this.state + 0x6d2b79f5) >>> 0);
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** An integer in [lo, hi]. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error('pick from an empty list');
    return items[this.int(items.length)]!;
  }

  /** Shuffles `list` in place (Fisher-Yates) and returns it. */
  shuffle<T>(list: T[]): T[] {
    for (let i = list.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [list[i], list[j]] = [list[j]!, list[i]!];
    }
    return list;
  }

  /** An independent stream derived from this seed and a label (the parent stream is not advanced). */
  static derive(seed: number, label: string): Rng {
    const h = createHash('sha256').update(`${seed >>> 0}:${label}`).digest();
    return new Rng(h.readUInt32LE(0));
  }
}

export function sha256(data: Buffer | string): string {
  return createHash('sha256').update(data).digest('hex');
}

export interface DiskEntry {
  path: string;
  kind: 'file' | 'folder';
}

/** Every file and folder under `root` ("/"-separated relative paths, sorted), tolerant of concurrent changes. */
export function listTree(root: string, opts: { includeTemp?: boolean } = {}): DiskEntry[] {
  const out: DiskEntry[] = [];
  const walk = (abs: string, rel: string): void => {
    let ents: fs.Dirent[];
    try {
      ents = fs.readdirSync(abs, { withFileTypes: true });
    } catch {
      return; // removed meanwhile
    }
    for (const e of ents.sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0))) {
      if (!opts.includeTemp && e.name.startsWith(TEMP_PREFIX)) continue;
      const r = rel ? `${rel}/${e.name}` : e.name;
      if (e.isDirectory()) {
        out.push({ path: r, kind: 'folder' });
        walk(path.join(abs, e.name), r);
      } else if (e.isFile()) out.push({ path: r, kind: 'file' });
    }
  };
  walk(root, '');
  return out;
}

/** Relative path → sha256 of every file ("/" for folders) under `root`, temp files included. */
export function hashTree(root: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const e of listTree(root, { includeTemp: true })) {
    if (e.kind === 'folder') out.set(e.path, '/');
    else {
      try {
        out.set(e.path, sha256(fs.readFileSync(path.join(root, ...e.path.split('/')))));
      } catch {
        // removed meanwhile
      }
    }
  }
  return out;
}

export type OpKind =
  | 'createFile'
  | 'overwrite'
  | 'append'
  | 'truncate'
  | 'atomicSave'
  | 'rapidReEdit'
  | 'renameFile'
  | 'moveFile'
  | 'deleteFile'
  | 'mkdir'
  | 'renameFolder'
  | 'moveFolder'
  | 'deleteFolder'
  | 'caseRename';

export const OP_KINDS: readonly OpKind[] = [
  'createFile',
  'overwrite',
  'append',
  'truncate',
  'atomicSave',
  'rapidReEdit',
  'renameFile',
  'moveFile',
  'deleteFile',
  'mkdir',
  'renameFolder',
  'moveFolder',
  'deleteFolder',
  'caseRename',
];

const WEIGHTS: Record<OpKind, number> = {
  createFile: 16,
  overwrite: 9,
  append: 7,
  truncate: 3,
  atomicSave: 5,
  rapidReEdit: 4,
  renameFile: 6,
  moveFile: 6,
  deleteFile: 5,
  mkdir: 6,
  renameFolder: 3,
  moveFolder: 3,
  deleteFolder: 2,
  caseRename: 3,
};

/** Shared by every RandomFs, so two users pick the same names and collide. */
export const FILE_NAMES = ['a.txt', 'b.txt', 'c.md', 'notes.txt', 'data.bin', 'e', 'report.doc', 'todo.txt'] as const;
export const FOLDER_NAMES = ['x', 'y', 'docs', 'photos', 'zeta'] as const;

export interface WrittenVersion {
  sha256: string;
  size: number;
  writer: string;
  /** Step number of the RandomFs that wrote it. */
  step: number;
  kind: OpKind;
  path: string;
  /** ms since the RandomFs was created. */
  at: number;
}

export interface RandomFsOptions {
  /** Put into every content version (e.g. "seed 42"), so versions of different runs never match. */
  tag: string;
  /** Deepest folder nesting created by mkdir / moveFolder (default 3). */
  maxDepth?: number;
  /** Above this many entries, deletes become likelier than creations (default 60). */
  maxEntries?: number;
  /** Chance that a new version is large (30–150 kB; default 0.04). */
  largeChance?: number;
}

function errCode(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
}

const lower = (s: string): string => s.toLowerCase();
const parentOf = (p: string): string => (p.includes('/') ? p.slice(0, p.lastIndexOf('/')) : '');
const baseOf = (p: string): string => p.slice(p.lastIndexOf('/') + 1);
const depthOf = (p: string): number => (p === '' ? 0 : p.split('/').length);
const join = (dir: string, name: string): string => (dir ? `${dir}/${name}` : name);
const inside = (anc: string, p: string): boolean => p === anc || p.startsWith(`${anc}/`);

/** Toggle the letter case of the first letter of a name ("a.txt" ↔ "A.txt"); null if it has none. */
export function toggleFirstLetterCase(name: string): string | null {
  const i = [...name].findIndex((c) => c.toLowerCase() !== c.toUpperCase());
  if (i < 0) return null;
  const c = name[i]!;
  const t = c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase();
  return name.slice(0, i) + t + name.slice(i + 1);
}

export class RandomFs {
  /** sha256 → the first write of that content. */
  readonly written = new Map<string, WrittenVersion>();
  /** Versions this user overwrote, truncated or deleted itself. */
  readonly destroyed = new Set<string>();
  /** One line per step ("12 13:06:14.251 append x/a.txt -5e6f7a8b +1a2b3c4d": step, UTC time, what). */
  readonly log: string[] = [];
  readonly counts: Record<OpKind | 'raced' | 'skipped', number>;
  private steps = 0;
  private readonly started = Date.now();
  private readonly maxDepth: number;
  private readonly maxEntries: number;
  private readonly largeChance: number;

  constructor(
    readonly name: string,
    readonly root: string,
    private readonly rng: Rng,
    private readonly opts: RandomFsOptions,
  ) {
    this.maxDepth = opts.maxDepth ?? 3;
    this.maxEntries = opts.maxEntries ?? 60;
    this.largeChance = opts.largeChance ?? 0.04;
    this.counts = Object.fromEntries([...OP_KINDS, 'raced', 'skipped'].map((k) => [k, 0])) as RandomFs['counts'];
  }

  get stepCount(): number {
    return this.steps;
  }

  /** Versions that must survive: written by this user and not destroyed by this user. */
  required(): WrittenVersion[] {
    return [...this.written.values()].filter((v) => !this.destroyed.has(v.sha256));
  }

  /** Log lines of the steps that wrote or destroyed `sha` (for failure reports). */
  historyOf(sha: string): string[] {
    const short = sha.slice(0, 8);
    return this.log.filter((l) => l.includes(short));
  }

  private abs(rel: string): string {
    return rel === '' ? this.root : path.join(this.root, ...rel.split('/'));
  }

  /** Names in folder `dir` (null if it is gone). */
  private namesIn(dir: string): string[] | null {
    try {
      return fs.readdirSync(this.abs(dir));
    } catch {
      return null;
    }
  }

  /** A name of `pool` that no entry of `dir` has in any letter case (null if none or dir gone). */
  private freeName(dir: string, pool: readonly string[]): string | null {
    const names = this.namesIn(dir);
    if (!names) return null;
    const taken = new Set(names.map(lower));
    const free = pool.filter((n) => !taken.has(lower(n)));
    return free.length ? this.rng.pick(free) : null;
  }

  private isFree(dir: string, name: string): boolean {
    const names = this.namesIn(dir);
    return !!names && !names.some((n) => lower(n) === lower(name));
  }

  private randomSize(): number {
    const r = this.rng.next();
    if (r < this.largeChance) return this.rng.range(30_000, 150_000);
    if (r < 0.65) return this.rng.range(60, 400);
    return this.rng.range(400, 6000);
  }

  /** A new, unique content version of exactly `size` bytes (at least 80). */
  private content(sub: number, size = this.randomSize()): Buffer {
    const len = Math.max(80, size);
    const head = `${this.name} ${this.opts.tag} step ${this.steps}.${sub} ${this.rng.int(1e9)}\n`;
    const parts = [head];
    let n = head.length;
    for (let line = 0; n < len; line++) {
      const s = `${this.name}-${this.steps}-${line} ${this.rng.int(1e9).toString(36)} ${'lorem ipsum dolor sit amet '.slice(0, this.rng.int(28))}\n`;
      parts.push(s);
      n += s.length;
    }
    return Buffer.from(parts.join('').slice(0, len));
  }

  private record(data: Buffer, kind: OpKind, rel: string): string {
    const sha = sha256(data);
    if (!this.written.has(sha)) this.written.set(sha, { sha256: sha, size: data.length, writer: this.name, step: this.steps, kind, path: rel, at: Date.now() - this.started });
    return `+${sha.slice(0, 8)}`;
  }

  private destroy(data: Buffer): string {
    const sha = sha256(data);
    this.destroyed.add(sha);
    return `-${sha.slice(0, 8)}`;
  }

  private chooseKind(entries: DiskEntry[]): OpKind {
    const crowded = entries.length > this.maxEntries;
    const w = OP_KINDS.map((k) => {
      let x = WEIGHTS[k];
      if (crowded && (k === 'createFile' || k === 'mkdir')) x /= 3;
      if (crowded && (k === 'deleteFile' || k === 'deleteFolder')) x *= 4;
      return x;
    });
    let r = this.rng.next() * w.reduce((s, x) => s + x, 0);
    for (let i = 0; i < OP_KINDS.length; i++) {
      r -= w[i]!;
      if (r < 0) return OP_KINDS[i]!;
    }
    return 'createFile';
  }

  /** Performs one random operation on the folder; returns its log line. */
  async step(): Promise<string> {
    this.steps++;
    const entries = listTree(this.root);
    const files = entries.filter((e) => e.kind === 'file').map((e) => e.path);
    const folders = entries.filter((e) => e.kind === 'folder').map((e) => e.path);
    let kind = this.chooseKind(entries);
    const needsFile: OpKind[] = ['overwrite', 'append', 'truncate', 'atomicSave', 'rapidReEdit', 'renameFile', 'moveFile', 'deleteFile'];
    const needsFolder: OpKind[] = ['renameFolder', 'moveFolder', 'deleteFolder'];
    if (needsFile.includes(kind) && files.length === 0) kind = 'createFile';
    if (needsFolder.includes(kind) && folders.length === 0) kind = 'mkdir';
    if (kind === 'caseRename' && entries.length === 0) kind = 'createFile';
    let line: string;
    // The time of day (UTC, as in the agents' activity logs) to line steps up with what the agents did.
    const at = `${this.steps} ${new Date().toISOString().slice(11, 23)}`;
    try {
      const detail = await this.run(kind, files, folders, entries);
      if (detail === null) {
        this.counts.skipped++;
        line = `${at} ${kind} (nothing fits)`;
      } else {
        this.counts[kind]++;
        line = `${at} ${kind} ${detail}`;
      }
    } catch (err) {
      // The agent moved or removed what this step was about to touch: a race, not a failure.
      this.counts.raced++;
      line = `${at} ${kind} raced: ${errCode(err)}`;
    }
    this.log.push(line);
    return line;
  }

  private async run(kind: OpKind, files: string[], folders: string[], entries: DiskEntry[]): Promise<string | null> {
    const rng = this.rng;
    switch (kind) {
      case 'createFile': {
        const dir = rng.pick(['', '', ...folders]);
        const name = this.freeName(dir, FILE_NAMES);
        if (name === null) return null;
        const rel = join(dir, name);
        const data = this.content(0);
        fs.writeFileSync(this.abs(rel), data, { flag: 'wx' });
        return `${rel} ${this.record(data, kind, rel)}`;
      }
      case 'overwrite':
      case 'append':
      case 'truncate': {
        const rel = rng.pick(files);
        // The new bytes are ready before the file is opened (as in an editor's save): the file
        // is open for microseconds. (A writer that keeps a file open while the agent replaces
        // it, and writes afterwards, writes into the replaced file: see the engine's notes.)
        const fresh = kind === 'overwrite' ? this.content(0) : kind === 'append' ? this.content(0, rng.range(80, 1500)) : undefined;
        const cut = rng.next();
        const fd = fs.openSync(this.abs(rel), 'r+');
        try {
          const old = fs.readFileSync(fd);
          let now: Buffer;
          if (kind === 'overwrite') {
            now = fresh!;
            fs.writeSync(fd, now, 0, now.length, 0);
            fs.ftruncateSync(fd, now.length);
          } else if (kind === 'append') {
            const extra = fresh!;
            fs.writeSync(fd, extra, 0, extra.length, old.length);
            now = Buffer.concat([old, extra]);
          } else {
            const len = Math.floor(cut * old.length);
            fs.ftruncateSync(fd, len);
            now = old.subarray(0, len);
          }
          // The inode now holds `now`, whatever the agent did to the path meanwhile.
          return `${rel} ${this.destroy(old)} ${this.record(now, kind, rel)}`;
        } finally {
          fs.closeSync(fd);
        }
      }
      case 'atomicSave': {
        // Editors: write "name~" (junk, never synced), then rename it over the file (new inode).
        const rel = rng.pick(files);
        const target = this.abs(rel);
        const tmp = `${target}~`;
        const data = this.content(0);
        fs.writeFileSync(tmp, data);
        try {
          const old = fs.readFileSync(target);
          fs.renameSync(tmp, target);
          return `${rel} ${this.destroy(old)} ${this.record(data, kind, rel)}`;
        } finally {
          fs.rmSync(tmp, { force: true });
        }
      }
      case 'rapidReEdit': {
        // Several same-size rewrites within a few milliseconds, often within one (size and the
        // millisecond of the mtime stay put: only the content tells the versions apart).
        const rel = rng.pick(files);
        const size = rng.range(80, 600);
        const times = rng.range(2, 4);
        const parts: string[] = [];
        for (let i = 0; i < times; i++) {
          const now = this.content(i, size);
          let fd: number;
          try {
            fd = fs.openSync(this.abs(rel), 'r+');
          } catch (err) {
            if (i === 0) throw err;
            parts.push(`(then raced: ${errCode(err)})`);
            break;
          }
          try {
            const old = fs.readFileSync(fd);
            fs.writeSync(fd, now, 0, now.length, 0);
            fs.ftruncateSync(fd, now.length);
            parts.push(this.destroy(old), this.record(now, kind, rel));
          } finally {
            fs.closeSync(fd);
          }
          // Often no pause at all: the next write lands within the same millisecond.
          const gap = rng.int(3);
          if (gap > 0 && i < times - 1) await sleep(gap);
        }
        return `${rel} x${times} ${parts.join(' ')}`;
      }
      case 'renameFile': {
        const rel = rng.pick(files);
        const dir = parentOf(rel);
        const name = this.freeName(dir, FILE_NAMES);
        if (name === null) return null;
        const to = join(dir, name);
        fs.renameSync(this.abs(rel), this.abs(to));
        return `${rel} -> ${to}`;
      }
      case 'moveFile': {
        const rel = rng.pick(files);
        const dirs = ['', ...folders].filter((d) => d !== parentOf(rel));
        if (dirs.length === 0) return null;
        const dir = rng.pick(dirs);
        const name = this.isFree(dir, baseOf(rel)) ? baseOf(rel) : this.freeName(dir, FILE_NAMES);
        if (name === null) return null;
        const to = join(dir, name);
        fs.renameSync(this.abs(rel), this.abs(to));
        return `${rel} -> ${to}`;
      }
      case 'deleteFile': {
        const rel = rng.pick(files);
        const old = fs.readFileSync(this.abs(rel));
        fs.unlinkSync(this.abs(rel));
        return `${rel} ${this.destroy(old)}`;
      }
      case 'mkdir': {
        const dirs = ['', ...folders].filter((d) => depthOf(d) < this.maxDepth);
        const dir = rng.pick(dirs);
        const name = this.freeName(dir, FOLDER_NAMES);
        if (name === null) return null;
        const rel = join(dir, name);
        fs.mkdirSync(this.abs(rel));
        return rel;
      }
      case 'renameFolder': {
        const rel = rng.pick(folders);
        const name = this.freeName(parentOf(rel), FOLDER_NAMES);
        if (name === null) return null;
        const to = join(parentOf(rel), name);
        fs.renameSync(this.abs(rel), this.abs(to));
        return `${rel} -> ${to}`;
      }
      case 'moveFolder': {
        const rel = rng.pick(folders);
        const height = Math.max(...folders.filter((f) => inside(rel, f)).map((f) => depthOf(f) - depthOf(rel))) + 1;
        const dirs = ['', ...folders].filter((d) => !inside(rel, d) && d !== parentOf(rel) && depthOf(d) + height <= this.maxDepth);
        if (dirs.length === 0) return null;
        const dir = rng.pick(dirs);
        const name = this.isFree(dir, baseOf(rel)) ? baseOf(rel) : this.freeName(dir, FOLDER_NAMES);
        if (name === null) return null;
        const to = join(dir, name);
        fs.renameSync(this.abs(rel), this.abs(to));
        return `${rel} -> ${to}`;
      }
      case 'deleteFolder': {
        // Like a file manager: delete each file seen (read first: the user's own decision),
        // then the folders, deepest first. Whatever the agent put in meanwhile (a file it
        // downloaded, or a folder it moved back in) was not seen, is not deleted, and keeps
        // its folder ("folder not empty"), so every destroyed version is one this user saw.
        const rel = rng.pick(folders);
        const base = this.abs(rel);
        const parts: string[] = [];
        const seen = listTree(base);
        for (const e of seen) {
          if (e.kind !== 'file') continue;
          const abs = path.join(base, ...e.path.split('/'));
          try {
            const data = fs.readFileSync(abs);
            fs.unlinkSync(abs);
            parts.push(this.destroy(data));
          } catch {
            // moved or removed by the agent meanwhile: not this user's to delete
          }
        }
        let kept = 0;
        for (const dir of [...seen.filter((e) => e.kind === 'folder').map((e) => path.join(base, ...e.path.split('/'))).reverse(), base]) {
          try {
            fs.rmdirSync(dir);
          } catch {
            kept++;
          }
        }
        return `${rel} ${parts.join(' ')}${kept ? ` (${kept} folder(s) not empty any more: kept)` : ''}`.trimEnd();
      }
      case 'caseRename': {
        const e = rng.pick(entries);
        const dir = parentOf(e.path);
        const name = toggleFirstLetterCase(baseOf(e.path));
        if (name === null) return null;
        const names = this.namesIn(dir);
        if (!names || names.some((n) => n !== baseOf(e.path) && lower(n) === lower(name))) return null;
        const to = join(dir, name);
        fs.renameSync(this.abs(e.path), this.abs(to));
        return `${e.path} -> ${to}`;
      }
    }
  }
}

export interface MissingVersion extends WrittenVersion {
  history: string[];
}

/**
 * The required versions of `users` that are in none of `present` (content hashes of the folders
 * and of the server's revision blobs), with the log lines that touched them.
 */
export function missingVersions(users: readonly RandomFs[], present: ReadonlySet<string>): MissingVersion[] {
  const out: MissingVersion[] = [];
  for (const u of users) {
    for (const v of u.required()) if (!present.has(v.sha256)) out.push({ ...v, history: users.flatMap((x) => x.historyOf(v.sha256).map((l) => `${x.name} ${l}`)) });
  }
  return out;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
