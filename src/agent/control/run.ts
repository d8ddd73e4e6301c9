// `axis-agent run`: the agent process with its control API (docs/agent-cli.md).
//
//   run [--sync-dir DIR] [--no-ui] [--wait-for-login]
//
// Logged in: syncs until SIGINT/SIGTERM, serving the control API on 127.0.0.1 (its one-time UI
// URL printed on stderr) unless --no-ui. Not logged in: exits 2 as always, unless
// --wait-for-login, which starts anyway and waits for a login through the UI.
import { agentLogger } from '../fatal.js';
import type { CliContext } from '../account.js';
import { CliError, EXIT_OK } from '../output.js';
import { startAgentService } from './service.js';
import { tuneHeap } from '../heap.js';

export interface RunOptions {
  syncDir?: string;
  logLevel: string;
  ui: boolean;
  waitForLogin?: boolean;
}

function num(v: string | undefined, fallback: number, ok: (n: number) => boolean = Number.isFinite): number {
  const n = Number(v ?? fallback);
  return ok(n) ? n : fallback;
}

/** The daemon knobs `run` takes from the environment (docs/agent-cli.md). */
export function daemonKnobs(env: NodeJS.ProcessEnv) {
  return {
    longPollSeconds: num(env.AXIS_AGENT_LONG_POLL_SECONDS, 25),
    pollMs: num(env.AXIS_AGENT_POLL_MS, 5000, (n) => Number.isFinite(n) && n >= 100),
    // Test knobs: the throttle schedule's clock offset, the length of a health-period "minute".
    clockOffsetMs: num(env.AXIS_AGENT_CLOCK_OFFSET_MS, 0),
    healthMinuteMs: num(env.AXIS_AGENT_HEALTH_MINUTE_MS, 60_000, (n) => Number.isFinite(n) && n >= 100),
  };
}

export async function runAgent(ctx: CliContext, opts: RunOptions): Promise<number> {
  if (opts.waitForLogin && !opts.ui) throw new CliError('--wait-for-login needs the control UI (drop --no-ui): the login happens there.');
  tuneHeap();
  const log = agentLogger(opts.logLevel);
  const env = ctx.env ?? process.env;
  let announced = false;
  const announce = (rootId: number, syncDir: string) => {
    if (announced) return;
    announced = true;
    ctx.stdout.write(`Syncing root ${rootId} into ${syncDir} (Ctrl-C stops).\n`);
  };
  const service = await startAgentService({
    home: ctx.home,
    log,
    userAgent: ctx.userAgent,
    version: ctx.version,
    syncDir: opts.syncDir,
    env,
    daemon: daemonKnobs(env),
    ui: opts.ui,
    requireLogin: !opts.waitForLogin,
    onState: (s) => {
      const root = s.status?.roots[0];
      if (root) announce(root.id, root.path);
    },
  });
  if (service.started) announce(service.started.rootId, service.started.syncDir);
  else if (!announced) ctx.stdout.write('Not logged in: waiting for a login through the UI (axis-agent ui opens it).\n');
  if (service.url) ctx.stderr.write(`Control UI: ${service.loginUrl()} (one-time link; axis-agent ui makes another)\n`);

  const failure = await new Promise<CliError | undefined>((resolve) => {
    const stop = (sig: string) => {
      ctx.stdout.write(`Received ${sig}; finishing the current operations and stopping…\n`);
      resolve(undefined);
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
    // The server refused the machine's credentials: stop, exit 2, say to log in.
    void service.failed.then(resolve);
  });
  await service.stop();
  if (failure) throw failure;
  ctx.stdout.write('Stopped.\n');
  return EXIT_OK;
}
