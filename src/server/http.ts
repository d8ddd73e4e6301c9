// Request helpers shared by the route modules: reading documented POST fields and query
// parameters (form, JSON or query string alike) with the documented 400 errors.
import type { FastifyInstance, FastifyReply, FastifyRequest, RouteHandlerMethod } from 'fastify';
import { errors } from './errors.js';

export type Fields = Record<string, unknown>;

/** Query parameters merged with the body's fields (body wins). */
export function fieldsOf(req: FastifyRequest): Fields {
  const q = (req.query ?? {}) as Fields;
  const b = req.body && typeof req.body === 'object' && !Buffer.isBuffer(req.body) ? (req.body as Fields) : {};
  return { ...q, ...b };
}

/** Longest accepted text field; longer → 400 invalid_request for that parameter. */
export const MAX_FIELD_LENGTH = 4096;

function scalar(f: Fields, name: string): string | undefined {
  const v = f[name];
  if (v === undefined || v === null) return undefined;
  if (Array.isArray(v)) throw errors.invalidParam(name);
  if (typeof v === 'object') throw errors.invalidParam(name);
  const s = String(v);
  if (s.length > MAX_FIELD_LENGTH) throw errors.invalidParam(name);
  return s;
}

export function optString(f: Fields, name: string): string | undefined {
  return scalar(f, name);
}

export function reqString(f: Fields, name: string): string {
  const s = scalar(f, name);
  if (s === undefined || s === '') throw errors.missingParam(name);
  return s;
}

/** "true"/"false" (any case), also JSON booleans and 1/0. */
export function optBool(f: Fields, name: string, dflt: boolean): boolean {
  const s = scalar(f, name);
  if (s === undefined || s === '') return dflt;
  const l = s.toLowerCase();
  if (l === 'true' || l === '1') return true;
  if (l === 'false' || l === '0') return false;
  throw errors.invalidParam(name);
}

export function optInt(f: Fields, name: string, opts: { min?: number; max?: number } = {}): number | undefined {
  const s = scalar(f, name);
  if (s === undefined || s === '') return undefined;
  if (!/^-?\d+$/.test(s)) throw errors.invalidParam(name);
  const n = Number(s);
  if (!Number.isSafeInteger(n) || (opts.min !== undefined && n < opts.min) || (opts.max !== undefined && n > opts.max)) throw errors.invalidParam(name);
  return n;
}

export function reqInt(f: Fields, name: string, opts: { min?: number; max?: number } = {}): number {
  const n = optInt(f, name, opts);
  if (n === undefined) throw errors.missingParam(name);
  return n;
}

/** A positive integer id from a path parameter; anything else is 404 (no such resource). */
export function pathId(req: FastifyRequest, name: string): number {
  const v = (req.params as Record<string, string>)[name];
  if (!v || !/^\d{1,15}$/.test(v)) throw errors.notFound();
  return Number(v);
}

export function oneOf<T extends string>(f: Fields, name: string, allowed: readonly T[], dflt: T): T {
  const s = scalar(f, name);
  if (s === undefined || s === '') return dflt;
  if (!(allowed as readonly string[]).includes(s)) throw errors.invalidParam(name);
  return s as T;
}

export const OK = { status: 'ok' } as const;

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

/**
 * Registers routes and remembers their URLs so that, once every module has registered,
 * `finish()` answers the documented 405 for the other methods on the same URL.
 */
export class Router {
  private readonly methods = new Map<string, Set<Method>>();

  constructor(private readonly app: FastifyInstance) {}

  on(method: Method | Method[], url: string, handler: (req: FastifyRequest, reply: FastifyReply) => unknown): void {
    const list = Array.isArray(method) ? method : [method];
    this.app.route({ method: list, url, handler: handler as RouteHandlerMethod });
    const set = this.methods.get(url) ?? new Set<Method>();
    for (const m of list) set.add(m);
    this.methods.set(url, set);
  }

  get(url: string, h: (req: FastifyRequest, reply: FastifyReply) => unknown): void {
    this.on('GET', url, h);
  }

  post(url: string, h: (req: FastifyRequest, reply: FastifyReply) => unknown): void {
    this.on('POST', url, h);
  }

  finish(): void {
    const all: Method[] = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];
    for (const [url, set] of this.methods) {
      const missing = all.filter((m) => !set.has(m));
      if (missing.length === 0) continue;
      this.app.route({
        method: missing,
        url,
        handler: async (_req, reply) => {
          reply.header('allow', [...set, ...(set.has('GET') ? ['HEAD'] : [])].join(', '));
          throw errors.methodNotAllowed();
        },
      });
    }
  }
}
