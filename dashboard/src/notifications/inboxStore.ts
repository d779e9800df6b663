// The bell's state: recent inbox items, newest first, and the unread count.
//
// The database is the inbox; the socket only nudges. Items arrive three ways: a snapshot of the
// newest page (GET /api/notifications), a catch-up page after a (re)connect (`after` = the
// newest id this tab knows), and live `lead.distributed` events. Every notification id is
// accepted once (`accept` returns only ids never seen before), so a lead that comes both live
// and in a catch-up is shown and counted once.
//
// The unread count is the server's count from the last page plus the unread items that reached
// this tab after that page was requested (`pending`): an event is broadcast only after its row
// is committed, so anything received before the request is already in the server's count.
import type { InboxItem, InboxPage, LeadDistributedEvent } from "../api";

export const MAX_ITEMS = 50;

export interface InboxState {
  items: InboxItem[];
  serverUnread: number;
  /** Ids received after the last counted page was requested (not in serverUnread). */
  pending: ReadonlySet<number>;
  loaded: boolean;
}

export function unreadCount(state: InboxState): number {
  let extra = 0;
  for (const item of state.items) {
    if (state.pending.has(item.id) && !item.read_at) extra += 1;
  }
  return state.serverUnread + extra;
}

export function itemFromEvent(event: LeadDistributedEvent): InboxItem {
  return {
    id: event.notification_id,
    lead_id: event.lead.id,
    user_lead_id: event.lead.user_lead_id,
    tier: event.score.tier,
    title: event.notification.title,
    message: event.notification.message,
    priority: event.notification.priority,
    payload: event,
    created_at: new Date().toISOString(),
    seen_at: null,
    read_at: null,
  };
}

const byNewest = (a: InboxItem, b: InboxItem) => b.id - a.id;

export class InboxStore {
  private state: InboxState = { items: [], serverUnread: 0, pending: new Set(), loaded: false };
  private readonly known = new Set<number>();
  /** Request generation: when each item arrived, relative to page requests. */
  private seq = 0;
  private readonly arrivedAt = new Map<number, number>();
  private readonly listeners = new Set<() => void>();

  getState = (): InboxState => this.state;

  subscribe = (listener: () => void): (() => void) => {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  };

  /** The newest notification id this tab has ever known (cleared ones included), or 0. */
  newestId(): number {
    let newest = 0;
    for (const id of this.known) if (id > newest) newest = id;
    return newest;
  }

  /** Call just before requesting a page; pass the result to applyPage. Items that arrive from
   * now on are stamped with this number, earlier ones with smaller numbers. */
  beginRequest(): number {
    this.seq += 1;
    return this.seq;
  }

  /**
   * Apply a page. `replace`: a snapshot of the newest page (items the tab knew before the
   * request and that are missing were cleared elsewhere). Otherwise a catch-up page, merged in.
   * Returns the items that are new to this tab (to announce).
   */
  applyPage(page: InboxPage, requestSeq: number, replace: boolean): InboxItem[] {
    const fresh = page.items.filter((item) => !this.known.has(item.id));
    fresh.forEach((item) => this.remember(item.id));
    const inPage = new Set(page.items.map((item) => item.id));
    const arrivedLater = (item: InboxItem) =>
      !inPage.has(item.id) && (this.arrivedAt.get(item.id) ?? 0) >= requestSeq;
    const kept = replace
      ? this.state.items.filter(arrivedLater)
      : this.state.items.filter((item) => !inPage.has(item.id));
    const items = [...page.items, ...kept].sort(byNewest).slice(0, MAX_ITEMS);
    const pending = new Set(items.filter(arrivedLater).map((item) => item.id));
    this.set({ items, serverUnread: page.unread_count, pending, loaded: true });
    return fresh;
  }

  /** A live event; returns the item when it is new to this tab, null for a duplicate. */
  acceptLive(event: LeadDistributedEvent): InboxItem | null {
    const id = event.notification_id;
    if (typeof id !== "number" || this.known.has(id)) return null;
    this.remember(id);
    const item = itemFromEvent(event);
    const pending = new Set(this.state.pending).add(id);
    const items = [item, ...this.state.items].sort(byNewest).slice(0, MAX_ITEMS);
    this.set({ ...this.state, items, pending });
    return item;
  }

  markRead(id: number): void {
    const now = new Date().toISOString();
    let serverUnread = this.state.serverUnread;
    const items = this.state.items.map((item) => {
      if (item.id !== id || item.read_at) return item;
      if (!this.state.pending.has(id)) serverUnread = Math.max(0, serverUnread - 1);
      return { ...item, read_at: now, seen_at: item.seen_at ?? now };
    });
    this.set({ ...this.state, items, serverUnread });
  }

  markAllRead(): void {
    const now = new Date().toISOString();
    const items = this.state.items.map((item) => (item.read_at ? item : { ...item, read_at: now }));
    this.set({ ...this.state, items, serverUnread: 0 });
  }

  clear(): void {
    this.set({ ...this.state, items: [], serverUnread: 0, pending: new Set() });
  }

  private remember(id: number) {
    this.known.add(id);
    this.arrivedAt.set(id, this.seq);
  }

  private set(next: InboxState) {
    this.state = next;
    this.listeners.forEach((listener) => listener());
  }
}
