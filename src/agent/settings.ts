// <home>/settings.json: the agent's own preferences (not secrets, not the server login):
// where the sync folder is, the machine name used in collision copies, and manual collisions.
import { z } from 'zod';
import { readJsonFile, writeFileAtomic } from './home.js';
import path from 'node:path';

export const AgentSettingsSchema = z.object({
  syncDir: z.string().optional(),
  machineName: z.string().min(1).max(100).optional(),
  /** The machine's manual_collisions until machine settings come from the server (default true). */
  manualCollisions: z.boolean().optional(),
});
export type AgentSettings = z.infer<typeof AgentSettingsSchema>;

export function settingsPath(home: string): string {
  return path.join(home, 'settings.json');
}

/** Reads the settings, applies `patch` (persisted when it changes anything) and returns them. */
export async function loadSettings(home: string, patch: Partial<AgentSettings> = {}): Promise<AgentSettings> {
  const raw = await readJsonFile(settingsPath(home));
  const parsed = raw === undefined ? { success: true as const, data: {} } : AgentSettingsSchema.safeParse(raw);
  if (!parsed.success) throw new Error(`${settingsPath(home)} is not valid: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const merged = { ...parsed.data, ...patch };
  if (JSON.stringify(merged) !== JSON.stringify(parsed.data)) await writeFileAtomic(settingsPath(home), `${JSON.stringify(merged, null, 2)}\n`, 0o600);
  return merged;
}
