// The bell's read state: mark one read (opening it), mark all read, clear all; the badge hides at
// zero, the tab title follows, Esc closes the popover and returns focus, and a reload agrees.
// A second tab of the same PM (same browser context) follows each change through the real
// BroadcastChannel: its badge and title change without a reload or a socket event.
//
// config: base, apiKey, pm {email, password}, leads (three for the PM), extra (one more).
import {
  badge,
  bellButton,
  card,
  login,
  openBell,
  run,
  step,
  submitLead,
  waitForBadge,
  waitForConnection,
  waitForTitle,
} from "./lib.mjs";

/** Wait until the other tab shows `count` unread (badge and title), then describe it. */
async function follows(page, count) {
  await waitForBadge(page, count ? String(count) : null);
  await waitForTitle(page, count ? `(${count}) leadcast` : "leadcast");
  return bellState(page);
}

async function bellState(page) {
  const items = page.getByTestId("bell-item");
  return {
    badge: await badge(page),
    title: await page.title(),
    items: await items.count(),
    unread: await page.locator("[data-testid=bell-item].bell-item--unread").count(),
  };
}

run(async (config, tools) => {
  const { base, apiKey, leads, extra } = config;
  const browser = await tools.browser();
  const page = await tools.page(browser);
  const popover = page.getByRole("region", { name: "Notifications" });

  step("log in and receive three leads");
  await login(page, base, config.pm);
  for (const lead of leads) await submitLead(base, apiKey, lead);
  await waitForBadge(page, String(leads.length));
  await waitForTitle(page, `(${leads.length}) leadcast`);
  const received = await bellState(page);

  step("a second tab of the same PM");
  const other = await tools.tab(page);
  await other.goto(base, { waitUntil: "domcontentloaded" });
  await other.getByRole("heading", { name: "Your leads" }).waitFor();
  await waitForConnection(other, "connected");
  const otherTab = { received: await follows(other, leads.length) };

  step("Esc closes the bell and returns focus to it");
  await openBell(page);
  await page.keyboard.press("Escape");
  await popover.waitFor({ state: "hidden" });
  const escape = {
    expanded: await bellButton(page).getAttribute("aria-expanded"),
    focusOnBell: await bellButton(page).evaluate((el) => el === document.activeElement),
  };

  step("mark one read by opening it");
  await openBell(page);
  const newest = page.getByTestId("bell-item").first();
  const openedName = leads.at(-1).full_name;
  await newest.filter({ hasText: openedName }).waitFor();
  await newest.getByRole("link").click();
  await waitForBadge(page, String(leads.length - 1));
  await waitForTitle(page, `(${leads.length - 1}) leadcast`);
  const afterOpen = {
    ...(await bellState(page)),
    popoverOpen: await popover.isVisible(),
    hash: await page.evaluate(() => location.hash),
  };
  await openBell(page);
  const openedIsRead = !(await newest.getAttribute("class")).includes("bell-item--unread");
  step("mark one read: the other tab follows");
  otherTab.afterOpen = await follows(other, leads.length - 1);

  step("mark all read");
  await page.getByRole("button", { name: "Mark all read" }).click();
  await waitForBadge(page, null);
  await waitForTitle(page, "leadcast");
  await page.getByRole("button", { name: "Mark all read" }).and(page.locator(":disabled")).waitFor();
  const afterAllRead = await bellState(page);
  step("mark all read: the other tab follows");
  otherTab.afterAllRead = await follows(other, 0);

  step("one more lead, then clear all");
  await submitLead(base, apiKey, extra);
  await waitForBadge(page, "1");
  await page.getByTestId("bell-item").filter({ hasText: extra.full_name }).waitFor();
  const beforeClear = await bellState(page);
  step("the extra lead reaches the other tab through its own socket");
  otherTab.beforeClear = await follows(other, 1);
  await page.getByRole("button", { name: "Clear all" }).click();
  await page.getByText("You're all caught up").waitFor();
  await waitForBadge(page, null);
  await waitForTitle(page, "leadcast");
  const afterClear = await bellState(page);
  step("clear all: the other tab follows");
  otherTab.afterClear = await follows(other, 0);

  step("a reload agrees (the server kept the read state)");
  await page.reload({ waitUntil: "domcontentloaded" });
  await page.getByRole("heading", { name: "Your leads" }).waitFor();
  await card(page, extra.full_name).waitFor();
  await openBell(page);
  await page.getByText("You're all caught up").waitFor();
  const afterReload = {
    ...(await bellState(page)),
    cards: await page.getByTestId("lead-card").count(),
  };

  return {
    received,
    escape,
    afterOpen,
    openedIsRead,
    afterAllRead,
    beforeClear,
    afterClear,
    afterReload,
    otherTab,
  };
});
