// Shared helpers of the browser scenarios: Debian's Chromium driven by playwright-core against a
// real `leadcast up` that tests/browser/test_dashboard_browser.py started.
//
// A scenario is run as `node <scenario>.mjs '<config JSON>'`. It prints JSON lines on stdout:
// zero or more requests `{"await": "<name>"}` (the harness does it, e.g. stops the real-time
// server, then answers with one line on stdin), and last one result line `{"ok": true, ...}` or
// `{"ok": false, "error": ..., "step": ...}`. Every wait is bounded (WAIT, 10 s, unless a scenario
// says otherwise) and the whole scenario by a watchdog, so a broken dashboard fails, never hangs.
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { chromium } from "playwright-core";

export const CHROMIUM = process.env.LEADCAST_CHROMIUM || "/usr/bin/chromium";
export const WAIT = 10_000;
export const VIEWPORT = { width: 1280, height: 800 };
const WATCHDOG_MS = 90_000;

// launch() gives every browser a fresh temporary user-data dir (playwright_chromiumdev_profile-*)
// and removes it on close; nothing is shared between runs or scenarios.
export const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

let currentStep = "start";
/** Name what the scenario is doing; a failure reports the step it happened in. */
export function step(name) {
  currentStep = name;
}

export function emit(message) {
  process.stdout.write(`${JSON.stringify(message)}\n`);
}

const stdinLines = (() => {
  let reader = null;
  const queue = [];
  const waiting = [];
  return {
    next() {
      if (!reader) {
        reader = createInterface({ input: process.stdin });
        reader.on("line", (line) => (waiting.length ? waiting.shift()(line) : queue.push(line)));
      }
      return queue.length ? Promise.resolve(queue.shift()) : new Promise((r) => waiting.push(r));
    },
    close() {
      reader?.close();
    },
  };
})();

/** Ask the harness to do something (e.g. "stop-realtime") and wait for its answer. */
export async function ask(request, timeout = 30_000) {
  emit({ await: request });
  const answer = await within(stdinLines.next(), timeout, `the harness to ${request}`);
  if (answer.trim() !== "ok") throw new Error(`harness could not ${request}: ${answer}`);
}

export function within(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

export async function launch() {
  return chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
    timeout: 20_000,
  });
}

/** A browser context at 1280×800 whose page errors are collected in `page.leadcastErrors`. */
export async function newPage(browser) {
  const context = await browser.newContext({
    viewport: VIEWPORT,
    deviceScaleFactor: 1,
    locale: "en-US",
    timezoneId: "America/Chicago",
    colorScheme: "light",
  });
  context.setDefaultTimeout(WAIT);
  return collectErrors(await context.newPage());
}

/** Another tab in `page`'s browser context: same origin storage, so the same logged-in PM. */
export async function newTab(page) {
  return collectErrors(await page.context().newPage());
}

function collectErrors(page) {
  page.leadcastErrors = [];
  page.leadcastConsole = [];
  page.on("pageerror", (error) => page.leadcastErrors.push(String(error?.stack || error)));
  page.on("console", (message) => {
    if (message.type() === "error") page.leadcastConsole.push(message.text().slice(0, 300));
  });
  return page;
}

/** Log in through the form, then wait until the tab is live (socket open, channel subscribed). */
export async function login(page, base, { email, password }) {
  await page.goto(base, { waitUntil: "domcontentloaded" });
  await page.getByLabel("Email").fill(email);
  await page.getByLabel("Password").fill(password);
  await page.getByRole("button", { name: "Log in" }).click();
  await page.getByRole("heading", { name: "Your leads" }).waitFor();
  await waitForConnection(page, "connected");
}

export async function waitForConnection(page, ...states) {
  const selector = states.map((s) => `[data-testid=connection-state][data-state=${s}]`).join(",");
  await page.locator(selector).first().waitFor();
  return page.getByTestId("connection-state").getAttribute("data-state");
}

/** POST /api/leads with the lead-source key; times are Date.now() on this machine. */
export async function submitLead(base, apiKey, lead) {
  const sentAt = Date.now();
  const response = await fetch(`${base}/api/leads`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-api-key": apiKey },
    body: JSON.stringify(lead),
    signal: AbortSignal.timeout(WAIT),
  });
  const receivedAt = Date.now();
  const body = await response.json().catch(() => null);
  if (response.status !== 201) {
    throw new Error(`POST /api/leads answered ${response.status}: ${JSON.stringify(body)}`);
  }
  return { body, sentAt, receivedAt };
}

/**
 * Record in the page when a toast naming `name` is first laid out (Date.now(), the same clock as
 * Node's): `window.__leadcastSeen[name]`. A MutationObserver sees it in the same frame React adds
 * it, without the polling delay of a Playwright wait.
 */
