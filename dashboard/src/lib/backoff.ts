/** How long to wait before retry number `attempt` (0 for the first retry). */
export interface Backoff {
  /** The first wait. */
  baseMs: number;
  /** No wait is longer than this (before jitter). */
  maxMs: number;
}

/**
 * Exponential backoff with ±20 % jitter: base, 2×base, 4×base … capped at `maxMs`. The jitter
 * keeps the tabs of many PMs from retrying in step after a server restart.
 */
export function backoffDelay(attempt: number, { baseMs, maxMs }: Backoff, random = Math.random): number {
  const nominal = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt));
  return nominal * (0.8 + random() * 0.4);
}
