import { StrictMode } from "react";
import { createRoot } from "react-dom/client";
import { App, createQueryClient } from "./App";
import { createHttpApi } from "./api";
import { UNAUTHORIZED_EVENT, getStoredToken } from "./auth";
import { createWebAudioSound } from "./lib/sound";
import { createTabSync } from "./notifications/tabSync";
import { createEchoConnection } from "./realtime/echo";
import { browserDesktopNotifier, type Services } from "./services";
import "./styles.css";

const services: Services = {
  api: createHttpApi({
    token: getStoredToken,
    onUnauthorized: () => window.dispatchEvent(new Event(UNAUTHORIZED_EVENT)),
  }),
  realtime: createEchoConnection,
  sound: createWebAudioSound(),
  tabSync: createTabSync,
  desktop: browserDesktopNotifier,
};

createRoot(document.getElementById("root")!).render(
  <StrictMode>
    <App services={services} queryClient={createQueryClient()} />
  </StrictMode>,
);
