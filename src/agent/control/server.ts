// The control API's HTTP server (docs/control-api.md): Fastify on 127.0.0.1, a random port,
// every /api/* request authenticated (bearer token, or the session cookie a one-time login URL
// sets), Host and Origin checked (DNS rebinding, cross-site requests), bodies validated with
// zod, Server-Sent Events for live state, the built UI (dist/renderer) as static files, and a
// strict CSP and security headers on every response.
import cookie from '@fastify/cookie';
import fastifyStatic from '@fastify/static';
import Fastify, { type FastifyError, type FastifyReply, type FastifyRequest } from 'fastify';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { existsSync, promises as fsp, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import { z } from 'zod';
import { writeFileAtomic } from '../home.js';
import type { AgentServiceCore } from './service.js';
import { ControlError } from './state.js';

export const SESSION_COOKIE = 'axis_session';
/** A one-time login code works once, within this time. */
export const LOGIN_CODE_MS = 120_000;
const MAX_SESSIONS = 64;
const SSE_PING_MS = 15_000;

export const CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

export const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': CSP,
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

export function controlFilePath(home: string): string {
  return path.join(home, 'control.json');
}

export interface ControlFile {
  port: number;
  pid: number;
  token: string;
  url: string;
}

export interface ControlServer {
  url: string;
  port: number;
  token: string;
  mintLoginUrl(): string;
  close(): Promise<void>;
}

/** dist/renderer of the checkout this module belongs to (src/… or dist/src/…). */
export function defaultRendererDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    const pkg = path.join(dir, 'package.json');
    if (existsSync(pkg)) {
      try {
        if ((JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'axis-cloudsync-agent') return path.join(dir, 'dist', 'renderer');
      } catch {
        // not ours
      }
    }
    dir = path.dirname(dir);
  }
  return path.resolve('dist', 'renderer');
}

const NOT_BUILT_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>AXIS CloudSync Agent</title></head>
<body><h1>AXIS CloudSync Agent</h1><p>UI not built: run npm run build</p>
<p>The agent is running; its control API is served here.</p></body></html>
`;

const LINK_USED_PAGE = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>AXIS CloudSync Agent</title></head>
<body><h1>This link is no longer valid</h1><p>A login link works once, for two minutes. Run <code>axis-agent ui</code> for a new one.</p></body></html>
`;