export async function watchToast(page, name) {
  await page.evaluate((name) => {
    const seen = (window.__leadcastSeen ??= {});
    const check = () => {
      if (seen[name]) return;
      for (const toast of document.querySelectorAll("[data-testid=lead-toast]")) {
        const box = toast.getBoundingClientRect();
        if (toast.textContent.includes(name) && box.width > 0 && box.height > 0) {
          seen[name] = Date.now();
          observer.disconnect();
          return;
        }
      }
    };
    const observer = new MutationObserver(check);
    observer.observe(document.body, { childList: true, subtree: true, characterData: true });
    check();
  }, name);
}

export function seenAt(page, name) {
  return page.evaluate((name) => window.__leadcastSeen?.[name] ?? null, name);
}

export const toast = (page, name) => page.getByTestId("lead-toast").filter({ hasText: name });
export const card = (page, name) => page.getByTestId("lead-card").filter({ hasText: name });
export const bellButton = (page) => page.getByRole("button", { name: /^Notifications/ });

/** The badge text, or null when the badge is not shown. */
export async function badge(page) {
  const el = page.getByTestId("bell-badge");
  return (await el.count()) && (await el.isVisible()) ? (await el.textContent()).trim() : null;
}

export async function waitForBadge(page, text) {
  await page.waitForFunction(
    (text) => {
      const el = document.querySelector("[data-testid=bell-badge]");
      const shown = el && el.getBoundingClientRect().width > 0 ? el.textContent.trim() : null;
      return shown === text;
    },
    text,
    { timeout: WAIT },
  );
}

export async function waitForTitle(page, title) {
  await page.waitForFunction((title) => document.title === title, title, { timeout: WAIT });
}

/** Open the bell popover (if closed) and wait for it to be visible. */
export async function openBell(page) {
  const button = bellButton(page);
  if ((await button.getAttribute("aria-expanded")) !== "true") await button.click();
  await page.getByRole("region", { name: "Notifications" }).waitFor();
}

/** Close every toast. Toasts also close by themselves, so one may be gone by the time it is clicked. */
export async function dismissToasts(page) {
  const close = page.getByRole("button", { name: /^Dismiss alert/ });
  for (let attempt = 0; attempt < 20 && (await close.count()) > 0; attempt += 1) {
    try {
      await close.first().click({ timeout: 1000 });
    } catch {
      // it expired (or was replaced) between the count and the click: count again
    }
  }
  await page.mouse.move(5, 790);
}

export async function screenshot(page, dir, name) {
  mkdirSync(dir, { recursive: true });
  const path = join(dir, name);
  await page.screenshot({ path, animations: "disabled", caret: "hide" });
  return path;
}

/**
 * Run a scenario: print its result as the last stdout line and exit. Any error becomes
 * `{"ok": false}` with the step it happened in (and a screenshot in `artifacts`, if given).
 */
export async function run(scenario) {
  const config = JSON.parse(process.argv[2] ?? "{}");
  const browsers = [];
  const pages = [];
  const watchdog = setTimeout(() => {
    emit({ ok: false, step: currentStep, error: `scenario exceeded ${WATCHDOG_MS} ms` });
    process.exit(1);
  }, WATCHDOG_MS);
  const tools = {
    async browser() {
      const browser = await launch();
      browsers.push(browser);
      return browser;
    },
    async page(browser) {
      const page = await newPage(browser);
      pages.push(page);
      return page;
    },
    async tab(page) {
      const tab = await newTab(page);
      pages.push(tab);
      return tab;
    },
  };
  let code = 0;
  try {
    const result = await scenario(config, tools);
    const pageErrors = pages.flatMap((page) => page.leadcastErrors);
    const consoleErrors = pages.flatMap((page) => page.leadcastConsole);
    emit({ ok: true, ...result, pageErrors, consoleErrors });
  } catch (error) {
    code = 1;
    const failure = { ok: false, step: currentStep, error: String(error?.stack || error) };
    if (config.artifacts) {
      failure.screenshots = [];
      for (const [index, page] of pages.entries()) {
        try {
          const name = `failure-${config.scenario ?? "scenario"}-${index}.png`;
          failure.screenshots.push(await screenshot(page, config.artifacts, name));
        } catch {
          // the page may be gone; the error says what happened
        }
      }
    }
    failure.pageErrors = pages.flatMap((page) => page.leadcastErrors);
    failure.consoleErrors = pages.flatMap((page) => page.leadcastConsole);
    emit(failure);
  } finally {
    for (const browser of browsers) await browser.close().catch(() => {});
    stdinLines.close();
    clearTimeout(watchdog);
  }
  process.exit(code);
}
