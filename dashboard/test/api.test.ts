import { describe, expect, it, vi } from "vitest";
import { ApiError, createHttpApi } from "../src/api";

function fetchReturning(status: number, body: unknown) {
  return vi.fn(
    async (_input: RequestInfo | URL, _init?: RequestInit) =>
      new Response(body === undefined ? null : JSON.stringify(body), { status }),
  );
}

describe("createHttpApi", () => {
  it("sends the Bearer token and builds query strings without empty filters", async () => {
    const fetch = fetchReturning(200, { items: [], page: 1, per_page: 20, total: 0 });
    const api = createHttpApi({ token: () => "abc", fetch });
    await api.leads({
      status: "new",
      tier: "",
      property_type: "condo",
      search: "  main ",
      page: 2,
      per_page: 20,
    });
    const [url, init] = fetch.mock.calls[0]!;
    expect(url).toBe("/api/leads?status=new&property_type=condo&search=main&page=2&per_page=20");
    expect((init!.headers as Record<string, string>).Authorization).toBe("Bearer abc");
  });

  it("uses the inbox routes of the backend", async () => {
    const fetch = fetchReturning(200, {});
    const api = createHttpApi({ token: () => "abc", fetch });
    await api.notifications({ after: 41, limit: 100 });
    await api.notificationCounts();
    await api.markRead(9);
    await api.markAllRead();
    await api.clearAll();
    await api.setLeadStatus(15, "accepted");
    await api.savePreferences({ sound: true, toast_min_tier: "good", desktop_notifications: false });
    expect(fetch.mock.calls.map(([url, init]) => `${init!.method} ${String(url)}`)).toEqual([
      "GET /api/notifications?after=41&limit=100",
      "GET /api/notifications/unread-count",
      "POST /api/notifications/9/read",
      "POST /api/notifications/read-all",
      "POST /api/notifications/clear",
      "POST /api/leads/15/status",
      "PUT /api/me/preferences",
    ]);
    expect(fetch.mock.calls[5]![1]!.body).toBe('{"status":"accepted"}');
  });

  it("turns error bodies into ApiError and reports 401", async () => {
    const onUnauthorized = vi.fn();
    const api = createHttpApi({
      token: () => "old",
      fetch: fetchReturning(401, { error: "invalid or expired token" }),
      onUnauthorized,
    });
    await expect(api.me()).rejects.toMatchObject({ status: 401, message: "invalid or expired token" });
    expect(onUnauthorized).toHaveBeenCalledOnce();

    const invalid = createHttpApi({
      token: () => null,
      fetch: fetchReturning(422, {
        error: "invalid input: status",
        fields: { status: "must be one of new" },
      }),
    });
    const error = await invalid.leads({}).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).message).toBe("invalid input: status (status must be one of new)");
  });
});
