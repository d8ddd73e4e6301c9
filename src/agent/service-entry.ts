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
//   AXIS_AGENT_SECRETS=parent  (set by Electron main) wait for the parent's `secrets` message
//                       before any secret is read; AXIS_AGENT_SECRETS_WAIT_MS (test knob) how
//                       long (default 30 000)
//
// Messages (docs/control-api.md, "Electron"; docs/desktop.md, "Secrets"):
//   to the parent:  {type: 'ready', url, port, token, home}   once the control API listens
//                   {type: 'state', state: State}             whenever the state changes
//                   {type: 'error', message}                  could not start (then exit 1)
//                   {type: 'stopped'}                          before a clean exit (0)
//   from the parent: {type: 'secrets', key, protection}         first, with AXIS_AGENT_SECRETS=parent:
//                                                              the data key of the encrypted
//                                                              credentials (null: plaintext file)
//                    {type: 'stop'}                            stop cleanly and exit
// With no parent port (plain node), the ready message is printed as one JSON line on stdout;
// SIGTERM / SIGINT stop cleanly in both cases.
import { agentLogger } from './fatal.js';
import { packageVersion } from './cli.js';
import { daemonKnobs } from './control/run.js';
import { startAgentService, type AgentService } from './control/service.js';
import { resolveHome } from './home.js';
import { describeError } from './output.js';
import { installSecretsConfig, SECRETS_ENV, SECRETS_FROM_PARENT, secretsConfigFromMessage } from './secrets.js';
import { tuneHeap } from './heap.js';

/** How long the agent waits for the parent's secrets message (docs/desktop.md "Secrets"). */
export const SECRETS_WAIT_MS = 30_000;

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
  /** Resolves once the message is handed over (an IPC send is asynchronous; exit waits for it). */
  const post = (message: Record<string, unknown>): Promise<void> =>
    new Promise((resolve) => {
      if (parentPort) {
        parentPort.postMessage(message);
        resolve();
      } else if (process.send && process.connected) process.send(message, undefined, {}, () => resolve());
      else resolve();
    });
  /** Could not start: say why (to the parent and on stderr) and exit 1. */
  const fail = async (message: string): Promise<never> => {
    process.stderr.write(`${message}\n`);
    await post({ type: 'error', message });
    process.exit(1);
  };
  let service: AgentService | undefined;
  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      try {
        await service?.stop();
        await post({ type: 'stopped' });
      } finally {
        process.exit(0);
      }
    })());
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
  let gotSecrets!: (message: unknown) => void;
  const secretsMessage = new Promise<unknown>((resolve) => (gotSecrets = resolve));
  const onMessage = (data: unknown) => {
    const type = data && typeof data === 'object' ? (data as { type?: unknown }).type : undefined;
    if (type === 'stop') void stop();
    else if (type === 'secrets') gotSecrets(data);
  };
  parentPort?.on('message', (e) => onMessage(e.data));
  if (!parentPort && process.send) process.on('message', onMessage);

  let opts: EntryOptions;
  try {
    opts = parseEntryArgs(process.argv.slice(2), process.env);
  } catch (err) {
    return fail((err as Error).message);
  }

  // Under the desktop app: no secret is read before the parent has said how they are kept.
  const secretsMode = process.env[SECRETS_ENV];
  if (secretsMode) {
    if (secretsMode !== SECRETS_FROM_PARENT) return fail(`${SECRETS_ENV}=${secretsMode} is not supported (only "${SECRETS_FROM_PARENT}")`);
    if (!parentPort && !process.send) return fail(`${SECRETS_ENV}=${SECRETS_FROM_PARENT}, but there is no parent process to send the secrets key`);
    const waitMs = Number(process.env.AXIS_AGENT_SECRETS_WAIT_MS) > 0 ? Number(process.env.AXIS_AGENT_SECRETS_WAIT_MS) : SECRETS_WAIT_MS;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), waitMs)));
    const message = await Promise.race([secretsMessage, timedOut]);
    clearTimeout(timer);
    if (message === 'timeout') return fail(`The parent process sent no secrets message within ${waitMs / 1000} s (${SECRETS_ENV}=${SECRETS_FROM_PARENT}); not starting.`);
    try {
      installSecretsConfig(secretsConfigFromMessage(message));
    } catch (err) {
      return fail(`Invalid secrets message from the parent process: ${(err as Error).message}`);
    }
  }

  const version = packageVersion();
  tuneHeap();
  const log = agentLogger(opts.logLevel);
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
      onState: (state) => void post({ type: 'state', state }),
    });
  } catch (err) {
    return fail(describeError(err).message);
  }
  const ready = { type: 'ready', url: service.url, port: service.port, token: service.token, home: opts.home };
  void post(ready);
  if (!parentPort) process.stdout.write(`${JSON.stringify(ready)}\n`);
}

await main();
