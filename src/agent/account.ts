// The account verbs of the agent CLI: login, logout, whoami.
//
// Machine credentials (extension): after the user's password login succeeds, the agent
// registers this machine (POST /api/2/machine/register), logs in as the machine (grant_type
// machine) and revokes the user's own session. From then on it holds only the machine's
// tokens and security key (SecretStore "tokens" and "machine"); when the machine's session
// ends, the client logs in again with the key. Servers without machine registration (404):
// the user's tokens are kept, as before.
import { AxisClient, type Tokens } from '../api/client.js';
import { AuthError, AxisApiError, type TwoStepMode } from '../api/errors.js';
import { normalizeFingerprint } from '../api/tls.js';
import { loadConfig, saveConfig, TOKENS_SECRET, tokensFromJson, tokensToJson, tokenStoreFor, type AgentConfig } from './config.js';
import { ensureHome, homePaths, type HomePaths } from './home.js';
import { loadMachineSecret, MACHINE_GUID_ENV, MACHINE_SECRET, machineCredentialsFor, machineIdentity, saveMachineSecret, type StoredMachine } from './machine.js';
import { CliError, EXIT_AUTH, EXIT_ERROR, EXIT_OK, NOT_LOGGED_IN } from './output.js';
import type { Prompter } from './prompt.js';
import { APP_SECRETS_LOGOUT_MESSAGE, encryptedOnly, openSecretStore, secretsNotice, type SecretStore } from './secrets.js';

export interface CliContext {
  home: string;
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  prompter: Prompter;
  userAgent: string;
  /** The server the current command talks to, for error messages. */
  server?: string;
  /** The agent's version (registered as the machine's agent_version). */
  version?: string;
  /** Environment (AXIS_MACHINE_GUID). Default process.env. */
  env?: NodeJS.ProcessEnv;
}

export const MAX_CODE_TRIES = 3;

/** A person is waiting: retry a little, not for a minute. */
const CLI_RETRY = { limit: 2, baseDelayMs: 250, maxDelayMs: 2_000 };

/** The home's secrets: the plaintext file, or under the desktop app its encrypted store (secrets.ts). */
function secretsOf(paths: HomePaths): SecretStore {
  return openSecretStore(paths.dir);
}

const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i;

