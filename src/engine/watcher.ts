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
import { promises as fsp, type Stats } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';

export interface FolderWatcherOptions {
  /** Names never looked at (our temp files): dropped before any stat. */
  skipName: (name: string) => boolean;
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

interface ListOptions {
  fileFilter?: (e: ListedEntry) => boolean;
  directoryFilter?: (e: ListedEntry) => boolean;
}

/** chokidar 5's internals this relies on (checked at run time: other versions keep their own lister). */
interface ChokidarInternals {
  closed: boolean;
  _streams: Set<Readable>;
  _readdirp: (root: string, opts?: ListOptions) => Readable | undefined;
}

function useFolderLister(w: FSWatcher, o: FolderWatcherOptions): void {
  const inner = w as unknown as Partial<ChokidarInternals>;
  if (typeof inner._readdirp !== 'function' || !(inner._streams instanceof Set)) return;
  const streams = inner._streams;
  inner._readdirp = (root, opts = {}) => {
    if (inner.closed) return undefined;
    const stream = Readable.from(listFolders(root, opts, o), { objectMode: true });
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
async function* listFolders(dir: string, opts: ListOptions, o: FolderWatcherOptions): AsyncGenerator<ListedEntry> {
  let dirents;
  try {
    dirents = await fsp.readdir(dir, { withFileTypes: true });
  } catch {
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
    yield entry;
  }
}
