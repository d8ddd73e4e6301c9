// What the CLI says when something fails, and with which exit code: every message says what
// to do next.
import { AuthError, AxisApiError, NetworkError, ProtocolError, UntrustedCertificateError } from '../api/errors.js';
import { InvalidFingerprintError } from '../api/tls.js';
import { InterruptedError } from './prompt.js';

export const EXIT_OK = 0;
export const EXIT_ERROR = 1;
export const EXIT_AUTH = 2;
export const EXIT_INTERRUPTED = 130;

export const SESSION_EXPIRED = 'Your session has expired; run axis-agent login';
export const NOT_LOGGED_IN = 'Not logged in; run axis-agent login';

/** A failure the CLI has already put in words. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT_ERROR,
  ) {
    super(message);
    this.name = 'CliError';
  }
}

export interface Described {
  message: string;
  exitCode: number;
}

export function describeError(err: unknown, server?: string): Described {
  if (err instanceof CliError) return { message: err.message, exitCode: err.exitCode };
  if (err instanceof InterruptedError) return { message: 'Interrupted.', exitCode: EXIT_INTERRUPTED };
  if (err instanceof UntrustedCertificateError) return { message: err.message, exitCode: EXIT_ERROR };
  if (err instanceof InvalidFingerprintError) return { message: `--trust-fingerprint: ${err.message}`, exitCode: EXIT_ERROR };
  if (err instanceof AuthError) {
    switch (err.kind) {
      case 'session_expired':
        return { message: SESSION_EXPIRED, exitCode: EXIT_AUTH };
      case 'not_logged_in':
        return { message: NOT_LOGGED_IN, exitCode: EXIT_AUTH };
      case 'invalid_credentials':
        return { message: 'Invalid username or password. Check them and run axis-agent login again.', exitCode: EXIT_AUTH };
      case 'missing_credentials':
        return { message: 'You must provide a username and password (--username, --password, or answer the prompts).', exitCode: EXIT_AUTH };
      case 'invalid_auth_code':
        return { message: 'Invalid authentication code. Run axis-agent login again.', exitCode: EXIT_AUTH };
      case 'two_step_required':
        return { message: 'This account uses two-step authentication: give the code with --auth-code or answer the prompt.', exitCode: EXIT_AUTH };
    }
  }
  if (err instanceof NetworkError) {
    return {
      message: `Cannot reach ${server ?? 'the server'}: ${err.cause instanceof Error ? err.cause.message : err.message}\nCheck the server URL and your network connection, then try again.`,
      exitCode: EXIT_ERROR,
    };
  }
  if (err instanceof ProtocolError) {
    return { message: `${err.message}\nIs ${server ?? 'the server'} an AXIS CloudSync server?`, exitCode: EXIT_ERROR };
  }
  if (err instanceof AxisApiError) {
    const what = err.description ? `${err.code}: ${err.description}` : err.code;
    const advice =
      err.status === 403
        ? 'Your account is not allowed to do this; ask your administrator.'
        : err.status >= 500
          ? 'The server has a problem; try again later.'
          : 'Check the command and try again.';
    return { message: `The server refused the request (${err.endpoint}, HTTP ${err.status} ${what}).\n${advice}`, exitCode: EXIT_ERROR };
  }
  return { message: err instanceof Error ? err.message : String(err), exitCode: EXIT_ERROR };
}
