import { TRANSITIONS, type LeadStatus } from "../api";
import { useLeadStatus } from "./hooks";

const ACTIONS: Partial<Record<LeadStatus, { label: string; style: string }>> = {
  accepted: { label: "Accept", style: "button--primary" },
  declined: { label: "Decline", style: "button--quiet" },
  contacted: { label: "Mark contacted", style: "button--primary" },
  won: { label: "Won", style: "" },
  lost: { label: "Lost", style: "button--quiet" },
};

/** The workflow buttons a lead's status allows (accept/decline, contacted, won/lost). */
export function LeadActions({ leadId, status, name }: { leadId: number; status: LeadStatus; name: string }) {
  const mutation = useLeadStatus();
  const next = (TRANSITIONS[status] ?? []).filter((target) => ACTIONS[target]);
  if (next.length === 0) return null;
  return (
    <div className="lead-actions" role="group" aria-label={`Actions for ${name}`}>
      {next.map((target) => {
        const action = ACTIONS[target]!;
        return (
          <button
            key={target}
            type="button"
            className={`button button--small ${action.style}`}
            disabled={mutation.isPending}
            onClick={() => mutation.mutate({ id: leadId, status: target })}
          >
            {action.label}
          </button>
        );
      })}
      {mutation.isError && (
        <span className="form-error" role="alert">
          {mutation.error.message}
        </span>
      )}
    </div>
  );
}
