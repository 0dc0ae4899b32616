/** A boolean UI preference (e.g. a panel's open state) remembered across reloads in localStorage. */
import { useState } from 'react';

function read(key: string, fallback: boolean): boolean {
  try {
    const value = window.localStorage.getItem(key);
    return value === null ? fallback : value === 'true';
  } catch {
    return fallback; // Storage can be disabled; the preference is then per session.
  }
}

/** Like useState<boolean>, persisted under `pinhole.<key>`. */
export function useStoredFlag(key: string, fallback: boolean): [boolean, (value: boolean) => void] {
  const storageKey = `pinhole.${key}`;
  const [value, setValue] = useState(() => read(storageKey, fallback));
  const set = (next: boolean): void => {
    setValue(next);
    try {
      window.localStorage.setItem(storageKey, String(next));
    } catch {
      // Not persisted; still applied for this session.
    }
  };
  return [value, set];
}
