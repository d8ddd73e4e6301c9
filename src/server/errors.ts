// The documented error taxonomy of API v2 (and the v1 shapes), as one exception type the
// app's error handler turns into the exact documented status and body.

export interface ApiErrorBody {
  error: string;
  error_description?: string;
  [key: string]: unknown;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: Record<string, unknown>,
  ) {
    super(typeof body.error === 'string' ? body.error : typeof body.message === 'string' ? body.message : `HTTP ${status}`);
  }
}

const e = (status: number, error: string, error_description?: string) =>
  new ApiError(status, error_description === undefined ? { error } : { error, error_description });

export const errors = {
  invalidRequest: () => e(400, 'invalid_request'),
  missingParam: (param: string) => e(400, 'invalid_request', `Missing required parameter: ${param}`),
  invalidParam: (param: string) => e(400, 'invalid_request', `Invalid value for parameter: ${param}`),
  invalidDate: () => e(400, 'invalid_date_format', 'Invalid date format. The expected format is: YYYY-MM-DD'),
  invalidDatetime: () => e(400, 'invalid_datetime_format', 'Invalid datetime format. The expected format is: YYYY-MM-DDTHH:MM:SS'),
  insecureTransport: () => e(400, 'insecure_transport', 'Requests MUST utilize https.'),
  accessDenied: () => e(401, 'access_denied'),
  forbidden: () => e(403, 'forbidden'),
  licenseExpired: () => e(403, 'license_expired'),
  trialExpired: () => e(403, 'trial_expired'),
  notFound: () => e(404, 'not_found'),
  methodNotAllowed: () => e(405, 'method_not_allowed'),
  nameConflict: () => e(409, 'name_conflict'),
  resourceLocked: () => e(409, 'resource_locked'),
  policyError: (description?: string) => e(409, 'policy_error', description),
  rootDeleted: () => e(410, 'root_deleted', 'Root was previously deleted.'),
  temporarilyUnavailable: () => e(503, 'temporarily_unavailable', 'Service is temporarily unavailable.'),
  invalidName: () => e(400, 'invalid_name'),
  nameTooLong: () => e(400, 'name_too_long'),
  invalidExtension: () => e(400, 'invalid_extension'),
  noFileReceived: () => e(400, 'no_file_received', 'Missing required file: file'),
  passwordUnchanged: () => e(400, 'password_unchanged'),
  unknown: () => e(500, 'unknown'),
  /** v1 management shape: { status_code, message, code: "error" } with a matching HTTP status. */
  v1: (status: number, message: string) => new ApiError(status, { status_code: status, message, code: 'error' }),
};
