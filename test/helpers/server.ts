// Starts a real reference server (HTTPS on loopback, its own temp data dir) for a test file.
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import got, { type Got } from 'got';
import { createReferenceServer, type ReferenceServer, type ReferenceServerOptions } from '../../src/server/app.js';

export const ADMIN_EMAIL = 'admin@example.test';
export const ADMIN_PASSWORD = 'admin-password-1';

export interface TestServer {
  server: ReferenceServer;
  url: string;
  dataDir: string;
  /** got preconfigured for this server: trusts its certificate, never throws on HTTP errors. */
  http: Got;
  stop(): Promise<void>;
}

export async function startTestServer(opts: Partial<ReferenceServerOptions> = {}): Promise<TestServer> {
  const dataDir = opts.dataDir ?? mkdtempSync(path.join(os.tmpdir(), 'axis-server-test-'));
  const server = await createReferenceServer({ dataDir, port: 0, adminEmail: ADMIN_EMAIL, adminPassword: ADMIN_PASSWORD, ...opts });
  const http = got.extend({
    prefixUrl: server.url,
    https: server.certificate ? { certificateAuthority: server.certificate } : {},
    throwHttpErrors: false,
    retry: { limit: 0 },
    timeout: { request: 30_000 },
  });
  return {
    server,
    url: server.url,
    dataDir,
    http,
    stop: async () => {
      await server.close();
      if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
