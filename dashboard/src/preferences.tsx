// Dashboard preferences, stored on the server (GET/PUT /api/me/preferences) and remembered in
// localStorage so the first render after a reload already knows them (and so they still work
// against a server without the route).
import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { useCallback, useEffect } from "react";
import { ApiError, DEFAULT_PREFERENCES, type Preferences } from "./api";
import { useUser } from "./auth";
import { preferencesKey, readJson, writeStorage } from "./lib/storage";
import { useServices } from "./services";

const remembered = (userId: number): Preferences | undefined => {
  const stored = readJson<Partial<Preferences>>(preferencesKey(userId));
  return stored ? { ...DEFAULT_PREFERENCES, ...stored } : undefined;
};

const remember = (userId: number, preferences: Preferences) =>
  writeStorage(preferencesKey(userId), JSON.stringify(preferences));

const isMissingRoute = (error: unknown) =>
  error instanceof ApiError && (error.status === 404 || error.status === 405);

export function usePreferences() {
  const { api } = useServices();
  const user = useUser();
  const client = useQueryClient();
  const queryKey = ["preferences", user.id];

  const query = useQuery({
    queryKey,
    queryFn: async (): Promise<Preferences> => {
      try {
        const preferences = { ...DEFAULT_PREFERENCES, ...(await api.preferences()) };
        remember(user.id, preferences);
        return preferences;
      } catch (error) {
        if (isMissingRoute(error)) return remembered(user.id) ?? DEFAULT_PREFERENCES;
        throw error;
      }
    },
    initialData: () => remembered(user.id),
    initialDataUpdatedAt: 0,
    staleTime: 60_000,
  });
  const preferences = query.data ?? DEFAULT_PREFERENCES;

  const mutation = useMutation({
    mutationFn: async (next: Preferences) => {
      try {
        return { ...DEFAULT_PREFERENCES, ...(await api.savePreferences(next)) };
      } catch (error) {
        if (isMissingRoute(error)) return next;
        throw error;
      }
    },
    onMutate: (next) => {
      client.setQueryData(queryKey, next);
      remember(user.id, next);
    },
    onSuccess: (saved) => {
      client.setQueryData(queryKey, saved);
      remember(user.id, saved);
    },
  });

  const { mutateAsync } = mutation;
  const update = useCallback(
    (patch: Partial<Preferences>) => mutateAsync({ ...preferences, ...patch }),
    [preferences, mutateAsync],
  );

  return {
    preferences,
    update,
    saving: mutation.isPending,
    saveError: mutation.error,
    loadError: query.error,
  };
}

/** After a reload the AudioContext starts suspended: resume it on the first click or key. */
export function useSoundUnlock(enabled: boolean) {
  const { sound } = useServices();
  useEffect(() => {
    if (!enabled) return;
    const unlock = () => {
      void sound.unlock();
      window.removeEventListener("pointerdown", unlock);
      window.removeEventListener("keydown", unlock);
    };
    window.addEventListener("pointerdown", unlock);
    window.addEventListener("keydown", unlock);
    return () => {
      window.removeEventListener("pointerdown", unlock);
      window.removeEventListener("keydown", unlock);
    };
  }, [enabled, sound]);
}
