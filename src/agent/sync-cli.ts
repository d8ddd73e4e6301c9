// The sync verbs of the agent CLI: run, status, collisions, resolve, pause, resume.
//
//   axis-agent run [--sync-dir DIR] [--no-ui] [--wait-for-login]   (src/agent/control/run.ts)
//   axis-agent status [--json]        {"roots":[{"id","name","type","path","synced","queued","collisions","warnings",…}],"transfers":[…]}
//   axis-agent collisions [--json]
//   axis-agent resolve ID --keep mine|server|both     (or --all --keep …, where policy allows)
//   axis-agent pause | resume
import { existsSync, promises as fsp } from 'node:fs';
import os from 'node:os';
import type { Command } from 'commander';
import type { CliContext } from './account.js';
import { loadConfig } from './config.js';
import { clientFor, policyFromPerson, stateDbPath, statusPath } from './daemon.js';
import { homePaths } from './home.js';
import { CliError, EXIT_AUTH, EXIT_OK, NOT_LOGGED_IN } from './output.js';
import { secretsNotice } from './secrets.js';
import { resolveCollision, type Keep } from './resolve.js';
import { loadSettings } from './settings.js';
import { buildStatus, type AgentStatus } from './status.js';
import { StateStore } from '../engine/store.js';
import { runAgent, type RunOptions } from './control/run.js';

