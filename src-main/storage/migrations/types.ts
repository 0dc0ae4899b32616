import type { Database } from 'better-sqlite3';

/** One numbered schema step. Never edit a migration once released: add the next one. */
export type Migration = {
  version: number;
  name: string;
  up: (db: Database) => void;
};
