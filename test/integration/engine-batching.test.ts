// BatchingApi over a real AxisClient and a real reference server: concurrent small uploads and
// downloads become a few batch requests (counted at the server's HTTP listener), each call
// gets its own item's result, and against a server without the extension everything still
// goes through one by one.
import { createHash, randomBytes } from 'node:crypto';
import http, { type IncomingMessage } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AxisClient } from '../../src/api/client.js';
import { AxisApiError, ProtocolError } from '../../src/api/errors.js';
import { BatchingApi } from '../../src/engine/batching.js';
import type { RemoteApi } from '../../src/engine/remote.js';
import { storeToken } from '../../src/server/credentials.js';
import type { PersonRow } from '../../src/server/context.js';
import { newPerson, rootOf } from '../helpers/files.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

interface Env {
  t: TestServer;
  client: AxisClient;
  rootId: number;
  person: PersonRow;
  /** "METHOD /path" of every request the server received. */
  requests: string[];
}

async function env(opts: { batch?: boolean } = {}): Promise<Env> {
  const t = await startTestServer(opts);
  const requests: string[] = [];
  t.server.app.server.on('request', (req: IncomingMessage) => requests.push(`${req.method} ${req.url}`));
  const person = newPerson(t);
  const client = new AxisClient({ server: t.url, trust: { fingerprint: t.server.fingerprint! } });
  const token = storeToken(t.server.ctx.db, t.server.ctx.clock, 'access', person.id, 3600);
  await client.setTokens({ accessToken: token, kind: 'oauth2' });
  return { t, client, rootId: rootOf(t, person).id, person, requests };
}

const count = (e: Env, re: RegExp) => e.requests.filter((r) => re.test(r)).length;

/** Name → content SHA-256 of the live files of a root, from the server's own database. */
function stored(e: Env): Map<string, string> {
  const rows = e.t.server.ctx.db
    .prepare(`SELECT n.name, r.blob FROM nodes n JOIN revisions r ON r.id = n.revision_id WHERE n.root_id = ? AND n.kind = 'file' AND n.is_deleted = 0`)
    .all(e.rootId) as { name: string; blob: string }[];
  return new Map(rows.map((r) => [r.name, r.blob]));
}

/** A stream that sends some bytes and then fails. */
function failing(err: Error): Readable {
  let sent = false;
  return new Readable({
    read() {
      if (!sent) {
        sent = true;
        this.push(Buffer.from('partial'));
      } else this.destroy(err);
    },
  });
}

