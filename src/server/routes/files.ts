// API v2 file system methods: /api/2/files/<root_id>[/folder/<folder_id>|/<file_id>]/…
// (documented root, folder and file methods), plus the extensions the sync agent needs:
// `sha256` on file and revision objects, POST …/<file_id>/upload with base_revision_id, and
// an optional base_revision_id on file rename, move and delete.
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ServerContext } from '../context.js';
import { errors } from '../errors.js';
import { fieldsOf, OK, optBool, optInt, optString, pathId, reqString, type Router } from '../http.js';
import { parseApiDatetime } from '../time.js';
import { openRoot } from '../files/access.js';
import { bodyFor, contentDisposition, sendRevision } from '../files/download.js';
import { abandonBody, postFields } from '../files/fields.js';
import {
  allChildren,
  ancestorObjects,
  childrenPage,
  modifiedSince,
  renderOptions,
  revisionsPage,
  search,
  zipEntries,
} from '../files/listing.js';
import {
  createFolder,
  deleteNode,
  lockDuration,
  lockNode,
  lockRoot,
  moveNode,
  optBaseRevision,
  renameNode,
  unlockNode,
  unlockRoot,
  type Scope,
} from '../files/ops.js';
import { fileObject, folderObject, nodeObject, responseHash, revisionObject, rootObject, type Json } from '../files/render.js';
import { ancestorsOf, getRevision, PathResolver, requireNode, type NodeView } from '../files/tree.js';
import { handleUpload, type UploadTarget } from '../files/upload.js';
import { zipStream } from '../files/zip.js';

const BASE = '/api/2/files/:root_id';
const FOLDER = `${BASE}/folder/:folder_id`;
const FILE = `${BASE}/:file_id`;

