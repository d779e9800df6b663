import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { rateLimit } from "../src/lib/rateLimit";

describe("rateLimit (lead list refresh)", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("runs the first call at once and collapses a burst into one trailing run", () => {
    const fn = vi.fn();
    const limited = rateLimit(fn, 1000);
    limited();
    expect(fn).toHaveBeenCalledTimes(1);
    for (let i = 0; i < 20; i += 1) {
      vi.advanceTimersByTime(40);
      limited();
    }
    expect(fn).toHaveBeenCalledTimes(1);
    vi.advanceTimersByTime(1000);
    expect(fn).toHaveBeenCalledTimes(2);
  });

  it("never runs twice within one second, however calls are spread", () => {
    const runs: number[] = [];
    const limited = rateLimit(() => runs.push(Date.now()), 1000);
    for (let t = 0; t < 5000; t += 130) {
      limited();
      vi.advanceTimersByTime(130);
    }
    vi.advanceTimersByTime(1000);
    expect(runs.length).toBeGreaterThanOrEqual(5);
    for (let i = 1; i < runs.length; i += 1) expect(runs[i]! - runs[i - 1]!).toBeGreaterThanOrEqual(1000);
  });

  it("cancel drops a pending run", () => {
    const fn = vi.fn();
    const limited = rateLimit(fn, 1000);
    limited();
    limited();
    limited.cancel();
    vi.advanceTimersByTime(5000);
    expect(fn).toHaveBeenCalledTimes(1);
  });
});
