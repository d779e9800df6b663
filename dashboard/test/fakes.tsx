// Fakes for the injectable services, and a helper that renders the whole app logged in.
import { act, render } from "@testing-library/react";
import { vi, type Mock } from "vitest";
import { App, createQueryClient } from "../src/App";
import type {
  Api,
  InboxItem,
  InboxPage,
  LeadDistributedEvent,
  LeadPage,
  Preferences,
  RealtimeConfig,
  Tier,
  User,
} from "../src/api";
import { DEFAULT_PREFERENCES } from "../src/api";
import { TOKEN_KEY, preferencesKey } from "../src/lib/storage";
import type { TabMessage, TabSync } from "../src/notifications/tabSync";
import type { ConnectionState, RealtimeConnection, RealtimeOptions } from "../src/realtime/types";
import type { DesktopNotifier, Services } from "../src/services";

export const USER: User = {
  id: 7,
  email: "avery@leadcast.test",
  name: "Avery Quinn",
  role: "pm",
  created_at: "2024-11-04T10:00:00.000000Z",
};

const BADGES = {
  excellent: { text: "🔥 High Value", color: "red", priority: "high" },
  good: { text: "⭐ Good Match", color: "green", priority: "medium" },
  fair: { text: "New Lead", color: "blue", priority: "low" },
} as const;

const TITLES = { excellent: "🔥 High-Value Lead!", good: "New Lead Match", fair: "New Lead" } as const;

export function leadEvent(id: number, tier: Tier = "good", name = `Lead Person ${id}`): LeadDistributedEvent {
  return {
    lead: {
      id: 1000 + id,
      user_lead_id: 500 + id,
      property_type: "residential",
      street_address: `${id} Main St`,
      city: "Austin",
      state: "TX",
      zip_code: "78701",
      number_of_units: 100,
      full_name: name,
      created_at: "2024-11-04T10:30:00.000000Z",
      status: "new",
    },
    score: {
      score: tier === "excellent" ? 88 : tier === "good" ? 70 : 45,
      tier,
      badge: { ...BADGES[tier] },
      reasons: ["Matches your preferred property types", "In your target service area"],
    },
    notification: {
      title: TITLES[tier],
      message: "New residential property in Austin, TX",
      priority: BADGES[tier].priority,
    },
    notification_id: id,
  };
}

export function inboxItem(id: number, tier: Tier = "good", read = false): InboxItem {
  const event = leadEvent(id, tier);
  return {
    id,
    lead_id: event.lead.id,
    user_lead_id: event.lead.user_lead_id,
    tier,
    title: event.notification.title,
    message: event.notification.message,
    priority: event.notification.priority,
    payload: event,
    created_at: new Date().toISOString(),
    seen_at: read ? new Date().toISOString() : null,
    read_at: read ? new Date().toISOString() : null,
  };
}

/** A page as the API returns it; `unread` defaults to the unread items given. */
export function inboxPage(items: InboxItem[], unread?: number): InboxPage {
  const count = unread ?? items.filter((item) => !item.read_at).length;
  return { items, next_cursor: null, unread_count: count, unseen_count: count };
}

export const EMPTY_LEADS: LeadPage = { items: [], page: 1, per_page: 20, total: 0 };

export const REALTIME_CONFIG: RealtimeConfig = {
  enabled: true,
  key: "leadcast-key",
  cluster: "mt1",
  wsHost: "127.0.0.1",
  wsPort: 6001,
  forceTLS: false,
  authEndpoint: "/api/broadcasting/auth",
};

export type FakeApi = { [K in keyof Api]: Mock<Api[K]> };

export function fakeApi(overrides: Partial<Api> = {}): FakeApi {
  const api: Api = {
    login: async () => ({ token: "t0k3n", user: USER }),
    logout: async () => {},
    me: async () => USER,
    realtimeConfig: async () => REALTIME_CONFIG,
    leads: async () => EMPTY_LEADS,
    lead: async () => {
      throw new Error("not in this test");
    },
    setLeadStatus: async () => {
      throw new Error("not in this test");
    },
    notifications: async () => inboxPage([]),
    notificationCounts: async () => ({ unread_count: 0, unseen_count: 0 }),
    markRead: async () => {},
    markAllRead: async () => {},
    clearAll: async () => {},
    preferences: async () => DEFAULT_PREFERENCES,
    savePreferences: async (preferences) => preferences,
    ...overrides,
  };
  return Object.fromEntries(Object.entries(api).map(([name, fn]) => [name, vi.fn(fn)])) as unknown as FakeApi;
}

