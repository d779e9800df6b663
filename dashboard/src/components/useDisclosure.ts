import { useCallback, useEffect, useRef, useState, type KeyboardEvent } from "react";

/**
 * A button that shows and hides a panel (WAI-ARIA disclosure): Esc closes and returns focus to
 * the button; a click outside closes without moving focus.
 */
export function useDisclosure<B extends HTMLElement = HTMLButtonElement>() {
  const [open, setOpen] = useState(false);
  const buttonRef = useRef<B>(null);
  const panelRef = useRef<HTMLDivElement>(null);

  const close = useCallback((returnFocus: boolean) => {
    setOpen(false);
    if (returnFocus) buttonRef.current?.focus();
  }, []);

  const toggle = useCallback(() => setOpen((value) => !value), []);

  const onKeyDown = useCallback(
    (event: KeyboardEvent) => {
      if (event.key === "Escape" && open) {
        event.stopPropagation();
        close(true);
      }
    },
    [open, close],
  );

  useEffect(() => {
    if (!open) return;
    const onPointerDown = (event: PointerEvent | MouseEvent) => {
      const target = event.target as Node;
      if (panelRef.current?.contains(target) || buttonRef.current?.contains(target)) return;
      close(false);
    };
    document.addEventListener("mousedown", onPointerDown);
    return () => document.removeEventListener("mousedown", onPointerDown);
  }, [open, close]);

  return { open, setOpen, toggle, close, onKeyDown, buttonRef, panelRef };
}
