import { useState, type Ref } from "react";
import type { InboxItem } from "../api";
import { address, leadSummary, timeAgo } from "../lib/format";
import { useNotifications } from "../notifications/NotificationsProvider";
import { leadHref, leadsHref } from "../router";
import { ScoreBadge } from "./ScoreBadge";
import { SoundToggle } from "./SoundToggle";

interface Props {
  id: string;
  ref: Ref<HTMLDivElement>;
  open: boolean;
  onNavigate: () => void;
}

/** The bell's panel: recent notifications, mark all read, clear all, "View all leads". */
export function BellPopover({ id, ref, open, onNavigate }: Props) {
  const { items, unreadCount, loaded, markRead, markAllRead, clearAll } = useNotifications();
  const [error, setError] = useState<string | null>(null);

  const run = (action: () => Promise<void>) => {
    setError(null);
    action().catch(() => setError("That did not work. Please try again."));
  };

  return (
    <div id={id} ref={ref} className="bell-popover" hidden={!open} role="region" aria-label="Notifications">
      <div className="bell-popover__head">
        <h2 className="bell-popover__title">Notifications</h2>
        <SoundToggle />
      </div>
      <div className="bell-popover__actions">
        <button
          type="button"
          className="link-button"
          disabled={unreadCount === 0}
          onClick={() => run(markAllRead)}
        >
          Mark all read
        </button>
        <button
          type="button"
          className="link-button"
          disabled={items.length === 0}
          onClick={() => run(clearAll)}
        >
          Clear all
        </button>
      </div>
      {error && (
        <p className="bell-popover__error" role="alert">
          {error}
        </p>
      )}
      {items.length === 0 ? (
        <div className="bell-empty">
          <p className="bell-empty__title">{loaded ? "You're all caught up" : "Loading…"}</p>
          {loaded && <p>New leads will show up here the moment they arrive.</p>}
        </div>
      ) : (
        <ul className="bell-list" aria-label="Recent notifications">
          {items.map((item) => (
            <NotificationRow
              key={item.id}
              item={item}
              onOpen={() => {
                run(() => markRead(item.id));
                onNavigate();
              }}
            />
          ))}
        </ul>
      )}
      <a className="bell-popover__footer" href={leadsHref} onClick={onNavigate}>
        View all leads
      </a>
    </div>
  );
}

function NotificationRow({ item, onOpen }: { item: InboxItem; onOpen: () => void }) {
  const unread = !item.read_at;
  return (
    <li
      className={`bell-item tier-${item.tier}${unread ? " bell-item--unread" : ""}`}
      data-testid="bell-item"
    >
      <a className="bell-item__link" href={leadHref(item.lead_id)} onClick={onOpen}>
        <span className="bell-item__head">
          {unread && <span className="unread-dot" aria-hidden="true" />}
          <span className="bell-item__title">
            {unread && <span className="visually-hidden">Unread: </span>}
            {item.title}
          </span>
          <ScoreBadge score={item.payload.score} />
        </span>
        <span className="bell-item__lead">{leadSummary(item.payload)}</span>
        <span className="bell-item__meta">
          {address(item.payload.lead)} · {timeAgo(item.created_at)}
        </span>
      </a>
    </li>
  );
}
