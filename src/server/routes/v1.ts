// API v1 (000/001): account info and metadata listings, authenticated by `?session_token=`.
// Errors use the documented v1 shape {status_code, message, code: "error"} with a matching
// HTTP status. (`POST /1/auth/` lives in auth.ts.)
import { createHash } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { NodeRow, PersonRow, RootRow, ServerContext } from '../context.js';
import { ApiError, errors } from '../errors.js';
import type { Router } from '../http.js';
import { apiTime, formatSize, parseApiDatetime } from '../time.js';
import { canAccessRoot, displayName, personSpaceUsage, rootById, rootSpaceUsed, rootsOfPerson } from '../views.js';
import { stmt } from '../db.js';

function v1Person(ctx: ServerContext, req: FastifyRequest): PersonRow {
  try {
    return ctx.requirePrincipal(req).person;
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) throw errors.v1(401, 'invalid or expired session_token');
    throw e;
  }
}

const ICONS: [RegExp, string][] = [
  [/\.(jpe?g|png|gif|bmp|tiff?|webp|heic|svg)$/i, 'page_white_picture'],
  [/\.(txt|md|rtf|csv|log)$/i, 'page_white_text'],
  [/\.pdf$/i, 'page_white_acrobat'],
  [/\.(docx?|odt)$/i, 'page_white_word'],
  [/\.(xlsx?|ods)$/i, 'page_white_excel'],
  [/\.(pptx?|odp)$/i, 'page_white_powerpoint'],
  [/\.(zip|gz|tgz|bz2|xz|7z|rar|tar)$/i, 'page_white_compressed'],
  [/\.(mp3|wav|ogg|flac|m4a|aac)$/i, 'page_white_sound'],
  [/\.(mp4|mov|avi|mkv|wmv|m4v|webm)$/i, 'page_white_film'],
  [/\.(js|ts|py|c|h|cpp|java|go|rs|rb|php|html?|css|json|xml|sh)$/i, 'page_white_code'],
];

function iconFor(name: string): string {
  for (const [re, icon] of ICONS) if (re.test(name)) return icon;
  return 'page_white';
}

function joinPath(parent: string, name: string): string {
  return parent === '/' ? `/${name}` : `${parent}/${name}`;
}

function timeOf(s: string): Date | undefined {
  const d = parseApiDatetime(s) ?? new Date(s);
  return Number.isNaN(d.getTime()) ? undefined : d;
}

/** A folder entry: the documented example gives folders rev 0 and zero times/sizes. */
function folderEntry(path: string, rootId: number, deleted: boolean): Record<string, unknown> {
  return {
    rev: 0,
    thumb_exists: false,
    modified_unix_timestamp: 0,
    path,
    is_dir: true,
    client_mtime: 0,
    size: '0B',
    is_deleted: deleted,
    bytes: 0,
    modified: 0,
    icon: 'folder',
    root: rootId,
  };
}

function fileEntry(node: NodeRow, path: string): Record<string, unknown> {
  const when = timeOf(node.modified);
  const stamp = when ? apiTime(when) : 0;
  return {
    rev: node.revision_id ?? 0,
    thumb_exists: false,
    modified_unix_timestamp: when ? Math.floor(when.getTime() / 1000) : 0,
    path,
    is_dir: false,
    client_mtime: stamp,
    size: formatSize(node.size),
    is_deleted: !!node.is_deleted,
    bytes: node.size,
    modified: stamp,
    icon: iconFor(node.name),
    root: node.root_id,
  };
}

function entryOf(node: NodeRow, path: string): Record<string, unknown> {
  return node.kind === 'folder' ? folderEntry(path, node.root_id, !!node.is_deleted) : fileEntry(node, path);
}

function nameKey(name: string): string {
  return name.normalize('NFC').toLowerCase();
}

function childrenOf(ctx: ServerContext, rootId: number, parentId: number | null, includeDeleted: boolean): NodeRow[] {
  return stmt(ctx.db, `SELECT * FROM nodes WHERE root_id = ? AND parent_id IS ? ${includeDeleted ? '' : 'AND is_deleted = 0'} ORDER BY name_key, id`)
    .all(rootId, parentId) as NodeRow[];
}

/** The live node at `segments` below the root, or undefined. */
function resolvePath(ctx: ServerContext, root: RootRow, segments: string[]): NodeRow | undefined {
  let parent: NodeRow | undefined;
  for (const seg of segments) {
    if (parent && parent.kind !== 'folder') return undefined;
    const want = nameKey(seg);
    parent = childrenOf(ctx, root.id, parent ? parent.id : null, false).find((n) => nameKey(n.name) === want);
    if (!parent) return undefined;
  }
  return parent;
}

function truthy(v: unknown): boolean {
  return typeof v === 'string' && ['true', '1'].includes(v.toLowerCase());
}

export function registerV1Routes(r: Router, ctx: ServerContext): void {
  const accountInfo = async (req: FastifyRequest) => {
    const me = v1Person(ctx, req);
    const usage = personSpaceUsage(ctx.db, me.id);
    return {
      id: me.id,
      first_name: me.first_name,
      last_name: me.last_name,
      display_name: displayName(me),
      email: me.email,
      root_id: me.root_id,
      space_usage: usage,
      space_usage_formatted: formatSize(usage),
      space_quota: me.space_quota,
      space_quota_formatted: me.space_quota === null ? null : formatSize(me.space_quota),
      roots: rootsOfPerson(ctx.db, me.id).map((root) => ({ type: root.root_type, space_used: rootSpaceUsed(ctx.db, root.id), id: root.id, name: root.name })),
      success: true,
    };
  };
  r.get('/1/account/info/', accountInfo);
  r.get('/1/account/info', accountInfo);

  const metadata = async (req: FastifyRequest) => {
    const me = v1Person(ctx, req);
    const params = req.params as { root_id: string; '*'?: string };
    const rootParam = params.root_id;
    const root = /^\d{1,15}$/.test(rootParam) ? rootById(ctx.db, Number(rootParam)) : undefined;
    if (!root || root.deleted) throw errors.v1(404, `unknown root with id ${rootParam.slice(0, 40)}`);
    if (!canAccessRoot(ctx, me, root)) throw errors.v1(403, `access denied to root with id ${root.id}`);

    const segments = (params['*'] ?? '').split('/').filter((s) => s !== '');
    const path = segments.length ? `/${segments.join('/')}` : '/';
    let node: NodeRow | undefined;
    if (segments.length) {
      node = resolvePath(ctx, root, segments);
      if (!node) throw errors.v1(404, `unknown path ${path.slice(0, 1024)}`);
    }
    const nodePath = node ? joinPath(path.slice(0, path.lastIndexOf('/')) || '/', node.name) : '/';
    if (node && node.kind === 'file') return { ...fileEntry(node, nodePath), status_code: 200 };

    const q = (req.query ?? {}) as Record<string, unknown>;
    const contents = childrenOf(ctx, root.id, node ? node.id : null, truthy(q.include_deleted)).map((child) => entryOf(child, joinPath(nodePath, child.name)));
    const hash = createHash('sha1').update(JSON.stringify(contents)).digest('hex');
    const self = folderEntry(nodePath, root.id, false);
    const { icon, root: rootId, ...head } = self;
    return { hash, ...head, contents, status_code: 200, icon, root: rootId };
  };
  r.get('/1/metadata/:root_id', metadata);
  r.get('/1/metadata/:root_id/*', metadata);
}
