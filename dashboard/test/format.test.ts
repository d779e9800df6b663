import { describe, expect, it } from "vitest";
import { badgeText, tabTitle } from "../src/lib/format";

describe("bell badge text", () => {
  it("is hidden at zero", () => {
    expect(badgeText(0)).toBeNull();
    expect(badgeText(-1)).toBeNull();
  });
  it("is the exact number from 1 to 9", () => {
    for (let n = 1; n <= 9; n += 1) expect(badgeText(n)).toBe(String(n));
  });
  it('is "9+" above nine', () => {
    expect(badgeText(10)).toBe("9+");
    expect(badgeText(250)).toBe("9+");
  });
});

describe("tab title", () => {
  it('is "(N) leadcast" with unread notifications and plain at zero', () => {
    expect(tabTitle(0)).toBe("leadcast");
    expect(tabTitle(3)).toBe("(3) leadcast");
    expect(tabTitle(42)).toBe("(42) leadcast");
    expect(tabTitle(120)).toBe("(99+) leadcast");
  });
});
