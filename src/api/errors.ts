// The typed errors of the AXIS API client. Every failure the client reports is one of these,
// so callers (the engine, the agent CLI) can decide what to do with `instanceof` alone:
//
//   AxisApiError               the server answered with an error status (documented `error` code)
//   AuthError                  logging in did not succeed, or the session is gone
//   NetworkError               no answer: refused, reset, timed out, DNS...
//   UntrustedCertificateError  TLS: the certificate is not trusted / does not match the pin
//   ProtocolError              the server answered something the protocol does not allow

/** Base class of every error the client throws on purpose. */
export class AxisError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Documented `error` codes (the list is open: servers may send others). */
export type ApiErrorCode =
  | 'invalid_request'
  | 'access_denied'
  | 'forbidden'
  | 'not_found'
  | 'method_not_allowed'
  | 'unknown'
  | 'insecure_transport'
  | 'invalid_date_format'
  | 'invalid_datetime_format'
  | 'license_expired'
  | 'trial_expired'
  | 'invalid_name'
  | 'name_too_long'
  | 'invalid_extension'
  | 'name_conflict'
  | 'no_file_received'
  | 'policy_error'
  | 'resource_locked'
  | 'root_deleted'
  | 'temporarily_unavailable'
  | 'password_unchanged'
  | 'password_reset_token_expired'
  | 'revision_conflict'
  | (string & {});

/** The server answered an HTTP error status. */
export class AxisApiError extends AxisError {
  /** HTTP status code. */
  readonly status: number;
  /** The documented `error` string of the body (or one derived from the status when the body has none). */
  readonly code: ApiErrorCode;
  /** `error_description` (or v1 `message`) when the server sent one. */
  readonly description?: string;
  /** The parsed JSON body (or the raw text when it was not JSON). */
  readonly body: unknown;
  /** "METHOD /path" of the request, for messages and logs. */
  readonly endpoint: string;

  constructor(init: { status: number; code: string; description?: string; body: unknown; endpoint: string }) {
    super(`${init.endpoint}: HTTP ${init.status} ${init.code}${init.description ? ` (${init.description})` : ''}`);
    this.status = init.status;
    this.code = init.code;
    this.description = init.description;
    this.body = init.body;
    this.endpoint = init.endpoint;
  }

  /** For `revision_conflict` (extension): the file's current revision id, when the server said. */
  get currentRevisionId(): number | undefined {
    const b = this.body as Record<string, unknown> | undefined;
    const v = b && typeof b === 'object' ? b.current_revision_id : undefined;
    return typeof v === 'number' && Number.isInteger(v) ? v : undefined;
  }
}

export type TwoStepMode = 'email' | 'sms' | 'authenticator';

export type AuthErrorKind =
  /** The account uses two-step authentication and no code was given (a code may have been sent). */
  | 'two_step_required'
  /** The two-step code was wrong. */
  | 'invalid_auth_code'
  /** Wrong username or password. */
  | 'invalid_credentials'
  /** Username or password missing. */
  | 'missing_credentials'
  /** The refresh token (or v1 session token) is expired or revoked: log in again. */
  | 'session_expired'
  /** The client has no tokens at all. */
  | 'not_logged_in';

/** Logging in did not succeed, or there is no usable session. */
export class AuthError extends AxisError {
  readonly kind: AuthErrorKind;
  /** For two_step_required / invalid_auth_code: where the code comes from. */
  readonly twoStepMode?: TwoStepMode;
  /** The server's own message, when it sent one. */
  readonly serverMessage?: string;

  constructor(kind: AuthErrorKind, message: string, extra: { twoStepMode?: TwoStepMode; serverMessage?: string; cause?: unknown } = {}) {
    super(message, { cause: extra.cause });
    this.kind = kind;
    this.twoStepMode = extra.twoStepMode;
    this.serverMessage = extra.serverMessage;
  }
}

