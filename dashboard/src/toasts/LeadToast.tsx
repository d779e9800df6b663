import { useEffect, useRef, useState } from "react";
import type { InboxItem } from "../api";
import { ScoreBadge } from "../components/ScoreBadge";
import { address, leadSummary } from "../lib/format";
import { leadHref } from "../router";
import { toastDuration } from "./toastTiming";

/**
 * One lead alert. It closes itself after 10 s (excellent) or 5 s; the timer pauses while the
 * pointer is over it or focus is inside it. Accept/decline live in the lead list: the toast
 * only links there.
 */
export function LeadToast({ item, onDismiss }: { item: InboxItem; onDismiss: (id: number) => void }) {
  const [hovered, setHovered] = useState(false);
  const [focused, setFocused] = useState(false);
  const paused = hovered || focused;
  const remaining = useRef(toastDuration(item.tier));

  useEffect(() => {
    if (paused) return;
    const started = Date.now();
    const timer = setTimeout(() => onDismiss(item.id), remaining.current);
    return () => {
      clearTimeout(timer);
      remaining.current = Math.max(0, remaining.current - (Date.now() - started));
    };
  }, [paused, item.id, onDismiss]);

  const { lead, score } = item.payload;
  return (
    <article
      className={`toast tier-${item.tier}`}
      data-testid="lead-toast"
      data-paused={paused || undefined}
      onMouseEnter={() => setHovered(true)}
      onMouseLeave={() => setHovered(false)}
      onFocus={() => setFocused(true)}
      onBlur={(event) => {
        if (!event.currentTarget.contains(event.relatedTarget as Node | null)) setFocused(false);
      }}
    >
      <div className="toast__head">
        <strong className="toast__title">{item.title}</strong>
        <ScoreBadge score={score} />
      </div>
      <p className="toast__message">{item.message}</p>
      <p className="toast__lead">{leadSummary(item.payload)}</p>
      <p className="toast__address">{address(lead)}</p>
      {score.reasons[0] && <p className="toast__reason">✓ {score.reasons[0]}</p>}
      <div className="toast__actions">
        <a className="button button--small" href={leadHref(lead.id)}>
          View lead
        </a>
        <button
          type="button"
          className="toast__close"
          aria-label={`Dismiss alert: ${lead.full_name}`}
          onClick={() => onDismiss(item.id)}
        >
          ×
        </button>
      </div>
    </article>
  );
}
