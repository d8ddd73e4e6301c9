#!/usr/bin/env node
// Entry point of the reference server CLI; compiled from src/server/cli.ts by `npm run build`.
import { main } from '../dist/src/server/cli.js';

main(process.argv).catch((err) => {
  process.stderr.write(`axis-server: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
