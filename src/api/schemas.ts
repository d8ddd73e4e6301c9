// zod schemas of every response body the client consumes (API v2 "002", v1 auth "000/001",
// the project's OAuth2 token endpoint and its documented extensions).
//
// Lenient on fields we do not use (unknown keys are stripped, never rejected), strict on the
// ones we do: a body that lacks them or has them mistyped is a ProtocolError naming the
// endpoint and the field, never a TypeError deep inside the engine.
import { z } from 'zod';
import { ProtocolError } from './errors.js';

const id = z.int().nonnegative();
const count = z.int().nonnegative();

/** "YYYY-MM-DDTHH:MM:SS" (UTC, as documented); fractions and an explicit zone are tolerated. */
const DATETIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?$/;
export const ApiDateTimeSchema = z.string().regex(DATETIME, 'expected a date/time YYYY-MM-DDTHH:MM:SS');

export const TwoStepModeSchema = z.enum(['email', 'sms', 'authenticator']);
export const RootTypeSchema = z.enum(['sync', 'share', 'backup']);
export type RootType = z.infer<typeof RootTypeSchema>;

// ---------------------------------------------------------------------------------------------
// Authentication

/** OAuth2 token response (POST /oauth2/token, and "Confirm a password reset token"). */
export const TokenResponseSchema = z.object({
  access_token: z.string().min(1),
  token_type: z.string().regex(/^bearer$/i, 'expected token_type "Bearer"'),
  expires_in: z.number().positive().optional(),
  refresh_token: z.string().min(1).optional(),
  scope: z.string().optional(),
});
export type TokenResponse = z.infer<typeof TokenResponseSchema>;

/** v1 POST /1/auth/ (000/001): success with a session token, or a failure message. */
export const V1AuthResponseSchema = z.union([
  z.object({ success: z.literal(true), session_token: z.string().min(1) }),
  z.object({ success: z.literal(false), message: z.string(), two_step_mode: z.string().optional() }),
]);
export type V1AuthResponse = z.infer<typeof V1AuthResponseSchema>;

/** Body of a refused OAuth2 login (error/error_description, plus the v1-style message and two_step_mode). */
export const LoginFailureSchema = z.object({
  error: z.string().optional(),
  error_description: z.string().optional(),
  message: z.string().optional(),
  two_step_mode: z.string().optional(),
  success: z.boolean().optional(),
});

// ---------------------------------------------------------------------------------------------
// Errors and trivial answers

/** Documented v2 error body: { error, error_description? } (+ extension fields). */
export const ErrorBodySchema = z.looseObject({
  error: z.string().min(1),
  error_description: z.string().optional(),
});

/** v1 error bodies: { message, success: false } or { status_code, message, code: "error" }. */
export const V1ErrorBodySchema = z.looseObject({ message: z.string() });

export const VersionSchema = z.object({ version: z.string().regex(/^\d+(\.\d+)*/, 'expected a version "<major>.<minor>.<revision>"') });

// ---------------------------------------------------------------------------------------------
// File system (002 "File system")

export const AncestorSchema = z.object({
  type: z.enum(['root', 'folder']),
  id,
  name: z.string(),
});

export const FileSchema = z.object({
  type: z.literal('file'),
  id,
  revision_id: id,
  root_id: id,
  name: z.string().min(1),
  path: z.string(),
  is_deleted: z.boolean(),
  created: ApiDateTimeSchema,
  modified: ApiDateTimeSchema,
  size: count,
  size_formatted: z.string().optional(),
  is_locked: z.boolean().optional(),
  permissions: z.array(z.string()).optional(),
  ancestors: z.array(AncestorSchema).optional(),
  /** Extension: SHA-256 of the current revision's content (lower-case hex). */
  sha256: z.string().regex(/^[0-9a-fA-F]{64}$/, 'expected 64 hex digits').optional(),
});
export type ApiFile = z.infer<typeof FileSchema>;

/** A folder as it appears in a list (children of a root or folder, search results...). */
export const FolderEntrySchema = z.object({
  type: z.literal('folder'),
  id,
  root_id: id,
  name: z.string().min(1),
  path: z.string(),
  is_deleted: z.boolean(),
  is_locked: z.boolean().optional(),
  hash: z.string().optional(),
  permissions: z.array(z.string()).optional(),
  ancestors: z.array(AncestorSchema).optional(),
});
export type ApiFolderEntry = z.infer<typeof FolderEntrySchema>;

export const ChildSchema = z.discriminatedUnion('type', [FileSchema, FolderEntrySchema]);
export type ApiChild = z.infer<typeof ChildSchema>;

/** GET /api/2/files/<root_id>/folder/<folder_id>, create_folder answers. */
export const FolderSchema = FolderEntrySchema.extend({
  children: z.array(ChildSchema).optional(),
});
export type ApiFolder = z.infer<typeof FolderSchema>;

