// Reading the node tree of a root: nodes with their current revision, paths, ancestors and
// descendants. Every lookup is scoped to one root, so an id from another root is "not found".
import type { NodeRow, RevisionRow } from '../context.js';
import { type DB, stmt } from '../db.js';
import { errors } from '../errors.js';
import type { NodeKind } from './names.js';

/** A node with the content hash and client mtime of its current revision (files). */
export interface NodeView extends NodeRow {
  rev_blob: string | null;
  rev_modified: string | null;
}

export const NODE_VIEW = `SELECT n.*, r.blob AS rev_blob, r.modified AS rev_modified FROM nodes n LEFT JOIN revisions r ON r.id = n.revision_id`;

/** Deepest folder nesting followed when walking up (a guard against a corrupt parent chain). */
const MAX_DEPTH = 4096;

export function getNode(db: DB, rootId: number, id: number): NodeView | undefined {
  return stmt(db, `${NODE_VIEW} WHERE n.id = ? AND n.root_id = ?`).get(id, rootId) as NodeView | undefined;
}

/** The node `id` of `kind` in the root, or 404 not_found. */
export function requireNode(db: DB, rootId: number, id: number, kind: NodeKind): NodeView {
  const node = getNode(db, rootId, id);
  if (!node || node.kind !== kind) throw errors.notFound();
  return node;
}

/** The live folder `id` of the root, or 404 not_found (deleted folders accept no new content). */
export function requireLiveFolder(db: DB, rootId: number, id: number): NodeView {
  const node = requireNode(db, rootId, id, 'folder');
  if (node.is_deleted) throw errors.notFound();
  return node;
}

export function getRevision(db: DB, fileId: number, revisionId: number): RevisionRow | undefined {
  return stmt(db, `SELECT * FROM revisions WHERE id = ? AND file_id = ?`).get(revisionId, fileId) as RevisionRow | undefined;
}

/**
 * The chain of folders from `id` up to the top of the root, nearest first, in one query;
 * at most MAX_DEPTH + 1 rows (a cyclic chain stops there).
 */
const ANCESTOR_CHAIN = `WITH RECURSIVE chain(id, depth) AS (
    SELECT ?, 0
    UNION ALL
    SELECT n.parent_id, chain.depth + 1 FROM chain JOIN nodes n ON n.id = chain.id
    WHERE n.root_id = ? AND n.parent_id IS NOT NULL AND chain.depth < ${MAX_DEPTH}
  )
  SELECT n.*, r.blob AS rev_blob, r.modified AS rev_modified FROM chain
  JOIN nodes n ON n.id = chain.id AND n.root_id = ?
  LEFT JOIN revisions r ON r.id = n.revision_id
  ORDER BY chain.depth DESC`;

/** The ancestor folders of a node, outermost first. */
export function ancestorsOf(db: DB, node: Pick<NodeRow, 'parent_id' | 'root_id'>): NodeView[] {
  if (node.parent_id === null) return [];
  const out = stmt(db, ANCESTOR_CHAIN).all(node.parent_id, node.root_id, node.root_id) as NodeView[];
  // Outermost first: the chain is whole when it starts at the top of the root.
  const top = out[0];
  if (out.length > MAX_DEPTH) throw new Error(`folder chain too deep or cyclic at node ${top!.id}`);
  if (top?.parent_id === null) return out;
  throw new Error(`dangling parent ${top?.parent_id ?? node.parent_id}`);
}

/** Whether `candidate` (a folder id) is `folderId` itself or lies below it. */
export function isSelfOrDescendant(db: DB, rootId: number, folderId: number, candidate: number | null): boolean {
  let cur = candidate;
  let depth = 0;
  while (cur !== null) {
    if (cur === folderId) return true;
    if (++depth > MAX_DEPTH) throw new Error(`folder chain too deep or cyclic at node ${cur}`);
    const row = stmt(db, `SELECT parent_id FROM nodes WHERE id = ? AND root_id = ?`).get(cur, rootId) as { parent_id: number | null } | undefined;
    cur = row ? row.parent_id : null;
  }
  return false;
}

/** All nodes below a folder (any depth), the folder itself excluded. */
export function descendantsOf(db: DB, folderId: number): NodeView[] {
  return stmt(db, 
      `WITH RECURSIVE sub(id) AS (
         SELECT id FROM nodes WHERE parent_id = ?
         UNION ALL
         SELECT c.id FROM nodes c JOIN sub ON c.parent_id = sub.id
       )
       ${NODE_VIEW} WHERE n.id IN (SELECT id FROM sub)`,
    )
    .all(folderId) as NodeView[];
}

/** Paths of nodes within one root ("/a/b.txt"), with the folder paths cached per request. */
export class PathResolver {
  private readonly folders = new Map<number, string>();

  constructor(
    private readonly db: DB,
    private readonly rootId: number,
  ) {}

  /** Path of the folder `id` ("" for the top level, so that children are `${p}/${name}`). */
  folderPath(id: number | null): string {
    if (id === null) return '';
    const cached = this.folders.get(id);
    if (cached !== undefined) return cached;
    const chain: { id: number; name: string }[] = [];
    let cur: number | null = id;
    let prefix = '';
    while (cur !== null) {
      const hit = this.folders.get(cur);
      if (hit !== undefined) {
        prefix = hit;
        break;
      }
      if (chain.length >= MAX_DEPTH) throw new Error(`folder chain too deep or cyclic at node ${cur}`);
      const row = stmt(this.db, `SELECT id, name, parent_id FROM nodes WHERE id = ? AND root_id = ?`).get(cur, this.rootId) as
        | { id: number; name: string; parent_id: number | null }
        | undefined;
      if (!row) throw new Error(`dangling parent ${cur}`);
      chain.push(row);
      cur = row.parent_id;
    }
    for (let i = chain.length - 1; i >= 0; i--) {
      const c = chain[i]!;
      prefix = `${prefix}/${c.name}`;
      this.folders.set(c.id, prefix);
    }
    return prefix;
  }

  pathOf(node: Pick<NodeRow, 'parent_id' | 'name'>): string {
    return `${this.folderPath(node.parent_id)}/${node.name}`;
  }
}
