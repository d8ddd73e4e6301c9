// Content downloads (single and batch) are read straight off Node's response, on the client's
// own agents, not through got's stream (see AxisClient.rawRequest). Against the real reference
// server, and against a broken front (a fake: the reference server never breaks this way) that
// presents the server's certificate and breaks the answer on purpose: a connection cut in the
// middle of the body, a body that stalls, an answer that never comes. Every failure must reach
// the caller as a typed error on the stream or the promise, never as a short "complete" file.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AxisClient, type Tokens } from '../../src/api/client.js';
import { NetworkError, UntrustedCertificateError } from '../../src/api/errors.js';
import { ADMIN_EMAIL, ADMIN_PASSWORD, startTestServer, type TestServer } from '../helpers/server.js';
import { accessToken, call } from '../helpers/server-api.js';

const USER = { email: 'downloads@example.test', password: 'downloads-secret-Pw1' };
const tmp = mkdtempSync(path.join(os.tmpdir(), 'axis-api-download-'));
const content = randomBytes(3 * 1024 * 1024 + 17);
const small = Buffer.from('a small file\n');
let t: TestServer;
let fp: string;
let tokens: Tokens | undefined;
let client: AxisClient;
let rootId: number;
let fileId: number;
let smallId: number;

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/** A client of `url` with the test user's tokens. */
function clientOf(url: string, opts: { fingerprint?: string; idleMs?: number; responseMs?: number } = {}): AxisClient {
  return new AxisClient({
    server: url,
    trust: { fingerprint: opts.fingerprint ?? fp },
    tokens: { load: () => tokens, save: (x) => void (tokens = x) },
    retry: { limit: 0 },
    timeouts: { connectMs: 2000, responseMs: opts.responseMs ?? 10_000, idleMs: opts.idleMs ?? 10_000 },
  });
}

/** An HTTPS server with the reference server's certificate that answers with `handler`. */
async function front(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; close: () => Promise<void> }> {
  const tlsDir = path.join(t.dataDir, 'tls');
  const server = https.createServer({ key: readFileSync(path.join(tlsDir, 'key.pem')), cert: readFileSync(path.join(tlsDir, 'cert.pem')) }, handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

beforeAll(async () => {
  t = await startTestServer();
  fp = t.server.fingerprint!;
  const admin = await accessToken(t, ADMIN_EMAIL, ADMIN_PASSWORD);
  const res = await call(t, 'POST', 'api/2/person/create', { token: admin, form: { email: USER.email, password: USER.password, first_name: 'Down', last_name: 'Loader' } });
  expect(res.status).toBe(200);
  client = clientOf(t.url);
  await client.loginPassword(USER.email, USER.password);
  rootId = (await client.person()).roots.find((r) => r.type === 'sync')!.id;
  fileId = (await client.upload(rootId, null, 'big.bin', content)).id;
  smallId = (await client.upload(rootId, null, 'small.txt', small)).id;
});

afterAll(async () => {
  client?.close();
  await t?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

describe('downloads off the response', () => {
  it('whole, a range and a batch, byte for byte; the connection is kept for the next request', async () => {
    const whole = await client.download(rootId, fileId);
    expect(whole.contentLength).toBe(content.length);
    expect(sha256(await readAll(whole))).toBe(sha256(content));
    const part = await client.download(rootId, fileId, { range: { start: 1000, end: 1999 } });
    expect(part.partial).toBe(true);
    expect(await readAll(part)).toEqual(content.subarray(1000, 2000));
    const batch = await client.batchDownload(rootId, [{ fileId: smallId }, { fileId }]);
    expect(batch.map((r) => ('content' in r ? sha256(r.content) : r))).toEqual([sha256(small), sha256(content)]);
    // Every answer was read to its end: one kept-alive connection served all three.
    const connections = new Set<string>();
    t.server.app.server.on('connection', (s) => connections.add(`${s.remotePort}`));
    for (let i = 0; i < 3; i++) expect(await readAll(await client.download(rootId, smallId))).toEqual(small);
    expect(connections.size).toBeLessThanOrEqual(1);
  });

  it('a certificate other than the pinned one is refused before anything is sent', async () => {
    const other = clientOf(t.url, { fingerprint: 'ab'.repeat(32) });
    const err = await other.download(rootId, fileId).catch((e: unknown) => e);
    other.close();
    expect(err).toBeInstanceOf(UntrustedCertificateError);
    expect(err).toMatchObject({ reason: 'fingerprint_mismatch', fingerprint: fp });
  });

  it('a connection cut in the middle of the body errors the stream (NetworkError), and so does a batch', async () => {
    const f = await front((req, res) => {
      if (req.url!.includes('/batch/')) {
        // The batch answer's headers, then the connection goes.
        res.writeHead(200, { 'content-length': '1000000', 'content-type': 'application/vnd.axis.batch' });
        res.flushHeaders();
        setTimeout(() => res.socket?.destroy(), 50);
        return;
      }
      res.writeHead(200, { 'content-length': String(content.length) });
      res.write(content.subarray(0, 1024 * 1024), () => res.socket?.destroy());
    });
    const cl = clientOf(f.url);
    try {
      const stream = await cl.download(rootId, fileId);
      const err = await readAll(stream).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NetworkError);
      expect((err as NetworkError).message).toMatch(/^Download from https:\/\/127\.0\.0\.1:\d+ failed/);
      const batchErr = await cl.batchDownload(rootId, [{ fileId }]).catch((e: unknown) => e);
      expect(batchErr).toBeInstanceOf(NetworkError);
    } finally {
      cl.close();
      await f.close();
    }
  });

  it('a body that stalls errors the stream after the idle timeout (ETIMEDOUT)', async () => {
    const f = await front((_req, res) => {
      res.writeHead(200, { 'content-length': String(content.length) });
      res.write(content.subarray(0, 64 * 1024));
    });
    const cl = clientOf(f.url, { idleMs: 300 });
    try {
      const stream = await cl.download(rootId, fileId);
      const t0 = Date.now();
      const err = await readAll(stream).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NetworkError);
      expect((err as NetworkError).code).toBe('ETIMEDOUT');
      expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    } finally {
      cl.close();
      await f.close();
    }
  });

  it('an answer that never comes rejects with ETIMEDOUT after the connect and response timeouts', async () => {
    const f = await front(() => undefined);
    const cl = clientOf(f.url, { responseMs: 300 });
    try {
      const err = await cl.download(rootId, fileId).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NetworkError);
      expect((err as NetworkError).code).toBe('ETIMEDOUT');
    } finally {
      cl.close();
      await f.close();
    }
  });
});