/** GET /api/2/files/<root_id>. */
export const RootSchema = z.object({
  type: z.literal('root'),
  id,
  name: z.string(),
  path: z.string(),
  root_type: RootTypeSchema,
  is_locked: z.boolean().optional(),
  space_used: count.optional(),
  space_used_formatted: z.string().optional(),
  hash: z.string().optional(),
  permissions: z.array(z.string()).optional(),
  children: z.array(ChildSchema).optional(),
});
export type ApiRoot = z.infer<typeof RootSchema>;

export const RevisionSchema = z.object({
  type: z.literal('revision').optional(),
  id,
  file_id: id,
  root_id: id,
  created: ApiDateTimeSchema,
  modified: ApiDateTimeSchema,
  file_size: count,
  full_size: count.nullable().optional(),
  delta_size: count.nullable().optional(),
  /** Extension: SHA-256 of the revision's content. */
  sha256: z.string().regex(/^[0-9a-fA-F]{64}$/, 'expected 64 hex digits').optional(),
});
export type ApiRevision = z.infer<typeof RevisionSchema>;

/** The documented paging envelope (children, revisions, share links...). */
export function pageSchema<T extends z.ZodType>(item: T) {
  return z.object({
    page: z.int().positive(),
    page_size: z.int().positive(),
    max_page: count,
    total: count,
    results: z.array(item),
  });
}
export interface Page<T> {
  page: number;
  page_size: number;
  max_page: number;
  total: number;
  results: T[];
}

export const ChildrenPageSchema = pageSchema(ChildSchema);
export const RevisionsPageSchema = pageSchema(RevisionSchema);

/**
 * Extension (change feed): GET /api/2/files/<root_id>/changes. Each change is the file or
 * folder object plus `parent_id` (null = top of the root) and `seq`.
 */
// `name` is any string here: one bad name from a broken or hostile server must not make the whole
// feed unreadable (and so stop all syncing); the engine rejects names that are not one valid
// path segment, with a warning, and keeps syncing the rest.
const changeFields = { parent_id: id.nullable(), seq: count, name: z.string() };
export const ChangeSchema = z.discriminatedUnion('type', [FileSchema.extend(changeFields), FolderEntrySchema.extend(changeFields)]);
export type ApiChange = z.infer<typeof ChangeSchema>;
export const ChangesPageSchema = z.object({ cursor: count, has_more: z.boolean(), results: z.array(ChangeSchema) });
export type ApiChangesPage = z.infer<typeof ChangesPageSchema>;

/** GET …/modified_since ("file metadata"; folders are accepted too). */
export const ModifiedSinceSchema = z.object({ results: z.array(ChildSchema) });
/** GET …/search. */
export const SearchSchema = z.object({ results: z.array(ChildSchema) });

/** Answers documented as "HTTP 200" only: any JSON object (usually {"status":"ok"}). */
export const OkSchema = z.looseObject({});

/** rename/move answers: the moved node, or a plain {"status":"ok"}. */
export const NodeOrOkSchema = z.union([ChildSchema, z.looseObject({ status: z.string() })]);

// ---------------------------------------------------------------------------------------------
// Person (002 "Person") and v1 account info

/**
 * A root in a person's `roots`: documented as root objects (`root_type`); v1 account info and
 * some servers use `type` = sync/share/backup instead. Either is accepted; the result has `type`.
 */
export const PersonRootSchema = z
  .object({
    id,
    name: z.string(),
    root_type: RootTypeSchema.optional(),
    type: z.string().optional(),
  })
  .transform((r, ctx) => {
    const t = r.root_type ?? RootTypeSchema.safeParse(r.type).data;
    if (!t) {
      ctx.addIssue({ code: 'custom', message: 'root has neither root_type nor type sync/share/backup', input: r });
      return z.NEVER;
    }
    return { id: r.id, name: r.name, type: t };
  });
export type PersonRoot = z.output<typeof PersonRootSchema>;

export const PersonSchema = z
  .object({
    type: z.literal('person').optional(),
    id,
    email: z.string(),
    username: z.string().nullable().optional(),
    first_name: z.string().nullable().optional(),
    last_name: z.string().nullable().optional(),
    display_name: z.string().nullable().optional(),
    company_id: id.nullable().optional(),
    root_id: id.nullable().optional(),
    roots: z.array(PersonRootSchema),
    space_quota: count.nullable().optional(),
    space_usage: count.nullable().optional(),
    /** Extension: what this person can still upload (the tighter of their and their organization's quota left). */
    space_available: count.nullable().optional(),
    can_share: z.boolean().optional(),
    /** The expanded policy of the person's organization (fields read by the engine). */
    company_policy: z.record(z.string(), z.unknown()).optional(),
  })
  .transform((p) => ({
    ...p,
    username: p.username ?? '',
    display_name: p.display_name || [p.first_name, p.last_name].filter(Boolean).join(' ') || p.email,
  }));
export type Person = z.output<typeof PersonSchema>;

