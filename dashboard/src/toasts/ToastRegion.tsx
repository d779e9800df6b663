import type { InboxItem } from "../api";
import { LeadToast } from "./LeadToast";

/**
 * The polite live region (role="status") that toasts are added to. It is rendered from the
 * start, empty, so screen readers announce what is added later; focus never moves into it.
 */
export function ToastRegion({ toasts, onDismiss }: { toasts: InboxItem[]; onDismiss: (id: number) => void }) {
  return (
    <div
      className="toast-region"
      role="status"
      aria-live="polite"
      aria-atomic="false"
      aria-label="New lead alerts"
    >
      {toasts.map((item) => (
        <LeadToast key={item.id} item={item} onDismiss={onDismiss} />
      ))}
    </div>
  );
}
