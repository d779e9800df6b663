// localStorage with a fallback for when it is unavailable (private mode, tests).
export function readStorage(key: string): string | null {
  try {
    return window.localStorage.getItem(key);
  } catch {
    return null;
  }
}

export function writeStorage(key: string, value: string | null): void {
  try {
    if (value === null) window.localStorage.removeItem(key);
    else window.localStorage.setItem(key, value);
  } catch {
    // storage full or blocked: the value lives for this page only
  }
}

export function readJson<T>(key: string): T | null {
  const text = readStorage(key);
  if (!text) return null;
  try {
    return JSON.parse(text) as T;
  } catch {
    return null;
  }
}

export const TOKEN_KEY = "leadcast.token";
export const preferencesKey = (userId: number) => `leadcast.preferences.${userId}`;
