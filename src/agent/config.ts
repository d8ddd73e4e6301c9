// <home>/config.json: which server this agent talks to and as whom. No secrets in here
// (tokens live in the SecretStore, passwords nowhere).
import { z } from 'zod';
import type { Tokens, TokenStore } from '../api/client.js';
import { readJsonFile, writeFileAtomic } from './home.js';
import type { JsonValue, SecretStore } from './secrets.js';

export const AgentConfigSchema = z.object({
  version: z.literal(1),
  /** Server base URL, e.g. "https://sync.example.com:8443". */
  server: z.string().url(),
  /** Pinned SHA-256 fingerprint of the server certificate (canonical form), or null = system CAs. */
  fingerprint: z.string().nullable(),
  username: z.string(),
  /** Who logged in, as the server said at login time. */
  account: z
    .object({
      id: z.number().int(),
      email: z.string(),
      display_name: z.string(),
    })
    .optional(),
  /** The machine this agent registered as (extension); its security key is in the SecretStore. */
  machine: z
    .object({
      id: z.number().int(),
      guid: z.string(),
    })
    .optional(),
});
export type AgentConfig = z.infer<typeof AgentConfigSchema>;

export async function loadConfig(file: string): Promise<AgentConfig | undefined> {
  const raw = await readJsonFile(file);
  if (raw === undefined) return undefined;
  const r = AgentConfigSchema.safeParse(raw);
  if (!r.success) throw new Error(`${file} is not a valid agent configuration; run axis-agent login again (or delete the file)`);
  return r.data;
}

export async function saveConfig(file: string, config: AgentConfig): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(AgentConfigSchema.parse(config), null, 2)}\n`, 0o600);
}

// ---- tokens in the SecretStore --------------------------------------------------------------

export const TOKENS_SECRET = 'tokens';

const StoredTokensSchema = z.object({
  kind: z.enum(['oauth2', 'v1_session']),
  access_token: z.string().min(1),
  refresh_token: z.string().min(1).optional(),
  /** ISO date/time the access token expires. */
  expires_at: z.string().optional(),
  scope: z.string().optional(),
});

export function tokensToJson(t: Tokens): JsonValue {
  const out: Record<string, JsonValue> = { kind: t.kind, access_token: t.accessToken };
  if (t.refreshToken) out.refresh_token = t.refreshToken;
  if (t.expiresAt !== undefined) out.expires_at = new Date(t.expiresAt).toISOString();
  if (t.scope) out.scope = t.scope;
  return out;
}

export function tokensFromJson(v: unknown): Tokens | undefined {
  const r = StoredTokensSchema.safeParse(v);
  if (!r.success) return undefined;
  const expires = r.data.expires_at ? Date.parse(r.data.expires_at) : NaN;
  return {
    kind: r.data.kind,
    accessToken: r.data.access_token,
    refreshToken: r.data.refresh_token,
    expiresAt: Number.isNaN(expires) ? undefined : expires,
    scope: r.data.scope,
  };
}

/** The API client's TokenStore on top of a SecretStore (with the cross-process refresh lock). */
export function tokenStoreFor(secrets: SecretStore): TokenStore {
  return {
    load: async () => tokensFromJson(await secrets.get(TOKENS_SECRET)),
    save: async (t) => (t ? secrets.set(TOKENS_SECRET, tokensToJson(t)) : secrets.delete(TOKENS_SECRET)),
    exclusive: (fn) => secrets.withLock(fn),
  };
}
