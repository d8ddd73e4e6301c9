// The documented file system objects (root, folder, file, revision) as JSON, plus the
// `sha256` extension on files and revisions, and the caching `hash` of roots and folders.
import { createHash } from 'node:crypto';
import type { RevisionRow, RootRow } from '../context.js';
import type { DB } from '../db.js';
import { formatSize } from '../time.js';
import { rootObject as summaryRootObject } from '../views.js';
import { lockActive, type Permission } from './access.js';
import type { NodeView, PathResolver } from './tree.js';

/** What every object of one response shares. */
export interface RenderOptions {
  now: Date;
  /** Set when include_permissions is true: added to every file, folder and root object. */
  permissions?: readonly Permission[];
}

export type Json = Record<string, unknown>;

export function fileObject(n: NodeView, path: string, o: RenderOptions): Json {
  const out: Json = {
    type: 'file',
    id: n.id,
    revision_id: n.revision_id,
    root_id: n.root_id,
    name: n.name,
    path,
    is_deleted: n.is_deleted === 1,
    created: n.created,
    modified: n.rev_modified ?? n.modified,
    size: n.size,
    size_formatted: formatSize(n.size),
    is_locked: lockActive(n, o.now),
    sha256: n.rev_blob,
  };
  if (o.permissions) out.permissions = [...o.permissions];
  return out;
}

export function folderObject(n: NodeView, path: string, o: RenderOptions): Json {
  const out: Json = {
    type: 'folder',
    id: n.id,
    root_id: n.root_id,
    name: n.name,
    path,
    is_deleted: n.is_deleted === 1,
    is_locked: lockActive(n, o.now),
  };
  if (o.permissions) out.permissions = [...o.permissions];
  return out;
}

export function nodeObject(n: NodeView, paths: PathResolver, o: RenderOptions): Json {
  const path = paths.pathOf(n);
  return n.kind === 'file' ? fileObject(n, path, o) : folderObject(n, path, o);
}

export function rootObject(db: DB, root: RootRow, o: RenderOptions): Json {
  const out: Json = summaryRootObject(db, root, o.now);
  if (o.permissions) out.permissions = [...o.permissions];
  return out;
}

export function revisionObject(r: RevisionRow): Json {
  return {
    type: 'revision',
    id: r.id,
    file_id: r.file_id,
    root_id: r.root_id,
    created: r.created,
    modified: r.modified,
    full_size: r.full_size,
    full_size_formatted: formatSize(r.full_size),
    delta_size: r.delta_size,
    delta_size_formatted: r.delta_size === null ? null : formatSize(r.delta_size),
    file_size: r.file_size,
    file_size_formatted: formatSize(r.file_size),
    sha256: r.blob,
  };
}

/** The caching hash of a root or folder response: a digest of everything else in it. */
export function responseHash(body: Json): string {
  return createHash('sha256').update(JSON.stringify(body)).digest('hex').slice(0, 40);
}
