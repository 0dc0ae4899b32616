/**
 * The data home's SQLite database: WAL, foreign keys, STRICT tables, numbered migrations
 * applied at open, and a refusal to open a database written by a newer schema.
 */
import BetterSqlite3 from 'better-sqlite3';
import type { Database } from 'better-sqlite3';
import { PinholeError } from '../../src-shared/errors';
import { MIGRATIONS, type Migration } from './migrations';

export type { Database } from 'better-sqlite3';

export type OpenDatabaseOptions = {
  /** Migrations to apply (tests pass their own list); defaults to the app's. */
  migrations?: readonly Migration[];
  readonly?: boolean;
};

export function latestSchemaVersion(migrations: readonly Migration[] = MIGRATIONS): number {
  return migrations.reduce((max, m) => Math.max(max, m.version), 0);
}

export function openDatabase(file: string, options: OpenDatabaseOptions = {}): Database {
  const migrations = options.migrations ?? MIGRATIONS;
  let db: Database;
  try {
    db = new BetterSqlite3(file, { readonly: options.readonly ?? false });
  } catch (error) {
    throw new PinholeError('DATA_HOME_UNAVAILABLE', `Cannot open the database ${file}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  try {
    // Several processes (the app, a CLI command) may share one data home: wait for locks.
    db.pragma('busy_timeout = 5000');
    if (!options.readonly) db.pragma('journal_mode = WAL');
    db.pragma('foreign_keys = ON');
    db.pragma('synchronous = NORMAL');
    migrate(db, migrations);
    return db;
  } catch (error) {
    db.close();
    throw error;
  }
}

/** Applies pending migrations, each in its own transaction with the version bump. */
export function migrate(db: Database, migrations: readonly Migration[]): void {
  const ordered = [...migrations].sort((a, b) => a.version - b.version);
  ordered.forEach((m, i) => {
    if (m.version !== i + 1)
      throw new PinholeError('INTERNAL', `Migrations are not numbered 1..n (found ${m.version})`);
  });
  const latest = latestSchemaVersion(ordered);
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > latest) {
    throw new PinholeError(
      'DATA_HOME_TOO_NEW',
      `This data home was written by a newer Pinhole Studio (schema ${current}; this version knows up to ${latest}). ` +
        'Update Pinhole Studio, or use another --data-dir.',
    );
  }
  for (const migration of ordered) {
    if (migration.version <= current) continue;
    if (db.readonly) {
      throw new PinholeError('DATA_HOME_UNAVAILABLE', 'The database needs migrating but was opened read-only.');
    }
    db.transaction(() => {
      migration.up(db);
      db.pragma(`user_version = ${migration.version}`);
    }).immediate();
  }
}

export function schemaVersion(db: Database): number {
  return db.pragma('user_version', { simple: true }) as number;
}
