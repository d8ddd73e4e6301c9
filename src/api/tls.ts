// TLS trust for the API client.
//
// Default: Node's normal verification (system CAs + hostname). On-premises servers often run
// with a self-signed certificate; for those the user pins the certificate's SHA-256 fingerprint
// (`--trust-fingerprint`). A pinned connection is accepted only when the certificate the peer
// presents has exactly that fingerprint: the pin replaces both chain and hostname checks.
//
// Node calls `checkServerIdentity` only after chain verification succeeded, so a pin cannot be
// checked there for a self-signed certificate. PinnedHttpsAgent therefore makes the TLS
// connection itself (no chain verification) and hands the socket to the HTTP layer only after
// the fingerprint matched: nothing, not even request headers, is written to a socket whose
// certificate has not been checked. TLS session resumption is disabled on pinned agents so
// every connection shows its certificate.
import { X509Certificate } from 'node:crypto';
import type { ClientRequestArgs } from 'node:http';
import https from 'node:https';
import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';

const HEX64 = /^[0-9A-F]{64}$/;

/**
 * Canonical form of a SHA-256 fingerprint: upper-case hex pairs joined by colons (the format of
 * Node's `fingerprint256` and of `openssl x509 -fingerprint -sha256`). Accepts hex with or
 * without colons (or spaces), any case, optionally prefixed by "sha256:" / "SHA256=".
 * Throws InvalidFingerprintError for anything that is not 32 bytes of hex.
 */
export function normalizeFingerprint(input: string): string {
  let s = input.trim();
  s = s.replace(/^sha-?256\s*[:=]\s*/i, '');
  const hex = s.replace(/[\s:]/g, '').toUpperCase();
  if (!HEX64.test(hex)) throw new InvalidFingerprintError(input);
  return hex.match(/../g)!.join(':');
}

/** True when both are the same fingerprint (any accepted spelling); false when either is malformed. */
export function fingerprintsEqual(a: string, b: string): boolean {
  try {
    return normalizeFingerprint(a) === normalizeFingerprint(b);
  } catch {
    return false;
  }
}

export class InvalidFingerprintError extends Error {
  constructor(readonly input: string) {
    super(`"${input}" is not a SHA-256 fingerprint: expected 64 hexadecimal digits, with or without colons (e.g. AB:CD:...:EF)`);
    this.name = 'InvalidFingerprintError';
  }
}

/** SHA-256 fingerprint (canonical form) of a DER certificate. */
export function fingerprintOfDer(der: Buffer): string {
  return normalizeFingerprint(new X509Certificate(der).fingerprint256);
}

/**
 * Node/OpenSSL error codes that mean "the certificate is not trusted" (as opposed to a network
 * failure). Such errors are never retried; without a pin they become UntrustedCertificateError.
 */
const CERTIFICATE_ERROR_CODES = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_DECRYPT_CERT_SIGNATURE',
  'UNABLE_TO_DECODE_ISSUER_PUBLIC_KEY',
  'CERT_SIGNATURE_FAILURE',
  'CERT_NOT_YET_VALID',
  'CERT_HAS_EXPIRED',
  'CERT_REVOKED',
  'CERT_UNTRUSTED',
  'CERT_REJECTED',
  'CERT_CHAIN_TOO_LONG',
  'INVALID_CA',
  'INVALID_PURPOSE',
  'PATH_LENGTH_EXCEEDED',
  'HOSTNAME_MISMATCH',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'ERR_TLS_CERT_ALTNAME_FORMAT',
]);

export function isCertificateErrorCode(code: string | undefined): boolean {
  return code !== undefined && CERTIFICATE_ERROR_CODES.has(code);
}

/** Code of the error a pinned connection fails with when the fingerprint differs. */
export const PIN_MISMATCH_CODE = 'ERR_AXIS_CERT_FINGERPRINT_MISMATCH';

