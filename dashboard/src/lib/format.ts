import type { InboxItem, LeadDistributedEvent, LeadItem } from "../api";

type LeadLike = Pick<
  LeadItem,
  "street_address" | "city" | "state" | "zip_code" | "number_of_units" | "property_type"
>;

export function address(lead: LeadLike): string {
  const place = `${lead.city}, ${lead.state} ${lead.zip_code}`.trim();
  return lead.street_address ? `${lead.street_address}, ${place}` : place;
}

export function units(count: number | null): string {
  if (count === null || count === undefined) return "units not given";
  return count === 1 ? "1 unit" : `${count.toLocaleString("en-US")} units`;
}

export function propertyLabel(type: string): string {
  return type.replace(/-/g, " ").replace(/^\w/, (c) => c.toUpperCase());
}

const RELATIVE = new Intl.RelativeTimeFormat("en", { numeric: "auto" });

/** "just now", "5 min ago", "3 hours ago", or a date. */
export function timeAgo(iso: string, now = Date.now()): string {
  const then = Date.parse(iso);
  if (Number.isNaN(then)) return "";
  const seconds = Math.round((then - now) / 1000);
  if (Math.abs(seconds) < 45) return "just now";
  const minutes = Math.round(seconds / 60);
  if (Math.abs(minutes) < 60) return RELATIVE.format(minutes, "minute");
  const hours = Math.round(minutes / 60);
  if (Math.abs(hours) < 24) return RELATIVE.format(hours, "hour");
  return new Date(then).toLocaleDateString("en-US", { month: "short", day: "numeric" });
}

/** The bell badge text: hidden (null) at zero, the number up to nine, "9+" above. */
export function badgeText(count: number): string | null {
  if (count <= 0) return null;
  return count > 9 ? "9+" : String(count);
}

/** The tab title: "(3) leadcast", plain "leadcast" at zero. */
export function tabTitle(count: number, app = "leadcast"): string {
  if (count <= 0) return app;
  return `(${count > 99 ? "99+" : count}) ${app}`;
}

export function leadSummary(event: LeadDistributedEvent): string {
  const { lead } = event;
  return `${lead.full_name} · ${propertyLabel(lead.property_type)} · ${units(lead.number_of_units)}`;
}

/** What a screen reader hears for a lead toast: its text, without the link and close button. */
export function alertText(item: InboxItem): string {
  const { lead, score } = item.payload;
  return [
    `${item.title} ${item.message}.`,
    `${leadSummary(item.payload)}.`,
    `${address(lead)}.`,
    `${score.badge.text}, score ${score.score}.`,
  ].join(" ");
}
