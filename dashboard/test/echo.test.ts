// The laravel-echo wrapper against a stand-in for pusher-js (no network).
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { RealtimeOptions } from "../src/realtime/types";
import { REALTIME_CONFIG, leadEvent } from "./fakes";

type Handler = (data?: unknown) => void;

class Emitter {
  handlers = new Map<string, Set<Handler>>();
  bind(event: string, handler: Handler) {
    if (!this.handlers.has(event)) this.handlers.set(event, new Set());
    this.handlers.get(event)!.add(handler);
    return this;
  }
  unbind(event: string, handler?: Handler) {
    if (handler) this.handlers.get(event)?.delete(handler);
    else this.handlers.delete(event);
    return this;
  }
  emit(event: string, data?: unknown) {
    this.handlers.get(event)?.forEach((handler) => handler(data));
  }
}

const instances: FakePusher[] = [];

class FakePusher {
  connection = Object.assign(new Emitter(), { state: "connecting", socket_id: "1.2" });
  channels = new Map<string, Emitter>();
  disconnected = false;
  constructor(
    readonly key: string,
    readonly options: Record<string, unknown>,
  ) {
    instances.push(this);
  }
  subscribe(name: string) {
    const channel = Object.assign(new Emitter(), { name, unsubscribe: vi.fn() });
    this.channels.set(name, channel);
    return channel;
  }
  unsubscribe() {}
  channel(name: string) {
    return this.channels.get(name);
  }
  connects = 0;
  disconnect() {
    this.disconnected = true;
    this.setState("disconnected");
  }
  connect() {
    this.connects += 1;
    this.disconnected = false;
    this.setState("connecting");
  }
  setState(current: string) {
    const previous = this.connection.state;
    this.connection.state = current;
    this.connection.emit("state_change", { previous, current });
  }
}

vi.mock("pusher-js", () => ({ default: FakePusher }));

const { createEchoConnection, pusherOptions } = await import("../src/realtime/echo");

const options: RealtimeOptions = { config: REALTIME_CONFIG, token: "t0k3n", userId: 7 };

describe("pusher-js options from /api/realtime-config", () => {
  it("point at our server with ws transports and Bearer auth", () => {
    expect(pusherOptions(options)).toMatchObject({
      cluster: "mt1",
      wsHost: "127.0.0.1",
      wsPort: 6001,
      wssPort: 6001,
      forceTLS: false,
      enabledTransports: ["ws", "wss"],
      channelAuthorization: {
        endpoint: "/api/broadcasting/auth",
        transport: "ajax",
        headers: { Authorization: "Bearer t0k3n" },
      },
    });
  });

  it("leave the host to the cluster for hosted Pusher", () => {
    const hosted = pusherOptions({
      ...options,
      config: { ...REALTIME_CONFIG, wsHost: null, wsPort: null, cluster: "eu", forceTLS: true },
    });
    expect(hosted.wsHost).toBeUndefined();
    expect(hosted.cluster).toBe("eu");
    expect(hosted.forceTLS).toBe(true);
  });
});

describe("createEchoConnection", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("subscribes to the PM's private channel and reports connected only once subscribed", () => {
    const connection = createEchoConnection(options);
    const pusher = instances.at(-1)!;
    const states: string[] = [];
    connection.onStateChange((state) => states.push(state));
    const events: unknown[] = [];
    connection.onLeadDistributed((event) => events.push(event));

    const channel = pusher.channels.get("private-property-manager.7")!;
    expect(channel).toBeDefined();
    expect(connection.state()).toBe("connecting");

    pusher.setState("connected");
    expect(connection.state()).toBe("connecting");
    channel.emit("pusher:subscription_succeeded");
    expect(connection.state()).toBe("connected");

    channel.emit("lead.distributed", leadEvent(1));
    expect(events).toEqual([leadEvent(1)]);

    pusher.setState("connecting");
    expect(connection.state()).toBe("reconnecting");
    pusher.setState("unavailable");
    expect(connection.state()).toBe("offline");
    pusher.setState("connected");
    expect(connection.state()).toBe("reconnecting"); // until the channel is subscribed again
    channel.emit("pusher:subscription_succeeded");
    expect(connection.state()).toBe("connected");
    expect(states).toEqual(["connected", "reconnecting", "offline", "reconnecting", "connected"]);

    connection.disconnect();
    expect(pusher.disconnected).toBe(true);
  });

  it("reports offline when the channel is refused", () => {
    const connection = createEchoConnection(options);
    const pusher = instances.at(-1)!;
    pusher.setState("connected");
    pusher.channels.get("private-property-manager.7")!.emit("pusher:subscription_error", { status: 403 });
    expect(connection.state()).toBe("offline");
  });
});

describe("createEchoConnection while the server is away", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  function connectedPair() {
    const connection = createEchoConnection(options);
    const pusher = instances.at(-1)!;
    pusher.setState("connected");
    pusher.channels.get("private-property-manager.7")!.emit("pusher:subscription_succeeded");
    expect(connection.state()).toBe("connected");
    return { connection, pusher };
  }

  it("retries sooner than pusher-js, backing off, without flickering to offline", () => {
    const { connection, pusher } = connectedPair();
    const states: string[] = [];
    connection.onStateChange((state) => states.push(state));
    pusher.setState("connecting"); // the socket dropped
    vi.advanceTimersByTime(2_500);
    expect(pusher.connects).toBe(1);
    vi.advanceTimersByTime(5_000);
    expect(pusher.connects).toBe(2);
    expect(states).toEqual(["reconnecting"]);
    pusher.setState("connected");
    pusher.channels.get("private-property-manager.7")!.emit("pusher:subscription_succeeded");
    expect(states).toEqual(["reconnecting", "connected"]);
    vi.advanceTimersByTime(60_000);
    expect(pusher.connects).toBe(2); // no retries once connected
  });

  it("never waits more than 10 s (+20 % jitter) between attempts, however long the outage", () => {
    vi.spyOn(Math, "random").mockReturnValue(0.9999); // the longest waits
    const { pusher } = connectedPair();
    pusher.setState("connecting");
    const attempts: number[] = [];
    for (let t = 0; t <= 120_000; t += 100) {
      const before = pusher.connects;
      vi.advanceTimersByTime(100);
      if (pusher.connects > before) attempts.push(t + 100);
      pusher.setState("unavailable"); // each attempt fails: the server is still away
    }
    const gaps = attempts.map((at, i) => at - (attempts[i - 1] ?? 0));
    expect(gaps.slice(0, 3)).toEqual([2400, 4800, 9600]);
    expect(Math.max(...gaps)).toBeLessThanOrEqual(12_000);
    expect(attempts.length).toBeGreaterThanOrEqual(11);
  });

  it('says "offline" after ten seconds without a connection', () => {
    const { connection, pusher } = connectedPair();
    pusher.setState("connecting");
    vi.advanceTimersByTime(9_000);
    expect(connection.state()).toBe("reconnecting");
    vi.advanceTimersByTime(1_500);
    expect(connection.state()).toBe("offline");
    pusher.setState("connected");
    pusher.channels.get("private-property-manager.7")!.emit("pusher:subscription_succeeded");
    expect(connection.state()).toBe("connected");
  });

  it("stops retrying once disconnected for good", () => {
    const { connection, pusher } = connectedPair();
    pusher.setState("connecting");
    connection.disconnect();
    const connects = pusher.connects;
    vi.advanceTimersByTime(120_000);
    expect(pusher.connects).toBe(connects);
  });
});
