import { describe, expect, it } from "vitest";
import { InboxStore, unreadCount } from "../src/notifications/inboxStore";
import { inboxItem, inboxPage, leadEvent } from "./fakes";

describe("InboxStore", () => {
  it("accepts a notification id once, whether live or from a page", () => {
    const store = new InboxStore();
    expect(store.applyPage(inboxPage([inboxItem(1)]), store.beginRequest(), true)).toHaveLength(1);
    expect(store.acceptLive(leadEvent(2))).not.toBeNull();
    expect(store.acceptLive(leadEvent(2))).toBeNull();
    const fresh = store.applyPage(inboxPage([inboxItem(3), inboxItem(2)], 3), store.beginRequest(), false);
    expect(fresh.map((item) => item.id)).toEqual([3]);
    expect(store.getState().items.map((item) => item.id)).toEqual([3, 2, 1]);
    expect(unreadCount(store.getState())).toBe(3);
  });

  it("adds live items to the server count until a page covers them", () => {
    const store = new InboxStore();
    store.applyPage(inboxPage([inboxItem(1)]), store.beginRequest(), true);
    store.acceptLive(leadEvent(2));
    expect(unreadCount(store.getState())).toBe(2);
    // A page requested after event 2 arrived counts it already: no double count.
    store.applyPage(inboxPage([inboxItem(2), inboxItem(1)]), store.beginRequest(), false);
    expect(unreadCount(store.getState())).toBe(2);
  });

  it("keeps an event that arrives while a page is in flight", () => {
    const store = new InboxStore();
    const seq = store.beginRequest();
    store.acceptLive(leadEvent(5)); // committed after the page's query
    store.applyPage(inboxPage([inboxItem(4)]), seq, true);
    expect(store.getState().items.map((item) => item.id)).toEqual([5, 4]);
    expect(unreadCount(store.getState())).toBe(2);
  });

  it("drops items another tab cleared on a fresh snapshot", () => {
    const store = new InboxStore();
    store.applyPage(inboxPage([inboxItem(2), inboxItem(1)]), store.beginRequest(), true);
    store.applyPage(inboxPage([]), store.beginRequest(), true);
    expect(store.getState().items).toEqual([]);
    expect(unreadCount(store.getState())).toBe(0);
    expect(store.newestId()).toBe(2);
  });

  it("mark read, mark all read and clear update the count", () => {
    const store = new InboxStore();
    store.applyPage(
      inboxPage([inboxItem(3), inboxItem(2), inboxItem(1, "fair", true)]),
      store.beginRequest(),
      true,
    );
    store.acceptLive(leadEvent(4));
    expect(unreadCount(store.getState())).toBe(3);
    store.markRead(2);
    store.markRead(4);
    expect(unreadCount(store.getState())).toBe(1);
    store.markAllRead();
    expect(unreadCount(store.getState())).toBe(0);
    store.acceptLive(leadEvent(5));
    store.clear();
    expect(unreadCount(store.getState())).toBe(0);
    expect(store.acceptLive(leadEvent(5))).toBeNull();
  });
});
