// The reference server: Fastify over HTTPS (self-signed by default), SQLite metadata and a
// content-addressed blob store. createReferenceServer() is what the CLI, `npm start` and the
// tests use.
import formbody from '@fastify/formbody';
import multipart from '@fastify/multipart';
import Fastify, { type FastifyBaseLogger, type FastifyError, type FastifyInstance } from 'fastify';
import { promises as fsp } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { pino, type Logger } from 'pino';
import { bootstrap, type BootstrapResult } from './bootstrap.js';
import { BlobStore } from './blobs.js';
import { ChangeHub } from './changes.js';
import type { OrganizationRow, ServerConfig, ServerContext } from './context.js';
import { assertLicensed, resolvePrincipal } from './credentials.js';
import { type DB, openDatabase, stmt } from './db.js';
import { ApiError, errors } from './errors.js';
import { Router } from './http.js';
import { defaultPolicy, type Policy } from './policy.js';
import { registerAuthRoutes } from './routes/auth.js';
import { registerBatchRoutes } from './routes/batch.js';
import { registerChangeRoutes } from './routes/changes.js';
import { registerDeltaRoutes } from './routes/delta.js';
import { registerFileRoutes } from './routes/files.js';
import { registerMachineRoutes } from './routes/machines.js';
import { registerOrganizationRoutes } from './routes/organization.js';
import { registerPersonRoutes } from './routes/person.js';
import { registerV1Routes } from './routes/v1.js';
import { systemClock, type Clock } from './time.js';
import { loadOrCreateTls } from './tls.js';

export interface ReferenceServerOptions {
  dataDir: string;
  host?: string;
  port?: number;
  /** Plain HTTP instead of HTTPS. */
  insecureHttp?: boolean;
  /** With insecureHttp on a loopback host: let /api/2 and /oauth2 answer (tests only). */
  allowInsecureApi?: boolean;
  adminEmail?: string;
  adminPassword?: string;
  clock?: Clock;
  logger?: Logger;
  licenseExpires?: Date;
  accessTokenSeconds?: number;
  /** Serve the change feed extension (default true); false emulates a server without it. */
  changeFeed?: boolean;
  /** Serve the batch transfer extension (default true); false emulates a server without it. */
  batch?: boolean;
  /** Largest request body that is not a file upload (bytes). */
  bodyLimit?: number;
}

export interface ReferenceServer {
  url: string;
  /** SHA-256 fingerprint of the TLS certificate (undefined over plain HTTP). */
  fingerprint?: string;
  /** PEM of the TLS certificate (undefined over plain HTTP). */
  certificate?: string;
  /** Credentials created at first start (password only when it was generated). */
  admin: BootstrapResult;
  ctx: ServerContext;
  app: FastifyInstance;
  close(): Promise<void>;
}

const LOOPBACK = new Set(['127.0.0.1', '::1', 'localhost']);

export function isLoopbackHost(host: string): boolean {
  return LOOPBACK.has(host) || host.startsWith('127.');
}

