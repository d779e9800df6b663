import type { LeadItem } from "../api";
import { ScoreBadge } from "../components/ScoreBadge";
import { address, propertyLabel, timeAgo, units } from "../lib/format";
import { leadHref } from "../router";
import { LeadActions } from "./LeadActions";

export function StatusPill({ status }: { status: string }) {
  return <span className={`status-pill status-${status}`}>{status}</span>;
}

export function LeadCard({ lead, highlighted }: { lead: LeadItem; highlighted: boolean }) {
  return (
    <li
      className={`lead-card tier-${lead.score.tier}${highlighted ? " lead-card--highlighted" : ""}`}
      data-testid="lead-card"
      data-lead-id={lead.id}
    >
      <div className="lead-card__main">
        <div className="lead-card__head">
          <h3 className="lead-card__name">
            <a href={leadHref(lead.id)}>{lead.full_name}</a>
          </h3>
          <ScoreBadge score={lead.score} />
          <StatusPill status={lead.status} />
        </div>
        <p className="lead-card__facts">
          {propertyLabel(lead.property_type)} · {units(lead.number_of_units)} · {address(lead)}
        </p>
        {lead.score.reasons.length > 0 && (
          <ul className="reasons" aria-label="Why this lead scores well">
            {lead.score.reasons.map((reason) => (
              <li key={reason}>{reason}</li>
            ))}
          </ul>
        )}
      </div>
      <div className="lead-card__side">
        <time className="lead-card__time" dateTime={lead.created_at}>
          {timeAgo(lead.created_at)}
        </time>
        <LeadActions leadId={lead.id} status={lead.status} name={lead.full_name} />
      </div>
    </li>
  );
}
