import { useId } from "react";
import { badgeText } from "../lib/format";
import { useNotifications } from "../notifications/NotificationsProvider";
import { CONNECTION_LABEL, LiveIndicator } from "./LiveIndicator";
import { BellPopover } from "./BellPopover";
import { useDisclosure } from "./useDisclosure";

function BellIcon() {
  return (
    <svg viewBox="0 0 24 24" width="22" height="22" aria-hidden="true" focusable="false">
      <path
        fill="currentColor"
        d="M12 2a6 6 0 0 0-6 6v3.6l-1.7 3A1 1 0 0 0 5.2 16h13.6a1 1 0 0 0 .9-1.4l-1.7-3V8a6 6 0 0 0-6-6zm-2.8 16a2.9 2.9 0 0 0 5.6 0z"
      />
    </svg>
  );
}

/** The bell: unread badge (1-9, "9+", hidden at 0), live dot, and the popover it opens. */
export function NotificationBell() {
  const { unreadCount, connection } = useNotifications();
  const disclosure = useDisclosure();
  const panelId = useId();
  const badge = badgeText(unreadCount);
  const label =
    unreadCount > 0
      ? `Notifications, ${unreadCount} unread, ${CONNECTION_LABEL[connection].toLowerCase()}`
      : `Notifications, ${CONNECTION_LABEL[connection].toLowerCase()}`;

  return (
    <div className="bell" onKeyDown={disclosure.onKeyDown}>
      <button
        ref={disclosure.buttonRef}
        type="button"
        className="bell__button"
        aria-label={label}
        aria-expanded={disclosure.open}
        aria-controls={panelId}
        onClick={disclosure.toggle}
      >
        <BellIcon />
        {badge && (
          <span className="bell__badge" data-testid="bell-badge" aria-hidden="true">
            {badge}
          </span>
        )}
        <LiveIndicator state={connection} dotOnly />
      </button>
      <BellPopover
        id={panelId}
        ref={disclosure.panelRef}
        open={disclosure.open}
        onNavigate={() => disclosure.close(false)}
      />
    </div>
  );
}
