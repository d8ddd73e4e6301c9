// Read-only views of a root: children (whole or paged and sorted), search, modified_since,
// revisions, ancestors, and the entries of a ZIP download.
import type { RevisionRow } from '../context.js';
import { errors } from '../errors.js';
import { optBool, optInt, oneOf, type Fields } from '../http.js';
import { rootObject, folderObject, nodeObject, revisionObject, type Json, type RenderOptions } from './render.js';
import type { Scope } from './ops.js';
import { NODE_VIEW, PathResolver, type NodeView } from './tree.js';
import type { ZipEntry } from './zip.js';
import { stmt } from '../db.js';

export const SORT_BY = ['name', 'modified', 'size'] as const;
export const SORT_ORDER = ['asc', 'desc'] as const;
const SORT_COLUMN: Record<(typeof SORT_BY)[number], string> = {
  name: 'n.name_key',
  modified: 'coalesce(r.modified, n.modified)',
  size: 'n.size',
};
/** Highest page number accepted (keeps OFFSET an exact integer). */
const MAX_PAGE = 10_000_000;

export interface Paging {
  page: number;
  page_size: number;
}

/** `page` (1…) and `page_size` (1…100), defaults 1 and 20; anything else is 400 invalid_request. */
export function pagingOf(f: Fields): Paging {
  return {
    page: optInt(f, 'page', { min: 1, max: MAX_PAGE }) ?? 1,
    page_size: optInt(f, 'page_size', { min: 1, max: 100 }) ?? 20,
  };
}

export function paged(p: Paging, total: number, results: Json[]): Json {
  return { page: p.page, page_size: p.page_size, max_page: Math.max(1, Math.ceil(total / p.page_size)), results, total };
}

export function renderOptions(s: Scope, f: Fields): RenderOptions {
  // include_lock_info is accepted (and checked) for compatibility: is_locked is always present.
  optBool(f, 'include_lock_info', true);
  return { now: s.ctx.clock(), permissions: optBool(f, 'include_permissions', false) ? s.access.permissions : undefined };
}

/** All children of a folder (or of the top level) sorted by name. */
export function allChildren(s: Scope, parentId: number | null, includeDeleted: boolean): NodeView[] {
  return stmt(s.ctx.db, `${NODE_VIEW} WHERE n.root_id = ? AND n.parent_id IS ? ${includeDeleted ? '' : 'AND n.is_deleted = 0'} ORDER BY n.name_key, n.name, n.id`)
    .all(s.access.root.id, parentId) as NodeView[];
}

/** GET …/children: one sorted page of a folder's (or the root's) immediate children. */
export function childrenPage(s: Scope, parentId: number | null, f: Fields): Json {
  const includeDeleted = optBool(f, 'include_deleted', true);
  const o = renderOptions(s, f);
  const sortBy = oneOf(f, 'sort_by', SORT_BY, 'name');
  const dir = oneOf(f, 'sort_order', SORT_ORDER, 'asc') === 'asc' ? 'ASC' : 'DESC';
  const p = pagingOf(f);
  const where = `n.root_id = ? AND n.parent_id IS ? ${includeDeleted ? '' : 'AND n.is_deleted = 0'}`;
  const db = s.ctx.db;
  const total = (stmt(db, `SELECT COUNT(*) AS c FROM nodes n WHERE ${where}`).get(s.access.root.id, parentId) as { c: number }).c;
  const rows = stmt(db, `${NODE_VIEW} WHERE ${where} ORDER BY ${SORT_COLUMN[sortBy]} ${dir}, n.name_key ${dir}, n.id ${dir} LIMIT ? OFFSET ?`)
    .all(s.access.root.id, parentId, p.page_size, (p.page - 1) * p.page_size) as NodeView[];
  const paths = new PathResolver(db, s.access.root.id);
  return paged(p, total, rows.map((n) => nodeObject(n, paths, o)));
}

/** The ancestors list of a file or folder: the root object, then the folders outermost first. */
export function ancestorObjects(s: Scope, ancestors: NodeView[], o: RenderOptions): Json[] {
  const paths = new PathResolver(s.ctx.db, s.access.root.id);
  return [rootObject(s.ctx.db, s.access.root, o), ...ancestors.map((a) => folderObject(a, paths.pathOf(a), o))];
}

/** Longest search answer. */
export const SEARCH_LIMIT = 1000;