describe('BatchingApi against a server with the batch extension', () => {
  let e: Env;
  let api: BatchingApi;
  beforeAll(async () => {
    e = await env();
    // A generous linger so that the count of batches does not depend on the machine's speed.
    api = new BatchingApi(e.client as RemoteApi, e.client, { lingerMs: 50 });
  });
  afterAll(async () => {
    e.client.close();
    await e.t.stop();
  });

  it('100 concurrent small uploads go out as a few batch requests, every file stored with its bytes', async () => {
    const files = Array.from({ length: 100 }, (_, i) => ({ name: `small-${i}.bin`, content: randomBytes(100 + i * 37) }));
    const before = e.requests.length;
    const results = await Promise.all(files.map((f) => api.upload(e.rootId, null, f.name, Readable.from([f.content]), { size: f.content.length, modified: new Date('2020-01-02T03:04:05Z') })));
    const mine = e.requests.slice(before);
    const batches = mine.filter((r) => r === `POST /api/2/files/${e.rootId}/batch/upload`).length;
    // 64 items at most per batch: at least 2; a few more only if the calls were spread out.
    expect(batches).toBeGreaterThanOrEqual(2);
    expect(batches).toBeLessThanOrEqual(4);
    expect(mine.filter((r) => /\/upload$/.test(r) && !/batch/.test(r))).toEqual([]);
    const onServer = stored(e);
    for (const [i, f] of files.entries()) {
      expect(results[i]).toMatchObject({ size: f.content.length, sha256: sha(f.content) });
      expect(onServer.get(f.name), f.name).toBe(sha(f.content));
    }
  });

  it('a failing stream, a wrong size and a server-side conflict reject only their own calls', async () => {
    const boom = new Error('disk gone');
    const good = Array.from({ length: 5 }, (_, i) => ({ name: `good-${i}.txt`, content: Buffer.from(`good ${i}`) }));
    const calls = [
      ...good.map((f) => api.upload(e.rootId, null, f.name, Readable.from([f.content]), { size: f.content.length })),
      api.upload(e.rootId, null, 'broken.txt', failing(boom), { size: 100 }),
      api.upload(e.rootId, null, 'short.txt', Readable.from([Buffer.from('abc')]), { size: 10 }),
      api.upload(e.rootId, null, 'small-0.bin', Readable.from([Buffer.from('dup')]), { size: 3 }),
    ];
    const settled = await Promise.allSettled(calls);
    for (const [i, f] of good.entries()) expect(settled[i]).toMatchObject({ status: 'fulfilled', value: { sha256: sha(f.content) } });
    expect(settled[5]).toEqual({ status: 'rejected', reason: boom });
    expect(settled[6]).toMatchObject({ status: 'rejected', reason: expect.any(RangeError) });
    const conflict = (settled[7] as PromiseRejectedResult).reason as AxisApiError;
    expect(conflict).toBeInstanceOf(AxisApiError);
    expect({ code: conflict.code, status: conflict.status }).toEqual({ code: 'name_conflict', status: 409 });
    const onServer = stored(e);
    expect(onServer.has('broken.txt')).toBe(false);
    expect(onServer.has('short.txt')).toBe(false);
    for (const f of good) expect(onServer.get(f.name)).toBe(sha(f.content));
  });

  it('a revision against a stale base rejects with revision_conflict and currentRevisionId, like the single upload', async () => {
    const first = await api.upload(e.rootId, null, 'rev.txt', Readable.from([Buffer.from('one')]), { size: 3 });
    const second = await api.upload(e.rootId, null, 'rev.txt', Readable.from([Buffer.from('two!')]), { size: 4, fileId: first.id, baseRevisionId: first.revision_id });
    expect(second.revision_id).not.toBe(first.revision_id);
    const err = (await api
      .upload(e.rootId, null, 'rev.txt', Readable.from([Buffer.from('stale')]), { size: 5, fileId: first.id, baseRevisionId: first.revision_id })
      .catch((x: unknown) => x)) as AxisApiError;
    const single = (await e.client.upload(e.rootId, null, 'rev.txt', Buffer.from('stale'), { fileId: first.id, baseRevisionId: first.revision_id }).catch((x: unknown) => x)) as AxisApiError;
    expect(err).toBeInstanceOf(AxisApiError);
    expect({ code: err.code, status: err.status, current: err.currentRevisionId, body: err.body }).toEqual({
      code: single.code,
      status: single.status,
      current: second.revision_id,
      body: single.body,
    });
  });

  it('small downloads with a size go out as batches; a missing file rejects only its call; big ones go alone', async () => {
    const files = Array.from({ length: 20 }, (_, i) => ({ name: `dl-${i}.bin`, content: randomBytes(i * 1000) }));
    const ups = await Promise.all(files.map((f) => api.upload(e.rootId, null, f.name, Readable.from([f.content]), { size: f.content.length })));
    const big = randomBytes(300 * 1024);
    const bigFile = await e.client.upload(e.rootId, null, 'big.bin', big);
    const before = e.requests.length;
    const calls = [
      ...ups.map((u, i) => api.download(e.rootId, u.id, { size: files[i]!.content.length }).then((s) => buffer(s))),
      api.download(e.rootId, 999_999, { size: 10 }).then((s) => buffer(s)),
      api.download(e.rootId, bigFile.id, { size: big.length }).then((s) => buffer(s)),
    ];
    const settled = await Promise.allSettled(calls);
    for (const [i, f] of files.entries()) {
      const r = settled[i]!;
      expect(r.status, f.name).toBe('fulfilled');
      expect(sha((r as PromiseFulfilledResult<Buffer>).value), f.name).toBe(sha(f.content));
    }
    const missing = (settled[20] as PromiseRejectedResult).reason as AxisApiError;
    expect(missing).toBeInstanceOf(AxisApiError);
    expect({ code: missing.code, status: missing.status }).toEqual({ code: 'not_found', status: 404 });
    expect(sha((settled[21] as PromiseFulfilledResult<Buffer>).value)).toBe(sha(big));
    const mine = e.requests.slice(before);
    const batches = mine.filter((r) => r === `POST /api/2/files/${e.rootId}/batch/download`).length;
    expect(batches).toBeGreaterThanOrEqual(1);
    expect(batches).toBeLessThanOrEqual(3);
    expect(mine.filter((r) => r.startsWith('GET ') && r.endsWith('/download'))).toEqual([`GET /api/2/files/${e.rootId}/${bigFile.id}/download`]);
    // A download without a size is the inner api's.
    const plain = await buffer(await api.download(e.rootId, ups[3]!.id, {}));
    expect(sha(plain)).toBe(sha(files[3]!.content));
  });

  it('a request-level failure rejects every item of the batch with it', async () => {
    const other = newPerson(e.t);
    const otherRoot = rootOf(e.t, other).id;
    const settled = await Promise.allSettled(
      [0, 1, 2].map((i) => api.upload(otherRoot, null, `x${i}.txt`, Readable.from([Buffer.from('x')]), { size: 1 })),
    );
    const reasons = settled.map((s) => (s as PromiseRejectedResult).reason as AxisApiError);
    for (const r of reasons) expect({ code: r.code, status: r.status }).toEqual({ code: 'forbidden', status: 403 });
    // One request, one error object for all of them.
    expect(new Set(reasons).size).toBe(1);
  });

  it('sends at most 2 upload and 4 download batch requests at a time (the defaults); the others wait their turn', async () => {
    const lanes = { up: { active: 0, most: 0, calls: 0 }, down: { active: 0, most: 0, calls: 0 } };
    const observe = async <T>(lane: { active: number; most: number; calls: number }, call: () => Promise<T>): Promise<T> => {
      lane.calls++;
      lane.most = Math.max(lane.most, ++lane.active);
      try {
        return await call();
      } finally {
        lane.active--;
      }
    };
    // The real client, observed: how many batch requests are in flight at once, per direction.
    const observed = {
      batchUpload: (...args: Parameters<AxisClient['batchUpload']>) => observe(lanes.up, () => e.client.batchUpload(...args)),
      batchDownload: (...args: Parameters<AxisClient['batchDownload']>) => observe(lanes.down, () => e.client.batchDownload(...args)),
    };
    const limited = new BatchingApi(e.client as RemoteApi, observed, { lingerMs: 50, maxItems: 5 });
    const files = Array.from({ length: 30 }, (_, i) => ({ name: `lane-${i}.txt`, content: Buffer.from(`lane ${i}`) }));
    const results = await Promise.all(files.map((f) => limited.upload(e.rootId, null, f.name, Readable.from([f.content]), { size: f.content.length })));
    expect(lanes.up.calls).toBe(6);
    expect(lanes.up.most).toBe(2);
    expect(results.map((r) => r.sha256)).toEqual(files.map((f) => sha(f.content)));
    const downs = await Promise.all(results.map((r, i) => limited.download(e.rootId, r.id, { size: files[i]!.content.length }).then((s) => buffer(s))));
    expect(lanes.down.calls).toBe(6);
    expect(lanes.down.most).toBe(4);
    expect(downs.map((d) => sha(d))).toEqual(files.map((f) => sha(f.content)));
  });

  it('leaves no timer running when idle', async () => {
    await api.upload(e.rootId, null, 'idle.txt', Readable.from([Buffer.from('idle')]), { size: 4 });
    // @ts-expect-error -- private state, inspected to prove that no queue (and no timer) is left.
    const queues = [api.up, api.down] as Map<number, unknown>[];
    expect(queues.map((q) => q.size)).toEqual([0, 0]);
  });
});

