// Two PMs in two browser contexts: each gets their own lead live, and never the other's (no toast,
// no bell item, not in the list), even after a reload.
//
// config: base, apiKey, first {pm, lead} and second {pm, lead}: each lead matches only its PM.
import { WAIT, card, login, run, seenAt, sleep, step, submitLead, toast, watchToast } from "./lib.mjs";

// `toastEver` comes from the in-page observer (a 5 s toast may be gone by the time it is read);
// `toastsNow` only matters for the other PM's lead, which must never have one.
async function sees(page, name) {
  return {
    toastEver: (await seenAt(page, name)) !== null,
    toastsNow: await toast(page, name).count(),
    bellItems: await page.getByTestId("bell-item").filter({ hasText: name }).count(),
    cards: await card(page, name).count(),
  };
}

run(async (config, tools) => {
  const { base, apiKey, first, second } = config;
  const browser = await tools.browser();
  const one = await tools.page(browser);
  const two = await tools.page(browser);

  step("both PMs log in, each in their own browser context");
  await Promise.all([login(one, base, first.pm), login(two, base, second.pm)]);
  for (const page of [one, two]) {
    await watchToast(page, first.lead.full_name);
    await watchToast(page, second.lead.full_name);
  }

  step("a lead for the first PM, then one for the second");
  const a = await submitLead(base, apiKey, first.lead);
  const b = await submitLead(base, apiKey, second.lead);
  await toast(one, first.lead.full_name).waitFor({ state: "visible", timeout: WAIT });
  await toast(two, second.lead.full_name).waitFor({ state: "visible", timeout: WAIT });
  await card(one, first.lead.full_name).waitFor();
  await card(two, second.lead.full_name).waitFor();
  await sleep(1500); // time for a stray event to arrive, if there were one

  step("neither sees the other's lead");
  const live = {
    firstSeesOwn: await sees(one, first.lead.full_name),
    firstSeesOther: await sees(one, second.lead.full_name),
    secondSeesOwn: await sees(two, second.lead.full_name),
    secondSeesOther: await sees(two, first.lead.full_name),
  };

  step("nor after a reload");
  await two.reload({ waitUntil: "domcontentloaded" });
  await card(two, second.lead.full_name).waitFor();
  // The inbox loads apart from the lead list: read the bell once it has (one page, all at once).
  await two.getByTestId("bell-item").first().waitFor({ state: "attached" });
  const afterReload = {
    secondCards: await two.getByTestId("lead-card").locator(".lead-card__name").allInnerTexts(),
    secondBellItems: await two.getByTestId("bell-item").allInnerTexts(),
  };

  return { recipients: [a.body.recipients, b.body.recipients], live, afterReload };
});
