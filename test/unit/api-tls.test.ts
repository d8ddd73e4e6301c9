// Fingerprint handling of the API client (pure parts of src/api/tls.ts).
import { describe, expect, it } from 'vitest';
import { fingerprintsEqual, InvalidFingerprintError, isCertificateErrorCode, normalizeFingerprint } from '../../src/api/tls.js';

const HEX = 'ab'.repeat(32);
const CANON = Array(32).fill('AB').join(':');

describe('normalizeFingerprint', () => {
  it('accepts hex with or without colons, any case, with spaces or a sha256 prefix', () => {
    expect(normalizeFingerprint(HEX)).toBe(CANON);
    expect(normalizeFingerprint(HEX.toUpperCase())).toBe(CANON);
    expect(normalizeFingerprint(CANON.toLowerCase())).toBe(CANON);
    expect(normalizeFingerprint(`  ${CANON}\n`)).toBe(CANON);
    expect(normalizeFingerprint(HEX.match(/..../g)!.join(' '))).toBe(CANON);
    expect(normalizeFingerprint(`sha256:${HEX}`)).toBe(CANON);
    expect(normalizeFingerprint(`SHA256=${CANON}`)).toBe(CANON);
  });

  it('rejects anything that is not 32 bytes of hex', () => {
    for (const bad of ['', 'abc', HEX.slice(2), `${HEX}ab`, HEX.replace(/^ab/, 'zz'), 'sha1:' + 'ab'.repeat(20)]) {
      expect(() => normalizeFingerprint(bad), bad).toThrow(InvalidFingerprintError);
    }
  });

  it('compares spellings', () => {
    expect(fingerprintsEqual(HEX, CANON)).toBe(true);
    expect(fingerprintsEqual(HEX, 'cd'.repeat(32))).toBe(false);
    expect(fingerprintsEqual('nonsense', 'nonsense')).toBe(false);
  });
});

describe('isCertificateErrorCode', () => {
  it('tells certificate failures from network failures', () => {
    for (const code of ['DEPTH_ZERO_SELF_SIGNED_CERT', 'SELF_SIGNED_CERT_IN_CHAIN', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'CERT_HAS_EXPIRED', 'ERR_TLS_CERT_ALTNAME_INVALID']) {
      expect(isCertificateErrorCode(code), code).toBe(true);
    }
    for (const code of ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'ENOTFOUND', undefined]) expect(isCertificateErrorCode(code), String(code)).toBe(false);
  });
});
