import type { Migration } from './types';

/**
 * The user's preferences (Settings page): one row per key, the value as JSON text, so a new preference needs no
 * migration. Unknown or malformed values read as the default (`settings-store.ts`).
 */
export const migration0006: Migration = {
  version: 6,
  name: 'settings',
  up: (db) => {
    db.exec(`
      CREATE TABLE settings (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
      ) STRICT;
    `);
  },
};
