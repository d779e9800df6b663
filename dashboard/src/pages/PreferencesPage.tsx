import { useCallback, useEffect, useId, useState } from "react";
import { TIERS, type Tier } from "../api";
import { SoundToggle } from "../components/SoundToggle";
import { usePreferences } from "../preferences";
import { useServices, type DesktopNotifier } from "../services";

const TIER_CHOICES: Record<Tier, string> = {
  excellent: "Excellent leads only",
  good: "Good and excellent leads",
  fair: "Every lead",
};

type Permission = ReturnType<DesktopNotifier["permission"]>;

/**
 * This browser's notification permission, read again when the PM comes back to the tab (they
 * may have changed it in the browser's settings), and a way to ask for it from a click.
 */
function useDesktopPermission(desktop: DesktopNotifier) {
  const [permission, setPermission] = useState<Permission>(() => desktop.permission());
  useEffect(() => {
    const reread = () => setPermission(desktop.permission());
    window.addEventListener("focus", reread);
    document.addEventListener("visibilitychange", reread);
    return () => {
      window.removeEventListener("focus", reread);
      document.removeEventListener("visibilitychange", reread);
    };
  }, [desktop]);
  const request = useCallback(async () => {
    const answer = await desktop.requestPermission();
    setPermission(answer);
    return answer;
  }, [desktop]);
  return { permission, request };
}

export function PreferencesPage() {
  const { desktop } = useServices();
  const { preferences, update, saving, saveError } = usePreferences();
  const { permission, request } = useDesktopPermission(desktop);
  const [dismissed, setDismissed] = useState(false);
  const desktopStatusId = useId();

  // The setting is saved per account, the permission is per browser: the switch is on only
  // when both are, so it never claims notifications that this browser would not show.
  const wanted = preferences.desktop_notifications;
  const desktopOn = wanted && permission === "granted";

  // Notification.requestPermission() only ever runs from a click (the switch or "Allow").
  const allowDesktop = async () => {
    const answer = await request();
    setDismissed(answer === "default");
    if (answer === "granted" && !wanted) await update({ desktop_notifications: true });
  };
  const toggleDesktop = async () => {
    if (desktopOn) await update({ desktop_notifications: false });
    else await allowDesktop();
  };

  return (
    <main className="page preferences">
      <h1>Preferences</h1>
      <p className="page__lead">How leadcast tells you about new leads. Saved to your account.</p>

      <section className="card" aria-labelledby="pref-sound">
        <h2 id="pref-sound">Sound</h2>
        <SoundToggle withHint />
      </section>

      <section className="card" aria-labelledby="pref-toasts">
        <h2 id="pref-toasts">Pop-up alerts</h2>
        <fieldset className="radio-group">
          <legend>Show a pop-up for</legend>
          {TIERS.map((tier) => (
            <label key={tier} className="radio">
              <input
                type="radio"
                name="toast_min_tier"
                value={tier}
                checked={preferences.toast_min_tier === tier}
                onChange={() => void update({ toast_min_tier: tier })}
              />
              <span>{TIER_CHOICES[tier]}</span>
            </label>
          ))}
        </fieldset>
        <p className="hint">Every lead still appears in the bell and in your lead list.</p>
      </section>

      <section className="card" aria-labelledby="pref-desktop">
        <h2 id="pref-desktop">Desktop notifications</h2>
        <button
          type="button"
          className="switch"
          role="switch"
          aria-checked={desktopOn}
          aria-describedby={desktopStatusId}
          disabled={permission === "unsupported"}
          onClick={() => void toggleDesktop()}
        >
          <span className="switch__track" aria-hidden="true">
            <span className="switch__thumb" />
          </span>
          <span className="switch__label">Notify me when this tab is in the background</span>
        </button>
        <div id={desktopStatusId} className="desktop-status">
          <DesktopStatus
            permission={permission}
            wanted={wanted}
            dismissed={dismissed}
            onAllow={() => void allowDesktop()}
          />
        </div>
      </section>

      <p className="save-state" aria-live="polite">
        {saving ? "Saving…" : saveError ? "Could not save your preferences. Please try again." : ""}
      </p>
    </main>
  );
}

/** What stands between the saved setting and a notification on this browser, if anything. */
function DesktopStatus({
  permission,
  wanted,
  dismissed,
  onAllow,
}: {
  permission: Permission;
  wanted: boolean;
  dismissed: boolean;
  onAllow: () => void;
}) {
  if (permission === "unsupported") {
    return <p className="notice">This browser does not support desktop notifications.</p>;
  }
  if (permission === "denied") {
    return (
      <p className="notice">
        <strong>Blocked in browser settings.</strong> Allow notifications for this site in the browser&apos;s
        site settings to get them here.
      </p>
    );
  }
  if (permission === "default" && (wanted || dismissed)) {
    return (
      <>
        <p className="notice">
          {dismissed
            ? "The browser did not allow notifications."
            : "On for your account, but this browser has not been allowed to show them yet."}
        </p>
        <button type="button" className="button button--small" onClick={onAllow}>
          Allow in this browser
        </button>
      </>
    );
  }
  return null;
}
