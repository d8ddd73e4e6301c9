// The typed AXIS API client (got 14). Every response is validated (schemas.ts); every failure
// is a typed error (errors.ts). TLS is verified by default, or pinned to a fingerprint
// (tls.ts). Idempotent requests are retried on 503 and transient network failures (retry.ts);
// POST never is. Access tokens are refreshed once on 401, single-flight.
import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp, createReadStream } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { PassThrough, Readable } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import got, { RequestError, type Got, type OptionsInit, type Response } from 'got';
import { z } from 'zod';
import { AuthError, AxisApiError, AxisError, MachineCredentialsRefused, NetworkError, ProtocolError, UntrustedCertificateError, type TwoStepMode } from './errors.js';
import { encodeMultipart } from './multipart.js';
import { DEFAULT_RETRY_POLICY, retryDelay, type RetryPolicy } from './retry.js';
import {
  AccountInfoSchema,
  ChangesPageSchema,
  ChildrenPageSchema,
  ErrorBodySchema,
  FileSchema,
  FolderSchema,
  LoginFailureSchema,
  MachineCommandSchema,
  MachineCommandsSchema,
  MachinePolicySchema,
  MachineRegistrationSchema,
  MachineSchema,
  ModifiedSinceSchema,
  NodeOrOkSchema,
  OkSchema,
  PersonSchema,
  RevisionSchema,
  RevisionsPageSchema,
  RootSchema,
  SearchSchema,
  TokenResponseSchema,
  TwoStepModeSchema,
  V1AuthResponseSchema,
  V1ErrorBodySchema,
  VersionSchema,
  parseBody,
  parseJson,
  type AccountInfo,
  type ApiChangesPage,
  type ApiChild,
  type ApiFile,
  type ApiFolder,
  type ApiMachine,
  type ApiRevision,
  type ApiRoot,
  type MachineCommand,
  type MachinePolicy,
  type MachineRegistration,
  type Page,
  type Person,
  type PersonRoot,
} from './schemas.js';
import { CertificatePinMismatch, PIN_MISMATCH_CODE, PinnedHttpsAgent, isCertificateErrorCode, normalizeFingerprint, probeCertificate } from './tls.js';

/** What the client keeps of a login. */
export interface Tokens {
  accessToken: string;
  /** Absent for v1 session tokens. */
  refreshToken?: string;
  /** When the access token expires (epoch ms), when the server said. */
  expiresAt?: number;
  /** oauth2: from POST /oauth2/token; v1_session: a v1 session token used as bearer token (cannot be refreshed). */
  kind: 'oauth2' | 'v1_session';
  scope?: string;
}

/** Where the client loads and saves its tokens (the agent persists them in a SecretStore). */
export interface TokenStore {
  load(): Tokens | undefined | Promise<Tokens | undefined>;
  save(tokens: Tokens | undefined): void | Promise<void>;
  /**
   * Optional: runs `fn` holding a lock shared by every process using the same store. The
   * server rotates refresh tokens and treats a rotated one presented again as theft (it ends
   * the whole session), so two processes must not refresh with the same token: under this
   * lock the client re-reads the store and uses tokens another process refreshed meanwhile.
   */
  exclusive?<T>(fn: () => Promise<T>): Promise<T>;
}

/** Extension (machine credentials): what the machine grant of POST /oauth2/token takes. */
export interface MachineCredentials {
  guid: string;
  securityKey: string;
}

/**
 * Wraps the content stream of every upload ('up') and download ('down') — whole files and
 * deltas alike — e.g. with a bandwidth limiter. Must return a stream of the same bytes.
 */
export type TransferShaper = (direction: 'up' | 'down', source: Readable) => Readable;

/** What the agent tells the server when it registers its machine (extension). */
export interface MachineRegistrationInfo {
  guid: string;
  dnsName: string;
  osType: 'win' | 'osx' | 'linux';
  osVersion: string;
  agentVersion: string;
  nickname?: string;
}

/** Extension (health reports): the body of POST /api/2/machine/<id>/health. */
export interface HealthReportBody {
  subscriptions: { rsub_id: number; synced: boolean; excl_files: number; synced_folder: string }[];
  synced: boolean;
  transfers: Record<string, unknown>[];
}

export interface ClientTimeouts {
  /** DNS + TCP connect + TLS handshake, each (ms). Default 15 s. */
  connectMs?: number;
  /** From the request sent to the response headers (ms). Default 60 s. */
  responseMs?: number;
  /** Longest silence on an open socket (ms). Default 60 s. */
  idleMs?: number;
}

export interface AxisClientOptions {
  /** Base URL of the server, e.g. https://sync.example.com (a path prefix is kept). */
  server: string | URL;
  /** Pin the server certificate by SHA-256 fingerprint instead of verifying it against the system CAs. */
  trust?: { fingerprint: string };
  tokens?: TokenStore;
  userAgent?: string;
  timeouts?: ClientTimeouts;
  retry?: Partial<RetryPolicy>;
  /** Keep connections open between requests (default true). Call close() when done. */
  keepAlive?: boolean;
  /** Refresh the access token this long before it expires (ms). Default 60 s. */
  refreshSkewMs?: number;
  /** Clock (epoch ms), for tests. */
  now?: () => number;
  /**
   * Extension: the machine's credentials. When the session cannot be refreshed (no refresh
   * token, or the server refused it), the client logs in again as the machine instead of
   * failing; only a refusal of the machine credentials ends the session (MachineCredentialsRefused).
   */
  machine?: () => MachineCredentials | undefined | Promise<MachineCredentials | undefined>;
  /** Shapes transfer content (see TransferShaper); can also be set later (`transferShaper`). */
  transferShaper?: TransferShaper;
}

export interface LoginResult {
  tokens: Tokens;
  /** Which endpoint issued them. */
  via: 'oauth2' | 'v1';
}

/** A file or folder, as far as methods that act on either need it (API objects qualify). */
export interface NodeRef {
  type: 'file' | 'folder';
  id: number;
}

export type MaybeModified<T> = { notModified: true } | { notModified: false; value: T };

export interface ListOptions {
  includeDeleted?: boolean;
  includeLockInfo?: boolean;
  includePermissions?: boolean;
}

export interface ChildrenOptions extends ListOptions {
  page?: number;
  /** 1..100, default 20 (server side). */
  pageSize?: number;
  sortBy?: 'name' | 'modified' | 'size';
  sortOrder?: 'asc' | 'desc';
}

export interface MetadataOptions extends ListOptions {
  /** The hash of the previous answer: an unchanged listing answers 304 → { notModified: true }. */
  hash?: string;
  includeChildren?: boolean;
  includeAncestors?: boolean;
}

/** Content to upload: a Buffer, a file path, or a stream (a stream cannot be re-sent after a 401). */
export type UploadSource = Buffer | Uint8Array | string | Readable;

export interface UploadOptions {
  /** Modification time to record (sent as `modified`, YYYY-MM-DDTHH:MM:SS UTC). */
  modified?: Date;
  /** Extension: the revision this upload replaces; a stale one is refused with 409 revision_conflict. */
  baseRevisionId?: number;
  /** Extension: upload a new revision of this file (POST /api/2/files/<root_id>/<file_id>/upload). */
  fileId?: number;
  /** Size of a stream source, when known (lets the request carry a Content-Length). */
  size?: number;
  contentType?: string;
  /**
   * Extension (delta transfer): the source is a librsync delta against `baseRevisionId`'s
   * content; the server patches it and refuses the result (400 delta_mismatch) unless it
   * hashes to `sha256`.
   */
  delta?: { sha256: string };
}

export interface DownloadOptions {
  /** Byte range (inclusive end), sent as a Range header. */
  range?: { start: number; end?: number };
  /** Download this revision instead of the current content. */
  revisionId?: number;
}

/** A download: the body stream plus what the response headers said. */
export class DownloadStream extends PassThrough {
  constructor(
    readonly statusCode: number,
    /** Content-Length of this response, when sent. */
    readonly contentLength: number | undefined,
    /** Content-Range of a 206, when sent. */
    readonly contentRange: string | undefined,
    /** All response headers (the delta extension's X-Axis-* headers among them). */
    readonly headers: Readonly<Record<string, string | string[] | undefined>> = {},
  ) {
    super();
  }

