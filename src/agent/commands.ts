// The agent command channel (extension, issue "admin policy…"): the server queues admin
// actions for this machine; the agent long-polls GET /api/2/machine/<id>/commands, carries
// each out and reports POST …/commands/<cmd_id>/result {status: "ok"|"error", result, error}.
//
// Commands this agent carries out:
//   refresh_policy  re-read GET /api/2/machine/<id>/policy and apply it live (throttle and its
//                   windows, excluded_extensions, max_file_size, space quota, manual_collisions,
//                   health report period); result: what is in force now.
//   ls              list a local folder: params.path, absolute or relative to the sync folder
//                   (empty: the sync folder). Only folders inside the sync folder (after
//                   resolving symbolic links) are listed for now; anything else is answered with
//                   an error, and nothing outside is read. result: {path, entries: [{name,
//                   type: file|folder|symlink|other, size, modified}], truncated}.
//   anything else   (restore, mapping_create, mapping_delete, subscribe, unsubscribe, and
//                   types a newer server may add): error "not supported by this agent yet".
//
// After a restart the first poll also asks for commands delivered earlier but never answered
// (include_delivered=true): a crash between delivery and result does not lose a command. Every
// command this agent knows is safe to carry out twice.
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import type { MachineCommand } from '../api/schemas.js';
import { AuthError, AxisApiError } from '../api/errors.js';

export const NOT_SUPPORTED = 'not supported by this agent yet';
const MAX_LS_ENTRIES = 5_000;

export type CommandOutcome = { status: 'ok'; result?: unknown } | { status: 'error'; error: string; result?: unknown };

export interface CommandApi {
  pollCommands(machineId: number, opts: { wait?: number; includeDelivered?: boolean; signal?: AbortSignal }): Promise<MachineCommand[]>;
  commandResult(machineId: number, commandId: number, outcome: CommandOutcome): Promise<unknown>;
}

export interface CommandPollerOptions {
  api: CommandApi;
  machineId: number;
  handle: (cmd: MachineCommand) => Promise<CommandOutcome>;
  /** Long-poll seconds (≤ 60). */
  waitSeconds: number;
  log: { debug(obj: object, msg: string): void; info(obj: object, msg: string): void; warn(obj: object, msg: string): void };
  /** The machine credentials were refused: the agent must stop. */
  onAuthError: (err: AuthError) => void;
}

export class CommandPoller {
  private stopped = false;
  private readonly abort = new AbortController();
  private done: Promise<void> = Promise.resolve();
  private wake: (() => void) | undefined;
  /** Commands carried out since start (ok or error), for tests and status. */
  handled = 0;

  constructor(private readonly o: CommandPollerOptions) {}

  start(): void {
    this.done = this.loop();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    this.wake?.();
    await this.done;
  }

  private async loop(): Promise<void> {
    let first = true;
    let failures = 0;
    while (!this.stopped) {
      let commands: MachineCommand[];
      try {
        commands = await this.o.api.pollCommands(this.o.machineId, { wait: Math.min(60, Math.max(0, this.o.waitSeconds)), includeDelivered: first, signal: this.abort.signal });
        first = false;
        failures = 0;
      } catch (err) {
        if (this.stopped) return;
        if (err instanceof AuthError) {
          this.o.onAuthError(err);
          return;
        }
        if (err instanceof AxisApiError && err.status === 404) {
          this.o.log.info({}, 'the server has no agent command channel; admin actions will not reach this agent');
          return;
        }
        failures++;
        this.o.log.debug({ err }, 'command poll failed; retrying');
        await this.sleep(Math.min(30_000, 500 * 2 ** Math.min(failures, 6)));
        continue;
      }
      if (this.o.waitSeconds === 0 && commands.length === 0) await this.sleep(1_000);
      for (const c of commands) {
        if (this.stopped) return;
        await this.run(c);
      }
    }
  }

  private async run(c: MachineCommand): Promise<void> {
    let outcome: CommandOutcome;
    try {
      outcome = await this.o.handle(c);
    } catch (err) {
      if (err instanceof AuthError) {
        this.o.onAuthError(err);
        return;
      }
      outcome = { status: 'error', error: (err instanceof Error ? err.message : String(err)).slice(0, 4000) || 'failed' };
    }
    this.handled++;
    this.o.log.info({ command: c.id, type: c.type, status: outcome.status }, 'carried out a command from the server');
    try {
      await this.o.api.commandResult(this.o.machineId, c.id, outcome);
    } catch (err) {
      if (err instanceof AuthError) this.o.onAuthError(err);
      else if (!(err instanceof AxisApiError && err.status === 409)) this.o.log.warn({ err, command: c.id }, 'could not report the result of a command');
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.wake = undefined;
        resolve();
      };
      const t = setTimeout(done, ms);
      this.wake = done;
    });
  }
}

// ---- ls -------------------------------------------------------------------------------------

function inside(root: string, p: string): boolean {
  const rel = path.relative(root, p);
  return rel === '' || (!path.isAbsolute(rel) && rel !== '..' && !rel.startsWith(`..${path.sep}`));
}

function apiTime(ms: number): string {
  return new Date(ms).toISOString().slice(0, 19);
}

/**
 * The `ls` command: the entries of a folder inside the sync folder `syncRoot`. `requested`:
 * absolute, or relative to the sync folder; empty or absent = the sync folder.
 */
export async function listLocalFolder(syncRoot: string, requested: unknown): Promise<CommandOutcome> {
  if (requested !== undefined && requested !== null && typeof requested !== 'string') return { status: 'error', error: 'path must be text' };
  const asked = typeof requested === 'string' ? requested : '';
  const outside = { status: 'error' as const, error: `${asked} is outside the sync folder; this agent lists only folders inside its sync folder (${syncRoot})` };
  if (asked.includes('\u0000')) return { status: 'error', error: 'path contains a NUL character' };
  const root = path.resolve(syncRoot);
  const lexical = asked === '' ? root : path.resolve(root, asked);
  if (!inside(root, lexical)) return outside;
  let rootReal: string;
  let real: string;
  try {
    rootReal = await fsp.realpath(root);
    real = await fsp.realpath(lexical);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    return { status: 'error', error: code === 'ENOENT' || code === 'ENOTDIR' ? `no such folder: ${asked || root}` : `cannot read ${asked || root}: ${code ?? (err as Error).message}` };
  }
  // A symbolic link inside the sync folder must not lead out of it.
  if (!inside(rootReal, real)) return outside;
  let dirents;
  try {
    const st = await fsp.stat(real);
    if (!st.isDirectory()) return { status: 'error', error: `not a folder: ${asked}` };
    dirents = await fsp.readdir(real, { withFileTypes: true });
  } catch (err) {
    return { status: 'error', error: `cannot read ${asked || root}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
  }
  dirents.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const entries: { name: string; type: 'file' | 'folder' | 'symlink' | 'other'; size: number | null; modified: string | null }[] = [];
  for (const d of dirents.slice(0, MAX_LS_ENTRIES)) {
    const st = await fsp.lstat(path.join(real, d.name)).catch(() => undefined);
    const type = st?.isDirectory() ? 'folder' : st?.isFile() ? 'file' : st?.isSymbolicLink() ? 'symlink' : 'other';
    entries.push({ name: d.name, type, size: type === 'file' ? (st?.size ?? null) : null, modified: st ? apiTime(st.mtimeMs) : null });
  }
  return { status: 'ok', result: { path: real, entries, truncated: dirents.length > MAX_LS_ENTRIES } };
}
