import { usePreferences } from "../preferences";
import { useServices } from "../services";

/**
 * "Enable sound": browsers only allow audio after a user gesture, so the PM switches it on
 * once; the click resumes the AudioContext and the choice is saved (server + localStorage).
 */
export function SoundToggle({ withHint = false }: { withHint?: boolean }) {
  const { sound } = useServices();
  const { preferences, update } = usePreferences();

  const toggle = () => {
    if (preferences.sound) {
      void update({ sound: false });
      return;
    }
    void sound.unlock().then((audible) => {
      if (audible) sound.play();
    });
    void update({ sound: true });
  };

  return (
    <span className="sound-toggle">
      <button
        type="button"
        className="switch"
        role="switch"
        aria-checked={preferences.sound}
        onClick={toggle}
      >
        <span className="switch__track" aria-hidden="true">
          <span className="switch__thumb" />
        </span>
        <span className="switch__label">{preferences.sound ? "Sound on" : "Enable sound"}</span>
      </button>
      {withHint && (
        <span className="hint">
          Plays a short chime for excellent leads. Alerts are always shown on screen too.
        </span>
      )}
    </span>
  );
}