/** "sync.example.com:8443" → "https://sync.example.com:8443"; plain http only on loopback. */
export function normalizeServerUrl(input: string): string {
  const s = input.trim();
  if (!s) throw new CliError('No server given: use --server https://your-server');
  let url: URL;
  try {
    url = new URL(/^[a-z][a-z0-9+.-]*:\/\//i.test(s) ? s : `https://${s}`);
  } catch {
    throw new CliError(`"${input}" is not a server URL (example: https://sync.example.com)`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new CliError(`"${input}" is not an https:// URL`);
  if (url.protocol === 'http:' && !LOOPBACK.test(url.host.replace(/:\d+$/, ''))) {
    throw new CliError(`Refusing to send credentials over plain http to ${url.host}: use https://`);
  }
  if (url.username || url.password) throw new CliError('The server URL must not contain a username or password');
  url.search = '';
  url.hash = '';
  const pathname = url.pathname.replace(/\/+$/, '');
  return `${url.origin}${pathname}`;
}

function sameServer(a: string, b: string): boolean {
  try {
    return normalizeServerUrl(a) === normalizeServerUrl(b);
  } catch {
    return false;
  }
}

function channelMessage(mode: TwoStepMode): string {
  switch (mode) {
    case 'email':
      return 'A code was sent by email.';
    case 'sms':
      return 'A code was sent by text message (SMS).';
    case 'authenticator':
      return 'Enter the code from your authenticator app.';
  }
}

async function required(value: string | undefined, ask: () => Promise<string | undefined>, what: string, flag: string): Promise<string> {
  if (value !== undefined && value !== '') return value;
  const answer = await ask();
  if (answer === undefined || answer === '') throw new CliError(`No ${what} given: use ${flag} or answer the prompt.`, EXIT_ERROR);
  return answer;
}

export interface LoginOptions {
  server?: string;
  username?: string;
  password?: string;
  authCode?: string;
  trustFingerprint?: string;
}

/**
 * One password login, shared by `axis-agent login` (which prompts) and the control API (which
 * answers one HTTP request per step): connect (checks the certificate before any credential is
 * sent), then `password()` as often as needed (a two-step account answers "two_step" until a
 * right code is given; the caller counts wrong codes against MAX_CODE_TRIES), then `complete()`
 * registers this machine and stores the credentials. Tokens stay in memory until complete()
 * succeeds. Call close() in every case.
 */
export class PasswordLogin {
  readonly server: string;
  readonly fingerprint: string | undefined;
  private tokens: Tokens | undefined;
  private readonly client: AxisClient;

  constructor(o: { server: string; fingerprint?: string; userAgent: string }) {
    this.server = o.server;
    this.fingerprint = o.fingerprint;
    this.client = new AxisClient({
      server: o.server,
      trust: o.fingerprint ? { fingerprint: o.fingerprint } : undefined,
      keepAlive: false,
      userAgent: o.userAgent,
      retry: CLI_RETRY,
      tokens: { load: () => this.tokens, save: (t) => void (this.tokens = t) },
    });
  }

  /**
   * The server URL and the fingerprint to trust: a fingerprint given now wins; otherwise the
   * one pinned for this server at the last login of this home.
   */
  static async target(home: string, serverInput: string, trustFingerprint?: string): Promise<{ server: string; fingerprint: string | undefined }> {
    const previous = await loadConfig(homePaths(home).config).catch(() => undefined);
    const server = normalizeServerUrl(serverInput);
    const fingerprint = trustFingerprint
      ? normalizeFingerprint(trustFingerprint)
      : previous && sameServer(previous.server, server)
        ? (previous.fingerprint ?? undefined)
        : undefined;
    return { server, fingerprint };
  }

  /** Checks the connection (and the certificate) before credentials are asked for or sent. */
  async connect(): Promise<void> {
    try {
      await this.client.version();
    } catch (err) {
      if (!(err instanceof AxisApiError && err.status === 404)) throw err;
    }
  }

  /**
   * Tries the password (and code). "ok": logged in, call complete(). "two_step": a code is
   * needed (`invalid`: the code given was wrong). Other failures throw (AuthError
   * invalid_credentials, NetworkError, …).
   */
  async password(username: string, password: string, code?: string): Promise<{ result: 'ok' } | { result: 'two_step'; mode: TwoStepMode | undefined; invalid: boolean }> {
    try {
      await this.client.loginPassword(username, password, code || undefined);
      return { result: 'ok' };
    } catch (err) {
      if (!(err instanceof AuthError) || (err.kind !== 'two_step_required' && err.kind !== 'invalid_auth_code')) throw err;
      return { result: 'two_step', mode: err.twoStepMode, invalid: err.kind === 'invalid_auth_code' };
    }
  }

  /** After "ok": registers the machine, drops the user's session, stores config and secrets. */
  async complete(ctx: Pick<CliContext, 'home' | 'env' | 'version'>, username: string): Promise<{ config: AgentConfig; person: { id: number; email: string; display_name: string } }> {
    const client = this.client;
    const paths = homePaths(ctx.home);
    const person = await client.person();
    const userTokens = await client.currentTokens();
    if (!userTokens) throw new AuthError('not_logged_in', 'login returned no tokens');

    await ensureHome(paths.dir);
    const machine = await registerMachine(ctx, client, paths.dir, this.server);
    if (machine) {
      // From now on the agent is the machine: the user's session is not needed any more.
      await client.revokeTokens(userTokens).catch(() => undefined);
    }
    const t = await client.currentTokens();
    if (!t) throw new AuthError('not_logged_in', 'login returned no tokens');

    const config: AgentConfig = {
      version: 1,
      server: this.server,
      fingerprint: this.fingerprint ?? null,
      username,
      account: { id: person.id, email: person.email, display_name: person.display_name },
      machine: machine ? { id: machine.machineId, guid: machine.guid } : undefined,
    };
    const secrets = secretsOf(paths);
    await secrets.withLock(async () => {
      await secrets.set(TOKENS_SECRET, tokensToJson(t));
      if (machine) await saveMachineSecret(secrets, machine);
      else await secrets.delete(MACHINE_SECRET);
      await saveConfig(paths.config, config);
    });
    return { config, person: { id: person.id, email: person.email, display_name: person.display_name } };
  }

  close(): void {
    this.client.close();
  }
}

/** What the UI shows under the code field for a two-step mode. */
/**
 * The UI's hint for the code step: in email mode with an email address as the username, the
 * (partly masked) address the code went to ("j…n@example.com", no spaces: the UI words it);
 * otherwise a sentence.
 */
export function twoStepHint(mode: TwoStepMode, username?: string): string {
  const at = username ? username.lastIndexOf('@') : -1;
  if (mode === 'email' && username && at > 0 && at < username.length - 1) {
    const local = username.slice(0, at);
    const masked = local.length <= 2 ? `${local[0]}…` : `${local[0]}…${local[local.length - 1]}`;
    return `${masked}${username.slice(at)}`;
  }
  return channelMessage(mode);
}

export async function login(ctx: CliContext, opts: LoginOptions): Promise<number> {
  const paths = homePaths(ctx.home);
  const previous = await loadConfig(paths.config).catch(() => undefined);

  let serverInput = opts.server;
  if (!serverInput) {
    const hint = previous ? ` [${previous.server}]` : '';
    serverInput = (await ctx.prompter.ask(`Server URL${hint}: `)) || previous?.server;
  }
  if (!serverInput) throw new CliError('No server given: use --server https://your-server');
  const target = await PasswordLogin.target(ctx.home, serverInput, opts.trustFingerprint);
  ctx.server = target.server;

  const session = new PasswordLogin({ ...target, userAgent: ctx.userAgent });
  try {
    await session.connect();

    const username = await required(opts.username, () => ctx.prompter.ask('Username: '), 'username', '--username');
    const password = await required(opts.password, () => ctx.prompter.askSecret('Password: '), 'password', '--password');

    let code = opts.authCode || undefined;
    let wrongCodes = 0;
    let announced = false;
    for (let round = 0; ; round++) {
      const r = await session.password(username, password, code);
      if (r.result === 'ok') break;
      if (r.invalid) {
        wrongCodes++;
        if (wrongCodes >= MAX_CODE_TRIES) throw new CliError(`Invalid authentication code (${wrongCodes} tries). Run axis-agent login again.`, EXIT_AUTH);
        ctx.stderr.write(`Invalid authentication code. Try again (${MAX_CODE_TRIES - wrongCodes} ${MAX_CODE_TRIES - wrongCodes === 1 ? 'try' : 'tries'} left).\n`);
      }
      if (!announced && r.mode) {
        ctx.stdout.write(`This account uses two-step authentication. ${channelMessage(r.mode)}\n`);
        announced = true;
      }
      if (round > MAX_CODE_TRIES * 2) throw new CliError('No valid authentication code given. Run axis-agent login again.', EXIT_AUTH);
      const answer = await ctx.prompter.ask('Authentication code: ');
      if (answer === undefined) throw new CliError('No authentication code given: use --auth-code or answer the prompt.', EXIT_AUTH);
      code = answer.trim() || undefined;
    }

    const { config } = await session.complete(ctx, username);
    ctx.stdout.write(`Logged in to ${target.server} as ${config.account!.display_name} <${config.account!.email}>.\n`);
    return EXIT_OK;
  } finally {
    session.close();
  }
}

/**
 * Registers this machine with the user's session and logs in as it (the client then holds
 * the machine's tokens). undefined when the server has no machine registration (404/405).
 * A guid the server gives to another account (409) is the cloned-image case: this install
 * takes a new install id (so a new guid) once, unless AXIS_MACHINE_GUID fixes the guid.
 */
async function registerMachine(ctx: Pick<CliContext, 'env' | 'version'>, client: AxisClient, home: string, server: string): Promise<StoredMachine | undefined> {
  const opts = { env: ctx.env ?? process.env, agentVersion: ctx.version ?? '0.0.0' };
  let identity = await machineIdentity(home, opts);
  for (let attempt = 0; ; attempt++) {
    try {
      const reg = await client.registerMachine(identity);
      await client.loginMachine(identity.guid, reg.security_key);
      return { guid: identity.guid, machineId: reg.machine.id, securityKey: reg.security_key, server };
    } catch (err) {
      if (!(err instanceof AxisApiError)) throw err;
      if ((err.status === 404 || err.status === 405) && err.endpoint.includes('/machine/register')) return undefined;
      if (err.status === 409 && identity.source !== 'override' && attempt === 0) {
        identity = await machineIdentity(home, opts, true);
        continue;
      }
      if (err.status === 409) {
        throw new CliError(`The machine id ${identity.guid} (${MACHINE_GUID_ENV}) is registered to another account on ${server}; use another id.`, EXIT_AUTH);
      }
      if (err.status === 403) throw new CliError('This machine is locked by an administrator of your organization; ask them to unlock it.', EXIT_AUTH);
      throw err;
    }
  }
}

async function loggedIn(paths: HomePaths): Promise<{ config: AgentConfig; secrets: SecretStore; tokens: Tokens | undefined; machine: StoredMachine | undefined } | undefined> {
  const config = await loadConfig(paths.config);
  if (!config) return undefined;
  const secrets = secretsOf(paths);
  const tokens = tokensFromJson(await secrets.get(TOKENS_SECRET));
  const stored = await loadMachineSecret(secrets);
  const machine = stored && stored.server === config.server ? stored : undefined;
  if (!tokens && !machine) return undefined;
  return { config, secrets, tokens, machine };
}

/**
 * Forgets this home's credentials: the machine's key is revoked on the server (with its
 * sessions), the session revoked, and the secrets deleted. `server`: null when nobody was
 * logged in; `warning`: the server could not be told (logged out locally all the same).
 */
export async function logoutHome(o: { home: string; userAgent: string }): Promise<{ server: string | null; warning?: string }> {
  const paths = homePaths(o.home);
  const session = await loggedIn(paths);
  if (!session) {
    const secrets = secretsOf(paths);
    await secrets.delete(TOKENS_SECRET);
    await secrets.delete(MACHINE_SECRET);
    return { server: null };
  }
  const client = new AxisClient({
    server: session.config.server,
    trust: session.config.fingerprint ? { fingerprint: session.config.fingerprint } : undefined,
    keepAlive: false,
    userAgent: o.userAgent,
    tokens: tokenStoreFor(session.secrets),
    machine: machineCredentialsFor(session.secrets, session.config.server),
    timeouts: { connectMs: 5_000, responseMs: 10_000, idleMs: 10_000 },
    retry: { limit: 0 },
  });
  let warning: string | undefined;
  try {
    // The machine's key is forgotten here, so it is revoked on the server too (with its sessions).
    if (session.machine) {
      await client.revokeMachine(session.machine.machineId).catch((err: unknown) => {
        if (!(err instanceof AxisApiError && err.status === 404)) throw err;
      });
    }
    await client.revoke();
  } catch (err) {
    const why = err instanceof Error ? err.message.split('\n')[0] : String(err);
    warning = `Could not revoke the session on the server (${why}); it will expire by itself. Logged out locally.`;
  } finally {
    client.close();
    await session.secrets.delete(TOKENS_SECRET);
    await session.secrets.delete(MACHINE_SECRET);
  }
  return { server: session.config.server, warning };
}

export async function logout(ctx: CliContext): Promise<number> {
  // The desktop app's encrypted credentials: this process cannot read them, so cannot revoke them.
  if (await encryptedOnly(ctx.home)) throw new CliError(APP_SECRETS_LOGOUT_MESSAGE, EXIT_AUTH);
  const r = await logoutHome(ctx);
  if (r.server === null) {
    ctx.stdout.write('Not logged in.\n');
    return EXIT_OK;
  }
  ctx.server = r.server;
  if (r.warning) ctx.stderr.write(`${r.warning}\n`);
  ctx.stdout.write(`Logged out of ${r.server}.\n`);
  return EXIT_OK;
}

/** Whether this home holds a login (config and tokens or a machine key). */
export async function isLoggedIn(home: string): Promise<boolean> {
  return (await loggedIn(homePaths(home)).catch(() => undefined)) !== undefined;
}

export async function whoami(ctx: CliContext, opts: { json?: boolean }): Promise<number> {
  const paths = homePaths(ctx.home);
  const session = await loggedIn(paths);
  // Not logged in, or (say so) the credentials are the desktop app's, encrypted with its key.
  if (!session) throw new CliError((await secretsNotice(ctx.home)) ?? NOT_LOGGED_IN, EXIT_AUTH);
  ctx.server = session.config.server;
  const client = new AxisClient({
    server: session.config.server,
    trust: session.config.fingerprint ? { fingerprint: session.config.fingerprint } : undefined,
    keepAlive: false,
    userAgent: ctx.userAgent,
    retry: CLI_RETRY,
    tokens: tokenStoreFor(session.secrets),
    machine: machineCredentialsFor(session.secrets, session.config.server),
  });
  try {
    const person = await client.person();
    const roots = person.roots.map((r) => ({ id: r.id, name: r.name, type: r.type }));
    const machine = session.machine ? { id: session.machine.machineId, guid: session.machine.guid } : null;
    if (opts.json) {
      const out = {
        server: session.config.server,
        person: { id: person.id, email: person.email, display_name: person.display_name, username: person.username },
        roots,
        machine,
      };
      ctx.stdout.write(`${JSON.stringify(out)}\n`);
    } else {
      const lines = [`Server:  ${session.config.server}`, `Account: ${person.display_name} <${person.email}> (id ${person.id})`];
      if (machine) lines.push(`Machine: ${machine.guid} (id ${machine.id})`);
      lines.push('Roots:');
      if (roots.length === 0) lines.push('  (none)');
      const width = Math.max(0, ...roots.map((r) => String(r.id).length));
      for (const r of roots) lines.push(`  ${String(r.id).padStart(width)}  ${r.name} (${r.type})`);
      ctx.stdout.write(`${lines.join('\n')}\n`);
    }
    return EXIT_OK;
  } finally {
    client.close();
  }
}