describe('BatchingApi against a server without the batch extension', () => {
  let e: Env;
  beforeAll(async () => {
    e = await env({ batch: false });
  });
  afterAll(async () => {
    e.client.close();
    await e.t.stop();
  });

  it('the client reports batch_unsupported for both endpoints', async () => {
    const up = (await e.client.batchUpload(e.rootId, [{ folderId: null, name: 'x.txt', content: Buffer.from('x') }]).catch((x: unknown) => x)) as AxisApiError;
    expect(up).toBeInstanceOf(AxisApiError);
    expect({ code: up.code, status: up.status }).toEqual({ code: 'batch_unsupported', status: 404 });
    const down = (await e.client.batchDownload(e.rootId, [{ fileId: 1 }]).catch((x: unknown) => x)) as AxisApiError;
    expect({ code: down.code, status: down.status }).toEqual({ code: 'batch_unsupported', status: 405 });
  });

  it('uploads and downloads still work, one by one, and the batch is not tried again', async () => {
    const api = new BatchingApi(e.client as RemoteApi, e.client, { lingerMs: 20 });
    const files = Array.from({ length: 10 }, (_, i) => ({ name: `one-${i}.txt`, content: randomBytes(50 + i) }));
    const before = e.requests.length;
    const ups = await Promise.all(files.map((f) => api.upload(e.rootId, null, f.name, Readable.from([f.content]), { size: f.content.length })));
    const more = await api.upload(e.rootId, null, 'later.txt', Readable.from([Buffer.from('later')]), { size: 5 });
    expect(more.sha256).toBe(sha(Buffer.from('later')));
    const dup = await api.upload(e.rootId, null, 'one-0.txt', Readable.from([Buffer.from('dup')]), { size: 3 }).catch((x: unknown) => x);
    expect((dup as AxisApiError).code).toBe('name_conflict');
    const downs = await Promise.all(ups.map((u, i) => api.download(e.rootId, u.id, { size: files[i]!.content.length }).then((s) => buffer(s))));
    const missing = (await api.download(e.rootId, 999_999, { size: 1 }).catch((x: unknown) => x)) as AxisApiError;
    expect({ code: missing.code, status: missing.status }).toEqual({ code: 'not_found', status: 404 });
    const onServer = stored(e);
    for (const [i, f] of files.entries()) {
      expect(onServer.get(f.name)).toBe(sha(f.content));
      expect(sha(downs[i]!)).toBe(sha(f.content));
    }
    const mine = e.requests.slice(before);
    expect(count({ ...e, requests: mine }, /batch\/upload$/)).toBe(1);
    expect(count({ ...e, requests: mine }, /batch\/download$/)).toBe(1);
    expect(count({ ...e, requests: mine }, /^POST \/api\/2\/files\/\d+\/upload$/)).toBe(12);
    expect(count({ ...e, requests: mine }, /^GET .*\/download$/)).toBe(11);
  });
});

