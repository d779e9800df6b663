// A PM logs in; a lead is submitted through the API; the toast, the bell count, the tab title and
// the lead list follow without a reload. Takes toast.png, lead-list.png and bell-open.png.
//
// config: base, apiKey, pm {email, password}, first (an excellent lead for the PM), more (other
// leads for the PM), screenshots (dir), artifacts (dir for failure screenshots).
import {
  WAIT,
  badge,
  bellButton,
  card,
  dismissToasts,
  login,
  openBell,
  run,
  screenshot,
  seenAt,
  step,
  submitLead,
  toast,
  waitForBadge,
  waitForTitle,
  watchToast,
} from "./lib.mjs";

run(async (config, tools) => {
  const { base, apiKey, first, more } = config;
  const browser = await tools.browser();
  const page = await tools.page(browser);

  step("log in through the form");
  await login(page, base, config.pm);
  const before = { badge: await badge(page), title: await page.title() };
  // Survives only as long as the document does: proof that nothing below reloads the page.
  await page.evaluate(() => (window.__leadcastNoReload = true));

  step("submit a lead and wait for its toast");
  await watchToast(page, first.full_name);
  const submitted = await submitLead(base, apiKey, first);
  await toast(page, first.full_name).waitFor({ state: "visible", timeout: WAIT });
  const waitedAt = Date.now();
  const appearedAt = await seenAt(page, first.full_name);
  const firstToast = toast(page, first.full_name);
  // Hovering pauses the toast, so it is still there for the screenshot however long the waits
  // below take on a busy machine. The pointer stays on it until the screenshot is taken.
  await firstToast.locator(".toast__title").hover();
  const pausedOnHover = (await firstToast.getAttribute("data-paused")) === "true";
  const toastInfo = {
    className: await firstToast.getAttribute("class"),
    text: (await firstToast.innerText()).replace(/\s+/g, " ").trim(),
  };

  step("the bell count and the tab title rise");
  await waitForBadge(page, "1");
  await waitForTitle(page, "(1) leadcast");
  const afterFirst = {
    badge: await badge(page),
    title: await page.title(),
    bellLabel: await bellButton(page).getAttribute("aria-label"),
  };

  step("the lead list shows the lead without a reload");
  await card(page, first.full_name).waitFor();
  await page.getByText("· updating…").waitFor({ state: "hidden" });
  const toastStillVisible = await firstToast.isVisible();
  const toastShot = await screenshot(page, config.screenshots, "toast.png");

  step("more leads: the count follows and the list grows");
  for (const lead of more) await submitLead(base, apiKey, lead);
  const total = 1 + more.length;
  await waitForBadge(page, total > 9 ? "9+" : String(total));
  await waitForTitle(page, `(${total}) leadcast`);
  for (const lead of more) await card(page, lead.full_name).waitFor();
  await page.getByText("· updating…").waitFor({ state: "hidden" });
  const noReload = await page.evaluate(() => window.__leadcastNoReload === true);
  const cardNames = await page.getByTestId("lead-card").locator(".lead-card__name").allInnerTexts();

  step("lead-list.png");
  await dismissToasts(page);
  await page.getByTestId("lead-toast").first().waitFor({ state: "detached" });
  const listShot = await screenshot(page, config.screenshots, "lead-list.png");

  step("bell-open.png");
  await openBell(page);
  const items = page.getByTestId("bell-item");
  await items.nth(total - 1).waitFor({ state: "visible" });
  const bellItems = (await items.allInnerTexts()).map((t) => t.replace(/\s+/g, " ").trim());
  const bellShot = await screenshot(page, config.screenshots, "bell-open.png");

  return {
    before,
    latency: {
      // Date.now() in the page when the toast was laid out, minus when the POST answered / began.
      toastAfterResponseMs: appearedAt === null ? null : appearedAt - submitted.receivedAt,
      toastAfterRequestMs: appearedAt === null ? null : appearedAt - submitted.sentAt,
      // The same as Playwright saw it, its visibility polling included: for the report only.
      playwrightAfterResponseMs: waitedAt - submitted.receivedAt,
      postMs: submitted.receivedAt - submitted.sentAt,
    },
    firstLead: submitted.body,
    toast: toastInfo,
    toastStillVisible,
    pausedOnHover,
    afterFirst,
    noReload,
    cardNames,
    bellItems,
    screenshots: [toastShot, listShot, bellShot],
  };
});
