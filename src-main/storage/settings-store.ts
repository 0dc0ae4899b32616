import { StudioSettings, type StudioSettingsValue } from '../../src-shared/api/settings-schemas';
import type { Database } from './database';

/**
 * The user's preferences, persisted in the `settings` table (one JSON value per key). Reads validate each value
 * against the contract's schema: a value this build does not understand (written by a newer one, or edited by
 * hand) falls back to its default instead of breaking the studio.
 */
export class SettingsStore {
  constructor(private readonly db: Database) {}

  /** Every preference, defaults filled in. */
  read(): StudioSettingsValue {
    const rows = this.db.prepare('SELECT key, value FROM settings').all() as { key: string; value: string }[];
    const stored: Record<string, unknown> = {};
    for (const { key, value } of rows) {
      try {
        stored[key] = JSON.parse(value);
      } catch {
        // Malformed: left out, so the default applies.
      }
    }
    const defaults = StudioSettings.parse({});
    const out: Record<string, unknown> = { ...defaults };
    for (const key of Object.keys(defaults)) {
      const one = StudioSettings.safeParse({ [key]: stored[key] });
      if (one.success) out[key] = (one.data as Record<string, unknown>)[key];
    }
    return out as StudioSettingsValue;
  }

  /** Stores the given preferences (validated by the caller's contract) and returns all of them. */
  update(changes: Partial<StudioSettingsValue>): StudioSettingsValue {
    const put = this.db.prepare(
      'INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value',
    );
    this.db.transaction(() => {
      for (const [key, value] of Object.entries(changes)) {
        if (value !== undefined) put.run(key, JSON.stringify(value));
      }
    })();
    return this.read();
  }
}
