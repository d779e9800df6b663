import { useId } from "react";
import type { User } from "../api";
import { useAuth } from "../auth";
import { preferencesHref } from "../router";
import { useDisclosure } from "./useDisclosure";

export function UserMenu({ user }: { user: User }) {
  const { logout } = useAuth();
  const disclosure = useDisclosure();
  const panelId = useId();
  const initials = user.name
    .split(/\s+/)
    .map((part) => part[0] ?? "")
    .join("")
    .slice(0, 2)
    .toUpperCase();

  return (
    <div className="user-menu" onKeyDown={disclosure.onKeyDown}>
      <button
        ref={disclosure.buttonRef}
        type="button"
        className="user-menu__button"
        aria-expanded={disclosure.open}
        aria-controls={panelId}
        onClick={disclosure.toggle}
      >
        <span className="avatar" aria-hidden="true">
          {initials || "?"}
        </span>
        <span className="user-menu__name">{user.name}</span>
      </button>
      <div id={panelId} ref={disclosure.panelRef} className="user-menu__panel" hidden={!disclosure.open}>
        <p className="user-menu__who">
          <strong>{user.name}</strong>
          <span>{user.email}</span>
        </p>
        <a href={preferencesHref} onClick={() => disclosure.close(false)}>
          Preferences
        </a>
        <button type="button" className="link-button" onClick={() => void logout()}>
          Log out
        </button>
      </div>
    </div>
  );
}