  /** True when the server answered a range request with just that range (206). */
  get partial(): boolean {
    return this.statusCode === 206;
  }
}

interface Body {
  open(): Readable;
  contentType: string;
  length?: number;
  /** Whether open() can be called again (Buffer/path: yes; a caller's stream: no). */
  replayable: boolean;
}

interface Req {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE' | 'HEAD';
  /** Relative to the server URL, without a leading slash. */
  path: string;
  searchParams?: Record<string, string | number | boolean | undefined>;
  form?: Record<string, string | number | boolean | undefined>;
  /** A JSON body (application/json). */
  json?: unknown;
  body?: Body;
  auth: boolean;
  signal?: AbortSignal;
  /** Overrides the response timeout (long polls). */
  responseTimeoutMs?: number;
}

const DEFAULTS = { connectMs: 15_000, responseMs: 60_000, idleMs: 60_000 };

/** UTC "YYYY-MM-DDTHH:MM:SS", the API's date/time format. */
export function toApiDateTime(d: Date): string {
  if (Number.isNaN(d.getTime())) throw new RangeError('invalid date');
  return d.toISOString().slice(0, 19);
}

/** Parses the API's UTC date/time (no zone = UTC). */
export function fromApiDateTime(s: string): Date {
  return new Date(/[zZ]|[+-]\d{2}:?\d{2}$/.test(s) ? s : `${s}Z`);
}

function clean(o: Record<string, string | number | boolean | undefined> | undefined): Record<string, string> | undefined {
  if (!o) return undefined;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(o)) if (v !== undefined) out[k] = String(v);
  return out;
}

function statusCode(status: number): string {
  switch (status) {
    case 400:
      return 'invalid_request';
    case 401:
      return 'access_denied';
    case 403:
      return 'forbidden';
    case 404:
      return 'not_found';
    case 405:
      return 'method_not_allowed';
    case 409:
      return 'conflict';
    case 410:
      return 'gone';
    case 503:
      return 'temporarily_unavailable';
    default:
      return status >= 500 ? 'unknown' : `http_${status}`;
  }
}

function is2xx(status: number): boolean {
  return status >= 200 && status < 300;
}

export class AxisClient {
  /** Normalized server URL (no trailing slash). */
  readonly server: URL;
  /** The pinned fingerprint (canonical form), if any. */
  readonly pinnedFingerprint?: string;

  private readonly http: Got;
  private readonly agents: { http: http.Agent; https: https.Agent };
  private readonly userAgent: string;
  private readonly timeouts: Required<ClientTimeouts>;
  private readonly retryPolicy: RetryPolicy;
  private readonly store?: TokenStore;
  private readonly refreshSkewMs: number;
  private readonly now: () => number;
  private tokens: Tokens | undefined;
  private tokensLoaded = false;
  private refreshing: Promise<Tokens> | undefined;
  private readonly machineCredentials?: () => MachineCredentials | undefined | Promise<MachineCredentials | undefined>;
  /** Shapes the content of uploads and downloads from now on (e.g. a bandwidth limiter). */
  transferShaper: TransferShaper | undefined;

  constructor(opts: AxisClientOptions) {
    const url = new URL(String(opts.server));
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new TypeError(`server URL must be https:// (got ${url.protocol})`);
    if (url.username || url.password) throw new TypeError('server URL must not contain credentials');
    url.search = '';
    url.hash = '';
    url.pathname = url.pathname.replace(/\/+$/, '');
    this.server = url;
    this.timeouts = { ...DEFAULTS, ...opts.timeouts };
    this.retryPolicy = { ...DEFAULT_RETRY_POLICY, ...opts.retry };
    this.store = opts.tokens;
    this.refreshSkewMs = opts.refreshSkewMs ?? 60_000;
    this.now = opts.now ?? Date.now;
    this.machineCredentials = opts.machine;
    this.transferShaper = opts.transferShaper;
    const keepAlive = opts.keepAlive ?? true;
    if (opts.trust) this.pinnedFingerprint = normalizeFingerprint(opts.trust.fingerprint);
    this.agents = {
      http: new http.Agent({ keepAlive }),
      https: this.pinnedFingerprint
        ? new PinnedHttpsAgent({ keepAlive, fingerprint: this.pinnedFingerprint, handshakeTimeoutMs: this.timeouts.connectMs })
        : new https.Agent({ keepAlive }),
    };
    const policy = this.retryPolicy;
    this.userAgent = opts.userAgent ?? `axis-cloudsync-agent (node ${process.version})`;
    this.http = got.extend({
      prefixUrl: `${url.origin}${url.pathname}`,
      agent: this.agents,
      http2: false,
      cache: false,
      followRedirect: false,
      throwHttpErrors: false,
      responseType: 'text',
      headers: { 'user-agent': this.userAgent, accept: 'application/json' },
      timeout: {
        lookup: this.timeouts.connectMs,
        connect: this.timeouts.connectMs,
        secureConnect: this.timeouts.connectMs,
        response: this.timeouts.responseMs,
        socket: this.timeouts.idleMs,
      },
      retry: {
        limit: policy.limit,
        methods: ['GET', 'HEAD', 'PUT', 'DELETE'],
        statusCodes: [503],
        errorCodes: ['ETIMEDOUT', 'ECONNRESET', 'ECONNREFUSED', 'ECONNABORTED', 'EPIPE', 'ENOTFOUND', 'ENETUNREACH', 'ENETDOWN', 'EHOSTUNREACH', 'EAI_AGAIN'],
        maxRetryAfter: policy.maxRetryAfterMs,
        calculateDelay: ({ attemptCount, error, retryAfter }) =>
          retryDelay(
            {
              method: String(error.options.method),
              statusCode: error.response?.statusCode,
              errorCode: error.response ? undefined : error.code,
              attempt: attemptCount,
              retryAfterMs: retryAfter,
            },
            policy,
          ),
      },
    });
  }

  private get hostPort(): string {
    return this.server.host || this.server.hostname;
  }

  /** Closes kept-alive connections. The client can still be used afterwards. */
  close(): void {
    this.agents.http.destroy();
    this.agents.https.destroy();
  }

  // -------------------------------------------------------------------------------------------
  // Tokens

  /** The tokens in use (loaded from the store on first use). */
  async currentTokens(): Promise<Tokens | undefined> {
    if (!this.tokensLoaded) {
      this.tokens = (await this.store?.load()) ?? undefined;
      this.tokensLoaded = true;
    }
    return this.tokens;
  }

  /** Replaces the tokens in use (and saves them to the store). */
  async setTokens(tokens: Tokens | undefined): Promise<void> {
    this.tokens = tokens;
    this.tokensLoaded = true;
    await this.store?.save(tokens);
  }

  private tokensFrom(body: z.output<typeof TokenResponseSchema>, previous?: Tokens): Tokens {
    return {
      kind: 'oauth2',
      accessToken: body.access_token,
      refreshToken: body.refresh_token ?? previous?.refreshToken,
      expiresAt: body.expires_in !== undefined ? this.now() + body.expires_in * 1000 : undefined,
      scope: body.scope,
    };
  }

  /** An access token that is not known to be expired (refreshing it first when it is about to). */
  private async validAccessToken(): Promise<string> {
    const t = await this.currentTokens();
    if (!t && this.machineCredentials) return (await this.refresh()).accessToken;
    if (!t) throw new AuthError('not_logged_in', 'Not logged in');
    if (t.refreshToken && this.expiring(t)) {
      return (await this.refresh()).accessToken;
    }
    return t.accessToken;
  }

  /** After a 401 with `used`: a newer token (refreshing if nobody has yet), or AuthError session_expired. */
  private async recoverFrom401(used: string): Promise<string> {
    const t = await this.currentTokens();
    if (t && t.accessToken !== used) return t.accessToken;
    if (!t?.refreshToken && !this.machineCredentials) throw new AuthError('session_expired', 'The session has expired or was revoked');
    return (await this.refresh()).accessToken;
  }

  /**
   * Exchanges the refresh token for new tokens (saved to the store). Concurrent callers share
   * one request. An expired or revoked refresh token → AuthError session_expired, or — with
   * machine credentials — a new login as the machine (MachineCredentialsRefused if refused).
   */
  refresh(): Promise<Tokens> {
    if (!this.refreshing) {
      this.refreshing = this.doRefresh().finally(() => {
        this.refreshing = undefined;
      });
    }
    return this.refreshing;
  }

