// The real-time heart of the dashboard (the seed's WebSocketProvider): one connection per tab,
// the inbox with its unread count, toasts/sound/desktop alerts for new leads, the lead list
// refresh, catch-up after every (re)connect, and read state shared with the PM's other tabs.
import { useQueryClient } from "@tanstack/react-query";
import {
  createContext,
  useCallback,
  useContext,
  useEffect,
  useMemo,
  useRef,
  useState,
  useSyncExternalStore,
  type ReactNode,
} from "react";
import { tierAtLeast, type InboxItem, type User } from "../api";
import { backoffDelay } from "../lib/backoff";
import { rateLimit } from "../lib/rateLimit";
import { tabTitle } from "../lib/format";
import { usePreferences, useSoundUnlock } from "../preferences";
import type { ConnectionState, RealtimeConnection } from "../realtime/types";
import { leadHref, navigate } from "../router";
import { useServices } from "../services";
import { useToasts } from "../toasts/ToastProvider";
import { InboxStore, unreadCount } from "./inboxStore";
import type { TabSync } from "./tabSync";

/** Newest items loaded for the bell. */
export const PAGE_SIZE = 30;
/** Most items one catch-up asks for (older missed ones are still counted). */
export const CATCH_UP_LIMIT = 100;
/** Most toasts one catch-up pops; the rest are in the bell and the list. */
export const MAX_ANNOUNCED = 3;
/** The lead list refetches at most once per this many ms. */
export const LEADS_REFRESH_MS = 1000;
/** Retry delay when /api/realtime-config cannot be loaded. */
export const CONFIG_RETRY_MS = 5000;
/** A failed catch-up is retried while connected: 1 s, 2 s, 4 s, 8 s, then every 10 s (±20 %). */
export const CATCH_UP_BACKOFF = { baseMs: 1000, maxMs: 10_000 };

export interface NotificationsApi {
  connection: ConnectionState;
  items: InboxItem[];
  unreadCount: number;
  loaded: boolean;
  markRead(id: number): Promise<void>;
  markAllRead(): Promise<void>;
  clearAll(): Promise<void>;
}

const NotificationsContext = createContext<NotificationsApi | null>(null);

