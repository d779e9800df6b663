import { ApiError } from "../api";
import { ScoreBadge } from "../components/ScoreBadge";
import { address, propertyLabel, units } from "../lib/format";
import { leadsHref } from "../router";
import { useLead } from "./hooks";
import { LeadActions } from "./LeadActions";
import { StatusPill } from "./LeadCard";

/** The opened lead (#/leads?lead=ID): contact details, full score breakdown, actions. */
export function LeadDetailPanel({ leadId }: { leadId: number }) {
  const { data: lead, error, isPending } = useLead(leadId);
  return (
    <section className="card lead-detail" aria-labelledby="lead-detail-title">
      <div className="lead-detail__head">
        <h2 id="lead-detail-title">{lead ? lead.full_name : "Lead"}</h2>
        <a className="link-button" href={leadsHref}>
          Close
        </a>
      </div>
      {isPending && <p>Loading…</p>}
      {error && (
        <p className="form-error" role="alert">
          {error instanceof ApiError && error.status === 404
            ? "This lead is not available to you."
            : error.message}
        </p>
      )}
      {lead && (
        <>
          <div className="lead-card__head">
            <ScoreBadge score={lead.score} />
            <StatusPill status={lead.status} />
          </div>
          <dl className="lead-detail__facts">
            <dt>Property</dt>
            <dd>
              {propertyLabel(lead.property_type)} · {units(lead.number_of_units)}
            </dd>
            <dt>Address</dt>
            <dd>{address(lead)}</dd>
            <dt>Email</dt>
            <dd>{lead.email ? <a href={`mailto:${lead.email}`}>{lead.email}</a> : "—"}</dd>
            <dt>Phone</dt>
            <dd>{lead.phone ? <a href={`tel:${lead.phone}`}>{lead.phone}</a> : "—"}</dd>
            {lead.source && (
              <>
                <dt>Source</dt>
                <dd>{lead.source}</dd>
              </>
            )}
          </dl>
          {lead.score_breakdown?.length > 0 && (
            <details className="breakdown">
              <summary>How the score of {lead.score.score} adds up</summary>
              <ul>
                {lead.score_breakdown.map((rule, index) => (
                  <li key={index}>
                    <span className="breakdown__points">
                      {rule.points > 0 ? `+${rule.points}` : rule.points}
                    </span>{" "}
                    {rule.text}
                  </li>
                ))}
              </ul>
            </details>
          )}
          <LeadActions leadId={lead.id} status={lead.status} name={lead.full_name} />
        </>
      )}
    </section>
  );
}