  private async doRefresh(): Promise<Tokens> {
    const mine = await this.currentTokens();
    if (!mine && !this.machineCredentials) throw new AuthError('not_logged_in', 'Not logged in');
    const run = async (): Promise<Tokens> => {
      let t = mine;
      if (this.store) {
        // Another process sharing the store may have refreshed (and rotated) already.
        const stored = await this.store.load();
        if (stored && stored.accessToken !== mine?.accessToken) {
          if (!this.expiring(stored)) {
            this.tokens = stored;
            return stored;
          }
          t = stored;
        }
      }
      if (!t?.refreshToken) {
        if (this.machineCredentials) return this.loginAsStoredMachine();
        throw new AuthError('session_expired', 'The session has expired and cannot be refreshed');
      }
      const req: Req = { method: 'POST', path: 'oauth2/token', form: { grant_type: 'refresh_token', refresh_token: t.refreshToken }, auth: false };
      const endpoint = 'POST /oauth2/token';
      const res = await this.rawSend(req, undefined, endpoint);
      if (is2xx(res.statusCode)) {
        const tokens = this.tokensFrom(parseBody(TokenResponseSchema, parseJson(res.body, endpoint), endpoint), t);
        await this.setTokens(tokens);
        return tokens;
      }
      if (res.statusCode === 400 || res.statusCode === 401 || res.statusCode === 403) {
        // The session ended (expired, revoked); a machine logs in again with its own credentials.
        if (this.machineCredentials) return this.loginAsStoredMachine();
        const err = this.apiError(endpoint, res.statusCode, res.body);
        throw new AuthError('session_expired', 'The session has expired or was revoked', { serverMessage: err.description ?? err.code, cause: err });
      }
      throw this.apiError(endpoint, res.statusCode, res.body);
    };
    return this.store?.exclusive ? this.store.exclusive(run) : run();
  }

  private async loginAsStoredMachine(): Promise<Tokens> {
    const creds = await this.machineCredentials?.();
    if (!creds) throw new AuthError('session_expired', 'The session has expired and cannot be refreshed');
    return (await this.loginMachine(creds.guid, creds.securityKey)).tokens;
  }

  /** Whether the access token is expired or about to be (unknown expiry: no). */
  private expiring(t: Tokens): boolean {
    return t.expiresAt !== undefined && t.expiresAt - this.refreshSkewMs <= this.now();
  }

  /** The content stream through the transfer shaper, if one is set. */
  private shape(direction: 'up' | 'down', source: Readable): Readable {
    const shaper = this.transferShaper;
    return shaper ? shaper(direction, source) : source;
  }

  // -------------------------------------------------------------------------------------------
  // Transport

  private async rawSend(req: Req, token: string | undefined, endpoint: string): Promise<Response<string>> {
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    const options: OptionsInit = { method: req.method, headers };
    if (req.signal) options.signal = req.signal;
    if (req.responseTimeoutMs !== undefined) {
      const c = this.timeouts.connectMs;
      options.timeout = { lookup: c, connect: c, secureConnect: c, response: req.responseTimeoutMs, socket: Math.max(this.timeouts.idleMs, req.responseTimeoutMs) };
    }
    const searchParams = clean(req.searchParams);
    if (searchParams && Object.keys(searchParams).length) options.searchParams = searchParams;
    if (req.form) options.form = clean(req.form);
    if (req.json !== undefined) options.json = req.json;
    if (req.body) {
      headers['content-type'] = req.body.contentType;
      if (req.body.length !== undefined) headers['content-length'] = String(req.body.length);
      options.body = req.body.open();
    }
    try {
      return (await this.http(req.path, options)) as Response<string>;
    } catch (err) {
      // A caller's abort is not a failure to report as a network error.
      if (req.signal?.aborted) throw req.signal.reason ?? err;
      throw await this.transportError(err, endpoint);
    }
  }

  /** Sends a request, with the bearer token when `auth`, refreshing once on 401. */
  private async send(req: Req): Promise<Response<string>> {
    const endpoint = `${req.method} /${req.path}`;
    if (!req.auth) return this.rawSend(req, undefined, endpoint);
    const token = await this.validAccessToken();
    const res = await this.rawSend(req, token, endpoint);
    if (res.statusCode !== 401) return res;
    const fresh = await this.recoverFrom401(token);
    if (req.body && !req.body.replayable) throw this.apiError(endpoint, res.statusCode, res.body);
    const again = await this.rawSend(req, fresh, endpoint);
    if (again.statusCode === 401) {
      throw new AuthError('session_expired', 'The server refused the session', { cause: this.apiError(endpoint, again.statusCode, again.body) });
    }
    return again;
  }

  private async json<T extends z.ZodType>(req: Req, schema: T): Promise<z.output<T>> {
    const endpoint = `${req.method} /${req.path}`;
    const res = await this.send(req);
    if (!is2xx(res.statusCode)) throw this.apiError(endpoint, res.statusCode, res.body);
    return parseBody(schema, parseJson(res.body, endpoint), endpoint);
  }

  /** For answers documented as "HTTP 200" only: checks the status (and that any body is JSON). */
  private async ok(req: Req): Promise<void> {
    const endpoint = `${req.method} /${req.path}`;
    const res = await this.send(req);
    if (!is2xx(res.statusCode)) throw this.apiError(endpoint, res.statusCode, res.body);
    if (res.body.trim()) parseBody(OkSchema, parseJson(res.body, endpoint), endpoint);
  }

  private async maybeModified<T extends z.ZodType>(req: Req, schema: T): Promise<MaybeModified<z.output<T>>> {
    const endpoint = `${req.method} /${req.path}`;
    const res = await this.send(req);
    if (res.statusCode === 304) return { notModified: true };
    if (!is2xx(res.statusCode)) throw this.apiError(endpoint, res.statusCode, res.body);
    return { notModified: false, value: parseBody(schema, parseJson(res.body, endpoint), endpoint) };
  }

