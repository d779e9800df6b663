// Everything the app talks to outside React, injectable: the HTTP API, the real-time
// connection, the sound, the cross-tab channel and desktop notifications. main.tsx passes
// the real ones; tests pass fakes.
import { createContext, useContext, type ReactNode } from "react";
import type { Api } from "./api";
import type { SoundPlayer } from "./lib/sound";
import type { TabSync } from "./notifications/tabSync";
import type { RealtimeFactory } from "./realtime/types";

export interface DesktopNotifier {
  permission(): NotificationPermission | "unsupported";
  /** Must be called from a click. */
  requestPermission(): Promise<NotificationPermission | "unsupported">;
  show(title: string, options: { body: string; tag: string; onClick?: () => void }): void;
}

export interface Services {
  api: Api;
  realtime: RealtimeFactory;
  sound: SoundPlayer;
  tabSync: (userId: number) => TabSync;
  desktop: DesktopNotifier;
}

const ServicesContext = createContext<Services | null>(null);

export function ServicesProvider({ services, children }: { services: Services; children: ReactNode }) {
  return <ServicesContext.Provider value={services}>{children}</ServicesContext.Provider>;
}

export function useServices(): Services {
  const services = useContext(ServicesContext);
  if (!services) throw new Error("useServices outside ServicesProvider");
  return services;
}

export const useApi = () => useServices().api;

export const browserDesktopNotifier: DesktopNotifier = {
  permission: () => (typeof Notification === "undefined" ? "unsupported" : Notification.permission),
  async requestPermission() {
    if (typeof Notification === "undefined") return "unsupported";
    return Notification.requestPermission();
  },
  show(title, { body, tag, onClick }) {
    if (typeof Notification === "undefined" || Notification.permission !== "granted") return;
    try {
      const notification = new Notification(title, { body, tag });
      notification.onclick = () => {
        window.focus();
        onClick?.();
        notification.close();
      };
    } catch {
      // some browsers only allow notifications from a service worker
    }
  },
};
