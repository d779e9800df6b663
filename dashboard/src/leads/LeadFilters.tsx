import { useEffect, useState } from "react";
import { LEAD_STATUSES, PROPERTY_TYPES, TIERS, type LeadFilters as Filters } from "../api";
import { propertyLabel } from "../lib/format";

export const SEARCH_DELAY_MS = 300;

const capitalise = (text: string) => text.charAt(0).toUpperCase() + text.slice(1);

/** Status, tier and property type selects and a search box (applied after a short pause). */
export function LeadFilters({ value, onChange }: { value: Filters; onChange: (next: Filters) => void }) {
  const [search, setSearch] = useState(value.search ?? "");

  // Follow outside changes (e.g. "Clear filters").
  useEffect(() => setSearch(value.search ?? ""), [value.search]);

  useEffect(() => {
    if (search === (value.search ?? "")) return;
    const timer = setTimeout(() => onChange({ ...value, search }), SEARCH_DELAY_MS);
    return () => clearTimeout(timer);
  }, [search, value, onChange]);

  return (
    <form
      className="filters"
      role="search"
      aria-label="Filter leads"
      onSubmit={(event) => event.preventDefault()}
    >
      <label className="field field--grow">
        <span>Search</span>
        <input
          type="search"
          placeholder="Name, city, street or ZIP"
          value={search}
          onChange={(event) => setSearch(event.target.value)}
        />
      </label>
      <label className="field">
        <span>Status</span>
        <select
          value={value.status ?? ""}
          onChange={(event) => onChange({ ...value, status: event.target.value as Filters["status"] })}
        >
          <option value="">Any status</option>
          {LEAD_STATUSES.map((status) => (
            <option key={status} value={status}>
              {capitalise(status)}
            </option>
          ))}
        </select>
      </label>
      <label className="field">
        <span>Tier</span>
        <select
          value={value.tier ?? ""}
          onChange={(event) => onChange({ ...value, tier: event.target.value as Filters["tier"] })}
        >
          <option value="">Any tier</option>
          {TIERS.map((tier) => (
            <option key={tier} value={tier}>
              {capitalise(tier)}
            </option>
          ))}
        </select>
      </label>
      <label className="field">
        <span>Property type</span>
        <select
          value={value.property_type ?? ""}
          onChange={(event) => onChange({ ...value, property_type: event.target.value })}
        >
          <option value="">Any type</option>
          {PROPERTY_TYPES.map((type) => (
            <option key={type} value={type}>
              {propertyLabel(type)}
            </option>
          ))}
        </select>
      </label>
    </form>
  );
}
