// Keeps read state in step across the tabs of one PM (BroadcastChannel `leadcast:{userId}`).
// Only user actions are broadcast (read, all_read, clear): every tab has its own socket, so
// re-broadcasting socket events would count them twice. A receiving tab refetches.
export type TabMessage = { type: "read"; id: number } | { type: "all_read" } | { type: "clear" };

export interface TabSync {
  post(message: TabMessage): void;
  subscribe(listener: (message: TabMessage) => void): () => void;
  close(): void;
}

export const tabChannelName = (userId: number) => `leadcast:${userId}`;

export function createTabSync(userId: number): TabSync {
  if (typeof BroadcastChannel === "undefined") {
    return { post() {}, subscribe: () => () => {}, close() {} };
  }
  const channel = new BroadcastChannel(tabChannelName(userId));
  return {
    post: (message) => channel.postMessage(message),
    subscribe(listener) {
      const handler = (event: MessageEvent<TabMessage>) => listener(event.data);
      channel.addEventListener("message", handler);
      return () => channel.removeEventListener("message", handler);
    },
    close: () => channel.close(),
  };
}
