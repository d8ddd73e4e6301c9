// Timestamps as the API documents them: UTC, "YYYY-MM-DDTHH:MM:SS".

export type Clock = () => Date;
export const systemClock: Clock = () => new Date();

export function apiTime(d: Date): string {
  return d.toISOString().slice(0, 19);
}

const DATETIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})$/;
const DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/** Parses "YYYY-MM-DDTHH:MM:SS" (UTC); undefined when malformed or not a real date/time. */
export function parseApiDatetime(s: string): Date | undefined {
  const m = DATETIME.exec(s);
  if (!m) return undefined;
  const d = new Date(`${s}Z`);
  if (Number.isNaN(d.getTime()) || apiTime(d) !== s) return undefined;
  return d;
}

/** Parses "YYYY-MM-DD"; undefined when malformed or not a real date. */
export function parseApiDate(s: string): Date | undefined {
  if (!DATE.test(s)) return undefined;
  const d = new Date(`${s}T00:00:00Z`);
  if (Number.isNaN(d.getTime()) || d.toISOString().slice(0, 10) !== s) return undefined;
  return d;
}

/** Human friendly size as the documents show it ("11.92k", "3.02M", "100b"). */
export function formatSize(bytes: number): string {
  if (bytes < 1024) return `${bytes}b`;
  const units = ['k', 'M', 'G', 'T', 'P'];
  let v = bytes / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(2)}${units[i]}`;
}