/** A connection the test drives: setState() and emit() stand in for pusher-js. */
export class FakeConnection implements RealtimeConnection {
  current: ConnectionState = "connecting";
  disconnected = false;
  private stateListeners = new Set<(state: ConnectionState) => void>();
  private eventListeners = new Set<(event: LeadDistributedEvent) => void>();

  constructor(readonly options: RealtimeOptions) {}

  state = () => this.current;
  onStateChange(listener: (state: ConnectionState) => void) {
    this.stateListeners.add(listener);
    return () => this.stateListeners.delete(listener);
  }
  onLeadDistributed(listener: (event: LeadDistributedEvent) => void) {
    this.eventListeners.add(listener);
    return () => this.eventListeners.delete(listener);
  }
  disconnect() {
    this.disconnected = true;
  }
  setState(state: ConnectionState) {
    this.current = state;
    this.stateListeners.forEach((listener) => listener(state));
  }
  emit(event: LeadDistributedEvent) {
    this.eventListeners.forEach((listener) => listener(event));
  }
}

export function fakeRealtime() {
  const connections: FakeConnection[] = [];
  const factory = vi.fn((options: RealtimeOptions) => {
    const connection = new FakeConnection(options);
    connections.push(connection);
    return connection;
  });
  return {
    factory,
    connections,
    /** The live connection (the newest one not disconnected). */
    get connection(): FakeConnection {
      const open = connections.filter((c) => !c.disconnected);
      const last = open[open.length - 1];
      if (!last) throw new Error("no open connection");
      return last;
    },
  };
}

/** An in-memory BroadcastChannel: what one tab posts, the other tabs receive. */
export function fakeTabBus() {
  const tabs = new Set<(message: TabMessage) => void>();
  const posted: TabMessage[] = [];
  const create = (): TabSync => {
    let mine: ((message: TabMessage) => void) | null = null;
    return {
      post(message) {
        posted.push(message);
        tabs.forEach((deliver) => deliver !== mine && deliver(message));
      },
      subscribe(listener) {
        mine = listener;
        tabs.add(listener);
        return () => tabs.delete(listener);
      },
      close() {
        if (mine) tabs.delete(mine);
      },
    };
  };
  /** A message from another tab of the same PM. */
  const fromOtherTab = (message: TabMessage) => tabs.forEach((deliver) => deliver(message));
  return { create: vi.fn(create), posted, fromOtherTab };
}

export function fakeDesktop(): { [K in keyof DesktopNotifier]: Mock<DesktopNotifier[K]> } {
  return {
    permission: vi.fn(() => "default" as const),
    requestPermission: vi.fn(async () => "granted" as const),
    show: vi.fn(),
  };
}

export interface Harness {
  api: FakeApi;
  realtime: ReturnType<typeof fakeRealtime>;
  sound: { unlock: Mock<() => Promise<boolean>>; play: Mock<() => void> };
  tabs: ReturnType<typeof fakeTabBus>;
  desktop: ReturnType<typeof fakeDesktop>;
  services: Services;
}

export function harness(overrides: Partial<Api> = {}): Harness {
  const api = fakeApi(overrides);
  const realtime = fakeRealtime();
  const sound = { unlock: vi.fn(async () => true), play: vi.fn() };
  const tabs = fakeTabBus();
  const desktop = fakeDesktop();
  return {
    api,
    realtime,
    sound,
    tabs,
    desktop,
    services: { api, realtime: realtime.factory, sound, tabSync: tabs.create, desktop },
  };
}

/**
 * Render the whole app as a logged-in PM (token in localStorage, preferences remembered). The
 * server answers GET /api/me/preferences with the same preferences unless `server` is given.
 */
export function renderApp(
  h: Harness,
  preferences: Partial<Preferences> = {},
  { server }: { server?: Partial<Preferences> } = {},
) {
  window.localStorage.setItem(TOKEN_KEY, "t0k3n");
  const prefs = { ...DEFAULT_PREFERENCES, ...preferences };
  window.localStorage.setItem(preferencesKey(USER.id), JSON.stringify(prefs));
  h.api.preferences.mockResolvedValue({ ...prefs, ...server });
  const queryClient = createQueryClient();
  queryClient.setDefaultOptions({ queries: { retry: false, staleTime: 0 }, mutations: { retry: false } });
  const result = render(<App services={h.services} queryClient={queryClient} />);
  return { ...result, queryClient };
}

/** Wait for the inbox request made last to be applied, so none is left in flight at unmount. */
export async function inboxSettled(h: Harness) {
  const last = h.api.notifications.mock.results.at(-1);
  await act(async () => {
    await Promise.resolve(last?.value).catch(() => {});
  });
}