export function NotificationsProvider({
  user,
  token,
  children,
}: {
  user: User;
  token: string;
  children: ReactNode;
}) {
  const { api, realtime, sound, tabSync, desktop } = useServices();
  const { preferences } = usePreferences();
  const toasts = useToasts();
  const queryClient = useQueryClient();
  const store = useMemo(() => new InboxStore(), []);
  const inbox = useSyncExternalStore(store.subscribe, store.getState);
  const [connection, setConnection] = useState<ConnectionState>("connecting");
  useSoundUnlock(preferences.sound);

  const invalidateLeads = useMemo(
    () => rateLimit(() => void queryClient.invalidateQueries({ queryKey: ["leads"] }), LEADS_REFRESH_MS),
    [queryClient],
  );
  useEffect(() => () => invalidateLeads.cancel(), [invalidateLeads]);

  // Alerts for items new to this tab: toast (tier ≥ preference), chime (excellent, if enabled),
  // desktop notification (tab hidden, if enabled). Kept in a ref so the connection effect
  // below always uses the current preferences without reconnecting.
  const announce = useRef<(items: InboxItem[]) => void>(() => {});
  useEffect(() => {
    announce.current = (items) => {
      if (items.length === 0) return;
      invalidateLeads();
      const shown = items
        .filter((item) => tierAtLeast(item.tier, preferences.toast_min_tier))
        .slice(0, MAX_ANNOUNCED);
      [...shown].reverse().forEach((item) => toasts.show(item)); // newest ends on top
      if (preferences.sound && shown.some((item) => item.tier === "excellent")) sound.play();
      if (preferences.desktop_notifications && document.hidden) {
        shown.forEach((item) =>
          desktop.show(item.title, {
            body: `${item.message} — ${item.payload.lead.full_name}, score ${item.payload.score.score}`,
            tag: `leadcast-${item.id}`,
            onClick: () => navigate(leadHref(item.lead_id)),
          }),
        );
      }
    };
  });

  // Inbox requests run one at a time, each from the state the previous one left. Each resolves
  // to whether it worked; a failed refresh is retried by the next (re)connect, tab message or
  // action, a failed catch-up by the connection effect below.
  const queue = useRef<Promise<unknown>>(Promise.resolve());
  const enqueue = useCallback((task: () => Promise<void>): Promise<boolean> => {
    const next = queue.current.then(task).then(
      () => true,
      () => false,
    );
    queue.current = next;
    return next;
  }, []);

  const refresh = useCallback(
    () =>
      enqueue(async () => {
        const seq = store.beginRequest();
        store.applyPage(await api.notifications({ limit: PAGE_SIZE }), seq, true);
      }),
    [api, enqueue, store],
  );

  // After every (re)connect: what arrived since `after`, the newest notification this tab knew
  // when it connected (taken then, so live events that arrive before the request, or between
  // its retries, cannot move it past a missed one). After a reconnect the lead list is
  // refreshed too (statuses may have changed meanwhile).
  const catchUp = useCallback(
    (after: number | null, reconnect: boolean) =>
      enqueue(async () => {
        const seq = store.beginRequest();
        if (!store.getState().loaded) {
          store.applyPage(await api.notifications({ limit: PAGE_SIZE }), seq, true);
          return;
        }
        const page = await api.notifications({
          after: after ?? store.newestId(),
          limit: CATCH_UP_LIMIT,
        });
        announce.current(store.applyPage(page, seq, false));
        if (reconnect) invalidateLeads();
      }),
    [api, enqueue, store, invalidateLeads],
  );

  useEffect(() => {
    void refresh();
  }, [refresh]);

  // One real-time connection for this tab and user.
  useEffect(() => {
    let cancelled = false;
    let conn: RealtimeConnection | null = null;
    let retry: ReturnType<typeof setTimeout> | undefined;
    let wasConnected = false;
    // A catch-up that fails is retried with backoff for as long as this connection lasts;
    // `connects` tells a retry whether the connection it was for is still the current one.
    let connects = 0;
    let connected = false;
    let catchUpRetry: ReturnType<typeof setTimeout> | undefined;
    const catchUpUntilDone = (connect: number, after: number | null, reconnect: boolean, attempt: number) => {
      void catchUp(after, reconnect).then((ok) => {
        if (ok || cancelled || !connected || connect !== connects) return;
        catchUpRetry = setTimeout(
          () => catchUpUntilDone(connect, after, reconnect, attempt + 1),
          backoffDelay(attempt, CATCH_UP_BACKOFF),
        );
      });
    };
    const onConnected = () => {
      connects += 1;
      connected = true;
      clearTimeout(catchUpRetry);
      const after = store.getState().loaded ? store.newestId() : null;
      catchUpUntilDone(connects, after, wasConnected, 0);
      wasConnected = true;
    };
    const onState = (state: ConnectionState) => {
      setConnection(state);
      if (state === "connected") onConnected();
      else {
        connected = false;
        clearTimeout(catchUpRetry); // the next connect catches up anyway
      }
    };
    const open = () => {
      api.realtimeConfig().then(
        (config) => {
          if (cancelled) return;
          if (config.enabled === false) {
            setConnection("offline"); // the server broadcasts nowhere
            return;
          }
          conn = realtime({ config, token, userId: user.id });
          conn.onStateChange(onState);
          conn.onLeadDistributed((event) => {
            const item = store.acceptLive(event);
            if (item) announce.current([item]);
          });
          onState(conn.state());
        },
        () => {
          if (cancelled) return;
          setConnection("offline");
          retry = setTimeout(open, CONFIG_RETRY_MS);
        },
      );
    };
    open();
    return () => {
      cancelled = true;
      clearTimeout(retry);
      clearTimeout(catchUpRetry);
      conn?.disconnect();
    };
  }, [api, realtime, token, user.id, store, catchUp]);

  // Read state across this PM's tabs.
  const sync = useRef<TabSync | null>(null);
  useEffect(() => {
    const channel = tabSync(user.id);
    sync.current = channel;
    const off = channel.subscribe(() => void refresh());
    return () => {
      off();
      channel.close();
      sync.current = null;
    };
  }, [tabSync, user.id, refresh]);

  const unread = unreadCount(inbox);
  useEffect(() => {
    document.title = tabTitle(unread);
  }, [unread]);
  useEffect(() => () => void (document.title = tabTitle(0)), []);

  const markRead = useCallback(
    async (id: number) => {
      const item = store.getState().items.find((entry) => entry.id === id);
      if (item?.read_at) return;
      store.markRead(id);
      try {
        await api.markRead(id);
        sync.current?.post({ type: "read", id });
      } catch (error) {
        void refresh();
        throw error;
      }
    },
    [api, store, refresh],
  );

  const markAllRead = useCallback(async () => {
    store.markAllRead();
    try {
      await api.markAllRead();
      sync.current?.post({ type: "all_read" });
    } finally {
      void refresh();
    }
  }, [api, store, refresh]);

  const clearAll = useCallback(async () => {
    store.clear();
    try {
      await api.clearAll();
      sync.current?.post({ type: "clear" });
    } finally {
      void refresh();
    }
  }, [api, store, refresh]);

  const value = useMemo(
    () => ({
      connection,
      items: inbox.items,
      unreadCount: unread,
      loaded: inbox.loaded,
      markRead,
      markAllRead,
      clearAll,
    }),
    [connection, inbox, unread, markRead, markAllRead, clearAll],
  );
  return <NotificationsContext.Provider value={value}>{children}</NotificationsContext.Provider>;
}

export function useNotifications(): NotificationsApi {
  const value = useContext(NotificationsContext);
  if (!value) throw new Error("useNotifications outside NotificationsProvider");
  return value;
}
