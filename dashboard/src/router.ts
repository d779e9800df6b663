// A tiny hash router: "#/leads?lead=15", "#/preferences". Hash routes need no server support,
// so the API only has to serve index.html at "/".
import { useSyncExternalStore } from "react";

export type RouteName = "leads" | "preferences";

export interface Location {
  route: RouteName;
  params: URLSearchParams;
}

function parse(hash: string): Location {
  const [path = "", query = ""] = hash.replace(/^#\/?/, "").split("?");
  const route: RouteName = path === "preferences" ? "preferences" : "leads";
  return { route, params: new URLSearchParams(query) };
}

function subscribe(listener: () => void) {
  window.addEventListener("hashchange", listener);
  return () => window.removeEventListener("hashchange", listener);
}

const currentHash = () => window.location.hash;

export function useLocation(): Location {
  const hash = useSyncExternalStore(subscribe, currentHash, () => "");
  return parse(hash);
}

export function navigate(href: string): void {
  window.location.hash = href.replace(/^#/, "");
}

export const leadsHref = "#/leads";
export const preferencesHref = "#/preferences";
export const leadHref = (leadId: number) => `#/leads?lead=${leadId}`;
