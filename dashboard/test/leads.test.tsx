import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import type { LeadDetail, LeadFilters, LeadItem, LeadPage } from "../src/api";
import { harness, leadEvent, renderApp } from "./fakes";

function leadItem(id: number, overrides: Partial<LeadItem> = {}): LeadItem {
  const event = leadEvent(id, "excellent", `Jordan Lee ${id}`);
  return {
    ...event.lead,
    status: "new",
    score: event.score,
    viewed_at: null,
    updated_at: event.lead.created_at,
    ...overrides,
  } as LeadItem;
}

const page = (items: LeadItem[], total = items.length, pageNo = 1): LeadPage => ({
  items,
  page: pageNo,
  per_page: 20,
  total,
});

describe("lead list", () => {
  it("shows each lead with its score badge, reasons and the allowed actions", async () => {
    const h = harness({ leads: async () => page([leadItem(1), leadItem(2, { status: "accepted" })]) });
    renderApp(h);
    const cards = await screen.findAllByTestId("lead-card");
    expect(cards).toHaveLength(2);
    const first = cards[0]!;
    expect(first).toHaveTextContent("Jordan Lee 1");
    expect(first).toHaveTextContent("🔥 High Value");
    expect(within(first).getByRole("list", { name: /Why this lead/ })).toHaveTextContent(
      "Matches your preferred property types",
    );
    expect(within(first).getByRole("button", { name: "Accept" })).toBeInTheDocument();
    expect(within(first).getByRole("button", { name: "Decline" })).toBeInTheDocument();
    expect(within(cards[1]!).getByRole("button", { name: "Mark contacted" })).toBeInTheDocument();
    expect(within(cards[1]!).queryByRole("button", { name: "Accept" })).toBeNull();
  });

  it("accept calls the status route and refreshes the list", async () => {
    const user = userEvent.setup();
    const h = harness({ leads: async () => page([leadItem(1)]) });
    h.api.setLeadStatus.mockResolvedValue({ ...leadItem(1, { status: "accepted" }) } as LeadDetail);
    renderApp(h);
    const card = (await screen.findAllByTestId("lead-card"))[0]!;
    const calls = h.api.leads.mock.calls.length;
    await user.click(within(card).getByRole("button", { name: "Accept" }));
    expect(h.api.setLeadStatus).toHaveBeenCalledWith(1001, "accepted");
    await waitFor(() => expect(h.api.leads.mock.calls.length).toBeGreaterThan(calls));
  });

  it("filters by status, tier and property type, searches, and pages", async () => {
    const user = userEvent.setup();
    const h = harness({ leads: async (filters: LeadFilters) => page([leadItem(1)], 45, filters.page ?? 1) });
    renderApp(h);
    await screen.findAllByTestId("lead-card");
    await user.selectOptions(screen.getByRole("combobox", { name: "Status" }), "accepted");
    await user.selectOptions(screen.getByRole("combobox", { name: "Tier" }), "excellent");
    await user.selectOptions(screen.getByRole("combobox", { name: "Property type" }), "condo");
    await user.type(screen.getByRole("searchbox", { name: "Search" }), "austin");
    // The search applies after a pause (SEARCH_DELAY_MS); a busy machine may add to it.
    await waitFor(
      () =>
        expect(h.api.leads).toHaveBeenLastCalledWith({
          status: "accepted",
          tier: "excellent",
          property_type: "condo",
          search: "austin",
          page: 1,
          per_page: 20,
        }),
      { timeout: 5000 },
    );
    expect(await screen.findByText("Page 1 of 3", {}, { timeout: 5000 })).toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Next" }));
    await waitFor(() => expect(h.api.leads).toHaveBeenLastCalledWith(expect.objectContaining({ page: 2 })), {
      timeout: 5000,
    });
    expect(await screen.findByText("Page 2 of 3", {}, { timeout: 5000 })).toBeInTheDocument();
  });

  it("opens a lead with contact details from its link", async () => {
    const h = harness({ leads: async () => page([leadItem(1)]) });
    h.api.lead.mockResolvedValue({
      ...leadItem(1, { status: "viewed" }),
      email: "jordan@example.com",
      phone: "+1 512 555 0100",
      source: "website",
      score_breakdown: [{ points: 30, text: "Base" }],
      responded_at: null,
      contacted_at: null,
      closed_at: null,
      allowed_transitions: ["accepted", "declined"],
    });
    window.location.hash = "#/leads?lead=1001";
    renderApp(h);
    const panel = await screen.findByRole("region", { name: "Jordan Lee 1" });
    expect(h.api.lead).toHaveBeenCalledWith(1001);
    expect(within(panel).getByRole("link", { name: "jordan@example.com" })).toHaveAttribute(
      "href",
      "mailto:jordan@example.com",
    );
    expect(within(panel).getByRole("button", { name: "Accept" })).toBeInTheDocument();
  });
});