  /** An HTTP error answer as AxisApiError (documented body, v1 body, or none). */
  private apiError(endpoint: string, status: number, text: string): AxisApiError {
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = text;
    }
    const documented = ErrorBodySchema.safeParse(body);
    if (documented.success) {
      return new AxisApiError({ status, code: documented.data.error, description: documented.data.error_description, body, endpoint });
    }
    const v1 = V1ErrorBodySchema.safeParse(body);
    return new AxisApiError({ status, code: statusCode(status), description: v1.success ? v1.data.message : undefined, body, endpoint });
  }

  /** A failure without an HTTP answer, as a typed error. */
  private async transportError(err: unknown, endpoint: string): Promise<Error> {
    if (err instanceof AxisError) return err;
    // got's RequestError, or a transport error of a request made without got (rawRequest).
    const raw = !(err instanceof RequestError) && err instanceof Error && typeof (err as NodeJS.ErrnoException).code === 'string';
    if (err instanceof RequestError || raw) {
      const code = (err as RequestError | NodeJS.ErrnoException).code;
      const pin = err instanceof CertificatePinMismatch ? err : err.cause;
      if (code === PIN_MISMATCH_CODE && pin instanceof CertificatePinMismatch) {
        return new UntrustedCertificateError({
          fingerprint: pin.actual,
          expectedFingerprint: pin.expected,
          reason: 'fingerprint_mismatch',
          host: this.hostPort,
          cause: err,
        });
      }
      if (code !== undefined && isCertificateErrorCode(code)) {
        // Read the certificate on a separate connection that sends nothing, to show its fingerprint.
        try {
          const port = Number(this.server.port) || 443;
          const host = this.server.hostname.replace(/^\[|\]$/g, '');
          const info = await probeCertificate(host, port, this.timeouts.connectMs);
          return new UntrustedCertificateError({ fingerprint: info.fingerprint, reason: code, host: this.hostPort, cause: err });
        } catch (probeErr) {
          return new NetworkError(`The certificate of ${this.hostPort} is not trusted (${code}), and it could not be read: ${(probeErr as Error).message}`, {
            code,
            endpoint,
            cause: err,
          });
        }
      }
      return new NetworkError(`Cannot reach ${this.server.origin}: ${err.message}`, { code, endpoint, cause: err });
    }
    return err instanceof Error ? err : new Error(String(err));
  }

  // -------------------------------------------------------------------------------------------
  // Authentication

  /** GET /api/2/version (no authentication). Also a cheap way to check TLS trust before logging in. */
  async version(): Promise<string> {
    return (await this.json({ method: 'GET', path: 'api/2/version', auth: false }, VersionSchema)).version;
  }

  /**
   * Logs in with username and password (and the two-step code, when the account has one):
   * POST /oauth2/token (grant_type=password); if the server has no such endpoint (404), the v1
   * POST /1/auth/ and its session token. The tokens are saved to the store.
   * Throws AuthError: two_step_required (with twoStepMode; a code may have been sent),
   * invalid_auth_code, invalid_credentials, missing_credentials.
   */
  async loginPassword(username: string, password: string, authCode?: string): Promise<LoginResult> {
    const endpoint = 'POST /oauth2/token';
    const form = { grant_type: 'password', username, password, auth_code: authCode || undefined };
    const res = await this.rawSend({ method: 'POST', path: 'oauth2/token', form, auth: false }, undefined, endpoint);
    if (res.statusCode === 404) return this.loginV1(username, password, authCode);
    if (is2xx(res.statusCode)) {
      const tokens = this.tokensFrom(parseBody(TokenResponseSchema, parseJson(res.body, endpoint), endpoint));
      await this.setTokens(tokens);
      return { tokens, via: 'oauth2' };
    }
    let body: unknown;
    try {
      body = JSON.parse(res.body);
    } catch {
      body = undefined;
    }
    const f = LoginFailureSchema.safeParse(body);
    const failure = f.success ? f.data : {};
    const authErr = loginFailure(failure.error_description ?? failure.message, failure.two_step_mode, failure.error, !!authCode);
    if (authErr) throw authErr;
    if (res.statusCode === 401) throw new AuthError('invalid_credentials', 'Invalid username or password');
    throw this.apiError(endpoint, res.statusCode, res.body);
  }

  private async loginV1(username: string, password: string, authCode?: string): Promise<LoginResult> {
    const endpoint = 'POST /1/auth/';
    const res = await this.rawSend({ method: 'POST', path: '1/auth/', form: { username, password, auth_code: authCode || undefined }, auth: false }, undefined, endpoint);
    if (res.statusCode === 404) throw this.apiError(endpoint, res.statusCode, res.body);
    let body: unknown;
    try {
      body = JSON.parse(res.body);
    } catch (err) {
      if (!is2xx(res.statusCode)) throw this.apiError(endpoint, res.statusCode, res.body);
      throw new ProtocolError(endpoint, 'body is not JSON', { cause: err });
    }
    const parsed = V1AuthResponseSchema.safeParse(body);
    if (!parsed.success) {
      if (!is2xx(res.statusCode)) throw this.apiError(endpoint, res.statusCode, res.body);
      return parseBody(V1AuthResponseSchema, body, endpoint) as never;
    }
    const v = parsed.data;
    if (v.success) {
      const tokens: Tokens = { kind: 'v1_session', accessToken: v.session_token };
      await this.setTokens(tokens);
      return { tokens, via: 'v1' };
    }
    const authErr = loginFailure(v.message, v.two_step_mode, undefined, !!authCode);
    if (authErr) throw authErr;
    throw new AuthError('invalid_credentials', v.message, { serverMessage: v.message });
  }

  /**
   * Revokes the refresh token on the server (POST /oauth2/revoke, RFC 7009) and forgets the
   * tokens locally — also when the server cannot be reached (the error is then rethrown).
   * Returns false when there was nothing to revoke or the server has no revocation endpoint.
   */
  async revoke(): Promise<boolean> {
    const t = await this.currentTokens();
    if (!t) return false;
    try {
      return await this.revokeTokens(t);
    } finally {
      await this.setTokens(undefined);
    }
  }

  /**
   * Revokes `tokens` on the server (their refresh token, which takes the access tokens along)
   * without touching the tokens in use. False for v1 session tokens or a server without
   * POST /oauth2/revoke.
   */
  async revokeTokens(tokens: Tokens): Promise<boolean> {
    if (tokens.kind !== 'oauth2') return false;
    const token = tokens.refreshToken ?? tokens.accessToken;
    const hint = tokens.refreshToken ? 'refresh_token' : 'access_token';
    const endpoint = 'POST /oauth2/revoke';
    const res = await this.rawSend({ method: 'POST', path: 'oauth2/revoke', form: { token, token_type_hint: hint }, auth: false }, undefined, endpoint);
    if (is2xx(res.statusCode)) return true;
    if (res.statusCode === 404) return false;
    throw this.apiError(endpoint, res.statusCode, res.body);
  }

  // -------------------------------------------------------------------------------------------
  // Machines (extensions: docs/protocol.md)

  /**
   * Extension: POST /api/2/machine/register with the user's session. Registers this machine
   * (or, for a guid the same person registered before, issues it a new security key, which
   * ends the sessions opened with the old one). Returns the machine and its security key,
   * which the server shows only this once. 409 conflict: the guid belongs to another person;
   * 403: the machine is locked. A server without machines answers 404.
   */
  async registerMachine(info: MachineRegistrationInfo): Promise<MachineRegistration> {
    const form = {
      guid: info.guid,
      dns_name: info.dnsName,
      os_type: info.osType,
      os_version: info.osVersion,
      agent_version: info.agentVersion,
      nickname: info.nickname || undefined,
    };
    return this.json({ method: 'POST', path: 'api/2/machine/register', form, auth: true }, MachineRegistrationSchema);
  }

  /**
   * Extension: logs in as a registered machine (POST /oauth2/token grant_type=machine); the
   * tokens are saved to the store. Refused credentials → MachineCredentialsRefused (400
   * invalid_grant: unknown guid or wrong key; 401 access_denied: key revoked or machine
   * locked). A server without the grant answers 400 unsupported_grant_type (AxisApiError).
   */
  async loginMachine(guid: string, securityKey: string): Promise<LoginResult> {
    const endpoint = 'POST /oauth2/token';
    const res = await this.rawSend({ method: 'POST', path: 'oauth2/token', form: { grant_type: 'machine', guid, security_key: securityKey }, auth: false }, undefined, endpoint);
    if (is2xx(res.statusCode)) {
      const tokens = this.tokensFrom(parseBody(TokenResponseSchema, parseJson(res.body, endpoint), endpoint));
      await this.setTokens(tokens);
      return { tokens, via: 'oauth2' };
    }
    const err = this.apiError(endpoint, res.statusCode, res.body);
    if ((res.statusCode === 400 && err.code === 'invalid_grant') || res.statusCode === 401) {
      throw new MachineCredentialsRefused(res.statusCode, err.description ?? err.code, err);
    }
    throw err;
  }

  /** GET /api/2/machine/<id> (documented). */
  async machine(machineId: number): Promise<ApiMachine> {
    return this.json({ method: 'GET', path: `api/2/machine/${machineId}`, auth: true }, MachineSchema);
  }

  /** Extension: GET /api/2/machine/<id>/policy — throttle, health period, collisions, the organization's policy. */
  async machinePolicy(machineId: number): Promise<MachinePolicy> {
    return this.json({ method: 'GET', path: `api/2/machine/${machineId}/policy`, auth: true }, MachinePolicySchema);
  }

  /** Extension: POST /api/2/machine/<id>/health (needs the machine's own token). */
  async postHealth(machineId: number, report: HealthReportBody): Promise<void> {
    await this.ok({ method: 'POST', path: `api/2/machine/${machineId}/health`, json: report, auth: true });
  }

  /**
   * Extension: GET /api/2/machine/<id>/commands — the machine's queued commands (marked
   * delivered). With `wait` (seconds, ≤ 60) and nothing queued, the server holds the request
   * until a command arrives (long poll). `includeDelivered` also returns commands delivered
   * before but without a result (after a restart).
   */
  async pollCommands(machineId: number, opts: { wait?: number; includeDelivered?: boolean; signal?: AbortSignal } = {}): Promise<MachineCommand[]> {
    const r = await this.json(
      {
        method: 'GET',
        path: `api/2/machine/${machineId}/commands`,
        searchParams: { wait: opts.wait, include_delivered: opts.includeDelivered ? 'true' : undefined },
        auth: true,
        signal: opts.signal,
        responseTimeoutMs: opts.wait ? opts.wait * 1000 + this.timeouts.responseMs : undefined,
      },
      MachineCommandsSchema,
    );
    return r.results;
  }

  /** Extension: POST …/commands/<cmd_id>/result. 409 conflict: the command already has a result. */
  async commandResult(machineId: number, commandId: number, outcome: { status: 'ok'; result?: unknown } | { status: 'error'; error: string; result?: unknown }): Promise<MachineCommand> {
    return this.json({ method: 'POST', path: `api/2/machine/${machineId}/commands/${commandId}/result`, json: outcome, auth: true }, MachineCommandSchema);
  }

  /** Extension: POST /api/2/machine/<id>/disconnect — the server records last_disconnect. */
  async disconnect(machineId: number): Promise<void> {
    await this.ok({ method: 'POST', path: `api/2/machine/${machineId}/disconnect`, auth: true });
  }

  /** Extension: POST /api/2/machine/<id>/revoke — the machine's security key and its sessions stop working. */
  async revokeMachine(machineId: number): Promise<void> {
    await this.ok({ method: 'POST', path: `api/2/machine/${machineId}/revoke`, auth: true });
  }

  // -------------------------------------------------------------------------------------------
  // Account

  /** GET /api/2/person: the logged-in account and the roots it is subscribed to. */
  async person(): Promise<Person> {
    return this.json({ method: 'GET', path: 'api/2/person', auth: true }, PersonSchema);
  }

  /** The account's roots (sync folder, Team Shares, backups). */
  async roots(): Promise<PersonRoot[]> {
    return (await this.person()).roots;
  }

  /** v1 GET /1/account/info/. */
  async accountInfo(): Promise<AccountInfo> {
    return this.json({ method: 'GET', path: '1/account/info/', auth: true }, AccountInfoSchema);
  }

  // -------------------------------------------------------------------------------------------
  // File system

  private containerPath(rootId: number, folderId?: number | null): string {
    return folderId === undefined || folderId === null ? `api/2/files/${rootId}` : `api/2/files/${rootId}/folder/${folderId}`;
  }

  private nodePath(rootId: number, node: NodeRef): string {
    return node.type === 'file' ? `api/2/files/${rootId}/${node.id}` : `api/2/files/${rootId}/folder/${node.id}`;
  }

  private metadataParams(o: MetadataOptions): Record<string, string | undefined> {
    const b = (v: boolean | undefined) => (v === undefined ? undefined : String(v));
    return {
      hash: o.hash,
      include_children: b(o.includeChildren),
      include_ancestors: b(o.includeAncestors),
      include_deleted: b(o.includeDeleted),
      include_lock_info: b(o.includeLockInfo),
      include_permissions: b(o.includePermissions),
    };
  }

  /** GET /api/2/files/<root_id>; with `hash` of the last answer, an unchanged root → { notModified: true }. */
  async root(rootId: number, opts: MetadataOptions = {}): Promise<MaybeModified<ApiRoot>> {
    const { include_ancestors: _ignored, ...searchParams } = this.metadataParams(opts);
    return this.maybeModified({ method: 'GET', path: `api/2/files/${rootId}`, searchParams, auth: true }, RootSchema);
  }

  /** GET /api/2/files/<root_id>/folder/<folder_id>; `hash` → 304 as for root(). */
  async folder(rootId: number, folderId: number, opts: MetadataOptions = {}): Promise<MaybeModified<ApiFolder>> {
    return this.maybeModified({ method: 'GET', path: `api/2/files/${rootId}/folder/${folderId}`, searchParams: this.metadataParams(opts), auth: true }, FolderSchema);
  }

  /** One page of a root's (folderId null/omitted) or folder's children. */
  async children(rootId: number, folderId?: number | null, opts: ChildrenOptions = {}): Promise<Page<ApiChild>> {
    const b = (v: boolean | undefined) => (v === undefined ? undefined : String(v));
    return this.json(
      {
        method: 'GET',
        path: `${this.containerPath(rootId, folderId)}/children`,
        searchParams: {
          page: opts.page,
          page_size: opts.pageSize,
          sort_by: opts.sortBy,
          sort_order: opts.sortOrder,
          include_deleted: b(opts.includeDeleted),
          include_lock_info: b(opts.includeLockInfo),
          include_permissions: b(opts.includePermissions),
        },
        auth: true,
      },
      ChildrenPageSchema,
    );
  }

  /**
   * All children, page after page (page_size 100 unless given). Pages are separate requests:
   * a folder that changes meanwhile can show an item twice or miss one.
   */
  async *allChildren(rootId: number, folderId?: number | null, opts: Omit<ChildrenOptions, 'page'> = {}): AsyncGenerator<ApiChild, void, undefined> {
    for (let page = 1; ; page++) {
      const p = await this.children(rootId, folderId, { pageSize: 100, ...opts, page });
      yield* p.results;
      if (p.results.length === 0 || page >= p.max_page) return;
    }
  }

  /** GET /api/2/files/<root_id>/<file_id>. */
  async file(rootId: number, fileId: number, opts: { includeAncestors?: boolean; includePermissions?: boolean } = {}): Promise<ApiFile> {
    return this.json(
      {
        method: 'GET',
        path: `api/2/files/${rootId}/${fileId}`,
        searchParams: {
          include_ancestors: opts.includeAncestors === undefined ? undefined : String(opts.includeAncestors),
          include_permissions: opts.includePermissions === undefined ? undefined : String(opts.includePermissions),
        },
        auth: true,
      },
      FileSchema,
    );
  }

  /** POST …/create_folder in the root (parentId null/omitted) or in a folder. */
  async createFolder(rootId: number, parentId: number | null | undefined, name: string): Promise<ApiFolder> {
    return this.json({ method: 'POST', path: `${this.containerPath(rootId, parentId)}/create_folder`, form: { name }, auth: true }, FolderSchema);
  }

  /**
   * Uploads a file into the root (folderId null) or a folder, or — with opts.fileId — a new
   * revision of that file (extension; with opts.baseRevisionId a stale base → 409
   * revision_conflict, AxisApiError.currentRevisionId says the current one). Never retried
   * automatically. Returns the file's metadata.
   */
  async upload(rootId: number, folderId: number | null | undefined, name: string, source: UploadSource, opts: UploadOptions = {}): Promise<ApiFile> {
    const path = opts.fileId !== undefined ? `api/2/files/${rootId}/${opts.fileId}/upload` : `${this.containerPath(rootId, folderId)}/upload`;
    if (opts.fileId !== undefined && opts.baseRevisionId === undefined) throw new TypeError('a revision upload (fileId) needs baseRevisionId');
    // Fields before the file part: the server checks them before it stores a byte.
    const fields: Array<[string, string]> = [];
    if (opts.fileId === undefined) fields.push(['name', name]);
    if (opts.baseRevisionId !== undefined) fields.push(['base_revision_id', String(opts.baseRevisionId)]);
    if (opts.modified) fields.push(['modified', toApiDateTime(opts.modified)]);
    if (opts.delta) {
      if (opts.fileId === undefined) throw new TypeError('a delta upload needs fileId and baseRevisionId');
      fields.push(['delta', 'true'], ['sha256', opts.delta.sha256]);
    }
    let open: () => Readable;
    let size: number | undefined;
    let replayable = true;
    if (typeof source === 'string') {
      const st = await fsp.stat(source);
      if (!st.isFile()) throw new TypeError(`${source} is not a file`);
      size = st.size;
      open = () => createReadStream(source);
    } else if (source instanceof Uint8Array) {
      const buf = Buffer.isBuffer(source) ? source : Buffer.from(source.buffer, source.byteOffset, source.byteLength);
      size = buf.length;
      open = () => Readable.from([buf]);
    } else {
      size = opts.size;
      replayable = false;
      let used = false;
      open = () => {
        if (used) throw new Error('an upload stream can be sent only once');
        used = true;
        return source;
      };
    }
    const content = open;
    const mp = encodeMultipart(fields, { field: 'file', filename: name, contentType: opts.contentType, open: () => this.shape('up', content()), size });
    return this.json({ method: 'POST', path, body: { open: mp.open, contentType: mp.contentType, length: mp.length, replayable }, auth: true }, FileSchema);
  }

  /**
   * Downloads a file (or one of its revisions). Resolves once the server answered 200/206 with
   * the body stream; errors before that are typed errors (503 and network failures before the
   * answer are retried). Errors in the middle of the body are emitted on the stream as NetworkError.
   */
  async download(rootId: number, fileId: number, opts: DownloadOptions = {}): Promise<DownloadStream> {
    const path =
      opts.revisionId !== undefined ? `api/2/files/${rootId}/${fileId}/revisions/${opts.revisionId}/download` : `api/2/files/${rootId}/${fileId}/download`;
    const headers: Record<string, string> = {};
    if (opts.range) {
      const { start, end } = opts.range;
      if (!Number.isSafeInteger(start) || start < 0 || (end !== undefined && (!Number.isSafeInteger(end) || end < start))) throw new RangeError('invalid byte range');
      headers.range = `bytes=${start}-${end ?? ''}`;
    }
    return this.openStream(path, headers);
  }

  /**
   * Extension (delta transfer, 3.5a): the librsync signature of revision `revisionId`'s
   * content, whole in memory (refused past `maxBytes`, default 64 MiB). A server without the
   * extension answers 404/400 (AxisApiError).
   */
  async revisionSignature(rootId: number, fileId: number, revisionId: number, opts: { maxBytes?: number } = {}): Promise<Buffer> {
    const path = `api/2/files/${rootId}/${fileId}/revisions/${revisionId}/signature`;
    const max = opts.maxBytes ?? 64 * 1024 * 1024;
    const stream = await this.openStream(path, {});
    const chunks: Buffer[] = [];
    let n = 0;
    for await (const chunk of stream) {
      n += (chunk as Buffer).length;
      if (n > max) {
        stream.destroy();
        throw new ProtocolError(`GET /${path}`, `a signature larger than ${max} bytes`);
      }
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks);
  }

  /**
   * Extension (delta transfer): a librsync delta from revision `baseRevisionId` (whose
   * content the caller holds) to the current revision (or `revisionId`). The stream's
   * `headers` say which revision it produces and that revision's SHA-256 and size: verify the
   * patched result against them. A server without the extension answers 404/400 (AxisApiError).
   */
  async downloadDelta(rootId: number, fileId: number, baseRevisionId: number, opts: { revisionId?: number } = {}): Promise<DownloadStream> {
    const q = new URLSearchParams({ base_revision_id: String(baseRevisionId) });
    if (opts.revisionId !== undefined) q.set('revision_id', String(opts.revisionId));
    return this.openStream(`api/2/files/${rootId}/${fileId}/delta?${q.toString()}`, {});
  }

  /**
   * Extension (batch transfer): uploads up to 256 small files (≤ 1 MiB each, ≤ 32 MiB in all)
   * in one request: new files (folderId null = the root's top folder) and, with fileId and
   * baseRevisionId, new revisions. Resolves with one entry per item, in order: the file, or
   * the AxisApiError the single upload would have thrown for that item. Request-level failures
   * throw; a server without the extension → AxisApiError code `batch_unsupported`.
   */
  async batchUpload(rootId: number, items: readonly BatchUploadItem[]): Promise<Array<ApiFile | AxisApiError>> {
    if (items.length === 0) return [];
    const path = `api/2/files/${rootId}/batch/upload`;
    const endpoint = `POST /${path}`;
    const manifest = {
      items: items.map((it) => {
        if (it.fileId !== undefined && it.baseRevisionId === undefined) throw new TypeError('a revision upload (fileId) needs baseRevisionId');
        return {
          folder_id: it.folderId,
          name: it.name,
          ...(it.fileId !== undefined ? { file_id: it.fileId, base_revision_id: it.baseRevisionId } : {}),
          ...(it.modified ? { modified: toApiDateTime(it.modified) } : {}),
          size: it.content.length,
        };
      }),
    };
    const boundary = `----axis-agent-${randomBytes(16).toString('hex')}`;
    // Framing and file contents; only the contents go through the transfer shaper (as with a
    // single upload, whose multipart framing is not shaped either).
    const pieces: Array<{ buf: Buffer; content: boolean }> = [
      { buf: Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="manifest"\r\n\r\n${JSON.stringify(manifest)}\r\n`), content: false },
    ];
    // The names travel in the manifest; the parts' filename is a placeholder.
    const partHead = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="blob"\r\nContent-Type: application/octet-stream\r\n\r\n`);
    const crlf = Buffer.from('\r\n');
    for (const it of items) pieces.push({ buf: partHead, content: false }, { buf: it.content, content: true }, { buf: crlf, content: false });
    pieces.push({ buf: Buffer.from(`--${boundary}--\r\n`), content: false });
    const length = pieces.reduce((n, p) => n + p.buf.length, 0);
    const shape = (b: Buffer) => this.shape('up', Readable.from([b], { objectMode: false }));
    async function* generate(): AsyncGenerator<Buffer> {
      for (const p of pieces) {
        if (!p.content) yield p.buf;
        else for await (const chunk of shape(p.buf)) yield chunk as Buffer;
      }
    }
    const body = { open: () => Readable.from(generate(), { objectMode: false }), contentType: `multipart/form-data; boundary=${boundary}`, length, replayable: true };
    const res = await this.send({ method: 'POST', path, body, auth: true });
    if (!is2xx(res.statusCode)) throw this.batchError(endpoint, res.statusCode, res.body);
    const parsed = parseBody(BatchUploadResponseSchema, parseJson(res.body, endpoint), endpoint);
    if (parsed.results.length !== items.length) throw new ProtocolError(endpoint, `${parsed.results.length} results for ${items.length} items`);
    return parsed.results.map((r) => ('file' in r ? r.file : itemError(endpoint, r.error)));
  }

  /**
   * Extension (batch transfer): downloads up to 256 files (or given revisions), ≤ 64 MiB in
   * all, in one request. Resolves with one entry per item, in order: the content with the
   * revision id, size and SHA-256 the server declared (both checked), or the item's
   * AxisApiError (e.g. 404 not_found). A malformed stream is a ProtocolError; a server without
   * the extension → AxisApiError code `batch_unsupported`.
   */
  async batchDownload(rootId: number, items: readonly BatchDownloadItem[]): Promise<Array<BatchDownloadResult | AxisApiError>> {
    if (items.length === 0) return [];
    const path = `api/2/files/${rootId}/batch/download`;
    const endpoint = `POST /${path}`;
    const json = { items: items.map((it) => ({ file_id: it.fileId, ...(it.revisionId !== undefined ? { revision_id: it.revisionId } : {}) })) };
    let refreshed = false;
    for (;;) {
      const token = await this.validAccessToken();
      let stream: http.IncomingMessage;
      try {
        stream = await this.rawRequest('POST', path, { authorization: `Bearer ${token}`, accept: 'application/vnd.axis.batch, application/json' }, json);
      } catch (err) {
        throw await this.transportError(err, endpoint);
      }
      const status = stream.statusCode ?? 0;
      if (status !== 200) {
        const text = await readAll(stream, 64 * 1024).catch(() => '');
        if (status === 401 && !refreshed) {
          refreshed = true;
          await this.recoverFrom401(token);
          continue;
        }
        if (status === 401) throw new AuthError('session_expired', 'The server refused the session', { cause: this.apiError(endpoint, status, text) });
        throw this.batchError(endpoint, status, text);
      }
      const type = String(stream.headers['content-type'] ?? '');
      if (!/^application\/vnd\.axis\.batch\b/i.test(type)) {
        stream.destroy();
        throw new ProtocolError(endpoint, `expected Content-Type application/vnd.axis.batch, got ${JSON.stringify(type)}`);
      }
      const body = this.shape('down', stream);
      // A failure of the response must reach the parser through the shaper's stream too.
      if (body !== stream) stream.on('error', (err) => body.destroy(err));
      try {
        return await parseBatchStream(body, items, endpoint);
      } catch (err) {
        if (err instanceof AxisError) throw err;
        throw new NetworkError(`Download from ${this.server.origin} failed: ${(err as Error).message}`, { code: (err as RequestError).code, endpoint, cause: err });
      } finally {
        if (!stream.destroyed) stream.destroy();
        if (!body.destroyed) body.destroy();
      }
    }
  }

  /** An error answer of a batch endpoint; 404/405 mean the server has no such endpoint. */
  private batchError(endpoint: string, status: number, text: string): AxisApiError {
    const err = this.apiError(endpoint, status, text);
    if (status !== 404 && status !== 405) return err;
    return new AxisApiError({ status, code: 'batch_unsupported', description: 'The server does not offer batch transfers.', body: err.body, endpoint });
  }

  /**
   * A request whose answer's body the caller reads, on the client's agents (so the same TLS trust and pin)
   * but without got: got reads a response in paused mode and emits a progress event for every
   * chunk, ~1.2 CPU-s more per GiB than reading it as it flows (docs/benchmarks.md, eighth
   * session), which is most of a download's cost in JavaScript. For content only (downloads,
   * batch downloads): their callers do the retries, the 401 refresh and the error mapping.
   *
   * Resolves with the response once its headers came; rejects with the transport error (its
   * `code` kept: ETIMEDOUT when the headers take longer than connect + response timeouts).
   * Later, a socket idle for the idle timeout, or closed before the body's end, errors the
   * response (ETIMEDOUT, ECONNRESET).
   */
  private rawRequest(method: 'GET' | 'POST', path: string, headers: Record<string, string>, json?: unknown): Promise<http.IncomingMessage> {
    const base = this.server.href.endsWith('/') ? this.server.href : `${this.server.href}/`;
    const url = new URL(path, base);
    const secure = url.protocol === 'https:';
    return new Promise((resolve, reject) => {
      let response: http.IncomingMessage | undefined;
      const fail = (err: Error) => {
        clearTimeout(headersTimer);
        if (response) {
          if (!response.destroyed) response.destroy(err);
        } else reject(err);
      };
      const body = json === undefined ? undefined : Buffer.from(JSON.stringify(json));
      const req = (secure ? https : http).request(url, {
        method,
        agent: secure ? this.agents.https : this.agents.http,
        headers: { 'user-agent': this.userAgent, ...headers, ...(body ? { 'content-type': 'application/json', 'content-length': String(body.length) } : {}) },
      });
      const timeoutError = (what: string) => Object.assign(new Error(`${what} (${method} /${path})`), { code: 'ETIMEDOUT' });
      const headersTimer = setTimeout(() => req.destroy(timeoutError('no answer in time')), this.timeouts.connectMs + this.timeouts.responseMs);
      req.setTimeout(this.timeouts.idleMs, () => req.destroy(timeoutError('the connection went idle')));
      req.on('error', fail);
      req.once('response', (res) => {
        clearTimeout(headersTimer);
        response = res;
        resolve(res);
      });
      req.end(body);
    });
  }

  private async openStream(path: string, extraHeaders: Record<string, string>): Promise<DownloadStream> {
    const endpoint = `GET /${path}`;
    let attempt = 0;
    let refreshed = false;
    for (;;) {
      const token = await this.validAccessToken();
      let stream: http.IncomingMessage;
      try {
        stream = await this.rawRequest('GET', path, { ...extraHeaders, authorization: `Bearer ${token}`, accept: '*/*' });
      } catch (err) {
        const mapped = await this.transportError(err, endpoint);
        attempt++;
        const delay = mapped instanceof NetworkError ? retryDelay({ method: 'GET', errorCode: mapped.code, attempt }, this.retryPolicy) : 0;
        if (delay > 0) {
          await sleep(delay);
          continue;
        }
        throw mapped;
      }
      const status = stream.statusCode ?? 0;
      if (status === 200 || status === 206) {
        const len = stream.headers['content-length'];
        const out = new DownloadStream(status, len !== undefined && /^\d+$/.test(len) ? Number(len) : undefined, stream.headers['content-range'], stream.headers);
        stream.on('error', (err) => {
          out.destroy(new NetworkError(`Download from ${this.server.origin} failed: ${err.message}`, { code: (err as NodeJS.ErrnoException).code, endpoint, cause: err }));
        });
        const body = this.shape('down', stream);
        if (body !== stream) {
          body.on('error', (err) => {
            if (!out.destroyed) out.destroy(err);
          });
        }
        out.on('close', () => {
          if (!stream.destroyed) stream.destroy();
          if (!body.destroyed) body.destroy();
        });
        body.pipe(out);
        return out;
      }
      const text = await readAll(stream, 64 * 1024).catch(() => '');
      if (status === 401 && !refreshed) {
        refreshed = true;
        await this.recoverFrom401(token);
        continue;
      }
      if (status === 401) throw new AuthError('session_expired', 'The server refused the session', { cause: this.apiError(endpoint, status, text) });
      if (status === 503) {
        attempt++;
        const ra = stream.headers['retry-after'];
        const retryAfterMs = ra && /^\d+$/.test(ra) ? Number(ra) * 1000 : undefined;
        const delay = retryDelay({ method: 'GET', statusCode: status, attempt, retryAfterMs }, this.retryPolicy);
        if (delay > 0) {
          await sleep(delay);
          continue;
        }
      }
      throw this.apiError(endpoint, status, text);
    }
  }

  /**
   * Renames a file or folder. For a file, `baseRevisionId` (extension) makes the server refuse
   * with 409 revision_conflict when the file changed meanwhile. Returns the node when the
   * server sends it back (the reference server answers {"status":"ok"}).
   */
  async rename(rootId: number, node: NodeRef, name: string, opts: { baseRevisionId?: number } = {}): Promise<ApiChild | undefined> {
    const form = { name, base_revision_id: this.fileBase(node, opts.baseRevisionId) };
    return this.nodeOrOk({ method: 'POST', path: `${this.nodePath(rootId, node)}/rename`, form, auth: true });
  }

  /** Moves a file or folder into a folder (toFolderId null/omitted: the root); `baseRevisionId` as for rename(). */
  async move(rootId: number, node: NodeRef, toFolderId: number | null | undefined, opts: { baseRevisionId?: number } = {}): Promise<ApiChild | undefined> {
    const form = { to_folder_id: toFolderId === null || toFolderId === undefined ? undefined : toFolderId, base_revision_id: this.fileBase(node, opts.baseRevisionId) };
    return this.nodeOrOk({ method: 'POST', path: `${this.nodePath(rootId, node)}/move`, form, auth: true });
  }

  /** Deletes a file or folder; `baseRevisionId` as for rename(). */
  async delete(rootId: number, node: NodeRef, opts: { baseRevisionId?: number } = {}): Promise<void> {
    await this.ok({ method: 'POST', path: `${this.nodePath(rootId, node)}/delete`, form: { base_revision_id: this.fileBase(node, opts.baseRevisionId) }, auth: true });
  }

  private fileBase(node: NodeRef, base: number | undefined): number | undefined {
    if (base !== undefined && node.type !== 'file') throw new TypeError('baseRevisionId applies to files only');
    return base;
  }

  private async nodeOrOk(req: Req): Promise<ApiChild | undefined> {
    const r = await this.json(req, NodeOrOkSchema);
    return 'type' in r && (r.type === 'file' || r.type === 'folder') ? (r as ApiChild) : undefined;
  }

  /** One page of a file's revisions. */
  async revisions(rootId: number, fileId: number, opts: { page?: number; pageSize?: number; includeRelated?: boolean } = {}): Promise<Page<ApiRevision>> {
    return this.json(
      {
        method: 'GET',
        path: `api/2/files/${rootId}/${fileId}/revisions`,
        searchParams: { page: opts.page, page_size: opts.pageSize, include_related: opts.includeRelated === undefined ? undefined : String(opts.includeRelated) },
        auth: true,
      },
      RevisionsPageSchema,
    );
  }

  /** GET …/revisions/<revision_id>. */
  async revision(rootId: number, fileId: number, revisionId: number): Promise<ApiRevision> {
    return this.json({ method: 'GET', path: `api/2/files/${rootId}/${fileId}/revisions/${revisionId}`, auth: true }, RevisionSchema);
  }

  /** GET …/modified_since: what changed in the root since `since` (second precision, UTC). */
  async modifiedSince(rootId: number, since: Date, opts: { includeDeleted?: boolean } = {}): Promise<ApiChild[]> {
    const r = await this.json(
      {
        method: 'GET',
        path: `api/2/files/${rootId}/modified_since`,
        searchParams: { since: toApiDateTime(since), include_deleted: opts.includeDeleted === undefined ? undefined : String(opts.includeDeleted) },
        auth: true,
      },
      ModifiedSinceSchema,
    );
    return r.results;
  }

  /**
   * Extension (change feed): the changes of a root after `cursor` (0 = the whole root), oldest
   * first, at most `limit`; with `timeout` (seconds, ≤ 60) and nothing new, the server waits
   * for a change (long poll). A server without the extension answers 404 (AxisApiError
   * not_found): fall back to modifiedSince() and root()/folder() hashes.
   */
  async changes(rootId: number, opts: { cursor: number; limit?: number; timeout?: number; signal?: AbortSignal }): Promise<ApiChangesPage> {
    return this.json(
      {
        method: 'GET',
        path: `api/2/files/${rootId}/changes`,
        searchParams: { cursor: opts.cursor, limit: opts.limit, timeout: opts.timeout },
        auth: true,
        signal: opts.signal,
        responseTimeoutMs: opts.timeout ? opts.timeout * 1000 + this.timeouts.responseMs : undefined,
      },
      ChangesPageSchema,
    );
  }

  /** GET …/search?q=. */
  async search(rootId: number, q: string): Promise<ApiChild[]> {
    return (await this.json({ method: 'GET', path: `api/2/files/${rootId}/search`, searchParams: { q }, auth: true }, SearchSchema)).results;
  }

  /** Locks the root (node null/omitted), a folder or a file, for `durationMinutes` when given. */
  async lock(rootId: number, node?: NodeRef | null, opts: { durationMinutes?: number } = {}): Promise<void> {
    const base = node ? this.nodePath(rootId, node) : `api/2/files/${rootId}`;
    await this.ok({ method: 'POST', path: `${base}/lock`, form: { duration: opts.durationMinutes }, auth: true });
  }

  /** Unlocks the root (node null/omitted), a folder or a file. */
  async unlock(rootId: number, node?: NodeRef | null): Promise<void> {
    const base = node ? this.nodePath(rootId, node) : `api/2/files/${rootId}`;
    await this.ok({ method: 'POST', path: `${base}/unlock`, auth: true });
  }
}

