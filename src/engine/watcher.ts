// The local watcher: chokidar in directories-only mode. One fs.watch per folder and none per
// file; a folder's fs.watch reports every entry of the folder that changes, which chokidar
// passes on as 'raw' events (see RootSync, which turns them into dirty paths).
//
// chokidar re-reads a folder (throttled to about once a second) whenever its fs.watch fires, to
// add watches for new subfolders and drop those of removed ones. Its lister (readdirp with
// alwaysStat) lstats every entry of the folder for that, files included, although files are
// ignored here: a folder receiving downloads would be lstat'ed entry by entry over and over.
// The lister is replaced with one that lstats folder entries only (readdir's entry types tell
// files and symlinks apart without a stat); what chokidar gets for folders is the same.
import { watch, type FSWatcher } from 'chokidar';
import { lstatSync, promises as fsp, type Stats } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';

export interface FolderWatcherOptions {
  /** Names never looked at (our temp files): dropped before any stat. */
  skipName: (name: string) => boolean;
}

/** How a watcher's folder listings went: read from the disk, or the last one reused (see listFolders). */
export interface ListingCounts {
  read: number;
  reused: number;
}

const listingCounts = new WeakMap<FSWatcher, ListingCounts>();

/** The listing counts of a watcher made by watchFolders (zeros for any other). */
export function folderListings(w: FSWatcher): ListingCounts {
  return { ...(listingCounts.get(w) ?? { read: 0, reused: 0 }) };
}

/** Watches `rootDir` and every folder below it (folders only; see above). */
export function watchFolders(rootDir: string, o: FolderWatcherOptions): FSWatcher {
  const w = watch(rootDir, {
    ignoreInitial: true,
    followSymlinks: false,
    // Called without stats first (skip our temp names there, before any stat), then with them.
    ignored: (p: string, st?: Stats) => o.skipName(path.basename(p)) || (st !== undefined && !st.isDirectory()),
  });
  useFolderLister(w, o);
  return w;
}

interface ListedEntry {
  path: string;
  fullPath: string;
  basename: string;
  stats: Stats;
}

interface ListHooks extends FolderWatcherOptions {
  /** `dir` could not be listed because it no longer exists. */
  gone: (dir: string) => void;
  /** Absolute folder → names its fs.watch reported since its last listing ('unknown': no name given). */
  changed: Map<string, Set<string> | 'unknown'>;
  /** Absolute folder → the subfolders its last listing found. */
  listed: Map<string, ListedEntry[]>;
  counts: ListingCounts;
}

interface ListOptions {
  fileFilter?: (e: ListedEntry) => boolean;
  directoryFilter?: (e: ListedEntry) => boolean;
}

/** chokidar 5's internals this relies on (checked at run time: other versions keep their own lister). */
interface ChokidarInternals {
  closed: boolean;
  _streams: Set<Readable>;
  _watched: Map<string, unknown>;
  _closers: Map<string, unknown>;
  _throttle: (type: string, p: string, timeoutMs: number) => false | { timeoutObject: NodeJS.Timeout; clear: () => number; count: number };
  _readdirp: (root: string, opts?: ListOptions) => Readable | undefined;
}

