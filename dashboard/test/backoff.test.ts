import { describe, expect, it } from "vitest";
import { backoffDelay } from "../src/lib/backoff";

const policy = { baseMs: 1000, maxMs: 10_000 };

describe("backoffDelay", () => {
  it("doubles from the base and stops at the cap", () => {
    const middle = () => 0.5; // no jitter
    expect([0, 1, 2, 3, 4, 10, 60].map((attempt) => backoffDelay(attempt, policy, middle))).toEqual([
      1000, 2000, 4000, 8000, 10_000, 10_000, 10_000,
    ]);
  });

  it("jitters by at most a fifth either way", () => {
    expect(backoffDelay(2, policy, () => 0)).toBe(3200);
    expect(backoffDelay(2, policy, () => 0.999999)).toBeCloseTo(4800, 0);
    expect(backoffDelay(9, policy, () => 0.999999)).toBeLessThanOrEqual(12_000);
  });

  it("treats a negative attempt as the first", () => {
    expect(backoffDelay(-3, policy, () => 0.5)).toBe(1000);
  });
});