function sameSecret(given: string, token: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

function validate<T extends z.ZodType>(schema: T, value: unknown): z.infer<T> {
  const r = schema.safeParse(value);
  if (!r.success) {
    const msg = r.error.issues.map((i) => `${i.path.length ? i.path.join('.') : 'body'}: ${i.message}`).join('; ');
    throw new ControlError(400, 'invalid_request', msg);
  }
  return r.data;
}

const Empty = z.strictObject({});
const LoginBody = z.strictObject({
  server: z.string().min(1).max(2048),
  username: z.string().min(1).max(320),
  password: z.string().min(1).max(1024),
  trust_fingerprint: z.string().min(1).max(200).optional(),
});
const CodeBody = z.strictObject({ code: z.string().trim().regex(/^\d{4,10}$/, 'the code is 4 to 10 digits') });
const KeepBody = z.strictObject({ keep: z.enum(['mine', 'server', 'both']) });
const SettingsBody = z.strictObject({ start_at_login: z.boolean().optional(), manual_collisions: z.boolean().optional() });
const IdParams = z.object({ id: z.string().regex(/^\d{1,12}$/, 'a collision id is a number') });
const ActivityQuery = z.object({ limit: z.coerce.number().int().min(1).max(500).default(100) });

export async function startControlServer(o: { core: AgentServiceCore; home: string; log: Logger; rendererDir?: string }): Promise<ControlServer> {
  const { core } = o;
  const token = randomBytes(32).toString('hex');
  const codes = new Map<string, number>();
  const sessions = new Set<string>();
  const sse = new Set<FastifyReply>();
  let port = 0;
  const rendererDir = o.rendererDir ?? defaultRendererDir();
  const built = existsSync(path.join(rendererDir, 'index.html'));

  const app = Fastify({ logger: false, bodyLimit: 64 * 1024, forceCloseConnections: true, return503OnClosing: true });
  await app.register(cookie);

  // JSON bodies: an empty body is {}, anything unparsable a clear 400.
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    const text = String(body);
    if (text.trim() === '') return done(null, {});
    try {
      done(null, JSON.parse(text));
    } catch (err) {
      done(new ControlError(400, 'invalid_json', `The body is not valid JSON: ${(err as Error).message}`), undefined);
    }
  });

  const allowedHosts = () => new Set([`127.0.0.1:${port}`, `localhost:${port}`]);
  const allowedOrigins = () => new Set([`http://127.0.0.1:${port}`, `http://localhost:${port}`]);

  const authenticated = (req: FastifyRequest): boolean => {
    const auth = req.headers.authorization;
    if (auth) {
      const m = /^Bearer\s+(\S+)\s*$/i.exec(auth);
      return !!m && sameSecret(m[1]!, token);
    }
    const sid = req.cookies[SESSION_COOKIE];
    return !!sid && sessions.has(sid);
  };

  app.addHook('onRequest', async (req, reply) => {
    const host = (req.headers.host ?? '').toLowerCase();
    if (!allowedHosts().has(host)) {
      return reply.code(403).send({ error: { code: 'forbidden_host', message: `Host ${JSON.stringify(req.headers.host ?? '')} is not allowed: use http://127.0.0.1:${port}/` } });
    }
    const origin = req.headers.origin;
    if (origin !== undefined && !allowedOrigins().has(origin.toLowerCase())) {
      return reply.code(403).send({ error: { code: 'forbidden_origin', message: `Origin ${JSON.stringify(origin)} is not allowed` } });
    }
    const url = req.url.split('?')[0]!;
    if (url === '/api' || url.startsWith('/api/')) {
      if (!authenticated(req)) {
        return reply.code(401).send({ error: { code: 'unauthorized', message: 'Authentication required: the control token (Authorization: Bearer …) or a session from axis-agent ui.' } });
      }
      if (req.method === 'POST' || req.method === 'PUT' || req.method === 'PATCH' || req.method === 'DELETE') {
        const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
        const length = Number(req.headers['content-length'] ?? 0);
        const hasBody = length > 0 || req.headers['transfer-encoding'] !== undefined;
        if ((hasBody || type !== '') && type !== 'application/json') {
          return reply.code(415).send({ error: { code: 'unsupported_media_type', message: 'Send the body as Content-Type: application/json' } });
        }
      }
    }
    return undefined;
  });

  app.addHook('onSend', async (req, reply, payload) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) reply.header(k, v);
    const url = req.url.split('?')[0]!;
    if (url.startsWith('/api/') || url.startsWith('/ui/') || url === '/') reply.header('cache-control', 'no-store');
    return payload;
  });

  app.setErrorHandler((err: FastifyError | ControlError | Error, _req, reply) => {
    if (err instanceof ControlError) return reply.code(err.status).send({ error: { code: err.code, message: err.message }, ...err.extra });
    const status = 'statusCode' in err && typeof err.statusCode === 'number' ? err.statusCode : 500;
    if (status >= 400 && status < 500) {
      const code = status === 413 ? 'body_too_large' : status === 415 ? 'unsupported_media_type' : 'invalid_request';
      return reply.code(status).send({ error: { code, message: err.message } });
    }
    o.log.error({ err }, 'control API request failed');
    return reply.code(500).send({ error: { code: 'internal', message: err.message } });
  });

  app.setNotFoundHandler((req, reply) => {
    const url = req.url.split('?')[0]!;
    if (req.method === 'GET' && built && !url.startsWith('/api/') && !url.startsWith('/assets/') && (req.headers.accept ?? '').includes('text/html')) {
      // The UI routes on the client: any other page is the app.
      return reply.type('text/html; charset=utf-8').sendFile('index.html');
    }
    return reply.code(404).send({ error: { code: 'not_found', message: `${req.method} ${url} does not exist` } });
  });

  // ----- the UI ---------------------------------------------------------------------------------

  if (built) {
    await app.register(fastifyStatic, { root: rendererDir, prefix: '/', index: 'index.html', wildcard: true });
  } else {
    app.get('/', async (_req, reply) => reply.type('text/html; charset=utf-8').send(NOT_BUILT_PAGE));
  }

  const mintLoginUrl = (): string => {
    const now = Date.now();
    for (const [c, exp] of codes) if (exp < now) codes.delete(c);
    const code = randomBytes(24).toString('base64url');
    codes.set(code, now + LOGIN_CODE_MS);
    return `http://127.0.0.1:${port}/ui/login?code=${code}`;
  };

  app.get('/ui/login', async (req, reply) => {
    const code = (req.query as Record<string, unknown>).code;
    const exp = typeof code === 'string' ? codes.get(code) : undefined;
    if (typeof code === 'string') codes.delete(code);
    if (exp === undefined || exp < Date.now()) return reply.code(403).type('text/html; charset=utf-8').send(LINK_USED_PAGE);
    const sid = randomBytes(32).toString('hex');
    sessions.add(sid);
    while (sessions.size > MAX_SESSIONS) sessions.delete(sessions.values().next().value!);
    reply.setCookie(SESSION_COOKIE, sid, { httpOnly: true, sameSite: 'strict', path: '/' });
    return reply.redirect('/', 303);
  });

  // ----- the API --------------------------------------------------------------------------------

  app.get('/api/state', async () => core.state());

  app.get('/api/events', (req, reply) => {
    reply.hijack();
    const raw = reply.raw;
    raw.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-store', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    const send = (event: string, data: unknown) => raw.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    const onState = (s: unknown) => send('state', s);
    const onBandwidth = (s: unknown) => send('bandwidth', s);
    const onActivity = (s: unknown) => send('activity', s);
    const ping = setInterval(() => raw.write(': ping\n\n'), SSE_PING_MS);
    core.on('state', onState);
    core.on('bandwidth', onBandwidth);
    core.on('activity', onActivity);
    sse.add(reply);
    const done = () => {
      clearInterval(ping);
      core.off('state', onState);
      core.off('bandwidth', onBandwidth);
      core.off('activity', onActivity);
      sse.delete(reply);
    };
    req.raw.on('close', done);
    raw.on('close', done);
    raw.write('retry: 2000\n\n');
    send('state', core.state());
  });

  app.post('/api/login', async (req) => ({ login: await core.loginPassword(validate(LoginBody, req.body)) }));
  app.post('/api/login/code', async (req) => ({ login: await core.loginCode(validate(CodeBody, req.body).code) }));
  app.post('/api/login/resend', async (req) => {
    validate(Empty, req.body ?? {});
    return { login: await core.loginResend() };
  });
  app.post('/api/logout', async (req) => {
    validate(Empty, req.body ?? {});
    return { login: await core.logout() };
  });

  app.get('/api/collisions', async () => core.collisions());
  app.post('/api/collisions/resolve-all', async (req) => core.resolveAll(validate(KeepBody, req.body).keep));
  app.post('/api/collisions/:id/resolve', async (req) => {
    const { id } = validate(IdParams, req.params);
    const { keep } = validate(KeepBody, req.body);
    return { message: await core.resolve(Number(id), keep) };
  });

  app.get('/api/activity', async (req) => ({ activity: core.activity(validate(ActivityQuery, req.query).limit) }));
  app.get('/api/bandwidth', async () => core.bandwidth());

  app.post('/api/pause', async (req) => {
    validate(Empty, req.body ?? {});
    return { paused: await core.setPaused(true) };
  });
  app.post('/api/resume', async (req) => {
    validate(Empty, req.body ?? {});
    return { paused: await core.setPaused(false) };
  });
  app.put('/api/settings', async (req) => ({ settings: await core.updateSettings(validate(SettingsBody, req.body)) }));
  app.post('/api/ui-session', async (req) => {
    validate(Empty, req.body ?? {});
    return { url: mintLoginUrl() };
  });

  await app.listen({ host: '127.0.0.1', port: 0 });
  port = (app.server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}/`;
  const file = controlFilePath(o.home);
  await fsp.mkdir(o.home, { recursive: true, mode: 0o700 });
  const content: ControlFile = { port, pid: process.pid, token, url };
  await writeFileAtomic(file, `${JSON.stringify(content)}\n`, 0o600);

  let closing: Promise<void> | undefined;
  return {
    url,
    port,
    token,
    mintLoginUrl,
    close: () =>
      (closing ??= (async () => {
        // Only our own file (another agent may have started on this home since).
        try {
          const now = JSON.parse(await fsp.readFile(file, 'utf8')) as Partial<ControlFile>;
          if (now.token === token) await fsp.rm(file, { force: true });
        } catch {
          // gone already
        }
        for (const r of sse) r.raw.end();
        sse.clear();
        await app.close();
      })()),
  };
}