function useFolderLister(w: FSWatcher, o: FolderWatcherOptions): void {
  const inner = w as unknown as Partial<ChokidarInternals>;
  if (typeof inner._readdirp !== 'function' || !(inner._streams instanceof Set)) return;
  const streams = inner._streams;
  // chokidar looks up (and so re-creates) a folder's entry when it re-reads the folder: a
  // re-read that was queued while the folder was being removed leaves an empty entry behind
  // for good, one per removed folder (a leak over months of folder churn). A folder found gone
  // when listed, with no fs.watch of its own, loses that entry (checked synchronously, so a
  // folder made again at the same path keeps its own).
  const watched = inner._watched instanceof Map ? inner._watched : undefined;
  const closers = inner._closers instanceof Map ? inner._closers : undefined;
  const hooks: ListHooks = {
    ...o,
    changed: new Map(),
    listed: new Map(),
    counts: { read: 0, reused: 0 },
    gone: (dir) => {
      if (!watched || !closers || inner.closed) return;
      const abs = path.resolve(dir);
      if (closers.has(dir) || closers.has(abs) || lstatSync(abs, { throwIfNoEntry: false })) return;
      watched.delete(abs);
    },
  };
  // chokidar re-reads a folder once more when its fs.watch fired during a read (the throttle
  // counts those events and the read's end asks for the count), but the throttle also expires
  // by itself after a second: a read slower than that (a loaded machine) forgets the events
  // that came during it, and a subfolder made then would never be watched. The folder-read
  // throttle is made to last until its read ends (which always comes: the lister never fails).
  const throttle = inner._throttle;
  if (typeof throttle === 'function') {
    inner._throttle = function (this: unknown, type, p, timeoutMs) {
      const thr = throttle.call(this, type, p, timeoutMs);
      if (thr && type === 'readdir') clearTimeout(thr.timeoutObject);
      return thr;
    };
  }
  // Which entries of each folder its fs.watch reported since the folder was last listed (see
  // listFolders): chokidar reads a folder again on every event in it, to find new subfolders,
  // while nearly all of those events are files (downloads, saves) that cannot add one.
  w.on('raw', (_event: string, name: unknown, details: unknown) => {
    const watched = (details as { watchedPath?: unknown } | undefined)?.watchedPath;
    if (typeof watched !== 'string') return;
    const dir = path.resolve(watched);
    const seen = hooks.changed.get(dir);
    if (seen === 'unknown') return;
    // Our own temp files (each download makes and removes one: most events of a folder
    // receiving files) cannot add or remove a subfolder: noted as an event without a name to
    // look at, so the listing they cause reuses the last one without a single stat.
    const entry = typeof name === 'string' && name !== '' && !name.includes('/') && !name.includes('\\') ? name : undefined;
    if (entry !== undefined && hooks.skipName(entry)) {
      if (!seen) hooks.changed.set(dir, new Set());
      return;
    }
    if (entry === undefined) hooks.changed.set(dir, 'unknown');
    else if (seen) seen.add(entry);
    else hooks.changed.set(dir, new Set([entry]));
  });
  listingCounts.set(w, hooks.counts);
  w.on('unlinkDir', (p: string) => {
    hooks.changed.delete(path.resolve(p));
    hooks.listed.delete(path.resolve(p));
  });
  inner._readdirp = (root, opts = {}) => {
    if (inner.closed) return undefined;
    const stream = Readable.from(listFolders(root, opts, hooks), { objectMode: true });
    streams.add(stream);
    stream.once('close', () => streams.delete(stream));
    return stream;
  };
}

/**
 * The subfolders of `dir` as readdirp entries with lstat stats, through chokidar's folder
 * filter. Never fails: an unreadable or vanished folder lists as empty (readdirp warns and ends
 * in those cases; chokidar waits for the end).
 */
async function* listFolders(dir: string, opts: ListOptions, o: ListHooks): AsyncGenerator<ListedEntry> {
  const key = path.resolve(dir);
  // (Taken when the listing starts: events from now on ask chokidar for another listing.)
  const changed = o.changed.get(key);
  o.changed.delete(key);
  const last = o.listed.get(key);
  if (last && changed instanceof Set && (changed.size === 0 || unchangedSubfolders(dir, changed, last, o))) {
    // Only files changed (or only our temp files: nothing to look at): the subfolders are those
    // of the last listing.
    o.counts.reused++;
    for (const entry of last) if (!opts.directoryFilter || opts.directoryFilter(entry)) yield entry;
    return;
  }
  // Kept only once complete (chokidar may stop reading a listing half way).
  o.listed.delete(key);
  o.counts.read++;
  const found: ListedEntry[] = [];
  let dirents;
  try {
    dirents = await fsp.readdir(dir, { withFileTypes: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') o.gone(dir);
    return;
  }
  for (const d of dirents) {
    // Files and symlinks are ignored by the watcher: no stat. (Unknown types are looked at.)
    if (d.isFile() || d.isSymbolicLink() || o.skipName(d.name)) continue;
    const fullPath = path.join(dir, d.name);
    let stats: Stats;
    try {
      stats = await fsp.lstat(fullPath);
    } catch {
      continue;
    }
    if (!stats.isDirectory()) continue;
    const entry: ListedEntry = { path: d.name, fullPath, basename: d.name, stats };
    if (opts.directoryFilter && !opts.directoryFilter(entry)) continue;
    found.push(entry);
    yield entry;
  }
  o.listed.set(key, found);
}

/**
 * Whether the reported `names` cannot have changed the subfolders of `dir` since the listing
 * `last`: the folder is still there, and each name is one of our temp files, or neither a
 * subfolder then nor a folder now (a file, a symlink, or gone). Anything else (a new or removed
 * subfolder, an event without a name) means a real listing.
 */
function unchangedSubfolders(dir: string, names: Set<string>, last: ListedEntry[], o: ListHooks): boolean {
  try {
    if (names.size === 0 || !lstatSync(dir, { throwIfNoEntry: false })?.isDirectory()) return false;
    for (const name of names) {
      if (o.skipName(name)) continue;
      // (Compared in NFC: an event may spell a name in another normalization than readdir.)
      const nfc = name.normalize('NFC');
      if (last.some((e) => e.basename === name || e.basename.normalize('NFC') === nfc)) return false;
      if (lstatSync(path.join(dir, name), { throwIfNoEntry: false })?.isDirectory()) return false;
    }
    return true;
  } catch {
    return false; // (unreadable: the listing says what is there)
  }
}
