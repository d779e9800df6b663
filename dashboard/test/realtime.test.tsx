import { act, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";
import type { InboxQuery } from "../src/api";
import { CATCH_UP_BACKOFF, LEADS_REFRESH_MS } from "../src/notifications/NotificationsProvider";
import {
  EMPTY_LEADS,
  harness,
  inboxItem,
  inboxPage,
  leadEvent,
  inboxSettled,
  renderApp,
  USER,
  REALTIME_CONFIG,
} from "./fakes";

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
  afterEach(() => {
    vi.useRealTimers();
  });

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
    await inboxSettled(h);
  });

  it("after every reconnect fetches what was missed since the newest known notification, and shows it once", async () => {
    const server = serverInbox([1, 2]);
    const h = harness({ notifications: server.list });
    renderApp(h);
    await waitFor(() => expect(badge()).toHaveTextContent("2"));
    expect(h.api.notifications).toHaveBeenLastCalledWith({ limit: 30 });
    await waitFor(() => expect(h.realtime.factory).toHaveBeenCalled());

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
    await inboxSettled(h);
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
    // When each refetch starts. Only the order of events and the gaps between refetches are
    // asserted, never how soon something happens, so a slow machine cannot fail this test.
    const refetches: number[] = [];
    h.api.leads.mockImplementation(async () => {
      refetches.push(Date.now());
      return EMPTY_LEADS;
    });
    act(() => {
      for (let id = 1; id <= 8; id += 1) h.realtime.connection.emit(leadEvent(id));
    });
    expect(refetches).toHaveLength(1); // the first event refetches at once
    await waitFor(() => expect(refetches).toHaveLength(2)); // the burst: one more
    expect(refetches[1]! - refetches[0]!).toBeGreaterThanOrEqual(LEADS_REFRESH_MS - 20);
    await new Promise((resolve) => setTimeout(resolve, LEADS_REFRESH_MS + 200));
    expect(refetches).toHaveLength(2); // and nothing after it
  }, 20_000);

  it("retries a failed catch-up, from where the tab was when it connected", async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    const server = serverInbox([1, 2]);
    let failures = 0;
    const h = harness({
      notifications: async (query) => {
        if (query.after !== undefined && failures > 0) {
          failures -= 1;
          throw new Error("502 Bad Gateway");
        }
        return server.list(query);
      },
    });
    renderApp(h);
    await waitFor(() => expect(badge()).toHaveTextContent("2"));
    await waitFor(() => expect(h.realtime.factory).toHaveBeenCalled());
    act(() => h.realtime.connection.setState("connected"));
    await waitFor(() => expect(h.api.notifications).toHaveBeenLastCalledWith({ after: 2, limit: 100 }));

    // Lead 3 is missed while the socket is down; the catch-up after the reconnect fails once.
    act(() => h.realtime.connection.setState("reconnecting"));
    server.add(3);
    failures = 1;
    const calls = h.api.notifications.mock.calls.length;
    act(() => h.realtime.connection.setState("connected"));
    await waitFor(() => expect(h.api.notifications).toHaveBeenCalledTimes(calls + 1));
    await inboxSettled(h);
    expect(failures).toBe(0);
    expect(toasts()).toHaveLength(0);

    // Lead 4 arrives live before the retry: it must not move the catch-up past lead 3.
    server.add(4);
    act(() => h.realtime.connection.emit(leadEvent(4)));
    expect(toasts()).toHaveLength(1);

    await act(() => vi.advanceTimersByTimeAsync(CATCH_UP_BACKOFF.baseMs * 1.2));
    await waitFor(() => expect(toasts()).toHaveLength(2));
    expect(h.api.notifications).toHaveBeenLastCalledWith({ after: 2, limit: 100 });
    expect(toasts().map((toast) => toast.textContent)).toEqual([
      expect.stringContaining("Lead Person 3"),
      expect.stringContaining("Lead Person 4"),
    ]);
    await waitFor(() => expect(badge()).toHaveTextContent("4"));
    await inboxSettled(h);
  });

  it("backs off between catch-up retries, and stops once the connection drops", async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    vi.spyOn(Math, "random").mockReturnValue(0.5); // no jitter
    const failedAt: number[] = []; // fake clock: real time only ever adds to it
    let failing = false;
    const h = harness({
      notifications: async (query) => {
        if (failing && query.after !== undefined) {
          failedAt.push(Date.now());
          throw new Error("503 Service Unavailable");
        }
        return inboxPage([inboxItem(1)]);
      },
    });
    renderApp(h);
    await waitFor(() => expect(badge()).toHaveTextContent("1"));
    await waitFor(() => expect(h.realtime.factory).toHaveBeenCalled());
    failing = true;
    act(() => h.realtime.connection.setState("connected"));
    await waitFor(() => expect(failedAt).toHaveLength(1));

    await act(() => vi.advanceTimersByTimeAsync(7_000)); // 1 s + 2 s + 4 s
    await waitFor(() => expect(failedAt.length).toBeGreaterThanOrEqual(4));
    const gaps = failedAt.slice(1, 4).map((at, i) => at - failedAt[i]!);
    [1000, 2000, 4000].forEach((nominal, i) => {
      expect(gaps[i]).toBeGreaterThanOrEqual(nominal);
      expect(gaps[i]).toBeLessThan(nominal * 1.2);
    });
    await inboxSettled(h);

    act(() => h.realtime.connection.setState("reconnecting"));
    const attempts = failedAt.length;
    await act(() => vi.advanceTimersByTimeAsync(60_000));
    expect(failedAt).toHaveLength(attempts);
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
