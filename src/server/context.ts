// What every route module of the reference server receives: the database, the blob store,
// the clock, the outbox, the configuration, and the authentication helpers.
import type { FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { BlobStore } from './blobs.js';
import type { ChangeHub } from './changes.js';
import type { DB } from './db.js';
import type { Policy } from './policy.js';
import type { Clock } from './time.js';

export interface ServerConfig {
  dataDir: string;
  /** Whether the server speaks TLS. */
  tls: boolean;
  /** Plain HTTP only: let /api/2 and /oauth2 answer anyway (loopback testing). */
  allowInsecureApi: boolean;
  /** Server-wide license expiry (UTC); past it, v2 answers 403 license_expired. */
  licenseExpires?: Date;
  /** Seconds an OAuth2 access token lives (documented example: 3600). */
  accessTokenSeconds: number;
}

export interface OrganizationRow {
  id: number;
  parent_id: number | null;
  name: string;
  slug: string;
  description: string;
  email: string;
  hostname: string;
  created: string;
  active: number;
  trial_until: string | null;
  license_expires: string | null;
  bandwidth_throttle: number | null;
  throttle_exception_start: string | null;
  throttle_exception_end: string | null;
  throttle_exception_dow: string | null;
  throttle_exception_days: string | null;
  throttle_exception_throttle: number | null;
  throttled: number;
  policy: string;
}

export interface PersonRow {
  id: number;
  company_id: number;
  email: string;
  username: string;
  first_name: string;
  last_name: string;
  password_hash: string;
  site_admin: number;
  system_admin: number;
  space_quota: number | null;
  mobile_phone: string | null;
  root_id: number | null;
  two_step_mode: 'email' | 'sms' | 'authenticator' | null;
  two_step_secret: string | null;
  two_step_pending_mode: string | null;
  two_step_pending_secret: string | null;
  backup_key: string | null;
  created: string;
}

export interface RootRow {
  id: number;
  company_id: number;
  person_id: number | null;
  name: string;
  root_type: 'sync' | 'share' | 'backup';
  description: string;
  is_locked: number;
  lock_expires: string | null;
  lock_person_id: number | null;
  deleted: number;
  created: string;
}

export interface NodeRow {
  id: number;
  root_id: number;
  parent_id: number | null;
  name: string;
  name_key: string;
  kind: 'file' | 'folder';
  is_deleted: number;
  is_locked: number;
  lock_expires: string | null;
  lock_person_id: number | null;
  created: string;
  modified: string;
  revision_id: number | null;
  size: number;
  seq: number;
}

export interface RevisionRow {
  id: number;
  file_id: number;
  root_id: number;
  blob: string;
  created: string;
  modified: string;
  file_size: number;
  full_size: number;
  delta_size: number | null;
  person_id: number | null;
}

/** Who made a request, once authenticated. */
export interface Principal {
  person: PersonRow;
  /** How the request was authenticated. */
  via: 'bearer' | 'session_token' | 'basic';
}

export interface ServerContext {
  db: DB;
  blobs: BlobStore;
  clock: Clock;
  /** Wakes change-feed long polls (extension). */
  changes: ChangeHub;
  config: ServerConfig;
  log: Logger;
  /** The authenticated person, or throws ApiError 401 access_denied (v2 semantics). */
  requirePrincipal(req: FastifyRequest): Principal;
  /** Policy object of an organization (stored fields merged over the defaults). */
  policyOf(companyId: number): Policy;
}
