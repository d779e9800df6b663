import { act, screen, waitFor } from "@testing-library/react";
import { describe, expect, it } from "vitest";
import type { InboxQuery } from "../src/api";
import { harness, inboxItem, inboxPage, leadEvent, renderApp, USER, REALTIME_CONFIG } from "./fakes";

const toasts = () => screen.queryAllByTestId("lead-toast");
const badge = () => screen.queryByTestId("bell-badge");
const connectionState = () => screen.getByTestId("connection-state");

/** An inbox on the "server" that answers like the API: newest first, `after` honoured. */
function serverInbox(initial: number[] = []) {
  const ids = [...initial];
  return {
    add: (id: number) => ids.push(id),
    list: async (query: InboxQuery) => {
      const visible = ids
        .filter((id) => query.after === undefined || id > query.after)
        .sort((a, b) => b - a)
        .slice(0, query.limit ?? 20);
      return inboxPage(
        visible.map((id) => inboxItem(id, "good")),
        ids.length,
      );
    },
  };
}

describe("real-time connection", () => {
  it("opens one connection with the server's config, the token and the user", async () => {
    const h = harness();
    renderApp(h);
    await waitFor(() => expect(h.realtime.factory).toHaveBeenCalledTimes(1));
    expect(h.realtime.factory).toHaveBeenCalledWith({
      config: REALTIME_CONFIG,
      token: "t0k3n",
      userId: USER.id,
    });
  });

  it("shows connecting, live, reconnecting and offline states", async () => {
    const h = harness();
    renderApp(h);
    await waitFor(() => expect(h.realtime.factory).toHaveBeenCalled());
    expect(connectionState()).toHaveTextContent("Connecting…");
    act(() => h.realtime.connection.setState("connected"));
    expect(connectionState()).toHaveTextContent("Live");
    act(() => h.realtime.connection.setState("reconnecting"));
    expect(connectionState()).toHaveTextContent("Reconnecting…");
    act(() => h.realtime.connection.setState("offline"));
    expect(connectionState()).toHaveTextContent("Offline");
    await waitFor(() => expect(h.api.notifications).toHaveBeenCalledTimes(2)); // load + catch-up
  });

  it("after every reconnect fetches what was missed since the newest known notification, and shows it once", async () => {
    const server = serverInbox([1, 2]);
    const h = harness({ notifications: server.list });
    renderApp(h);
    await waitFor(() => expect(badge()).toHaveTextContent("2"));
    expect(h.api.notifications).toHaveBeenLastCalledWith({ limit: 30 });

    act(() => h.realtime.connection.setState("connected"));
    await waitFor(() => expect(h.api.notifications).toHaveBeenLastCalledWith({ after: 2, limit: 100 }));
    expect(toasts()).toHaveLength(0);

    // The socket drops; a lead is distributed while the tab is offline.
    act(() => h.realtime.connection.setState("reconnecting"));
    act(() => h.realtime.connection.setState("offline"));
    server.add(3);
    act(() => h.realtime.connection.setState("connected"));
    await waitFor(() => expect(toasts()).toHaveLength(1));
    expect(h.api.notifications).toHaveBeenLastCalledWith({ after: 2, limit: 100 });
    expect(toasts()[0]).toHaveTextContent("Lead Person 3");
    await waitFor(() => expect(badge()).toHaveTextContent("3"));

    // Another reconnect, and the same event late on the socket: still once.
    act(() => h.realtime.connection.setState("reconnecting"));
    act(() => h.realtime.connection.setState("connected"));
    await waitFor(() => expect(h.api.notifications).toHaveBeenLastCalledWith({ after: 3, limit: 100 }));
    act(() => h.realtime.connection.emit(leadEvent(3)));
    expect(toasts()).toHaveLength(1);
    expect(badge()).toHaveTextContent("3");
  });

  it("de-duplicates by notification_id", async () => {
    const h = harness();
    renderApp(h);
    await waitFor(() => expect(h.realtime.factory).toHaveBeenCalled());
    act(() => {
      h.realtime.connection.emit(leadEvent(10, "good"));
      h.realtime.connection.emit(leadEvent(10, "good"));
      h.realtime.connection.emit(leadEvent(11, "fair"));
      h.realtime.connection.emit(leadEvent(10, "good"));
    });
    expect(toasts()).toHaveLength(2);
    await waitFor(() => expect(badge()).toHaveTextContent("2"));
  });

  it("refreshes the lead list on events at most once per second", async () => {
    const h = harness();
    renderApp(h);
    await screen.findByText("No leads yet");
    await waitFor(() => expect(h.realtime.factory).toHaveBeenCalled());
    const before = h.api.leads.mock.calls.length;
    const started = Date.now();
    act(() => {
      for (let id = 1; id <= 8; id += 1) h.realtime.connection.emit(leadEvent(id));
    });
    await waitFor(() => expect(h.api.leads.mock.calls.length).toBe(before + 1)); // at once
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(h.api.leads.mock.calls.length).toBe(before + 1); // the burst waits
    await waitFor(() => expect(h.api.leads.mock.calls.length).toBe(before + 2), { timeout: 2000 }); // one trailing
    expect(Date.now() - started).toBeGreaterThanOrEqual(950);
  });

  it("disconnects on logout", async () => {
    const h = harness();
    renderApp(h);
    await waitFor(() => expect(h.realtime.factory).toHaveBeenCalled());
    const connection = h.realtime.connection;
    act(() => screen.getByRole("button", { name: /Avery Quinn/ }).click());
    act(() => screen.getByRole("button", { name: "Log out" }).click());
    await screen.findByRole("button", { name: "Log in" });
    // React runs an unmounted component's effect clean-ups after the commit, not within it.
    await waitFor(() => expect(connection.disconnected).toBe(true));
    expect(h.api.logout).toHaveBeenCalled();
  });
});