/**
 * The AuthError a refused login means, from the server's message (documented texts), its
 * two_step_mode and OAuth2 error code; undefined when it is none of them.
 */
export function loginFailure(message: string | undefined, twoStepMode: string | undefined, error: string | undefined, codeWasSent: boolean): AuthError | undefined {
  const msg = message ?? '';
  const mode: TwoStepMode | undefined = TwoStepModeSchema.safeParse(twoStepMode).data;
  if (mode) {
    const invalid = /invalid authentication code/i.test(msg) || (codeWasSent && !/missing auth_code/i.test(msg));
    return invalid
      ? new AuthError('invalid_auth_code', 'Invalid authentication code', { twoStepMode: mode, serverMessage: message })
      : new AuthError('two_step_required', `Two-step authentication code required (${mode})`, { twoStepMode: mode, serverMessage: message });
  }
  if (/invalid username or password/i.test(msg) || error === 'invalid_grant') {
    return new AuthError('invalid_credentials', 'Invalid username or password', { serverMessage: message });
  }
  if (/must provide a username and password/i.test(msg)) {
    return new AuthError('missing_credentials', 'You must provide a username and password', { serverMessage: message });
  }
  return undefined;
}

/** The first `max` bytes of a stream's content, as text (the rest is read and dropped). */
async function readAll(stream: Readable, max: number): Promise<string> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of stream) {
    const b = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string);
    if (n < max) chunks.push(b.subarray(0, max - n));
    n += b.length;
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Extension (batch transfer): one file of AxisClient.batchUpload. */
export interface BatchUploadItem {
  /** The folder of a new file (null = the root's top folder); ignored with fileId. */
  folderId: number | null;
  name: string;
  /** A new revision of this file (needs baseRevisionId). */
  fileId?: number;
  baseRevisionId?: number;
  modified?: Date;
  content: Buffer;
}