describe('AxisClient batch transfers', () => {
  let e: Env;
  beforeAll(async () => {
    e = await env();
  });
  afterAll(async () => {
    e.client.close();
    await e.t.stop();
  });

  it('sends and receives the batch bodies through the transfer shaper', async () => {
    const seen = { up: 0, down: 0 };
    e.client.transferShaper = (direction, source) => {
      source.on('data', (c: Buffer) => (seen[direction] += c.length));
      return source;
    };
    try {
      const contents = [randomBytes(1000), randomBytes(2000)];
      const files = await e.client.batchUpload(e.rootId, contents.map((content, i) => ({ folderId: null, name: `shaped-${i}.bin`, content })));
      // The file contents exactly: the multipart framing is not shaped (as with a single upload).
      expect(seen.up).toBe(3000);
      const ids = files.map((f) => {
        if (f instanceof Error) throw f;
        return f.id;
      });
      const got = await e.client.batchDownload(e.rootId, ids.map((fileId) => ({ fileId })));
      expect(seen.down).toBeGreaterThan(3000);
      expect(got.map((g) => (g instanceof Error ? g : sha(g.content)))).toEqual(contents.map(sha));
    } finally {
      e.client.transferShaper = undefined;
    }
  });

  it('refuses a malformed batch stream', async () => {
    // A server that answers the batch download with a crafted body.
    let body: Buffer = Buffer.alloc(0);
    const hostile = http.createServer((req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'application/vnd.axis.batch' });
        res.end(body);
      });
    });
    await new Promise<void>((resolve) => hostile.listen(0, '127.0.0.1', resolve));
    const client = new AxisClient({ server: `http://127.0.0.1:${(hostile.address() as AddressInfo).port}`, retry: { limit: 0 } });
    await client.setTokens({ accessToken: 'token', kind: 'oauth2' });
    const content = Buffer.from('hello');
    const header = (h: object) => Buffer.from(`${JSON.stringify(h)}\n`);
    const good = header({ file_id: 1, revision_id: 2, size: 5, sha256: sha(content) });
    try {
      const cases: Array<[string, Buffer, RegExp]> = [
        ['short content', Buffer.concat([good, content.subarray(0, 3)]), /2 bytes short/],
        ['extra bytes', Buffer.concat([good, content, Buffer.from('!')]), /trailing bytes/],
        ['extra frame', Buffer.concat([good, content, good, content]), /more frames than the 1 items/],
        ['wrong hash', Buffer.concat([header({ file_id: 1, revision_id: 2, size: 5, sha256: sha(Buffer.from('other')) }), content]), /hashes to/],
        ['bad header', Buffer.concat([header({ file_id: 1, size: 5 }), content]), /./],
        ['other file', Buffer.concat([header({ file_id: 7, revision_id: 2, size: 5, sha256: sha(content) }), content]), /for file 7/],
        ['no frame', Buffer.alloc(0), /0 frames for 1 items/],
      ];
      for (const [what, b, message] of cases) {
        body = b;
        const err = await client.batchDownload(1, [{ fileId: 1 }]).catch((x: unknown) => x);
        expect(err, what).toBeInstanceOf(ProtocolError);
        expect((err as ProtocolError).message, what).toMatch(message);
      }
      body = Buffer.concat([good, content]);
      const ok = await client.batchDownload(1, [{ fileId: 1 }]);
      expect(ok).toEqual([{ fileId: 1, revisionId: 2, size: 5, sha256: sha(content), content }]);
    } finally {
      client.close();
      await new Promise((resolve) => hostile.close(resolve));
    }
  });
});
