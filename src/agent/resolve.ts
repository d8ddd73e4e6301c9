// Resolving a recorded (manual) collision, from `axis-agent resolve ID --keep mine|server|both`:
//  - both:   the local version moves aside to "name (collision YYYY-MM-DD HHMMSS on MACHINE).ext";
//            sync then brings the server's version to the path and uploads the copy;
//  - mine:   the local version becomes the server's current revision (only where the policy's
//            user_overwrite_collisions allows); the server's version stays in the revision history;
//  - server: the local version is first uploaded as a revision (so nothing is lost), then the
//            server's version is uploaded again as the newest revision and written locally.
import { createReadStream, promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { AxisClient } from '../api/client.js';
import { baseName, joinPath, parentPath, uniqueCollisionCopyName } from '../core/paths.js';
import { fileId, resolveInside, sha256File, writeFileAtomic } from '../engine/localfs.js';
import type { CollisionRecord, StateStore } from '../engine/store.js';
import { CliError } from './output.js';

export type Keep = 'mine' | 'server' | 'both';

export interface ResolveContext {
  store: StateStore;
  client: AxisClient;
  machineName: string;
  userOverwriteCollisions: boolean;
  now?: () => Date;
}

export async function resolveCollision(ctx: ResolveContext, c: CollisionRecord, keep: Keep): Promise<string> {
  const now = ctx.now?.() ?? new Date();
  const root = ctx.store.root(c.rootId);
  if (!root) throw new CliError(`collision ${c.id} belongs to root ${c.rootId}, which this agent no longer syncs`);
  const rootDir = await fsp.realpath(root.localPath);
  const abs = await resolveInside(rootDir, c.path);
  const st = await fsp.lstat(abs).catch(() => undefined);
  if (!st || fileId(st) !== c.local.fileId) {
    ctx.store.markCollision(c.id, 'gone', now);
    return `${c.path} changed since the collision was recorded; nothing to resolve (sync will look at it again).`;
  }
  if (keep !== 'both' && (c.local.kind !== 'file' || c.remote.kind !== 'file')) {
    throw new CliError(`${c.path}: a file/folder collision can only be resolved with --keep both`);
  }
  if (keep === 'mine' && !ctx.userOverwriteCollisions) {
    throw new CliError("Your organization's policy does not allow overwriting the server's version (user_overwrite_collisions); use --keep both or --keep server.");
  }

  if (keep === 'both') {
    const folder = parentPath(c.path);
    const local = ctx.store.localTree(c.rootId);
    const remote = ctx.store.remoteTree(c.rootId).tree;
    const name = uniqueCollisionCopyName(baseName(c.path), now, ctx.machineName, (n) => local.has(joinPath(folder, n)) || remote.has(joinPath(folder, n)), {
      isFolder: c.local.kind === 'folder',
      utcOffsetMinutes: -now.getTimezoneOffset(),
    });
    const copy = joinPath(folder, name);
    const target = await resolveInside(rootDir, copy);
    if (await fsp.lstat(target).then(() => true, () => false)) throw new CliError(`${copy} already exists; try again`);
    // Forget the merge base of the path (and below): otherwise the rename would read as a
    // local move of the synced file and be replayed on the server.
    ctx.store.forgetSynced(c.rootId, c.path);
    await fsp.rename(abs, target);
    ctx.store.markCollision(c.id, 'both', now);
    ctx.store.activity(c.rootId, 'resolve-both', c.path, copy);
    return `Kept both: your version is now ${copy}; the server's version will be synced to ${c.path}.`;
  }

  const current = await ctx.client.file(c.rootId, c.remote.id);
  const localSha = await sha256File(abs);
  if (keep === 'mine') {
    const up = await ctx.client.upload(c.rootId, null, baseName(c.path), abs, { fileId: c.remote.id, baseRevisionId: current.revision_id, modified: st.mtime });
    commitBase(ctx.store, c, { revisionId: up.revision_id, sha256: up.sha256 ?? localSha, size: up.size, localFileId: fileId(st), mtime: Math.trunc(st.mtimeMs) });
    ctx.store.markCollision(c.id, 'mine', now);
    ctx.store.activity(c.rootId, 'resolve-mine', c.path);
    return `Kept yours: ${c.path} is now revision ${up.revision_id} on the server (the server's version stays in its history).`;
  }

  // keep === 'server': keep the local version as a revision first, then restore the server's.
  const tmpDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'axis-resolve-'));
  try {
    const serverCopy = path.join(tmpDir, 'server-version');
    const body = await ctx.client.download(c.rootId, c.remote.id, { revisionId: current.revision_id });
    await fsp.writeFile(serverCopy, body);
    const mine = await ctx.client.upload(c.rootId, null, baseName(c.path), abs, { fileId: c.remote.id, baseRevisionId: current.revision_id, modified: st.mtime });
    const restored = await ctx.client.upload(c.rootId, null, baseName(c.path), serverCopy, { fileId: c.remote.id, baseRevisionId: mine.revision_id });
    const written = await writeFileAtomic(rootDir, c.path, createReadStream(serverCopy), {
      expectedSha256: restored.sha256 ?? undefined,
      beforeRename: async () => {
        const now2 = await fsp.lstat(abs).catch(() => undefined);
        if (!now2 || fileId(now2) !== c.local.fileId || (await sha256File(abs)) !== localSha) {
          throw new CliError(`${c.path} changed while resolving; your version was uploaded as revision ${mine.revision_id}. Run resolve again.`);
        }
      },
    });
    commitBase(ctx.store, c, { revisionId: restored.revision_id, sha256: written.sha256, size: written.size, localFileId: fileId(written.stat), mtime: Math.trunc(written.stat.mtimeMs) });
    ctx.store.markCollision(c.id, 'server', now);
    ctx.store.activity(c.rootId, 'resolve-server', c.path, `your version kept as revision ${mine.revision_id}`);
    return `Kept the server's version of ${c.path}; yours is kept on the server as revision ${mine.revision_id}.`;
  } finally {
    await fsp.rm(tmpDir, { recursive: true, force: true });
  }
}

function commitBase(store: StateStore, c: CollisionRecord, v: { revisionId: number; sha256: string; size: number; localFileId: string; mtime: number }): void {
  const synced = store.syncedTree(c.rootId).get(c.path);
  store.applySyncedChange(c.rootId, {
    kind: 'put',
    replaces: synced ? c.path : null,
    entry: { path: c.path, kind: 'file', remoteId: c.remote.id, revisionId: v.revisionId, sha256: v.sha256, localFileId: v.localFileId, size: v.size, mtime: v.mtime },
  });
}
