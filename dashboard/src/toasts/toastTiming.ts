import type { Tier } from "../api";

export const EXCELLENT_TOAST_MS = 10_000;
export const DEFAULT_TOAST_MS = 5_000;

/** Excellent leads stay 10 s (and chime), the others 5 s. */
export function toastDuration(tier: Tier): number {
  return tier === "excellent" ? EXCELLENT_TOAST_MS : DEFAULT_TOAST_MS;
}
