// The agent CLI (bin/axis-agent.js → main(process.argv)).
//
//   axis-agent [--home DIR] login  [--server URL] [--username U] [--password P] [--auth-code C] [--trust-fingerprint HEX]
//   axis-agent [--home DIR] logout
//   axis-agent [--home DIR] whoami [--json]
//   axis-agent [--home DIR] run [--sync-dir DIR] [--no-ui] [--wait-for-login] | status [--json] | collisions [--json]
//   axis-agent [--home DIR] ui [--print]
//   axis-agent [--home DIR] resolve ID --keep mine|server|both | pause | resume
//
// Exit codes: 0 ok, 1 error, 2 authentication needed (not logged in, session expired, login
// refused), 130 interrupted. Results go to stdout, errors to stderr.
import { readFileSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import { login, logout, whoami, type CliContext } from './account.js';
import { HOME_ENV, resolveHome } from './home.js';
import { describeError, EXIT_OK } from './output.js';
import { createPrompter } from './prompt.js';
import { registerSyncCommands } from './sync-cli.js';
import { uiCommand } from './control/ui-command.js';

export interface CliIo {
  stdin: NodeJS.ReadableStream;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  env: NodeJS.ProcessEnv;
}

export function packageVersion(): string {
  for (const rel of ['../../../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(rel, import.meta.url), 'utf8')) as { name?: string; version?: string };
      if (pkg.name === 'axis-cloudsync-agent' && pkg.version) return pkg.version;
    } catch {
      // try the next location (dist/src/agent or src/agent)
    }
  }
  return '0.0.0';
}

/** Runs the CLI with `argv` (node, script, args...) and returns the exit code. */
export async function run(argv: string[], io: CliIo): Promise<number> {
  const version = packageVersion();
  const prompter = createPrompter(io.stdin as NodeJS.ReadStream, io.stdout);
  let exitCode = EXIT_OK;
  let ctx: CliContext | undefined;

  const program = new Command();
  program
    .name('axis-agent')
    .description('AXIS CloudSync Agent')
    .version(version, '-V, --version')
    .option('--home <dir>', `folder for all of this agent's state (default: $${HOME_ENV} or the per-user app-data folder)`)
    .showHelpAfterError()
    .exitOverride()
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    });

  const contextOf = (cmd: Command): CliContext => {
    const globals = cmd.optsWithGlobals<{ home?: string }>();
    ctx = {
      home: resolveHome(globals.home, io.env),
      stdout: io.stdout,
      stderr: io.stderr,
      prompter,
      userAgent: `axis-agent/${version} (node ${process.version}; ${process.platform})`,
      version,
      env: io.env,
    };
    return ctx;
  };

  program
    .command('login')
    .description('log in to an AXIS CloudSync server (asks for whatever is not given)')
    .option('--server <url>', 'server URL, e.g. https://sync.example.com')
    .option('--username <username>', 'account username or email')
    .option('--password <password>', 'password (prefer the prompt: command lines are visible to other users)')
    .option('--auth-code <code>', 'two-step authentication code')
    .option('--trust-fingerprint <hex>', "trust the server's certificate with this SHA-256 fingerprint (self-signed servers)")
    .action(async (opts: { server?: string; username?: string; password?: string; authCode?: string; trustFingerprint?: string }, cmd: Command) => {
      exitCode = await login(contextOf(cmd), opts);
    });

  program
    .command('logout')
    .description('revoke the session on the server and forget the stored credentials')
    .action(async (_opts: unknown, cmd: Command) => {
      exitCode = await logout(contextOf(cmd));
    });

  program
    .command('whoami')
    .description('show the logged-in account and its roots')
    .option('--json', 'print one JSON object {"server","person","roots"}')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      exitCode = await whoami(contextOf(cmd), opts);
    });

  program
    .command('ui')
    .description('open the agent UI of the running agent in a browser (a one-time login link)')
    .option('--print', 'print the link instead of opening it')
    .action(async (opts: { print?: boolean }, cmd: Command) => {
      exitCode = await uiCommand(contextOf(cmd), opts);
    });

  registerSyncCommands(program, contextOf, (code) => {
    exitCode = code;
  });

  try {
    await program.parseAsync(argv);
  } catch (err) {
    if (err instanceof CommanderError) {
      exitCode = err.exitCode;
    } else {
      const d = describeError(err, ctx?.server);
      io.stderr.write(`${d.message}\n`);
      exitCode = d.exitCode;
    }
  } finally {
    prompter.close();
  }
  return exitCode;
}

/** Entry point of bin/axis-agent.js: runs the CLI and sets the process exit code. */
export async function main(argv: string[]): Promise<void> {
  process.exitCode = await run(argv, { stdin: process.stdin, stdout: process.stdout, stderr: process.stderr, env: process.env });
}
