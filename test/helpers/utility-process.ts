// Electron's utilityProcess.fork, approximated with child_process.fork (same events): how the
// tests run Electron main's AgentHost against the real agent entry without Electron.
import { fork } from 'node:child_process';
import type { AgentChild, ForkAgent } from '../../src/main/agent-host.js';

export const nodeFork: ForkAgent = (modulePath, args, options) => {
  const cp = fork(modulePath, args, { env: options.env as NodeJS.ProcessEnv, stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
  cp.stderr?.resume();
  const child: AgentChild = {
    get pid() {
      return cp.pid;
    },
    postMessage: (m) => {
      if (cp.connected) cp.send(m as object);
    },
    kill: () => cp.kill('SIGKILL'),
    on(event: 'exit' | 'message' | 'spawn', listener: (...a: never[]) => void) {
      if (event === 'exit') cp.on('exit', (code, signal) => (listener as (c: number) => void)(code ?? (signal ? 128 : 0)));
      else cp.on(event, listener as (...a: unknown[]) => void);
      return child;
    },
  } as AgentChild;
  return child;
};
