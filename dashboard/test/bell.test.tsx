import { act, screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { harness, inboxItem, inboxPage, inboxSettled, leadEvent, renderApp } from "./fakes";

const bellButton = () => screen.getByRole("button", { name: /^Notifications/ });
const badge = () => screen.queryByTestId("bell-badge");

async function appWithUnread(unread: number) {
  const items = Array.from({ length: Math.min(unread, 30) }, (_, i) => inboxItem(unread - i));
  const h = harness({ notifications: async () => inboxPage(items, unread) });
  renderApp(h);
  await screen.findByRole("heading", { name: "Your leads" });
  return h;
}

describe("notification bell", () => {
  it("hides the badge at zero", async () => {
    // Read items only: the badge and title must stay plain once the inbox has loaded.
    const h = harness({
      notifications: async () => inboxPage([inboxItem(2, "good", true), inboxItem(1, "fair", true)]),
    });
    renderApp(h);
    await waitFor(() => expect(screen.getAllByTestId("bell-item")).toHaveLength(2));
    expect(badge()).toBeNull();
    expect(document.title).toBe("leadcast");
    expect(bellButton()).toHaveAccessibleName("Notifications, connecting…");
  });

  it.each([
    [1, "1"],
    [3, "3"],
    [9, "9"],
    [10, "9+"],
    [57, "9+"],
  ])("shows %i unread as %s and the exact count in the tab title", async (unread, text) => {
    await appWithUnread(unread);
    await waitFor(() => expect(badge()).toHaveTextContent(text));
    expect(badge()!.textContent).toBe(text);
    await waitFor(() => expect(document.title).toBe(`(${unread}) leadcast`)); // set by an effect
    expect(bellButton()).toHaveAccessibleName(new RegExp(`${unread} unread`));
  });

  it("counts a live lead, with a green live dot once connected", async () => {
    const h = await appWithUnread(2);
    await waitFor(() => expect(badge()).toHaveTextContent("2"));
    await waitFor(() => expect(h.realtime.factory).toHaveBeenCalled()); // after the config loads
    act(() => h.realtime.connection.setState("connected"));
    expect(screen.getByTestId("connection-state")).toHaveAttribute("data-state", "connected");
    expect(bellButton().querySelector(".live-dot--connected")).not.toBeNull();
    await waitFor(() => expect(h.api.notifications).toHaveBeenCalledTimes(2)); // load + catch-up
    await inboxSettled(h);
    act(() => h.realtime.connection.emit(leadEvent(3, "excellent")));
    await waitFor(() => expect(badge()).toHaveTextContent("3"));
    await waitFor(() => expect(document.title).toBe("(3) leadcast"));
  });

  it("opens with the keyboard; Esc closes it and returns focus to the button", async () => {
    const user = userEvent.setup();
    await appWithUnread(2);
    const button = bellButton();
    expect(button).toHaveAttribute("aria-expanded", "false");
    const panel = document.getElementById(button.getAttribute("aria-controls")!)!;
    expect(panel).not.toBeVisible();

    button.focus();
    await user.keyboard("{Enter}");
    expect(button).toHaveAttribute("aria-expanded", "true");
    expect(panel).toBeVisible();
    await user.tab(); // into the popover
    expect(panel).toContainElement(document.activeElement as HTMLElement);

    await user.keyboard("{Escape}");
    expect(button).toHaveAttribute("aria-expanded", "false");
    expect(panel).not.toBeVisible();
    expect(button).toHaveFocus();
  });

  it("lists recent notifications with tier badges and a lead preview; opening one marks it read", async () => {
    const user = userEvent.setup();
    const h = harness({
      notifications: async () => inboxPage([inboxItem(2, "excellent"), inboxItem(1, "fair", true)]),
    });
    renderApp(h);
    await waitFor(() => expect(badge()).toHaveTextContent("1"));
    await user.click(bellButton());
    const items = screen.getAllByTestId("bell-item");
    expect(items).toHaveLength(2);
    expect(items[0]).toHaveClass("tier-excellent", "bell-item--unread");
    expect(within(items[0]!).getByText("🔥 High Value")).toBeInTheDocument();
    expect(within(items[0]!).getByText(/Lead Person 2 · Residential · 100 units/)).toBeInTheDocument();
    expect(items[1]).toHaveClass("tier-fair");
    expect(items[1]).not.toHaveClass("bell-item--unread");

    await user.click(within(items[0]!).getByRole("link"));
    expect(h.api.markRead).toHaveBeenCalledWith(2);
    await waitFor(() => expect(badge()).toBeNull());
    expect(window.location.hash).toBe("#/leads?lead=1002");
    await waitFor(() => expect(h.tabs.posted).toContainEqual({ type: "read", id: 2 })); // once the API answered
  });

  it("mark all read calls the API, zeroes the badge and tells the other tabs", async () => {
    const user = userEvent.setup();
    const h = await appWithUnread(4);
    await waitFor(() => expect(badge()).toHaveTextContent("4"));
    h.api.notifications.mockResolvedValue(inboxPage([4, 3, 2, 1].map((id) => inboxItem(id, "good", true))));
    await user.click(bellButton());
    await user.click(screen.getByRole("button", { name: "Mark all read" }));
    expect(h.api.markAllRead).toHaveBeenCalledOnce();
    await waitFor(() => expect(badge()).toBeNull());
    await waitFor(() => expect(document.title).toBe("leadcast"));
    await waitFor(() => expect(h.tabs.posted).toContainEqual({ type: "all_read" }));
    expect(screen.getAllByTestId("bell-item")).toHaveLength(4);
  });

  it("clear all calls the API, empties the list and shows the friendly empty state", async () => {
    const user = userEvent.setup();
    const h = await appWithUnread(3);
    await waitFor(() => expect(badge()).toHaveTextContent("3"));
    h.api.notifications.mockResolvedValue(inboxPage([]));
    await user.click(bellButton());
    await user.click(screen.getByRole("button", { name: "Clear all" }));
    expect(h.api.clearAll).toHaveBeenCalledOnce();
    await waitFor(() => expect(badge()).toBeNull());
    expect(screen.queryAllByTestId("bell-item")).toHaveLength(0);
    expect(screen.getByText("You're all caught up")).toBeInTheDocument();
    await waitFor(() => expect(h.tabs.posted).toContainEqual({ type: "clear" }));
    expect(screen.getByRole("link", { name: "View all leads" })).toHaveAttribute("href", "#/leads");
  });

  it("refetches when another tab of the same PM changes read state", async () => {
    const h = await appWithUnread(2);
    await waitFor(() => expect(badge()).toHaveTextContent("2"));
    expect(h.tabs.create).toHaveBeenCalledWith(7);
    h.api.notifications.mockResolvedValue(inboxPage([inboxItem(2, "good", true), inboxItem(1)]));
    act(() => h.tabs.fromOtherTab({ type: "read", id: 2 }));
    await waitFor(() => expect(badge()).toHaveTextContent("1"));
    expect(h.tabs.posted).toEqual([]); // nothing re-broadcast
  });
});
