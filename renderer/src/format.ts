// Human-readable numbers, rates, times and durations (the user's locale for dates).

const UNITS = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '—';
  let v = Math.abs(n);
  let i = 0;
  while (v >= 1024 && i < UNITS.length - 1) {
    v /= 1024;
    i++;
  }
  const digits = i === 0 || v >= 100 ? 0 : v >= 10 ? 1 : 2;
  return `${n < 0 ? '-' : ''}${v.toFixed(digits)} ${UNITS[i]}`;
}

export function rate(n: number | null | undefined): string {
  if (n === null || n === undefined) return 'unlimited';
  return `${bytes(n)}/s`;
}

export function dateTime(iso: string | null | undefined): string {
  if (!iso) return '—';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return d.toLocaleString(undefined, { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit', second: '2-digit' });
}

export function clock(ms: number, seconds = false): string {
  return new Date(ms).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit', ...(seconds ? { second: '2-digit' } : {}) });
}

export function duration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds) || seconds < 0) return '—';
  const s = Math.round(seconds);
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${s % 60} s`;
  const h = Math.floor(m / 60);
  return `${h} h ${m % 60} min`;
}

export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** The last path segment (file name) and its folder. */
export function splitPath(p: string): { name: string; folder: string } {
  const i = p.lastIndexOf('/');
  return i < 0 ? { name: p, folder: '' } : { name: p.slice(i + 1), folder: p.slice(0, i) };
}

/** Why the sync engine recorded a collision (core CollisionReason), in words. */
export const COLLISION_REASONS: Record<string, string> = {
  bothModified: 'changed here and on the server',
  bothCreated: 'created here and on the server',
  typeConflict: 'a file and a folder with the same name',
  nameConflict: 'two items want the same name',
};

export function collisionReason(reason: string): string {
  return COLLISION_REASONS[reason] ?? reason;
}
