import type { User } from "../api";
import { useNotifications } from "../notifications/NotificationsProvider";
import { leadsHref, preferencesHref, useLocation } from "../router";
import { LiveIndicator } from "./LiveIndicator";
import { NotificationBell } from "./NotificationBell";
import { UserMenu } from "./UserMenu";

export function Header({ user }: { user: User }) {
  const { connection } = useNotifications();
  const { route } = useLocation();
  return (
    <header className="app-header">
      <a className="brand" href={leadsHref}>
        <span className="brand__mark" aria-hidden="true">
          ◆
        </span>{" "}
        leadcast
      </a>
      <nav className="app-nav" aria-label="Main">
        <a href={leadsHref} aria-current={route === "leads" ? "page" : undefined}>
          Leads
        </a>
        <a href={preferencesHref} aria-current={route === "preferences" ? "page" : undefined}>
          Preferences
        </a>
      </nav>
      <div className="app-header__end">
        <LiveIndicator state={connection} />
        <NotificationBell />
        <UserMenu user={user} />
      </div>
    </header>
  );
}