export async function createReferenceServer(opts: ReferenceServerOptions): Promise<ReferenceServer> {
  const host = opts.host ?? '127.0.0.1';
  const tls = !opts.insecureHttp;
  if (opts.allowInsecureApi && (tls || !isLoopbackHost(host))) {
    throw new Error('--allow-insecure-api is only for plain HTTP on a loopback address (127.0.0.1, ::1, localhost)');
  }
  await fsp.mkdir(opts.dataDir, { recursive: true, mode: 0o700 });
  const log = opts.logger ?? pino({ level: process.env.AXIS_SERVER_LOG ?? 'warn' });
  const config: ServerConfig = {
    dataDir: opts.dataDir,
    tls,
    allowInsecureApi: !!opts.allowInsecureApi,
    licenseExpires: opts.licenseExpires,
    accessTokenSeconds: opts.accessTokenSeconds ?? 3600,
  };
  const db = openDatabase(opts.dataDir);
  const blobs = new BlobStore(path.join(opts.dataDir, 'blobs'));
  await blobs.init();
  const clock = opts.clock ?? systemClock;
  const ctx: ServerContext = {
    db,
    blobs,
    clock,
    changes: new ChangeHub(),
    config,
    log,
    requirePrincipal: (req) => {
      const principal = resolvePrincipal(db, clock, req);
      if (req.url.startsWith('/api/2')) assertLicensed(db, clock, config.licenseExpires, principal.person);
      return principal;
    },
    policyOf: (companyId) => policyOf(db, companyId),
  };
  const admin = bootstrap(ctx, { email: opts.adminEmail, password: opts.adminPassword });

  const identity = tls ? await loadOrCreateTls(opts.dataDir, [host]) : undefined;
  const app = Fastify({
    loggerInstance: log as FastifyBaseLogger,
    bodyLimit: opts.bodyLimit ?? 1024 * 1024,
    // The server object is made here so that X-HTTP-Method-Override (004) can change the
    // method before routing.
    serverFactory: (handler) => {
      const onRequest = (req: http.IncomingMessage, res: http.ServerResponse) => {
        applyMethodOverride(req);
        handler(req, res);
      };
      return identity ? https.createServer({ key: identity.key, cert: identity.cert }, onRequest) : http.createServer(onRequest);
    },
  }) as unknown as FastifyInstance;
  await app.register(formbody);
  await app.register(multipart, {
    limits: { fieldSize: 64 * 1024, fields: 50, files: 1, parts: 60, fieldNameSize: 200 },
  });

  app.addHook('onRequest', async (req) => {
    const p = req.url;
    if (!tls && !config.allowInsecureApi && (p.startsWith('/api/2') || p.startsWith('/oauth2'))) throw errors.insecureTransport();
  });
  // Wake change-feed long polls once a change to a root's contents has been answered.
  app.addHook('onResponse', async (req, reply) => {
    if (req.method === 'GET' || req.method === 'HEAD' || reply.statusCode >= 400) return;
    // A batch download (a POST) changes nothing.
    if (req.url.endsWith('/batch/download')) return;
    const m = /^\/api\/2\/files\/(\d+)\//.exec(req.url);
    if (m) ctx.changes.notify(Number(m[1]));
  });
  app.addHook('onSend', async (_req, reply, payload) => {
    reply.header('cache-control', 'no-store');
    return payload;
  });

  app.setErrorHandler((err: FastifyError | ApiError, req, reply) => {
    if (err instanceof ApiError) return reply.status(err.status).send(err.body);
    const status = (err as FastifyError).statusCode ?? 500;
    if (status === 413) return reply.status(400).send({ error: 'invalid_request', error_description: 'Request body is too large.' });
    if (status === 415) return reply.status(400).send({ error: 'invalid_request', error_description: 'Unsupported content type.' });
    if (status >= 400 && status < 500) {
      return reply.status(400).send({ error: 'invalid_request', error_description: err.message });
    }
    // A client that went away mid-request (an upload it aborted because the file changed, a
    // killed agent) is no server fault: noted, not an error. Nothing can be answered anyway.
    const code = (err as NodeJS.ErrnoException).code;
    if (req.raw.destroyed && (code === 'ECONNRESET' || err.message === 'aborted')) {
      req.log.info({ code }, 'the client went away during the request');
      return reply.status(400).send({ error: 'invalid_request', error_description: 'The request was aborted.' });
    }
    req.log.error({ err }, 'request failed');
    return reply.status(500).send({ error: 'unknown' });
  });
  app.setNotFoundHandler((_req, reply) => reply.status(404).send({ error: 'not_found' }));

  const router = new Router(app);
  registerAuthRoutes(router, ctx);
  registerV1Routes(router, ctx);
  registerPersonRoutes(router, ctx);
  registerOrganizationRoutes(router, ctx);
  registerMachineRoutes(router, ctx);
  if (opts.changeFeed !== false) registerChangeRoutes(router, ctx);
  registerDeltaRoutes(router, ctx);
  if (opts.batch !== false) registerBatchRoutes(router, ctx);
  registerFileRoutes(router, ctx);
  router.finish();

  await app.listen({ host, port: opts.port ?? 0 });
  const addr = app.server.address() as AddressInfo;
  const urlHost = addr.family === 'IPv6' || host.includes(':') ? `[${addr.address}]` : host;
  const url = `${tls ? 'https' : 'http'}://${urlHost}:${addr.port}`;

  return {
    url,
    fingerprint: identity?.fingerprint,
    certificate: identity?.cert,
    admin,
    ctx,
    app,
    close: async () => {
      await app.close();
      db.close();
    },
  };
}

function applyMethodOverride(req: http.IncomingMessage): void {
  if (req.method !== 'POST') return;
  let override = req.headers['x-http-method-override'];
  if (Array.isArray(override)) override = override[0];
  if (!override && req.url && req.url.includes('_method=')) {
    const q = new URL(req.url, 'http://x').searchParams.get('_method');
    if (q) override = q;
  }
  const m = override?.toUpperCase();
  if (m === 'DELETE' || m === 'PATCH' || m === 'PUT') req.method = m;
}

/** Parsed policies by organization, reused while the stored JSON is unchanged. */
const parsedPolicies = new WeakMap<DB, Map<number, { stored: string; policy: Policy }>>();

export function policyOf(db: DB, companyId: number): Policy {
  const row = stmt(db, `SELECT policy FROM organizations WHERE id = ?`).get(companyId) as Pick<OrganizationRow, 'policy'> | undefined;
  if (!row) return defaultPolicy();
  let cache = parsedPolicies.get(db);
  if (!cache) {
    cache = new Map();
    parsedPolicies.set(db, cache);
  }
  let hit = cache.get(companyId);
  if (hit?.stored !== row.policy) {
    hit = { stored: row.policy, policy: { ...defaultPolicy(), ...(JSON.parse(row.policy) as Partial<Policy>) } };
    cache.set(companyId, hit);
  }
  // A copy: callers may spread or change what they get.
  return { ...hit.policy };
}
