// The session: the Bearer token lives in localStorage; the user comes from login or /api/me.
import { createContext, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from "react";
import { ApiError, type User } from "./api";
import { TOKEN_KEY, readStorage, writeStorage } from "./lib/storage";
import { useApi } from "./services";

export const UNAUTHORIZED_EVENT = "leadcast:unauthorized";

export type AuthState =
  | { status: "loading" }
  | { status: "anonymous"; reason?: string }
  | { status: "authenticated"; user: User; token: string };

interface AuthApi {
  state: AuthState;
  login(email: string, password: string): Promise<void>;
  logout(): Promise<void>;
}

const AuthContext = createContext<AuthApi | null>(null);

export const getStoredToken = () => readStorage(TOKEN_KEY);

export function AuthProvider({ children }: { children: ReactNode }) {
  const api = useApi();
  const [state, setState] = useState<AuthState>(() =>
    getStoredToken() ? { status: "loading" } : { status: "anonymous" },
  );

  useEffect(() => {
    const token = getStoredToken();
    if (!token) return;
    let cancelled = false;
    api.me().then(
      (user) => !cancelled && setState({ status: "authenticated", user, token }),
      (error: unknown) => {
        if (cancelled) return;
        if (error instanceof ApiError && error.status === 401) writeStorage(TOKEN_KEY, null);
        setState({
          status: "anonymous",
          reason:
            error instanceof ApiError && error.status === 401
              ? "Your session has ended. Please log in again."
              : "Could not reach leadcast. Please log in again.",
        });
      },
    );
    return () => {
      cancelled = true;
    };
  }, [api]);

  // Any 401 (an expired or revoked token) ends the session.
  useEffect(() => {
    const onUnauthorized = () => {
      writeStorage(TOKEN_KEY, null);
      setState((current) =>
        current.status === "authenticated"
          ? { status: "anonymous", reason: "Your session has ended. Please log in again." }
          : current,
      );
    };
    // Logging out in one tab logs out the others.
    const onStorage = (event: StorageEvent) => {
      if (event.key === TOKEN_KEY && !event.newValue) {
        setState((current) => (current.status === "authenticated" ? { status: "anonymous" } : current));
      }
    };
    window.addEventListener(UNAUTHORIZED_EVENT, onUnauthorized);
    window.addEventListener("storage", onStorage);
    return () => {
      window.removeEventListener(UNAUTHORIZED_EVENT, onUnauthorized);
      window.removeEventListener("storage", onStorage);
    };
  }, []);

  const login = useCallback(
    async (email: string, password: string) => {
      const result = await api.login(email, password);
      writeStorage(TOKEN_KEY, result.token);
      setState({ status: "authenticated", user: result.user, token: result.token });
    },
    [api],
  );

  const logout = useCallback(async () => {
    try {
      await api.logout();
    } catch {
      // the token is dropped locally either way
    }
    writeStorage(TOKEN_KEY, null);
    setState({ status: "anonymous" });
  }, [api]);

  const value = useMemo(() => ({ state, login, logout }), [state, login, logout]);
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): AuthApi {
  const auth = useContext(AuthContext);
  if (!auth) throw new Error("useAuth outside AuthProvider");
  return auth;
}

/** The logged-in user; only for components rendered inside the authenticated app. */
export function useUser(): User {
  const { state } = useAuth();
  if (state.status !== "authenticated") throw new Error("useUser without a session");
  return state.user;
}
