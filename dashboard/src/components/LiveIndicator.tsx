import type { ConnectionState } from "../realtime/types";

export const CONNECTION_LABEL: Record<ConnectionState, string> = {
  connecting: "Connecting…",
  connected: "Live",
  reconnecting: "Reconnecting…",
  offline: "Offline",
};

/** A dot (green when live) and, unless `dotOnly`, the state in words. */
export function LiveIndicator({ state, dotOnly = false }: { state: ConnectionState; dotOnly?: boolean }) {
  if (dotOnly) {
    return <span className={`live-dot live-dot--${state}`} data-state={state} aria-hidden="true" />;
  }
  return (
    <span
      className={`live-indicator live-indicator--${state}`}
      data-testid="connection-state"
      data-state={state}
    >
      <span className={`live-dot live-dot--${state}`} aria-hidden="true" />
      <span className="live-indicator__label" aria-live="polite">
        {CONNECTION_LABEL[state]}
      </span>
    </span>
  );
}
