// The messages between the Electron main process and the agent it runs in a utilityProcess
// (the agent's side: src/agent/service-entry.ts, process.parentPort), and the restart policy.
// Pure; no Electron.

/** Agent → main, once its control API listens. */
export interface ReadyMessage {
  type: 'ready';
  /** The control API's base URL, http://127.0.0.1:PORT/ */
  url: string;
  port: number;
  /** The per-run bearer token of the control API. */
  token: string;
}

/** Main → agent: stop cleanly (the agent exits when done). */
export interface StopMessage {
  type: 'stop';
}

/**
 * Main → agent, right after the fork and before the agent touches its secrets (see
 * docs/desktop.md "Secrets"): the data key that encrypts `<home>/credentials.enc.json`
 * (AES-256-GCM), itself kept sealed by Electron's safeStorage in `<home>/credentials.key`.
 * `key` is null when the OS offers no real protection (Linux without a keyring): the agent then
 * keeps its plaintext 0600 file store. `protection` is what `axis-agent` diagnostics print.
 */
export interface SecretsMessage {
  type: 'secrets';
  key: string | null;
  protection: string;
}

export type MainToAgent = StopMessage | SecretsMessage;

/** The environment variable telling the agent to wait for a SecretsMessage before using secrets. */
export const SECRETS_ENV = 'AXIS_AGENT_SECRETS';
export const SECRETS_FROM_PARENT = 'parent';

/** Accepts only a well-formed ready message whose URL is the loopback origin on the announced port. */
export function parseReady(msg: unknown): ReadyMessage | undefined {
  if (typeof msg !== 'object' || msg === null) return undefined;
  const m = msg as Record<string, unknown>;
  if (m.type !== 'ready' || typeof m.url !== 'string' || typeof m.token !== 'string' || typeof m.port !== 'number') return undefined;
  if (!Number.isInteger(m.port) || m.port <= 0 || m.port > 65535) return undefined;
  if (!/^[0-9a-f]{32,}$/i.test(m.token)) return undefined;
  let u: URL;
  try {
    u = new URL(m.url);
  } catch {
    return undefined;
  }
  if (u.protocol !== 'http:' || (u.hostname !== '127.0.0.1' && u.hostname !== 'localhost') || u.port !== String(m.port)) return undefined;
  if (u.username || u.password) return undefined;
  // Always the numeric loopback address: `localhost` may resolve elsewhere (hosts file, ::1).
  return { type: 'ready', url: `http://127.0.0.1:${m.port}/`, port: m.port, token: m.token };
}

export interface RestartPolicy {
  /** First delay after a crash (ms). */
  baseMs: number;
  /** Ceiling of the delay (ms). */
  maxMs: number;
  /** A run at least this long counts as healthy: the next crash starts from baseMs again. */
  stableMs: number;
}

export const DEFAULT_RESTART_POLICY: RestartPolicy = { baseMs: 1000, maxMs: 60_000, stableMs: 60_000 };

export interface RestartDecision {
  delayMs: number;
  /** Consecutive quick failures, this one included. */
  failures: number;
}

/**
 * How long to wait before starting the agent again after it exited, given the failures before
 * and how long this run lasted: exponential backoff (base, 2×base, 4×base, … up to max), reset
 * by a run that lasted stableMs.
 */
export function nextRestart(previousFailures: number, uptimeMs: number, policy: RestartPolicy = DEFAULT_RESTART_POLICY): RestartDecision {
  const failures = uptimeMs >= policy.stableMs ? 1 : Math.max(0, previousFailures) + 1;
  const delayMs = Math.min(policy.maxMs, policy.baseMs * 2 ** Math.min(failures - 1, 30));
  return { delayMs, failures };
}
