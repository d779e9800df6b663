// The real RealtimeConnection: one laravel-echo + pusher-js connection per tab, configured from
// GET /api/realtime-config, authorising private channels with the Bearer token. pusher-js does
// the reconnecting (we only prod it to retry sooner); this maps its states onto ours and reports
// "connected" only once the PM's private channel is (re)subscribed, so a catch-up fetch started
// then cannot miss an event.
import Echo from "laravel-echo";
import Pusher from "pusher-js";
import type { Options } from "pusher-js";
import type { LeadDistributedEvent } from "../api";
import { backoffDelay } from "../lib/backoff";
import {
  LEAD_EVENT,
  pmChannel,
  type ConnectionState,
  type RealtimeConnection,
  type RealtimeOptions,
} from "./types";

export function pusherOptions({ config, token }: RealtimeOptions): Options {
  const headers = { Authorization: `Bearer ${token}` };
  const options: Options = {
    cluster: config.cluster || "mt1",
    forceTLS: config.forceTLS,
    enabledTransports: ["ws", "wss"],
    channelAuthorization: { endpoint: config.authEndpoint, transport: "ajax", headers },
    userAuthentication: {
      endpoint: config.userAuthEndpoint ?? "/api/broadcasting/user-auth",
      transport: "ajax",
      headers,
    },
  };
  if (config.wsHost) {
    options.wsHost = config.wsHost;
    if (config.wsPort) options.wsPort = config.wsPort;
    const wssPort = config.wssPort ?? config.wsPort;
    if (wssPort) options.wssPort = wssPort;
  }
  return options;
}

/** The PM's channel without Echo's "private-" prefix: "property-manager.{id}". */
function channelName({ config, userId }: RealtimeOptions): string {
  const prefix = config.channelPrefix?.replace(/^private-/, "");
  return prefix ? `${prefix}${userId}` : pmChannel(userId);
}

type Listener<T> = (value: T) => void;

/** Not connected for this long: show "offline" rather than "reconnecting…". */
export const OFFLINE_AFTER_MS = 10_000;
/**
 * Our reconnect attempts: 2 s, 4 s, 8 s, then every 10 s (±20 % jitter). The cap is low because
 * a PM waiting on a lead matters more than a few extra handshakes while the server is away: once
 * it is back, a tab reaches it within 12 s.
 */
export const RECONNECT_BACKOFF = { baseMs: 2000, maxMs: 10_000 };

export function createEchoConnection(options: RealtimeOptions): RealtimeConnection {
  const pusher = new Pusher(options.config.key, pusherOptions(options));
  const echo = new Echo({ broadcaster: "pusher", client: pusher, withoutInterceptors: true });
  const stateListeners = new Set<Listener<ConnectionState>>();
  const eventListeners = new Set<Listener<LeadDistributedEvent>>();

  let state: ConnectionState = "connecting";
  let everConnected = false;
  let subscribed = false;
  let refused = false;
  let longOutage = false; // not connected for OFFLINE_AFTER_MS
  let restarting = false; // inside nudge(): ignore the "disconnected" it causes
  let outageTimer: ReturnType<typeof setTimeout> | undefined;
  let nudgeTimer: ReturnType<typeof setTimeout> | undefined;
  let nudges = 0;

  const set = (next: ConnectionState) => {
    if (next === state) return;
    state = next;
    stateListeners.forEach((listener) => listener(next));
  };

  const recompute = () => {
    if (restarting) return;
    const socket = pusher.connection.state;
    if (socket === "connected" && subscribed) {
      everConnected = true;
      set("connected");
    } else if (refused || longOutage || !["initialized", "connecting", "connected"].includes(socket)) {
      set("offline"); // refused, down for a while, unavailable, failed, disconnected
    } else {
      set(everConnected ? "reconnecting" : "connecting");
    }
    watchOutage();
  };

  // While not connected: say "offline" after a while, and retry sooner than pusher-js would
  // (it waits ~15 s after a drop), backing off 2 s, 4 s, 8 s, 10 s … with jitter.
  const watchOutage = () => {
    if (state === "connected") {
      clearTimeout(outageTimer);
      clearTimeout(nudgeTimer);
      outageTimer = nudgeTimer = undefined;
      longOutage = false;
      nudges = 0;
      return;
    }
    if (refused) return; // the server said no: retrying now would not change that
    outageTimer ??= setTimeout(() => {
      longOutage = true;
      recompute();
    }, OFFLINE_AFTER_MS);
    nudgeTimer ??= setTimeout(nudge, backoffDelay(nudges, RECONNECT_BACKOFF));
  };

  const nudge = () => {
    nudgeTimer = undefined;
    nudges += 1;
    if (pusher.connection.state !== "connected") {
      restarting = true;
      pusher.disconnect();
      pusher.connect();
      restarting = false;
    }
    recompute();
  };

  pusher.connection.bind("state_change", (change: { current: string }) => {
    if (change.current !== "connected") subscribed = false;
    recompute();
  });

  echo
    .private(channelName(options))
    .subscribed(() => {
      subscribed = true;
      refused = false;
      recompute();
    })
    .error(() => {
      refused = true;
      recompute();
    })
    .listen(`.${options.config.event ?? LEAD_EVENT}`, (event: LeadDistributedEvent) => {
      eventListeners.forEach((listener) => listener(event));
    });
  watchOutage();

  return {
    state: () => state,
    onStateChange(listener) {
      stateListeners.add(listener);
      return () => stateListeners.delete(listener);
    },
    onLeadDistributed(listener) {
      eventListeners.add(listener);
      return () => eventListeners.delete(listener);
    },
    disconnect() {
      clearTimeout(outageTimer);
      clearTimeout(nudgeTimer);
      refused = true; // no more nudges
      stateListeners.clear();
      eventListeners.clear();
      echo.disconnect();
    },
  };
}
