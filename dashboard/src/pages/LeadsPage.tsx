import { useCallback, useState } from "react";
import type { LeadFilters as Filters } from "../api";
import { LeadCard } from "../leads/LeadCard";
import { LeadDetailPanel } from "../leads/LeadDetailPanel";
import { LeadFilters } from "../leads/LeadFilters";
import { Pagination } from "../leads/Pagination";
import { PER_PAGE, useLeads } from "../leads/hooks";
import { useLocation } from "../router";

const NO_FILTERS: Filters = { status: "", tier: "", property_type: "", search: "" };

export function LeadsPage() {
  const { params } = useLocation();
  const openLead = Number(params.get("lead")) || null;
  const [filters, setFilters] = useState<Filters>(NO_FILTERS);
  const [page, setPage] = useState(1);
  const { data, error, isPending, isFetching } = useLeads({ ...filters, page });

  const changeFilters = useCallback((next: Filters) => {
    setFilters(next);
    setPage(1);
  }, []);
  const filtered = Object.values(filters).some(Boolean);

  return (
    <main className="page leads">
      <div className="page__title-row">
        <h1>Your leads</h1>
        <span className="muted" aria-live="polite">
          {data ? `${data.total} ${data.total === 1 ? "lead" : "leads"}` : ""}
          {isFetching && data ? " · updating…" : ""}
        </span>
      </div>
      {openLead && <LeadDetailPanel key={openLead} leadId={openLead} />}
      <LeadFilters value={filters} onChange={changeFilters} />
      {error && (
        <p className="form-error" role="alert">
          Could not load your leads: {error.message}
        </p>
      )}
      {isPending && <p className="muted">Loading leads…</p>}
      {data && data.items.length === 0 && (
        <div className="empty card">
          <p className="empty__title">{filtered ? "No leads match these filters" : "No leads yet"}</p>
          <p>{filtered ? "Try a wider search." : "New leads appear here the moment they are sent to you."}</p>
          {filtered && (
            <button type="button" className="button button--small" onClick={() => changeFilters(NO_FILTERS)}>
              Clear filters
            </button>
          )}
        </div>
      )}
      {data && data.items.length > 0 && (
        <ul className="lead-list" aria-label="Leads">
          {data.items.map((lead) => (
            <LeadCard key={lead.user_lead_id} lead={lead} highlighted={lead.id === openLead} />
          ))}
        </ul>
      )}
      {data && (
        <Pagination
          page={data.page}
          perPage={data.per_page || PER_PAGE}
          total={data.total}
          onPage={setPage}
        />
      )}
    </main>
  );
}
