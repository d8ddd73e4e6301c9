// EXTENSION: the change feed of a root (see docs/protocol.md "Change feed").
//   GET /api/2/files/<root_id>/changes?cursor=N&limit=L&timeout=S
// Returns the files and folders whose change sequence number is above `cursor`, oldest change
// first, each as the documented file/folder object plus `parent_id` (null = top of the root)
// and `seq`; deleted nodes appear with is_deleted true. With nothing new and timeout > 0 the
// request waits (long poll) up to `timeout` seconds for a change. cursor=0 lists the whole
// root (deleted nodes included), paged by `limit`.
import type { ServerContext } from '../context.js';
import { errors } from '../errors.js';
import { fieldsOf, optInt, pathId, type Router } from '../http.js';
import { openRoot } from '../files/access.js';
import { nodeObject } from '../files/render.js';
import { NODE_VIEW, PathResolver, type NodeView } from '../files/tree.js';
import { stmt } from '../db.js';

const DEFAULT_LIMIT = 1000;
const MAX_LIMIT = 5000;
const MAX_TIMEOUT_S = 60;

export function registerChangeRoutes(r: Router, ctx: ServerContext): void {
  r.get('/api/2/files/:root_id/changes', async (req, reply) => {
    const { person } = ctx.requirePrincipal(req);
    const rootId = pathId(req, 'root_id');
    const f = fieldsOf(req);
    const cursor = optInt(f, 'cursor', { min: 0 }) ?? 0;
    const limit = optInt(f, 'limit', { min: 1, max: MAX_LIMIT }) ?? DEFAULT_LIMIT;
    const timeoutS = optInt(f, 'timeout', { min: 0, max: MAX_TIMEOUT_S }) ?? 0;
    openRoot(ctx, person, rootId);

    const read = () => {
      const rows = stmt(ctx.db, `${NODE_VIEW} WHERE n.root_id = ? AND n.seq > ? ORDER BY n.seq LIMIT ?`).all(rootId, cursor, limit + 1) as NodeView[];
      const hasMore = rows.length > limit;
      const page = hasMore ? rows.slice(0, limit) : rows;
      const paths = new PathResolver(ctx.db, rootId);
      const now = ctx.clock();
      const results = page.map((n) => ({ ...nodeObject(n, paths, { now }), parent_id: n.parent_id, seq: n.seq }));
      const last = page.length ? page[page.length - 1]!.seq : cursor;
      return { cursor: last, has_more: hasMore, results };
    };

    let body = read();
    if (body.results.length === 0 && timeoutS > 0) {
      const abort = new AbortController();
      req.raw.once('close', () => abort.abort());
      const changed = await ctx.changes.wait(rootId, timeoutS * 1000, abort.signal);
      if (abort.signal.aborted) return reply;
      // The root may have been deleted or access revoked while we waited.
      openRoot(ctx, person, rootId);
      if (changed) body = read();
    }
    if (body.cursor < cursor) throw errors.invalidParam('cursor');
    return body;
  });
}
