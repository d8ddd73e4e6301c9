// What the engine needs of the AXIS API (the typed client in src/api satisfies it). Kept as an
// interface so the engine depends on behaviour, not on the transport.
import type { Readable } from 'node:stream';
import type { WalkApi } from './remote-walk.js';

export interface RemoteNodeObject {
  type: 'file' | 'folder';
  id: number;
  name: string;
  is_deleted: boolean;
  revision_id?: number | null;
  size?: number;
  sha256?: string | null;
  modified?: string | null;
}

export interface ChangeObject extends RemoteNodeObject {
  parent_id: number | null;
  seq: number;
}

export interface ChangesPage {
  cursor: number;
  has_more: boolean;
  results: ChangeObject[];
}

export interface NodeRef {
  type: 'file' | 'folder';
  id: number;
}

export interface RemoteApi extends WalkApi {
  changes(rootId: number, opts: { cursor: number; limit?: number; timeout?: number; signal?: AbortSignal }): Promise<ChangesPage>;
  upload(
    rootId: number,
    folderId: number | null,
    name: string,
    /** A file path, or a stream of `opts.size` bytes. */
    source: string | Readable,
    opts: { modified?: Date; baseRevisionId?: number; fileId?: number; size?: number; delta?: { sha256: string } },
  ): Promise<{ id: number; revision_id: number; sha256?: string | undefined; size: number }>;
  /** `size`: the expected size of the content, when known (lets BatchingApi batch small files). */
  download(rootId: number, fileId: number, opts: { revisionId?: number; size?: number }): Promise<Readable>;
  createFolder(rootId: number, parentId: number | null, name: string): Promise<{ id: number }>;
  rename(rootId: number, node: NodeRef, name: string, opts?: { baseRevisionId?: number }): Promise<unknown>;
  move(rootId: number, node: NodeRef, toFolderId: number | null, opts?: { baseRevisionId?: number }): Promise<unknown>;
  delete(rootId: number, node: NodeRef, opts?: { baseRevisionId?: number }): Promise<void>;
  /** Extension (delta transfer): the delta from a base revision to the current one. */
  downloadDelta?(rootId: number, fileId: number, baseRevisionId: number, opts: { revisionId?: number }): Promise<Readable>;
  /** Extension (delta transfer): the librsync signature of a revision's content. */
  revisionSignature?(rootId: number, fileId: number, revisionId: number): Promise<Buffer>;
}

/** The API error code of an error from the client (AxisApiError.code), if any. */
export function apiErrorCode(err: unknown): string | undefined {
  const e = err as { code?: unknown; status?: unknown } | null;
  return e && typeof e.code === 'string' && typeof e.status === 'number' ? e.code : undefined;
}