/** v1 GET /1/account/info/. */
export const AccountInfoSchema = z.object({
  id,
  email: z.string(),
  display_name: z.string().optional(),
  root_id: id.nullable().optional(),
  roots: z.array(PersonRootSchema),
});
export type AccountInfo = z.output<typeof AccountInfoSchema>;

// ---------------------------------------------------------------------------------------------
// Machines (002 machine object; the project's extensions: registration, the effective policy,
// health reports, the agent command channel — docs/protocol.md)

const minutes = z.int().positive();

/** The documented throttle fields of a machine or an organization (001/002). */
export const ThrottleFieldsSchema = z.object({
  throttled: z.boolean().nullable().optional(),
  bandwidth_throttle: z.number().nullable().optional(),
  throttle_exception_dow: z.array(z.number()).nullable().optional(),
  throttle_exception_days: z.string().nullable().optional(),
  throttle_exception_start: z.string().nullable().optional(),
  throttle_exception_end: z.string().nullable().optional(),
  throttle_exception_throttle: z.number().nullable().optional(),
});
export type ThrottleFields = z.infer<typeof ThrottleFieldsSchema>;

/** The documented v2 machine object (the fields the agent reads). */
export const MachineSchema = ThrottleFieldsSchema.extend({
  type: z.literal('machine').optional(),
  id,
  guid: z.string().min(1),
  dns_name: z.string().nullable().optional(),
  nickname: z.string().nullable().optional(),
  os_type: z.string().nullable().optional(),
  os_version: z.string().nullable().optional(),
  agent_version: z.string().nullable().optional(),
  locked: z.boolean().optional(),
  last_login: z.string().nullable().optional(),
  last_disconnect: z.string().nullable().optional(),
  health_report_period_minutes: minutes.nullable().optional(),
  health_report_period_minutes_min: minutes.nullable().optional(),
  health_report_period_minutes_max: minutes.nullable().optional(),
  manual_collisions: z.boolean().optional(),
});
export type ApiMachine = z.infer<typeof MachineSchema>;

/** Extension: POST /api/2/machine/register → the machine and its security key (shown once). */
export const MachineRegistrationSchema = z.object({ machine: MachineSchema, security_key: z.string().min(1) });
export type MachineRegistration = z.infer<typeof MachineRegistrationSchema>;

/** Extension: GET /api/2/machine/<id>/policy — what the agent must obey. */
export const MachinePolicySchema = z.object({
  machine_id: id.optional(),
  company_id: id.nullable().optional(),
  /** The machine's settings over its organization's (server-resolved). */
  throttle: ThrottleFieldsSchema,
  machine_throttle: ThrottleFieldsSchema.nullable().optional(),
  organization_throttle: ThrottleFieldsSchema.nullable().optional(),
  health_report_period_minutes: minutes.nullable().optional(),
  health_report_period_minutes_min: minutes.nullable().optional(),
  health_report_period_minutes_max: minutes.nullable().optional(),
  manual_collisions: z.boolean().optional(),
  locked: z.boolean().optional(),
  /** The organization's policy object (excluded_extensions, max_file_size, space_quota, …). */
  company_policy: z.record(z.string(), z.unknown()).nullable().optional(),
});
export type MachinePolicy = z.infer<typeof MachinePolicySchema>;

/** Extension: one queued admin action of the agent command channel. */
export const MachineCommandSchema = z.object({
  id,
  machine_id: id.optional(),
  /** refresh_policy, ls, restore, mapping_create, mapping_delete, subscribe, unsubscribe (open list). */
  type: z.string().min(1),
  params: z.record(z.string(), z.unknown()).nullable().optional(),
  status: z.string().optional(),
  created: z.string().nullable().optional(),
});
export type MachineCommand = z.infer<typeof MachineCommandSchema>;

export const MachineCommandsSchema = z.object({ results: z.array(MachineCommandSchema) });

// ---------------------------------------------------------------------------------------------

/** One line per problem: "results.3.size: Invalid input: expected number, received string". */
export function describeIssues(error: z.ZodError, max = 5): string {
  const lines = error.issues.slice(0, max).map((i) => `${i.path.length ? i.path.join('.') : '(body)'}: ${i.message}`);
  if (error.issues.length > max) lines.push(`…and ${error.issues.length - max} more`);
  return lines.join('; ');
}

/** Validates a parsed body; a mismatch is a ProtocolError naming the endpoint and the fields. */
export function parseBody<T extends z.ZodType>(schema: T, body: unknown, endpoint: string): z.output<T> {
  const r = schema.safeParse(body);
  if (!r.success) throw new ProtocolError(endpoint, describeIssues(r.error), { cause: r.error });
  return r.data;
}

/** JSON.parse that reports malformed JSON as a ProtocolError. */
export function parseJson(text: string, endpoint: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    const preview = text.length > 80 ? `${text.slice(0, 80)}…` : text;
    throw new ProtocolError(endpoint, `body is not JSON: ${JSON.stringify(preview)}`, { cause: err });
  }
}
