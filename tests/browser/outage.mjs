// The real-time server goes away while a lead is distributed, then comes back on the same port:
// the dashboard says so, reconnects by itself and shows the missed lead (catch-up from the inbox
// API, or the relay's retry, whichever is first) without a reload.
//
// The harness owns the real-time process: this scenario asks it to "stop-realtime" and
// "start-realtime" (JSON request lines on stdout, "ok" on stdin).
// config: base, apiKey, pm {email, password}, lead (for the PM), recoverMs (how long to wait).
import {
  WAIT,
  ask,
  badge,
  card,
  login,
  run,
  sleep,
  step,
  submitLead,
  waitForConnection,
  waitForTitle,
} from "./lib.mjs";

const names = (page) => (page.items ?? []).map((item) => item.payload?.lead?.full_name);

run(async (config, tools) => {
  const { base, apiKey, lead, recoverMs } = config;
  const browser = await tools.browser();
  const page = await tools.page(browser);

  step("log in; the tab is live");
  await login(page, base, config.pm);
  await page.evaluate(() => {
    window.__leadcastNoReload = true;
    window.__leadcastStates = [];
    const indicator = document.querySelector("[data-testid=connection-state]");
    const record = () => {
      const state = indicator.getAttribute("data-state");
      const states = window.__leadcastStates;
      if (states.at(-1)?.state !== state) states.push({ state, at: Date.now() });
    };
    new MutationObserver(record).observe(indicator, { attributes: true });
    record();
  });

  step("the real-time server stops");
  await ask("stop-realtime");
  const stoppedAt = Date.now();
  const downState = await waitForConnection(page, "reconnecting", "offline");
  const noticedMs = Date.now() - stoppedAt;

  step("a lead is distributed while it is down");
  const submitted = await submitLead(base, apiKey, lead);
  await sleep(1000);
  const whileDown = {
    badge: await badge(page),
    cards: await card(page, lead.full_name).count(),
    state: await page.getByTestId("connection-state").getAttribute("data-state"),
  };

  step("the real-time server is back on the same port");
  // What the catch-up requests (GET /api/notifications?after=…) bring back, for the report.
  const catchUps = [];
  page.on("response", (response) => {
    const url = new URL(response.url());
    if (url.pathname !== "/api/notifications" || !url.searchParams.has("after")) return;
    catchUps.push(
      response
        .json()
        .then((body) => ({ after: url.searchParams.get("after"), names: names(body) }))
        .catch((error) => ({ after: url.searchParams.get("after"), error: String(error) })),
    );
  });
  await ask("start-realtime");
  const restartedAt = Date.now();

  step("the dashboard reconnects and shows the missed lead");
  const deadline = { timeout: recoverMs ?? 15_000 };
  const item = page.getByTestId("bell-item").filter({ hasText: lead.full_name });
  const reconnected = page
    .locator("[data-testid=connection-state][data-state=connected]")
    .waitFor(deadline)
    .then(() => Date.now() - restartedAt);
  const inBell = item.waitFor({ state: "attached", ...deadline }).then(() => Date.now() - restartedAt);
  const inList = card(page, lead.full_name)
    .waitFor(deadline)
    .then(() => Date.now() - restartedAt);
  const [reconnectedMs, bellMs, listMs] = await Promise.all([reconnected, inBell, inList]);
  await page.waitForFunction(
    () => document.querySelector("[data-testid=bell-badge]")?.textContent.trim() === "1",
    null,
    { timeout: WAIT },
  );
  await waitForTitle(page, "(1) leadcast"); // set by an effect after the badge renders

  return {
    downState,
    noticedMs,
    submitted: submitted.body,
    whileDown,
    reconnectedMs,
    bellMs,
    listMs,
    after: {
      badge: await badge(page),
      title: await page.title(),
      toasts: await page.getByTestId("lead-toast").filter({ hasText: lead.full_name }).count(),
      noReload: await page.evaluate(() => window.__leadcastNoReload === true),
    },
    catchUps: await Promise.all(catchUps),
    states: await page.evaluate(() => window.__leadcastStates.map(({ state, at }) => ({ state, at }))),
    restartedAt,
    stoppedAt,
  };
});
