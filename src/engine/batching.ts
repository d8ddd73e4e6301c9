// Coalesces the transfers of small files into batch requests (extension, see docs/protocol.md
// "Batch transfer") without the engine knowing: upload() of a small stream and download() of a
// small file (when the engine passes its expected size) wait a moment in a per-root,
// per-direction queue, and the queue goes out as one batch request. Each call still resolves
// or rejects with its own item's result. Against a server without the extension
// (`batch_unsupported`) every item is sent one by one through the inner api, then and later.
import { Readable } from 'node:stream';
import { apiErrorCode, type RemoteApi } from './remote.js';

type UploadResult = Awaited<ReturnType<RemoteApi['upload']>>;
type UploadOpts = Parameters<RemoteApi['upload']>[4];

/** What BatchingApi needs of the batch extension (AxisClient.batchUpload / batchDownload). */
export interface BatchTransferApi {
  batchUpload(
    rootId: number,
    items: Array<{ folderId: number | null; name: string; fileId?: number; baseRevisionId?: number; modified?: Date; content: Buffer }>,
  ): Promise<Array<UploadResult | Error>>;
  batchDownload(rootId: number, items: Array<{ fileId: number; revisionId?: number }>): Promise<Array<{ content: Buffer } | Error>>;
}

export interface BatchingOptions {
  /** How long a queue waits for more items after its first one (ms). Default 2. */
  lingerMs?: number;
  /** Largest file that is batched (bytes). Default 256 KiB. */
  maxFileBytes?: number;
  /** A queue is sent once it holds this many items (default 64)… */
  maxItems?: number;
  /** …or this many bytes (default 8 MiB). */
  maxBatchBytes?: number;
  /**
   * Batch requests in flight per direction: uploads (default 2) and downloads (default 4);
   * further batches wait. Four download batches took benchmark 3's small-file phase from 46-49 s
   * to ~42 s (it was paced by their round trips: the server reads every file of a batch before
   * it answers); four upload batches gained nothing there and held ~25 MiB more in an agent
   * uploading 100,000 files.
   */
  maxInFlight?: Partial<Record<Direction, number>>;
}

type Direction = 'up' | 'down';

interface UploadItem {
  folderId: number | null;
  name: string;
  fileId?: number;
  baseRevisionId?: number;
  modified?: Date;
  content: Buffer;
}

interface Pending<P, R> {
  payload: P;
  bytes: number;
  resolve: (r: R) => void;
  reject: (err: unknown) => void;
}

interface Queue<P, R> {
  items: Pending<P, R>[];
  bytes: number;
  timer?: NodeJS.Timeout;
}

const KIB = 1024;

export class BatchingApi implements RemoteApi {
  readonly downloadDelta?: RemoteApi['downloadDelta'];
  readonly revisionSignature?: RemoteApi['revisionSignature'];
  private readonly o: Required<BatchingOptions>;
  private readonly up = new Map<number, Queue<UploadItem, UploadResult>>();
  private readonly down = new Map<number, Queue<{ fileId: number; revisionId?: number }, Buffer>>();
  private readonly lanes: Record<Direction, { active: number; waiting: Array<() => void> }> = { up: { active: 0, waiting: [] }, down: { active: 0, waiting: [] } };
  /** Directions the server answered `batch_unsupported` for: sent one by one from then on. */
  private readonly unsupported = new Set<Direction>();

  constructor(
    private readonly inner: RemoteApi,
    private readonly batch: BatchTransferApi,
    opts: BatchingOptions = {},
  ) {
    this.o = { lingerMs: 2, maxFileBytes: 256 * KIB, maxItems: 64, maxBatchBytes: 8 * KIB * KIB, ...opts, maxInFlight: { up: 2, down: 4, ...opts.maxInFlight } };
    if (inner.downloadDelta) this.downloadDelta = (...args) => inner.downloadDelta!(...args);
    if (inner.revisionSignature) this.revisionSignature = (...args) => inner.revisionSignature!(...args);
  }

  root: RemoteApi['root'] = (...args) => this.inner.root(...args);
  folder: RemoteApi['folder'] = (...args) => this.inner.folder(...args);
  changes: RemoteApi['changes'] = (...args) => this.inner.changes(...args);
  createFolder: RemoteApi['createFolder'] = (...args) => this.inner.createFolder(...args);
  rename: RemoteApi['rename'] = (...args) => this.inner.rename(...args);
  move: RemoteApi['move'] = (...args) => this.inner.move(...args);
  delete: RemoteApi['delete'] = (...args) => this.inner.delete(...args);

  async upload(rootId: number, folderId: number | null, name: string, source: string | Readable, opts: UploadOpts): Promise<UploadResult> {
    const small = typeof source !== 'string' && opts.size !== undefined && opts.size <= this.o.maxFileBytes && !opts.delta;
    // A revision without a base is the inner api's to refuse.
    if (!small || this.unsupported.has('up') || (opts.fileId !== undefined && opts.baseRevisionId === undefined)) {
      return this.inner.upload(rootId, folderId, name, source, opts);
    }
    const content = await readExactly(source, opts.size!);
    const item: UploadItem = { folderId, name, content, modified: opts.modified, fileId: opts.fileId, baseRevisionId: opts.baseRevisionId };
    return this.enqueue('up', this.up, rootId, item, content.length);
  }

