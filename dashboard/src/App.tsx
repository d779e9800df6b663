import { QueryClient, QueryClientProvider, useQueryClient } from "@tanstack/react-query";
import { useEffect } from "react";
import type { User } from "./api";
import { AuthProvider, useAuth } from "./auth";
import { Header } from "./components/Header";
import { NotificationsProvider } from "./notifications/NotificationsProvider";
import { LeadsPage } from "./pages/LeadsPage";
import { LoginPage } from "./pages/LoginPage";
import { PreferencesPage } from "./pages/PreferencesPage";
import { useLocation } from "./router";
import { ServicesProvider, type Services } from "./services";
import { ToastProvider } from "./toasts/ToastProvider";

export function createQueryClient() {
  return new QueryClient({
    defaultOptions: {
      queries: { retry: 1, refetchOnWindowFocus: true, staleTime: 5_000 },
      mutations: { retry: 0 },
    },
  });
}

export function App({ services, queryClient }: { services: Services; queryClient: QueryClient }) {
  return (
    <ServicesProvider services={services}>
      <QueryClientProvider client={queryClient}>
        <AuthProvider>
          <Root />
        </AuthProvider>
      </QueryClientProvider>
    </ServicesProvider>
  );
}

function Root() {
  const { state } = useAuth();
  const queryClient = useQueryClient();
  // Nothing of one PM's data survives a logout.
  useEffect(() => {
    if (state.status === "anonymous") queryClient.clear();
  }, [state.status, queryClient]);

  if (state.status === "loading") {
    return (
      <main className="splash" aria-busy="true">
        <p>Loading leadcast…</p>
      </main>
    );
  }
  if (state.status === "anonymous") return <LoginPage notice={state.reason} />;
  return <Dashboard key={state.user.id} user={state.user} token={state.token} />;
}

function Dashboard({ user, token }: { user: User; token: string }) {
  const { route } = useLocation();
  return (
    <ToastProvider>
      <NotificationsProvider user={user} token={token}>
        <a
          className="skip-link"
          href="#main-content"
          onClick={(event) => {
            event.preventDefault(); // the hash is the router's: move focus instead
            document.getElementById("main-content")?.focus();
          }}
        >
          Skip to content
        </a>
        <Header user={user} />
        <div id="main-content" tabIndex={-1}>
          {route === "preferences" ? <PreferencesPage /> : <LeadsPage />}
        </div>
      </NotificationsProvider>
    </ToastProvider>
  );
}
