// The server's TLS identity: a self-signed certificate generated once into <data>/tls/.
import { X509Certificate } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { generate } from 'selfsigned';

export interface TlsIdentity {
  key: string;
  cert: string;
  /** SHA-256 fingerprint of the certificate (DER), upper-case hex with colons. */
  fingerprint: string;
}

export async function loadOrCreateTls(dataDir: string, extraNames: string[] = []): Promise<TlsIdentity> {
  const dir = path.join(dataDir, 'tls');
  const keyPath = path.join(dir, 'key.pem');
  const certPath = path.join(dir, 'cert.pem');
  try {
    const [key, cert] = await Promise.all([fsp.readFile(keyPath, 'utf8'), fsp.readFile(certPath, 'utf8')]);
    return { key, cert, fingerprint: new X509Certificate(cert).fingerprint256 };
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
  }
  await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
  const names = [...new Set(['localhost', os.hostname(), ...extraNames.filter((n) => !/^[\d.:]+$/.test(n))])];
  const ips = [...new Set(['127.0.0.1', '::1', ...extraNames.filter((n) => /^[\d.:]+$/.test(n))])];
  const notAfter = new Date();
  notAfter.setFullYear(notAfter.getFullYear() + 10);
  const pems = await generate([{ name: 'commonName', value: 'AXIS CloudSync reference server' }], {
    keySize: 2048,
    algorithm: 'sha256',
    notAfterDate: notAfter,
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [...names.map((value) => ({ type: 2 as const, value })), ...ips.map((ip) => ({ type: 7 as const, ip }))] },
    ],
  });
  await fsp.writeFile(keyPath, pems.private, { mode: 0o600 });
  await fsp.writeFile(certPath, pems.cert, { mode: 0o644 });
  return { key: pems.private, cert: pems.cert, fingerprint: new X509Certificate(pems.cert).fingerprint256 };
}
