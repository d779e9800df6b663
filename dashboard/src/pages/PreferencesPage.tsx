import { useState } from "react";
import { TIERS, type Tier } from "../api";
import { SoundToggle } from "../components/SoundToggle";
import { usePreferences } from "../preferences";
import { useServices } from "../services";

const TIER_CHOICES: Record<Tier, string> = {
  excellent: "Excellent leads only",
  good: "Good and excellent leads",
  fair: "Every lead",
};

export function PreferencesPage() {
  const { desktop } = useServices();
  const { preferences, update, saving, saveError } = usePreferences();
  const [permissionNote, setPermissionNote] = useState<string | null>(null);

  // Notification.requestPermission() only ever runs from this click.
  const toggleDesktop = async () => {
    if (preferences.desktop_notifications) {
      await update({ desktop_notifications: false });
      return;
    }
    const permission = await desktop.requestPermission();
    if (permission === "granted") {
      setPermissionNote(null);
      await update({ desktop_notifications: true });
    } else if (permission === "unsupported") {
      setPermissionNote("This browser does not support desktop notifications.");
    } else {
      setPermissionNote(
        "The browser did not allow notifications. You can allow them for this site in the browser's settings.",
      );
    }
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
          aria-checked={preferences.desktop_notifications}
          onClick={() => void toggleDesktop()}
        >
          <span className="switch__track" aria-hidden="true">
            <span className="switch__thumb" />
          </span>
          <span className="switch__label">Notify me when this tab is in the background</span>
        </button>
        {permissionNote && <p className="notice">{permissionNote}</p>}
      </section>

      <p className="save-state" aria-live="polite">
        {saving ? "Saving…" : saveError ? "Could not save your preferences. Please try again." : ""}
      </p>
    </main>
  );
}