/** Live files and folders whose name contains `q` (case-insensitive). */
export function search(s: Scope, q: string, o: RenderOptions): Json[] {
  const key = q.normalize('NFC').toLowerCase().normalize('NFC');
  const like = `%${key.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
  const rows = stmt(s.ctx.db, `${NODE_VIEW} WHERE n.root_id = ? AND n.is_deleted = 0 AND n.name_key LIKE ? ESCAPE '\\' ORDER BY n.name_key, n.id LIMIT ?`)
    .all(s.access.root.id, like, SEARCH_LIMIT) as NodeView[];
  const paths = new PathResolver(s.ctx.db, s.access.root.id);
  return rows.map((n) => nodeObject(n, paths, o));
}

/** Files changed on the server (new revision, rename, move, delete) at or after `since`. */
export function modifiedSince(s: Scope, since: string, includeDeleted: boolean, o: RenderOptions): Json[] {
  const rows = stmt(s.ctx.db, `${NODE_VIEW} WHERE n.root_id = ? AND n.kind = 'file' AND n.modified >= ? ${includeDeleted ? '' : 'AND n.is_deleted = 0'} ORDER BY n.modified, n.id`)
    .all(s.access.root.id, since) as NodeView[];
  const paths = new PathResolver(s.ctx.db, s.access.root.id);
  return rows.map((n) => nodeObject(n, paths, o));
}

/** GET …/revisions: newest first; include_related adds the revisions of the files once at the same path. */
export function revisionsPage(s: Scope, file: NodeView, f: Fields): Json {
  const related = optBool(f, 'include_related', false);
  const p = pagingOf(f);
  const db = s.ctx.db;
  const ids = related
    ? (stmt(db, `SELECT id FROM nodes WHERE root_id = ? AND parent_id IS ? AND name_key = ? AND kind = 'file'`).all(file.root_id, file.parent_id, file.name_key) as { id: number }[]).map(
        (r) => r.id,
      )
    : [file.id];
  if (!ids.includes(file.id)) ids.push(file.id);
  const inList = ids.map(() => '?').join(',');
  const total = (stmt(db, `SELECT COUNT(*) AS c FROM revisions WHERE file_id IN (${inList})`).get(...ids) as { c: number }).c;
  const rows = stmt(db, `SELECT * FROM revisions WHERE file_id IN (${inList}) ORDER BY id DESC LIMIT ? OFFSET ?`)
    .all(...ids, p.page_size, (p.page - 1) * p.page_size) as RevisionRow[];
  return paged(p, total, rows.map(revisionObject));
}

/** Parses "1,2,3" (a download's file_ids / folder_ids); 400 for anything else. */
function idList(f: Fields, name: string): number[] | undefined {
  const v = f[name];
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string' || !/^\d{1,15}(,\d{1,15})*$/.test(v)) throw errors.invalidParam(name);
  return v.split(',').map(Number);
}

/**
 * The entries of a ZIP download of a folder (or the whole root): live files and folders,
 * parents first. file_ids / folder_ids (direct children of the folder) narrow it down.
 */
export function zipEntries(s: Scope, baseId: number | null, f: Fields): ZipEntry[] {
  const fileIds = idList(f, 'file_ids');
  const folderIds = idList(f, 'folder_ids');
  const live = stmt(s.ctx.db, `${NODE_VIEW} WHERE n.root_id = ? AND n.is_deleted = 0`).all(s.access.root.id) as NodeView[];
  const children = new Map<number, NodeView[]>();
  for (const n of live) {
    const k = n.parent_id ?? 0;
    const list = children.get(k);
    if (list) list.push(n);
    else children.set(k, [n]);
  }
  for (const list of children.values()) list.sort((a, b) => (a.name_key < b.name_key ? -1 : a.name_key > b.name_key ? 1 : a.id - b.id));
  let top = children.get(baseId ?? 0) ?? [];
  if (fileIds || folderIds) {
    const pick = (ids: number[] | undefined, kind: 'file' | 'folder', param: string): NodeView[] =>
      (ids ?? []).map((id) => {
        const n = top.find((c) => c.id === id && c.kind === kind);
        if (!n) throw errors.invalidParam(param);
        return n;
      });
    top = [...pick(folderIds, 'folder', 'folder_ids'), ...pick(fileIds, 'file', 'file_ids')];
  }
  const out: ZipEntry[] = [];
  const blobs = s.ctx.blobs;
  const visit = (n: NodeView, prefix: string): void => {
    const name = `${prefix}${n.name}`;
    const mtime = new Date(`${n.rev_modified ?? n.modified}Z`);
    if (n.kind === 'folder') {
      out.push({ name: `${name}/`, kind: 'folder', mtime });
      for (const c of children.get(n.id) ?? []) visit(c, `${name}/`);
    } else if (n.rev_blob) {
      const sha = n.rev_blob;
      out.push({ name, kind: 'file', mtime, size: n.size, open: () => blobs.read(sha) });
    }
  };
  for (const n of top) visit(n, '');
  return out;
}
