import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from "react";
import type { InboxItem } from "../api";
import { ToastRegion } from "./ToastRegion";

export interface ToastApi {
  show(item: InboxItem): void;
  dismiss(id: number): void;
}

const ToastContext = createContext<ToastApi | null>(null);

export const MAX_TOASTS = 4;

/** Holds the visible lead toasts; the region that shows them is always in the DOM. */
export function ToastProvider({ children }: { children: ReactNode }) {
  const [toasts, setToasts] = useState<InboxItem[]>([]);

  const dismiss = useCallback((id: number) => {
    setToasts((current) => current.filter((toast) => toast.id !== id));
  }, []);

  const show = useCallback((item: InboxItem) => {
    setToasts((current) =>
      current.some((toast) => toast.id === item.id) ? current : [item, ...current].slice(0, MAX_TOASTS),
    );
  }, []);

  const api = useMemo(() => ({ show, dismiss }), [show, dismiss]);
  return (
    <ToastContext.Provider value={api}>
      {children}
      <ToastRegion toasts={toasts} onDismiss={dismiss} />
    </ToastContext.Provider>
  );
}

export function useToasts(): ToastApi {
  const api = useContext(ToastContext);
  if (!api) throw new Error("useToasts outside ToastProvider");
  return api;
}
