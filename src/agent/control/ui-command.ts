// `axis-agent ui [--print]`: asks the running agent (its <home>/control.json) for a one-time
// login URL (POST /api/ui-session) and opens it in the default browser, or prints it.
import { spawn } from 'node:child_process';
import { promises as fsp } from 'node:fs';
import type { CliContext } from '../account.js';
import { CliError, EXIT_OK } from '../output.js';
import { controlFilePath, type ControlFile } from './server.js';

const NOT_RUNNING = 'The agent is not running: start it with axis-agent run';

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function readControlFile(home: string): Promise<ControlFile | undefined> {
  let raw: string;
  try {
    raw = await fsp.readFile(controlFilePath(home), 'utf8');
  } catch {
    return undefined;
  }
  try {
    const c = JSON.parse(raw) as Partial<ControlFile>;
    if (typeof c.port === 'number' && typeof c.token === 'string' && typeof c.pid === 'number') return { port: c.port, token: c.token, pid: c.pid, url: c.url ?? `http://127.0.0.1:${c.port}/` };
  } catch {
    // written by something else
  }
  return undefined;
}

/** A fresh one-time UI URL from the agent running on `home`. */
export async function mintUiUrl(home: string): Promise<string> {
  const c = await readControlFile(home);
  if (!c || !pidAlive(c.pid)) throw new CliError(NOT_RUNNING);
  let res: Response;
  try {
    res = await fetch(`http://127.0.0.1:${c.port}/api/ui-session`, {
      method: 'POST',
      headers: { authorization: `Bearer ${c.token}`, 'content-type': 'application/json' },
      body: '{}',
      signal: AbortSignal.timeout(10_000),
    });
  } catch {
    throw new CliError(NOT_RUNNING);
  }
  const body = (await res.json().catch(() => ({}))) as { url?: string; error?: { message?: string } };
  if (!res.ok || !body.url) throw new CliError(`The agent refused to open a UI session (HTTP ${res.status}${body.error?.message ? `: ${body.error.message}` : ''}).`);
  return body.url;
}

/** The platform's "open this URL" command. */
export function openerFor(platform: NodeJS.Platform, url: string): { cmd: string; args: string[] } {
  if (platform === 'darwin') return { cmd: 'open', args: [url] };
  if (platform === 'win32') return { cmd: 'cmd', args: ['/c', 'start', '""', url.replace(/&/g, '^&')] };
  return { cmd: 'xdg-open', args: [url] };
}

/** Runs the opener; false when it is missing or fails. */
function openUrl(url: string, env: NodeJS.ProcessEnv): Promise<boolean> {
  const { cmd, args } = openerFor(process.platform, url);
  return new Promise((resolve) => {
    let child;
    try {
      child = spawn(cmd, args, { stdio: 'ignore', env, windowsVerbatimArguments: process.platform === 'win32' });
    } catch {
      resolve(false);
      return;
    }
    const timer = setTimeout(() => {
      // Still running after a while (some openers wait for the browser): it worked.
      child.unref();
      resolve(true);
    }, 5_000);
    child.once('error', () => {
      clearTimeout(timer);
      resolve(false);
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve(code === 0);
    });
  });
}

export async function uiCommand(ctx: CliContext, opts: { print?: boolean }): Promise<number> {
  const url = await mintUiUrl(ctx.home);
  if (opts.print) {
    ctx.stdout.write(`${url}\n`);
    return EXIT_OK;
  }
  if (await openUrl(url, ctx.env ?? process.env)) {
    ctx.stdout.write('Opened the agent UI in your browser.\n');
  } else {
    ctx.stdout.write(`Open this link in a browser on this computer (it works once, for two minutes):\n${url}\n`);
  }
  return EXIT_OK;
}
