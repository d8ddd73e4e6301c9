// The remote observer's fallback for servers without the change feed extension: a walk of
// the root through the documented folder metadata, sending each folder's last `hash` so an
// unchanged folder answers 304 and its children are taken from the previous walk.
import type { RemoteChange } from './store.js';

interface Child {
  type: 'file' | 'folder';
  id: number;
  name: string;
  is_deleted: boolean;
  revision_id?: number;
  size?: number;
  sha256?: string;
  modified?: string;
}

type Maybe<T> = { notModified: true } | { notModified: false; value: T };

export interface WalkApi {
  root(rootId: number, opts: { hash?: string; includeDeleted?: boolean }): Promise<Maybe<{ hash?: string; children?: Child[] }>>;
  folder(rootId: number, folderId: number, opts: { hash?: string; includeDeleted?: boolean }): Promise<Maybe<{ hash?: string; children?: Child[] }>>;
}

export class RemoteWalker {
  /** Folder id (null = top of the root) → the hash and children of its last full answer. */
  private readonly cache = new Map<number | null, { hash: string; children: Child[] }>();

  constructor(
    private readonly api: WalkApi,
    private readonly rootId: number,
  ) {}

  /** Every live node of the root, as remote changes (for StateStore.replaceRemoteTree). */
  async walk(): Promise<RemoteChange[]> {
    const out: RemoteChange[] = [];
    const queue: (number | null)[] = [null];
    const seen = new Set<number | null>();
    while (queue.length > 0) {
      const id = queue.shift()!;
      if (seen.has(id)) continue;
      seen.add(id);
      const cached = this.cache.get(id);
      const opts = { hash: cached?.hash, includeDeleted: false };
      const res = id === null ? await this.api.root(this.rootId, opts) : await this.api.folder(this.rootId, id, opts);
      let children: Child[];
      if (res.notModified) children = cached?.children ?? [];
      else {
        children = res.value.children ?? [];
        if (res.value.hash) this.cache.set(id, { hash: res.value.hash, children });
        else this.cache.delete(id);
      }
      for (const c of children) {
        if (c.is_deleted) continue;
        out.push({
          id: c.id,
          parentId: id,
          name: c.name,
          kind: c.type,
          isDeleted: false,
          revisionId: c.type === 'file' ? (c.revision_id ?? null) : null,
          size: c.type === 'file' ? (c.size ?? 0) : 0,
          sha256: c.type === 'file' ? (c.sha256 ?? null) : null,
          modified: c.modified ?? null,
        });
        if (c.type === 'folder') queue.push(c.id);
      }
    }
    // Folders that vanished: forget their cached answers.
    for (const k of [...this.cache.keys()]) if (!seen.has(k)) this.cache.delete(k);
    return out;
  }
}
