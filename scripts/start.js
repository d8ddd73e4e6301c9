#!/usr/bin/env node
// `npm start`: for now, starts the reference server on loopback with a demo account and prints
// how to log in. It grows into the tray app / headless agent with a UI in later issues.
import { mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createReferenceServer } from '../dist/src/server/app.js';

const dataDir = process.env.AXIS_SERVER_DATA ?? path.join(os.homedir(), '.axis-demo', 'server');
mkdirSync(dataDir, { recursive: true });
const server = await createReferenceServer({
  dataDir,
  host: '127.0.0.1',
  port: Number(process.env.AXIS_SERVER_PORT ?? 0),
  adminEmail: process.env.AXIS_ADMIN_EMAIL ?? 'admin@axis.local',
  adminPassword: process.env.AXIS_ADMIN_PASSWORD ?? 'axis-demo-admin',
});
const fp = server.fingerprint;
process.stdout.write(
  [
    `AXIS reference server (demo) listening on ${server.url}`,
    `TLS certificate SHA-256: ${fp}`,
    `data: ${dataDir}`,
    '',
    'Log in with the agent:',
    `  node bin/axis-agent.js login --server ${server.url} --trust-fingerprint ${fp} --username ${server.admin.email} --password ${process.env.AXIS_ADMIN_PASSWORD ?? 'axis-demo-admin'}`,
    '',
    'Ctrl-C stops it.',
    '',
  ].join('\n'),
);
const stop = async () => {
  await server.close();
  process.exit(0);
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
