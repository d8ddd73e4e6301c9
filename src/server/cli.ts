// `axis-server`: runs the reference server until SIGINT/SIGTERM.
import { Command, Option } from 'commander';
import os from 'node:os';
import path from 'node:path';
import { createReferenceServer, type ReferenceServer } from './app.js';
import { tuneServerHeap } from './heap.js';
import { parseApiDate } from './time.js';

export async function main(argv: string[]): Promise<void> {
  const program = new Command('axis-server')
    .description('AXIS CloudSync reference server: the documented API plus the agent protocol extensions')
    .addOption(new Option('--data <dir>', 'data directory (SQLite metadata, blobs, TLS certificate, outbox)').env('AXIS_SERVER_DATA').default(path.join(os.homedir(), '.axis-server')))
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <port>', 'port to listen on (0 = any free port)', '8443')
    .option('--insecure-http', 'serve plain HTTP instead of HTTPS (/api/2 then answers insecure_transport)')
    .option('--allow-insecure-api', 'with --insecure-http on a loopback host: let /api/2 and /oauth2 answer anyway (testing only)')
    .addOption(new Option('--admin-email <email>', 'system admin created at first start').env('AXIS_ADMIN_EMAIL'))
    .addOption(new Option('--admin-password <password>', 'its password (generated and printed once if absent)').env('AXIS_ADMIN_PASSWORD'))
    .option('--no-change-feed', 'do not serve the change feed extension (emulates a server without it)')
    .option('--no-batch', 'do not serve the batch transfer extension (emulates a server without it)')
    .option('--license-expires <YYYY-MM-DD>', 'license expiry date; after it /api/2 answers license_expired')
    .option('--log-level <level>', 'log level (fatal, error, warn, info, debug)', 'warn')
    .showHelpAfterError();
  program.parse(argv);
  const o = program.opts<{
    data: string;
    host: string;
    port: string;
    insecureHttp?: boolean;
    allowInsecureApi?: boolean;
    adminEmail?: string;
    adminPassword?: string;
    licenseExpires?: string;
    logLevel: string;
    changeFeed: boolean;
    batch: boolean;
  }>();
  const port = Number(o.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be 0…65535, not ${o.port}`);
  let licenseExpires: Date | undefined;
  if (o.licenseExpires) {
    licenseExpires = parseApiDate(o.licenseExpires);
    if (!licenseExpires) throw new Error('--license-expires must be a date YYYY-MM-DD');
  }
  process.env.AXIS_SERVER_LOG ??= o.logLevel;
  tuneServerHeap();
  const server: ReferenceServer = await createReferenceServer({
    dataDir: path.resolve(o.data),
    host: o.host,
    port,
    insecureHttp: o.insecureHttp,
    allowInsecureApi: o.allowInsecureApi,
    adminEmail: o.adminEmail,
    adminPassword: o.adminPassword,
    licenseExpires,
    changeFeed: o.changeFeed,
    batch: o.batch,
  });
  const out = process.stdout;
  out.write(`AXIS reference server listening on ${server.url}\n`);
  if (server.fingerprint) out.write(`TLS certificate SHA-256 fingerprint: ${server.fingerprint}\n`);
  else out.write(`WARNING: plain HTTP; /api/2 ${o.allowInsecureApi ? 'answers anyway (testing only)' : 'answers insecure_transport'}\n`);
  out.write(`data directory: ${path.resolve(o.data)}\n`);
  if (server.admin.created) {
    out.write(`created system admin ${server.admin.email}\n`);
    if (server.admin.generatedPassword) out.write(`  generated password (shown only this once): ${server.admin.generatedPassword}\n`);
  }
  const stop = async (signal: string) => {
    out.write(`received ${signal}, shutting down\n`);
    await server.close();
    process.exit(0);
  };
  process.once('SIGINT', () => void stop('SIGINT'));
  process.once('SIGTERM', () => void stop('SIGTERM'));
}
