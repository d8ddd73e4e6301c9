#!/usr/bin/env -S node --max-semi-space-size=2
// (The flag is src/agent/heap.ts's AGENT_NODE_FLAGS: a smaller young generation, less RSS.)
// Entry point of the agent CLI; the code is compiled from src/agent/cli.ts by `npm run build`.
import { main } from '../dist/src/agent/cli.js';

main(process.argv).catch((err) => {
  process.stderr.write(`axis-agent: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