export function registerFileRoutes(r: Router, ctx: ServerContext): void {
  /** Authenticates the caller and opens the root of the path (404 / 403 / 410). */
  const scope = (req: FastifyRequest): Scope => {
    const { person } = ctx.requirePrincipal(req);
    return { ctx, access: openRoot(ctx, person, pathId(req, 'root_id')) };
  };

  const notModified = (reply: FastifyReply) => reply.status(304).send({ status: 'not_modified' });

  const pathOf = (s: Scope, n: NodeView) => new PathResolver(ctx.db, s.access.root.id).pathOf(n);

  // ----- root -----

  r.get(BASE, async (req, reply) => {
    const s = scope(req);
    const f = fieldsOf(req);
    const includeChildren = optBool(f, 'include_children', true);
    const includeDeleted = optBool(f, 'include_deleted', true);
    const hash = optString(f, 'hash');
    const o = renderOptions(s, f);
    const body = rootObject(ctx.db, s.access.root, o);
    if (!includeChildren) return body;
    const paths = new PathResolver(ctx.db, s.access.root.id);
    body.children = allChildren(s, null, includeDeleted).map((n) => nodeObject(n, paths, o));
    const h = responseHash(body);
    if (hash === h) return notModified(reply);
    body.hash = h;
    return body;
  });

  r.get(`${BASE}/children`, async (req) => {
    const s = scope(req);
    return childrenPage(s, null, fieldsOf(req));
  });

  r.post(`${BASE}/upload`, async (req) => upload(req, () => ({ kind: 'new', parentId: null })));

  r.post(`${BASE}/create_folder`, async (req) => {
    const s = scope(req);
    const f = await postFields(req);
    const node = createFolder(s, null, reqString(f, 'name'));
    return folderObject(node, pathOf(s, node), { now: ctx.clock() });
  });

  r.get(`${BASE}/search`, async (req) => {
    const s = scope(req);
    const f = fieldsOf(req);
    const q = reqString(f, 'q');
    return { results: search(s, q, renderOptions(s, f)) };
  });

  r.get(`${BASE}/modified_since`, async (req) => {
    const s = scope(req);
    const f = fieldsOf(req);
    const since = reqString(f, 'since');
    if (!parseApiDatetime(since)) throw errors.invalidDatetime();
    const includeDeleted = optBool(f, 'include_deleted', true);
    return { results: modifiedSince(s, since, includeDeleted, renderOptions(s, f)) };
  });

  r.post(`${BASE}/lock`, async (req) => {
    const s = scope(req);
    lockRoot(s, lockDuration(await postFields(req)));
    return OK;
  });

  r.post(`${BASE}/unlock`, async (req) => {
    const s = scope(req);
    await postFields(req);
    unlockRoot(s);
    return OK;
  });

  r.get(`${BASE}/download`, async (req, reply) => {
    const s = scope(req);
    const entries = zipEntries(s, null, fieldsOf(req));
    return sendZip(req, reply, `${s.access.root.name}.zip`, entries);
  });

  // ----- folders -----

  const folderOf = (s: Scope, req: FastifyRequest) => requireNode(ctx.db, s.access.root.id, pathId(req, 'folder_id'), 'folder');

  r.get(FOLDER, async (req, reply) => {
    const s = scope(req);
    const folder = folderOf(s, req);
    const f = fieldsOf(req);
    const includeAncestors = optBool(f, 'include_ancestors', false);
    const includeChildren = optBool(f, 'include_children', true);
    const includeDeleted = optBool(f, 'include_deleted', true);
    const hash = optString(f, 'hash');
    const o = renderOptions(s, f);
    const paths = new PathResolver(ctx.db, s.access.root.id);
    const body = folderObject(folder, paths.pathOf(folder), o);
    if (includeAncestors) body.ancestors = ancestorObjects(s, ancestorsOf(ctx.db, folder), o);
    if (!includeChildren) return body;
    body.children = allChildren(s, folder.id, includeDeleted).map((n) => nodeObject(n, paths, o));
    const h = responseHash(body);
    if (hash === h) return notModified(reply);
    body.hash = h;
    return body;
  });

  r.get(`${FOLDER}/children`, async (req) => {
    const s = scope(req);
    const folder = folderOf(s, req);
    return childrenPage(s, folder.id, fieldsOf(req));
  });

  r.post(`${FOLDER}/upload`, async (req) => upload(req, (s) => ({ kind: 'new', parentId: folderOf(s, req).id })));

  r.post(`${FOLDER}/create_folder`, async (req) => {
    const s = scope(req);
    const parent = folderOf(s, req);
    const f = await postFields(req);
    const node = createFolder(s, parent.id, reqString(f, 'name'));
    return folderObject(node, pathOf(s, node), { now: ctx.clock() });
  });

  r.post(`${FOLDER}/rename`, async (req) => {
    const s = scope(req);
    const folder = folderOf(s, req);
    const f = await postFields(req);
    renameNode(s, folder.id, 'folder', reqString(f, 'name'));
    return OK;
  });

  r.post(`${FOLDER}/move`, async (req) => {
    const s = scope(req);
    const folder = folderOf(s, req);
    const f = await postFields(req);
    moveNode(s, folder.id, 'folder', optInt(f, 'to_folder_id', { min: 1 }));
    return OK;
  });

  r.post(`${FOLDER}/lock`, async (req) => {
    const s = scope(req);
    const folder = folderOf(s, req);
    lockNode(s, folder.id, 'folder', lockDuration(await postFields(req)));
    return OK;
  });

  r.post(`${FOLDER}/unlock`, async (req) => {
    const s = scope(req);
    const folder = folderOf(s, req);
    await postFields(req);
    unlockNode(s, folder.id, 'folder');
    return OK;
  });

  r.post(`${FOLDER}/delete`, async (req) => {
    const s = scope(req);
    const folder = folderOf(s, req);
    await postFields(req);
    deleteNode(s, folder.id, 'folder');
    return OK;
  });

  r.get(`${FOLDER}/download`, async (req, reply) => {
    const s = scope(req);
    const folder = folderOf(s, req);
    if (folder.is_deleted) throw errors.notFound();
    const entries = zipEntries(s, folder.id, fieldsOf(req));
    return sendZip(req, reply, `${folder.name}.zip`, entries);
  });

  // ----- files -----

  const fileOf = (s: Scope, req: FastifyRequest) => requireNode(ctx.db, s.access.root.id, pathId(req, 'file_id'), 'file');

  r.get(FILE, async (req) => {
    const s = scope(req);
    const file = fileOf(s, req);
    const f = fieldsOf(req);
    const includeAncestors = optBool(f, 'include_ancestors', false);
    const o = renderOptions(s, f);
    const body = fileObject(file, pathOf(s, file), o);
    if (includeAncestors) body.ancestors = ancestorObjects(s, ancestorsOf(ctx.db, file), o);
    return body;
  });

  const download = (disposition: 'attachment' | 'inline') => async (req: FastifyRequest, reply: FastifyReply) => {
    const s = scope(req);
    const file = fileOf(s, req);
    const rev = file.revision_id === null ? undefined : getRevision(ctx.db, file.id, file.revision_id);
    if (!rev) throw errors.notFound();
    return sendRevision(ctx, req, reply, rev, file.name, disposition);
  };
  r.get(`${FILE}/download`, download('attachment'));
  r.get(`${FILE}/view`, download('inline'));

  // Extension: a new revision of an existing file, against the revision it replaces.
  r.post(`${FILE}/upload`, async (req) => upload(req, (s) => ({ kind: 'revision', fileId: fileOf(s, req).id })));

  r.post(`${FILE}/rename`, async (req) => {
    const s = scope(req);
    const file = fileOf(s, req);
    const f = await postFields(req);
    renameNode(s, file.id, 'file', reqString(f, 'name'), optBaseRevision(f));
    return OK;
  });

  r.post(`${FILE}/move`, async (req) => {
    const s = scope(req);
    const file = fileOf(s, req);
    const f = await postFields(req);
    moveNode(s, file.id, 'file', optInt(f, 'to_folder_id', { min: 1 }), optBaseRevision(f));
    return OK;
  });

  r.post(`${FILE}/lock`, async (req) => {
    const s = scope(req);
    const file = fileOf(s, req);
    lockNode(s, file.id, 'file', lockDuration(await postFields(req)));
    return OK;
  });

  r.post(`${FILE}/unlock`, async (req) => {
    const s = scope(req);
    const file = fileOf(s, req);
    await postFields(req);
    unlockNode(s, file.id, 'file');
    return OK;
  });

  r.post(`${FILE}/delete`, async (req) => {
    const s = scope(req);
    const file = fileOf(s, req);
    const f = await postFields(req);
    deleteNode(s, file.id, 'file', optBaseRevision(f));
    return OK;
  });

  r.get(`${FILE}/revisions`, async (req) => {
    const s = scope(req);
    const file = fileOf(s, req);
    return revisionsPage(s, file, fieldsOf(req));
  });

  const revisionOf = (s: Scope, req: FastifyRequest) => {
    const file = fileOf(s, req);
    const rev = getRevision(ctx.db, file.id, pathId(req, 'revision_id'));
    if (!rev) throw errors.notFound();
    return { file, rev };
  };

  r.get(`${FILE}/revisions/:revision_id`, async (req) => {
    const s = scope(req);
    return revisionObject(revisionOf(s, req).rev);
  });

  const revisionDownload = (disposition: 'attachment' | 'inline') => async (req: FastifyRequest, reply: FastifyReply) => {
    const s = scope(req);
    const { file, rev } = revisionOf(s, req);
    return sendRevision(ctx, req, reply, rev, file.name, disposition);
  };
  r.get(`${FILE}/revisions/:revision_id/download`, revisionDownload('attachment'));
  r.get(`${FILE}/revisions/:revision_id/view`, revisionDownload('inline'));

  // ----- shared -----

  async function upload(req: FastifyRequest, targetOf: (s: Scope) => UploadTarget): Promise<Json> {
    try {
      const s = scope(req);
      const node = await handleUpload(s, req, targetOf(s));
      return fileObject(node, pathOf(s, node), { now: ctx.clock() });
    } catch (err) {
      // Whatever failed, let the client finish sending so that it can read the error.
      if (req.isMultipart()) abandonBody(req);
      throw err;
    }
  }

  function sendZip(req: FastifyRequest, reply: FastifyReply, name: string, entries: ReturnType<typeof zipEntries>): FastifyReply {
    reply.header('content-type', 'application/zip');
    reply.header('content-disposition', contentDisposition('attachment', name));
    return reply.send(bodyFor(req, () => zipStream(entries)));
  }
}