  async download(rootId: number, fileId: number, opts: { revisionId?: number; size?: number }): Promise<Readable> {
    if (opts.size === undefined || opts.size > this.o.maxFileBytes || this.unsupported.has('down')) return this.inner.download(rootId, fileId, opts);
    const content = await this.enqueue('down', this.down, rootId, { fileId, revisionId: opts.revisionId }, opts.size);
    return Readable.from([content]);
  }

  private enqueue<P, R>(dir: Direction, queues: Map<number, Queue<P, R>>, rootId: number, payload: P, bytes: number): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      let q = queues.get(rootId);
      if (!q) {
        q = { items: [], bytes: 0 };
        queues.set(rootId, q);
      }
      q.items.push({ payload, bytes, resolve, reject });
      q.bytes += bytes;
      if (q.items.length >= this.o.maxItems || q.bytes >= this.o.maxBatchBytes) this.flush(dir, queues, rootId);
      else q.timer ??= setTimeout(() => this.flush(dir, queues, rootId), this.o.lingerMs);
    });
  }

  /** Takes the root's queue out and sends it as one batch once a request slot is free. */
  private flush<P, R>(dir: Direction, queues: Map<number, Queue<P, R>>, rootId: number): void {
    const q = queues.get(rootId);
    if (!q) return;
    clearTimeout(q.timer);
    queues.delete(rootId);
    const items = q.items;
    void this.inLane(dir, () => (dir === 'up' ? this.sendUploads(rootId, items as never) : this.sendDownloads(rootId, items as never)));
  }

  /** Runs `task` with one of the direction's request slots (handed over in order when busy). */
  private async inLane(dir: Direction, task: () => Promise<void>): Promise<void> {
    const lane = this.lanes[dir];
    if (lane.active < this.o.maxInFlight[dir]!) lane.active++;
    else await new Promise<void>((r) => lane.waiting.push(r));
    try {
      await task();
    } finally {
      const next = lane.waiting.shift();
      if (next) next();
      else lane.active--;
    }
  }

  private async sendUploads(rootId: number, items: Pending<UploadItem, UploadResult>[]): Promise<void> {
    const one = (p: Pending<UploadItem, UploadResult>) => {
      const { folderId, name, content, ...opts } = p.payload;
      return this.inner.upload(rootId, folderId, name, Readable.from([content]), { ...opts, size: content.length });
    };
    await this.send('up', items, () => this.batch.batchUpload(rootId, items.map((p) => p.payload)), one);
  }

  private async sendDownloads(rootId: number, items: Pending<{ fileId: number; revisionId?: number }, Buffer>[]): Promise<void> {
    const one = async (p: Pending<{ fileId: number; revisionId?: number }, Buffer>) =>
      readAll(await this.inner.download(rootId, p.payload.fileId, { revisionId: p.payload.revisionId, size: p.bytes }));
    const batch = async () => (await this.batch.batchDownload(rootId, items.map((p) => p.payload))).map((r) => (r instanceof Error ? r : r.content));
    await this.send('down', items, batch, one);
  }

  /**
   * Sends a batch and settles each item with its own result. A request-level failure rejects
   * every item with it; `batch_unsupported` sends the items one by one instead (and all later ones).
   */
  private async send<P, R>(dir: Direction, items: Pending<P, R>[], batch: () => Promise<Array<R | Error>>, one: (p: Pending<P, R>) => Promise<R>): Promise<void> {
    let results: Array<R | Error>;
    if (!this.unsupported.has(dir)) {
      try {
        results = await batch();
        if (results.length !== items.length) throw new Error(`the batch answered ${results.length} results for ${items.length} items`);
      } catch (err) {
        if (apiErrorCode(err) !== 'batch_unsupported') {
          for (const p of items) p.reject(err);
          return;
        }
        this.unsupported.add(dir);
      }
    }
    if (this.unsupported.has(dir)) {
      // Outside the batch slot: these are ordinary single requests now.
      for (const p of items) one(p).then(p.resolve, p.reject);
      return;
    }
    results!.forEach((r, i) => (r instanceof Error ? items[i]!.reject(r) : items[i]!.resolve(r)));
  }
}

/** A stream's bytes, which must be exactly `size` of them (else the stream's error, or a RangeError). */
async function readExactly(source: Readable, size: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of source) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
    n += b.length;
    if (n > size) throw new RangeError(`the upload stream has more than the announced ${size} bytes`);
    chunks.push(b);
  }
  if (n !== size) throw new RangeError(`the upload stream ended after ${n} of the announced ${size} bytes`);
  return Buffer.concat(chunks, n);
}

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
  return Buffer.concat(chunks);
}