export interface BatchDownloadItem {
  fileId: number;
  revisionId?: number;
}

export interface BatchDownloadResult {
  fileId: number;
  revisionId: number;
  size: number;
  sha256: string;
  content: Buffer;
}

const BatchItemErrorSchema = z.looseObject({ status: z.number().int().min(400).max(599), error: z.string().min(1), error_description: z.string().optional() });

const BatchUploadResponseSchema = z.object({
  results: z.array(z.union([z.object({ file: FileSchema }), z.object({ error: BatchItemErrorSchema })])),
});

const BatchFrameHeaderSchema = z.union([
  z.object({ file_id: z.number().int().min(1), revision_id: z.number().int().min(1), size: z.number().int().min(0), sha256: z.string().regex(/^[0-9a-f]{64}$/) }),
  z.object({ file_id: z.number().int().min(1), error: BatchItemErrorSchema }),
]);

/** Longest header line of a batch download frame. */
const MAX_FRAME_HEADER = 64 * 1024;

/** A per-item error of a batch answer as the AxisApiError its single-file route would have thrown. */
function itemError(endpoint: string, e: z.output<typeof BatchItemErrorSchema>): AxisApiError {
  const { status, ...body } = e;
  return new AxisApiError({ status, code: e.error, description: e.error_description, body, endpoint });
}

