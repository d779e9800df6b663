import type { InboxItem } from "../api";
import { alertText } from "../lib/format";
import { LeadToast } from "./LeadToast";

/**
 * The toasts, and the polite live region (role="status") that announces them. The region is
 * rendered from the start, empty, so screen readers announce what is added later. It holds
 * each toast's text only: the toasts themselves, with their "View lead" link and close button,
 * sit outside it, so those controls are not read out with every alert. Focus never moves there.
 */
export function ToastRegion({ toasts, onDismiss }: { toasts: InboxItem[]; onDismiss: (id: number) => void }) {
  return (
    <>
      <div
        className="visually-hidden"
        role="status"
        aria-live="polite"
        aria-atomic="false"
        aria-label="New lead alerts"
      >
        {toasts.map((item) => (
          <p key={item.id}>{alertText(item)}</p>
        ))}
      </div>
      <div className="toast-region">
        {toasts.map((item) => (
          <LeadToast key={item.id} item={item} onDismiss={onDismiss} />
        ))}
      </div>
    </>
  );
}
