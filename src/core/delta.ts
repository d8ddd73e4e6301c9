// When and how deltas are used (pure rules shared by the agent and the reference server).

/** Files smaller than this always go whole: a delta saves too little to pay for itself. */
export const DELTA_MIN_SIZE = 64 * 1024;

/**
 * Block length of the signatures used for transfers. Signatures never cross the wire (the
 * agent keeps its own, the server computes its own), so blocks can be much smaller than
 * librsync's √size default: a small edit then costs about one small block of literal data.
 * √size/16, rounded down to a power of two, within 512 B … 16 KiB.
 */
export function deltaBlockLen(size: number): number {
  if (!Number.isFinite(size) || size <= 0) return 512;
  const target = Math.sqrt(size) / 16;
  let b = 512;
  while (b * 2 <= target && b < 16 * 1024) b *= 2;
  return b;
}

/** Whether a transfer of a file of `size` bytes against a base of `baseSize` bytes should try a delta. */
export function deltaWorthwhile(size: number, baseSize: number): boolean {
  return size >= DELTA_MIN_SIZE && baseSize >= DELTA_MIN_SIZE;
}