/**
 * Reads an application/vnd.axis.batch body incrementally: per requested item, one JSON header
 * line, then exactly `size` content bytes (none after an error header).
 */
async function parseBatchStream(body: Readable, items: readonly BatchDownloadItem[], endpoint: string): Promise<Array<BatchDownloadResult | AxisApiError>> {
  const out: Array<BatchDownloadResult | AxisApiError> = [];
  const fail = (detail: string) => new ProtocolError(endpoint, detail);
  let pending: Buffer = Buffer.alloc(0);
  let current: { header: { file_id: number; revision_id: number; size: number; sha256: string }; chunks: Buffer[]; need: number; hash: ReturnType<typeof createHash> } | undefined;
  const finish = () => {
    const c = current!;
    const digest = c.hash.digest('hex');
    if (digest !== c.header.sha256) throw fail(`file ${c.header.file_id}: content hashes to ${digest}, the header said ${c.header.sha256}`);
    out.push({ fileId: c.header.file_id, revisionId: c.header.revision_id, size: c.header.size, sha256: c.header.sha256, content: Buffer.concat(c.chunks, c.header.size) });
    current = undefined;
  };
  for await (const chunk of body) {
    pending = pending.length ? Buffer.concat([pending, chunk as Buffer]) : (chunk as Buffer);
    while (pending.length) {
      if (current) {
        const take = Math.min(current.need, pending.length);
        const piece = pending.subarray(0, take);
        current.chunks.push(piece);
        current.hash.update(piece);
        current.need -= take;
        pending = pending.subarray(take);
        if (current.need === 0) finish();
        continue;
      }
      const nl = pending.indexOf(0x0a);
      if (nl < 0) {
        if (pending.length > MAX_FRAME_HEADER) throw fail('frame header line too long');
        break;
      }
      const line = pending.subarray(0, nl).toString('utf8');
      pending = pending.subarray(nl + 1);
      const item = items[out.length];
      if (!item) throw fail(`more frames than the ${items.length} items requested`);
      const header = parseBody(BatchFrameHeaderSchema, parseJson(line, endpoint), endpoint);
      if (header.file_id !== item.fileId) throw fail(`frame ${out.length} is for file ${header.file_id}, expected ${item.fileId}`);
      if ('error' in header) {
        out.push(itemError(endpoint, header.error));
        continue;
      }
      if (item.revisionId !== undefined && header.revision_id !== item.revisionId) throw fail(`frame ${out.length} has revision ${header.revision_id}, expected ${item.revisionId}`);
      current = { header, chunks: [], need: header.size, hash: createHash('sha256') };
      if (header.size === 0) finish();
    }
  }
  if (current) throw fail(`file ${current.header.file_id}: the stream ended ${current.need} bytes short of the declared size ${current.header.size}`);
  if (pending.length) throw fail('trailing bytes after the last frame');
  if (out.length !== items.length) throw fail(`${out.length} frames for ${items.length} items`);
  return out;
}