export class CertificatePinMismatch extends Error {
  readonly code = PIN_MISMATCH_CODE;
  constructor(
    readonly expected: string,
    readonly actual: string,
  ) {
    super(`certificate fingerprint ${actual} does not match the pinned ${expected}`);
    this.name = 'CertificatePinMismatch';
  }
}

export interface PeerCertificateInfo {
  /** Canonical SHA-256 fingerprint. */
  fingerprint: string;
  /** PEM of the leaf certificate. */
  pem: string;
  subject: string;
  issuer: string;
  validTo: string;
}

function serverNameFor(host: string): string | undefined {
  return net.isIP(host) ? undefined : host;
}

/**
 * Connects to host:port with TLS, reads the peer certificate WITHOUT verifying it, and closes.
 * Nothing is written on that connection. Used only to show the user the fingerprint of an
 * untrusted certificate.
 */
export function probeCertificate(host: string, port: number, timeoutMs: number): Promise<PeerCertificateInfo> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({ host, port, servername: serverNameFor(host), rejectUnauthorized: false });
    const timer = setTimeout(() => socket.destroy(Object.assign(new Error(`TLS handshake with ${host}:${port} timed out`), { code: 'ETIMEDOUT' })), timeoutMs);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      try {
        const cert = socket.getPeerCertificate();
        if (!cert || !cert.raw) throw new Error('the server presented no certificate');
        const x = new X509Certificate(cert.raw);
        resolve({ fingerprint: normalizeFingerprint(x.fingerprint256), pem: x.toString(), subject: x.subject, issuer: x.issuer, validTo: x.validTo });
      } catch (err) {
        reject(err);
      } finally {
        socket.destroy();
      }
    });
    socket.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

export interface PinnedAgentOptions extends https.AgentOptions {
  /** The pinned fingerprint (any accepted spelling). */
  fingerprint: string;
  /** Limit for TCP connect + TLS handshake, in ms. */
  handshakeTimeoutMs: number;
}

/**
 * An https.Agent whose connections are accepted only if the peer certificate's SHA-256
 * fingerprint equals the pin. The socket reaches the HTTP request only after that check.
 */
export class PinnedHttpsAgent extends https.Agent {
  readonly pin: string;
  private readonly handshakeTimeoutMs: number;

  constructor(opts: PinnedAgentOptions) {
    const { fingerprint, handshakeTimeoutMs, ...agentOptions } = opts;
    super({ ...agentOptions, maxCachedSessions: 0 });
    this.pin = normalizeFingerprint(fingerprint);
    this.handshakeTimeoutMs = handshakeTimeoutMs;
  }

  override createConnection(options: ClientRequestArgs, callback?: (err: Error | null, stream: Duplex) => void): Duplex | null | undefined {
    if (!callback) throw new Error('PinnedHttpsAgent needs the asynchronous createConnection callback');
    const tlsOptions = options as tls.ConnectionOptions;
    const socket = tls.connect({
      ...tlsOptions,
      // The pin is the trust decision: chain and name checks are replaced by the comparison below.
      rejectUnauthorized: false,
      checkServerIdentity: () => undefined,
      session: undefined,
    });
    let done = false;
    const finish = (err: Error | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.removeListener('error', onError);
      if (err) {
        socket.destroy();
        callback(err, socket);
      } else {
        callback(null, socket);
      }
    };
    const onError = (err: Error) => finish(err);
    const timer = setTimeout(() => {
      const host = `${tlsOptions.host ?? ''}:${tlsOptions.port ?? ''}`;
      finish(Object.assign(new Error(`connecting to ${host} timed out`), { code: 'ETIMEDOUT' }));
    }, this.handshakeTimeoutMs);
    socket.once('error', onError);
    socket.once('secureConnect', () => {
      let actual: string | undefined;
      try {
        const cert = socket.getPeerCertificate();
        if (cert && cert.raw) actual = fingerprintOfDer(cert.raw);
      } catch {
        actual = undefined;
      }
      if (actual !== this.pin) finish(new CertificatePinMismatch(this.pin, actual ?? '(no certificate)'));
      else finish(null);
    });
    return undefined;
  }
}
