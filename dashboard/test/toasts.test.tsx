import { act, fireEvent, render, screen, waitFor, within } from "@testing-library/react";
import { useEffect } from "react";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { InboxItem } from "../src/api";
import { ToastProvider, useToasts } from "../src/toasts/ToastProvider";
import { harness, inboxItem, inboxSettled, leadEvent, renderApp } from "./fakes";

function Show({ items }: { items: InboxItem[] }) {
  const { show } = useToasts();
  useEffect(() => items.forEach(show), [items, show]);
  return null;
}

function renderToasts(items: InboxItem[]) {
  return render(
    <ToastProvider>
      <Show items={items} />
    </ToastProvider>,
  );
}

const toasts = () => screen.queryAllByTestId("lead-toast");

describe("toasts", () => {
  beforeEach(() => {
    vi.useFakeTimers();
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it("live in a polite status region that is in the DOM before any toast", () => {
    renderToasts([]);
    const region = screen.getByRole("status");
    expect(region).toHaveAttribute("aria-live", "polite");
    expect(region).toBeEmptyDOMElement();
  });

  it("are announced as text: the link and the close button stay outside the live region", () => {
    renderToasts([inboxItem(1, "excellent")]);
    const region = screen.getByRole("status");
    expect(region).toHaveTextContent(
      "🔥 High-Value Lead! New residential property in Austin, TX. " +
        "Lead Person 1 · Residential · 100 units. 1 Main St, Austin, TX 78701. " +
        "🔥 High Value, score 88.",
    );
    expect(within(region).queryAllByRole("button")).toEqual([]);
    expect(within(region).queryAllByRole("link")).toEqual([]);
    const close = screen.getByRole("button", { name: "Dismiss alert: Lead Person 1" });
    expect(region).not.toContainElement(close);
    expect(toasts()[0]).toContainElement(close);
  });

  it("leave the live region with their toast", () => {
    renderToasts([inboxItem(1, "good"), inboxItem(2, "fair")]);
    fireEvent.click(screen.getByRole("button", { name: "Dismiss alert: Lead Person 1" }));
    expect(screen.getByRole("status")).not.toHaveTextContent("Lead Person 1");
    expect(screen.getByRole("status")).toHaveTextContent("Lead Person 2");
  });

  it("show lead details and the score badge", () => {
    renderToasts([inboxItem(1, "excellent")]);
    const toast = screen.getByTestId("lead-toast");
    expect(toast).toHaveTextContent("🔥 High-Value Lead!");
    expect(toast).toHaveTextContent("New residential property in Austin, TX");
    expect(toast).toHaveTextContent("Lead Person 1 · Residential · 100 units");
    expect(toast).toHaveTextContent("1 Main St, Austin, TX 78701");
    expect(toast).toHaveTextContent("🔥 High Value");
    expect(toast).toHaveTextContent("88");
    expect(within(toast).getByRole("link", { name: "View lead" })).toHaveAttribute(
      "href",
      "#/leads?lead=1001",
    );
  });

  it("stay 10 s for an excellent lead", () => {
    renderToasts([inboxItem(1, "excellent")]);
    act(() => vi.advanceTimersByTime(9_900));
    expect(toasts()).toHaveLength(1);
    act(() => vi.advanceTimersByTime(100));
    expect(toasts()).toHaveLength(0);
  });

  it.each(["good", "fair"] as const)("stay 5 s for a %s lead", (tier) => {
    renderToasts([inboxItem(1, tier)]);
    act(() => vi.advanceTimersByTime(4_900));
    expect(toasts()).toHaveLength(1);
    act(() => vi.advanceTimersByTime(100));
    expect(toasts()).toHaveLength(0);
  });

  it("pause while hovered and resume with the time that was left", () => {
    renderToasts([inboxItem(1, "good")]);
    act(() => vi.advanceTimersByTime(3_000));
    fireEvent.mouseEnter(toasts()[0]!);
    act(() => vi.advanceTimersByTime(60_000));
    expect(toasts()).toHaveLength(1);
    fireEvent.mouseLeave(toasts()[0]!);
    act(() => vi.advanceTimersByTime(1_900));
    expect(toasts()).toHaveLength(1);
    act(() => vi.advanceTimersByTime(100));
    expect(toasts()).toHaveLength(0);
  });

  it("pause while focus is inside", () => {
    renderToasts([inboxItem(1, "excellent")]);
    act(() => screen.getByRole("link", { name: "View lead" }).focus());
    act(() => vi.advanceTimersByTime(30_000));
    expect(toasts()).toHaveLength(1);
    act(() => screen.getByRole("link", { name: "View lead" }).blur());
    act(() => vi.advanceTimersByTime(10_000));
    expect(toasts()).toHaveLength(0);
  });

  it("close with the close button", () => {
    renderToasts([inboxItem(1, "good"), inboxItem(2, "fair")]);
    expect(toasts()).toHaveLength(2);
    fireEvent.click(screen.getByRole("button", { name: "Dismiss alert: Lead Person 1" }));
    expect(toasts()).toHaveLength(1);
    expect(toasts()[0]).toHaveTextContent("Lead Person 2");
  });
});

describe("alerts in the app", () => {
  async function connected(preferences: Parameters<typeof renderApp>[1]) {
    const h = harness();
    renderApp(h, preferences);
    await waitFor(() => expect(h.realtime.factory).toHaveBeenCalled());
    act(() => h.realtime.connection.setState("connected"));
    await waitFor(() => expect(h.api.notifications).toHaveBeenCalledTimes(2));
    await inboxSettled(h);
    return h;
  }

  it("toast only from the preferred minimum tier, but every lead reaches the bell", async () => {
    const h = await connected({ toast_min_tier: "good" });
    act(() => {
      h.realtime.connection.emit(leadEvent(1, "fair"));
      h.realtime.connection.emit(leadEvent(2, "good"));
      h.realtime.connection.emit(leadEvent(3, "excellent"));
    });
    expect(toasts().map((toast) => toast.className)).toEqual(["toast tier-excellent", "toast tier-good"]);
    expect(screen.getByTestId("bell-badge")).toHaveTextContent("3");
  });

  it("chime only for excellent leads and only when sound is enabled", async () => {
    const off = await connected({ sound: false });
    act(() => off.realtime.connection.emit(leadEvent(1, "excellent")));
    expect(toasts()).toHaveLength(1);
    expect(off.sound.play).not.toHaveBeenCalled();
  });

  it("chime for an excellent lead when enabled, not for good or fair ones", async () => {
    const h = await connected({ sound: true });
    act(() => {
      h.realtime.connection.emit(leadEvent(1, "good"));
      h.realtime.connection.emit(leadEvent(2, "fair"));
    });
    expect(h.sound.play).not.toHaveBeenCalled();
    act(() => h.realtime.connection.emit(leadEvent(3, "excellent")));
    expect(h.sound.play).toHaveBeenCalledTimes(1);
    expect(toasts()).toHaveLength(3); // sound is never the only signal
  });

  it("desktop notification only when enabled and the tab is hidden", async () => {
    const h = await connected({ desktop_notifications: true });
    act(() => h.realtime.connection.emit(leadEvent(1, "good")));
    expect(h.desktop.show).not.toHaveBeenCalled();
    const hidden = vi.spyOn(document, "hidden", "get").mockReturnValue(true);
    act(() => h.realtime.connection.emit(leadEvent(2, "excellent")));
    expect(h.desktop.show).toHaveBeenCalledWith(
      "🔥 High-Value Lead!",
      expect.objectContaining({ tag: "leadcast-2", body: expect.stringContaining("Lead Person 2") }),
    );
    hidden.mockRestore();
  });
});