/**
 * Extension (machine credentials): the server refused the machine's guid and security key
 * (400 invalid_grant: unknown machine or wrong key; 401 access_denied: the key was revoked or
 * the machine is locked). Only a new login with the user's password helps. A kind of
 * `session_expired`, so callers that do not know machines treat it as an ended session.
 */
export class MachineCredentialsRefused extends AuthError {
  /** HTTP status of the refusal (400 or 401). */
  readonly status: number;

  constructor(status: number, serverMessage: string | undefined, cause?: unknown) {
    super('session_expired', `The server refused this machine's credentials${serverMessage ? ` (${serverMessage})` : ''}`, { serverMessage, cause });
    this.status = status;
  }
}

/** No HTTP answer: connection refused or reset, DNS failure, timeout... */
export class NetworkError extends AxisError {
  /** Node/got error code (ECONNREFUSED, ETIMEDOUT, ...), when known. */
  readonly code?: string;
  readonly endpoint: string;

  constructor(message: string, init: { code?: string; endpoint: string; cause?: unknown }) {
    super(message, { cause: init.cause });
    this.code = init.code;
    this.endpoint = init.endpoint;
  }
}

/**
 * TLS: the server's certificate is not trusted (no pin: chain or hostname verification failed;
 * with a pin: the certificate's fingerprint differs from the pinned one). No credentials were
 * sent over that connection.
 */
export class UntrustedCertificateError extends AxisError {
  /** SHA-256 fingerprint of the certificate the server presented (upper-case hex with colons). */
  readonly fingerprint: string;
  /** The pinned fingerprint, when the failure is a pin mismatch. */
  readonly expectedFingerprint?: string;
  /** Why it is not trusted: an OpenSSL/Node code (DEPTH_ZERO_SELF_SIGNED_CERT, ...) or "fingerprint_mismatch". */
  readonly reason: string;
  /** host:port of the server. */
  readonly host: string;

  constructor(init: { fingerprint: string; reason: string; host: string; expectedFingerprint?: string; cause?: unknown }) {
    const advice = `If you trust this server, run the command again with --trust-fingerprint ${init.fingerprint}`;
    const message = init.expectedFingerprint
      ? `The certificate of ${init.host} does not match the trusted fingerprint.\n` +
        `  trusted:   ${init.expectedFingerprint}\n` +
        `  presented: ${init.fingerprint}\n` +
        `If the server's certificate was replaced and you trust the new one, run the command again with --trust-fingerprint ${init.fingerprint}`
      : `The certificate of ${init.host} is not trusted (${describeCertificateReason(init.reason)}).\n` +
        `Its SHA-256 fingerprint is ${init.fingerprint}\n` +
        advice;
    super(message, { cause: init.cause });
    this.fingerprint = init.fingerprint;
    this.expectedFingerprint = init.expectedFingerprint;
    this.reason = init.reason;
    this.host = init.host;
  }
}

/** The server answered, but not as the protocol says (malformed JSON, missing or mistyped fields...). */
export class ProtocolError extends AxisError {
  readonly endpoint: string;
  /** What was wrong, one line per problem. */
  readonly detail: string;

  constructor(endpoint: string, detail: string, options?: { cause?: unknown }) {
    super(`Unexpected response from ${endpoint}: ${detail}`, options);
    this.endpoint = endpoint;
    this.detail = detail;
  }
}

function describeCertificateReason(code: string): string {
  switch (code) {
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
      return 'self-signed certificate';
    case 'SELF_SIGNED_CERT_IN_CHAIN':
      return 'self-signed certificate in the chain';
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
      return 'issued by an unknown certificate authority';
    case 'CERT_HAS_EXPIRED':
      return 'certificate expired';
    case 'CERT_NOT_YET_VALID':
      return 'certificate not yet valid';
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
    case 'HOSTNAME_MISMATCH':
      return 'issued for another host name';
    default:
      return code;
  }
}
