// EXTENSION: delta transfer (see docs/protocol.md "Delta transfer").
//   GET /api/2/files/<root_id>/<file_id>/revisions/<revision_id>/signature[?block_len=N]
//       → the librsync signature of that revision's content (application/octet-stream)
//   GET /api/2/files/<root_id>/<file_id>/delta?base_revision_id=A[&revision_id=B]
//       → a librsync delta from revision A's content to revision B's (default: the current
//         one), computed by the server from the contents it holds; headers X-Axis-Revision-Id,
//         X-Axis-Sha256 and X-Axis-Size describe the result the client must verify after patching.
// Delta uploads are the documented revision upload with the fields delta=true and sha256
// (src/server/files/upload.ts).
import { createReadStream, promises as fsp } from 'node:fs';
import { ApiError, errors } from '../errors.js';
import { fieldsOf, optInt, pathId, type Router } from '../http.js';
import type { ServerContext } from '../context.js';
import { openRoot } from '../files/access.js';
import { signatureOf } from '../files/signatures.js';
import { getRevision, requireNode } from '../files/tree.js';
import { createDeltaStream, rsyncAvailable } from '../../native/librsync.js';

const FILE = '/api/2/files/:root_id/:file_id';

function unsupported(): ApiError {
  return new ApiError(400, { error: 'delta_unsupported', error_description: 'This server cannot compute deltas; download the whole file.' });
}

export function registerDeltaRoutes(r: Router, ctx: ServerContext): void {
  const fileOf = (req: Parameters<ServerContext['requirePrincipal']>[0]) => {
    const { person } = ctx.requirePrincipal(req);
    const access = openRoot(ctx, person, pathId(req, 'root_id'));
    return requireNode(ctx.db, access.root.id, pathId(req, 'file_id'), 'file');
  };

  r.get(`${FILE}/revisions/:revision_id/signature`, async (req, reply) => {
    const file = fileOf(req);
    const rev = getRevision(ctx.db, file.id, pathId(req, 'revision_id'));
    if (!rev) throw errors.notFound();
    if (!rsyncAvailable()) throw unsupported();
    const blockLen = optInt(fieldsOf(req), 'block_len', { min: 256, max: 1 << 20 });
    const sig = await signatureOf(ctx, rev.blob, rev.file_size, blockLen);
    const st = await fsp.stat(ctx.blobs.pathOf(sig.sigBlob));
    reply.header('content-type', 'application/octet-stream');
    reply.header('content-length', String(st.size));
    reply.header('x-axis-block-len', String(sig.blockLen));
    reply.header('x-axis-strong-len', String(sig.strongLen));
    return reply.send(createReadStream(ctx.blobs.pathOf(sig.sigBlob)));
  });

  r.get(`${FILE}/delta`, async (req, reply) => {
    const file = fileOf(req);
    const f = fieldsOf(req);
    const baseId = optInt(f, 'base_revision_id', { min: 1 });
    if (baseId === undefined) throw errors.missingParam('base_revision_id');
    const base = getRevision(ctx.db, file.id, baseId);
    if (!base) throw errors.notFound();
    const targetId = optInt(f, 'revision_id', { min: 1 }) ?? file.revision_id;
    const target = targetId === null ? undefined : getRevision(ctx.db, file.id, targetId);
    if (!target) throw errors.notFound();
    if (!rsyncAvailable()) throw unsupported();
    const sig = await signatureOf(ctx, base.blob, base.file_size);
    const signature = await fsp.readFile(ctx.blobs.pathOf(sig.sigBlob));
    reply.header('content-type', 'application/octet-stream');
    reply.header('x-axis-revision-id', String(target.id));
    reply.header('x-axis-sha256', target.blob);
    reply.header('x-axis-size', String(target.file_size));
    reply.header('x-axis-base-revision-id', String(base.id));
    const delta = createDeltaStream(signature);
    createReadStream(ctx.blobs.pathOf(target.blob)).on('error', (err) => delta.destroy(err)).pipe(delta);
    return reply.send(delta);
  });
}