function pidAlive(pid: number | null): boolean {
  if (!pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function openStore(home: string): StateStore | undefined {
  return existsSync(stateDbPath(home)) ? new StateStore(stateDbPath(home)) : undefined;
}

export async function currentStatus(home: string): Promise<AgentStatus> {
  try {
    const live = JSON.parse(await fsp.readFile(statusPath(home), 'utf8')) as AgentStatus;
    if (live.running && pidAlive(live.pid)) return live;
  } catch {
    // no running agent
  }
  const store = openStore(home);
  if (!store) return { running: false, pid: null, updated: new Date().toISOString(), delta: { available: false, reason: 'not running' }, roots: [], transfers: [] };
  try {
    return buildStatus(store, undefined);
  } finally {
    store.close();
  }
}

export function registerSyncCommands(program: Command, contextOf: (cmd: Command) => CliContext, setExit: (code: number) => void): void {
  program
    .command('run')
    .description("keep the account's sync folder in two-way sync until interrupted (Ctrl-C)")
    .option('--sync-dir <dir>', 'the local sync folder (remembered; default ~/AXIS CloudSync)')
    .option('--log-level <level>', 'fatal, error, warn, info, debug', process.env.AXIS_AGENT_LOG ?? 'info')
    .option('--no-ui', 'do not serve the control API and UI on 127.0.0.1')
    .option('--wait-for-login', 'start even when not logged in, and wait for a login through the UI')
    .action(async (opts: RunOptions, cmd: Command) => {
      setExit(await runAgent(contextOf(cmd), opts));
    });

  program
    .command('status')
    .description('what the agent is doing: roots, queue, collisions, warnings, transfers')
    .option('--json', 'print one JSON object {"roots":[…],"transfers":[…]}')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const s = await currentStatus(ctx.home);
      if (opts.json) ctx.stdout.write(`${JSON.stringify(s)}\n`);
      else {
        const lines = [s.running ? `Agent running (pid ${s.pid}).` : 'Agent not running.'];
        if (s.roots.length === 0) lines.push('No roots synced yet: run axis-agent run.');
        for (const r of s.roots) {
          lines.push(`${r.name} (${r.type}, id ${r.id}) → ${r.path}`);
          lines.push(`  ${r.synced ? 'up to date' : r.state}; ${r.queued} queued, ${r.collisions} collisions, ${r.warnings} warnings${r.last_error ? `; last error: ${r.last_error}` : ''}`);
        }
        for (const t of s.transfers) lines.push(`  ${t.direction === 'up' ? '↑' : '↓'} ${t.path} (${t.size} bytes)`);
        ctx.stdout.write(`${lines.join('\n')}\n`);
      }
      setExit(EXIT_OK);
    });

  program
    .command('collisions')
    .description('list unresolved collisions (a file changed on both sides)')
    .option('--json', 'print a JSON array of collisions with their ids')
    .action(async (opts: { json?: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd);
      const store = openStore(ctx.home);
      const list = store?.collisions() ?? [];
      store?.close();
      const out = list.map((c) => ({
        id: c.id,
        root_id: c.rootId,
        path: c.path,
        reason: c.reason,
        created: c.created,
        local: { kind: c.local.kind, size: c.local.size, sha256: c.local.sha256, modified: new Date(c.local.mtime).toISOString() },
        server: { kind: c.remote.kind, id: c.remote.id, revision_id: c.remote.revisionId, size: c.remote.size, sha256: c.remote.sha256 },
      }));
      if (opts.json) ctx.stdout.write(`${JSON.stringify(out)}\n`);
      else if (out.length === 0) ctx.stdout.write('No collisions.\n');
      else {
        for (const c of out) ctx.stdout.write(`${c.id}  ${c.path}  (${c.reason}; yours ${c.local.size} bytes, server's ${c.server.size} bytes)\n`);
        ctx.stdout.write('Resolve with: axis-agent resolve ID --keep mine|server|both\n');
      }
      setExit(EXIT_OK);
    });

  program
    .command('resolve')
    .description('resolve a collision: keep mine, the server\'s, or both')
    .argument('[id]', 'collision id (see axis-agent collisions)')
    .requiredOption('--keep <which>', 'mine | server | both')
    .option('--all', 'resolve every open collision the same way (where the policy allows bulk resolution)')
    .action(async (id: string | undefined, opts: { keep: string; all?: boolean }, cmd: Command) => {
      const ctx = contextOf(cmd);
      if (!['mine', 'server', 'both'].includes(opts.keep)) throw new CliError('--keep must be mine, server or both');
      if (!opts.all && (!id || !/^\d+$/.test(id))) throw new CliError('Give a collision id (see axis-agent collisions) or --all');
      const config = await loadConfig(homePaths(ctx.home).config);
      if (!config) throw new CliError(NOT_LOGGED_IN, EXIT_AUTH);
      // A home of the desktop app: its credentials are encrypted with the app's key.
      const notice = await secretsNotice(ctx.home);
      if (notice) throw new CliError(notice, EXIT_AUTH);
      ctx.server = config.server;
      const store = openStore(ctx.home);
      if (!store) throw new CliError('Nothing synced yet: there are no collisions.');
      const client = clientFor(config, ctx.home, ctx.userAgent);
      try {
        const person = await client.person();
        const policy = policyFromPerson(person.company_policy);
        const settings = await loadSettings(ctx.home);
        const targets = opts.all ? store.collisions() : store.collisions().filter((c) => c.id === Number(id));
        if (!opts.all && targets.length === 0) throw new CliError(`No open collision with id ${id} (see axis-agent collisions)`);
        if (opts.all && targets.length > 1 && !policy.userBulkResolveWarnings) {
          throw new CliError("Your organization's policy does not allow resolving several collisions at once (user_bulk_resolve_warnings); resolve them one by one.");
        }
        for (const c of targets) {
          const msg = await resolveCollision(
            { store, client, machineName: settings.machineName ?? os.hostname(), userOverwriteCollisions: policy.userOverwriteCollisions },
            c,
            opts.keep as Keep,
          );
          ctx.stdout.write(`${msg}\n`);
        }
        setExit(EXIT_OK);
      } finally {
        client.close();
        store.close();
      }
    });

  for (const [verb, paused] of [
    ['pause', true],
    ['resume', false],
  ] as const) {
    program
      .command(verb)
      .description(paused ? 'pause syncing (the running agent stops after its current operations)' : 'resume syncing')
      .action(async (_opts: unknown, cmd: Command) => {
        const ctx = contextOf(cmd);
        const store = openStore(ctx.home);
        if (!store) throw new CliError('Nothing to pause: the agent has not synced yet.');
        store.setPaused(null, paused);
        store.close();
        ctx.stdout.write(paused ? 'Paused.\n' : 'Resumed.\n');
        setExit(EXIT_OK);
      });
  }
}
