// The agent as a service for the desktop app: the module Electron's main process starts with
// `utilityProcess.fork('dist/src/agent/service-entry.js', args)`. It also runs as a plain node
// process (`node dist/src/agent/service-entry.js --home DIR`).
//
// Options (argv, else environment):
//   --home DIR          AXIS_AGENT_HOME (default: the per-user app-data folder)
//   --sync-dir DIR      AXIS_AGENT_SYNC_DIR (default: settings.json, else ~/AXIS CloudSync)
//   --renderer-dir DIR  AXIS_AGENT_RENDERER_DIR (default: dist/renderer of this checkout)
//   --log-level LEVEL   AXIS_AGENT_LOG (default info; the log goes to stderr)
//   and the test knobs of `axis-agent run` (AXIS_AGENT_POLL_MS, …; docs/agent-cli.md).
//
// Messages (docs/control-api.md, "Electron"):
//   to the parent:  {type: 'ready', url, port, token, home}   once the control API listens
//                   {type: 'state', state: State}             whenever the state changes
//                   {type: 'error', message}                  could not start (then exit 1)
//                   {type: 'stopped'}                          before a clean exit (0)
//   from the parent: {type: 'stop'}                            stop cleanly and exit
// With no parent port (plain node), the ready message is printed as one JSON line on stdout;
// SIGTERM / SIGINT stop cleanly in both cases.
import { pino } from 'pino';
import { packageVersion } from './cli.js';
import { daemonKnobs } from './control/run.js';
import { startAgentService, type AgentService } from './control/service.js';
import { resolveHome } from './home.js';
import { describeError } from './output.js';

/** The part of Electron's `process.parentPort` used here (no import of electron). */
interface ParentPort {
  postMessage(message: unknown): void;
  on(event: 'message', listener: (e: { data: unknown }) => void): void;
}

export interface EntryOptions {
  home: string;
  syncDir?: string;
  rendererDir?: string;
  logLevel: string;
}

export function parseEntryArgs(argv: readonly string[], env: NodeJS.ProcessEnv): EntryOptions {
  const flags = new Map<string, string>();
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    const m = /^--(home|sync-dir|renderer-dir|log-level)(?:=(.*))?$/.exec(a);
    if (!m) continue;
    const value = m[2] ?? argv[++i];
    if (value === undefined) throw new Error(`${a} needs a value`);
    flags.set(m[1]!, value);
  }
  return {
    home: resolveHome(flags.get('home'), env),
    syncDir: flags.get('sync-dir') ?? (env.AXIS_AGENT_SYNC_DIR || undefined),
    rendererDir: flags.get('renderer-dir') ?? (env.AXIS_AGENT_RENDERER_DIR || undefined),
    logLevel: flags.get('log-level') ?? env.AXIS_AGENT_LOG ?? 'info',
  };
}

async function main(): Promise<void> {
  const parentPort = (process as unknown as { parentPort?: ParentPort }).parentPort;
  const post = (message: Record<string, unknown>) => {
    if (parentPort) parentPort.postMessage(message);
    else if (process.send) process.send(message);
  };
  let service: AgentService | undefined;
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      try {
        await service?.stop();
        post({ type: 'stopped' });
      } finally {
        process.exit(0);
      }
    })());
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
  const onMessage = (data: unknown) => {
    if (data && typeof data === 'object' && (data as { type?: unknown }).type === 'stop') void stop();
  };
  parentPort?.on('message', (e) => onMessage(e.data));
  if (!parentPort && process.send) process.on('message', onMessage);

  let opts: EntryOptions;
  try {
    opts = parseEntryArgs(process.argv.slice(2), process.env);
  } catch (err) {
    post({ type: 'error', message: (err as Error).message });
    process.stderr.write(`${(err as Error).message}\n`);
    process.exit(1);
  }
  const version = packageVersion();
  const log = pino({ level: opts.logLevel }, pino.destination(2));
  try {
    service = await startAgentService({
      home: opts.home,
      log,
      userAgent: `axis-agent/${version} (node ${process.version}; ${process.platform})`,
      version,
      syncDir: opts.syncDir,
      rendererDir: opts.rendererDir,
      env: process.env,
      daemon: daemonKnobs(process.env),
      onState: (state) => post({ type: 'state', state }),
    });
  } catch (err) {
    const message = describeError(err).message;
    post({ type: 'error', message });
    process.stderr.write(`${message}\n`);
    process.exit(1);
  }
  const ready = { type: 'ready', url: service.url, port: service.port, token: service.token, home: opts.home };
  post(ready);
  if (!parentPort) process.stdout.write(`${JSON.stringify(ready)}\n`);
}

await main();
