import type { Migration } from './types';

/**
 * Jobs gain the `paused` state (a training run stopped with a checkpoint, waiting to be resumed).
 * SQLite cannot alter a CHECK constraint, so the jobs table is rebuilt. `import_results` references
 * jobs with ON DELETE CASCADE and foreign keys cannot be switched off inside the migration's
 * transaction: it is copied aside and rebuilt too, so dropping the old jobs table deletes nothing.
 * `cancel_requested` now also takes 2 (pause requested); it has no CHECK to change.
 */
export const migration0003: Migration = {
  version: 3,
  name: 'paused-jobs',
  up: (db) => {
    db.exec(`
      CREATE TEMP TABLE import_results_copy AS SELECT * FROM import_results;
      DROP TABLE import_results;

      CREATE TABLE jobs_new (
        id          TEXT PRIMARY KEY,
        seq         INTEGER NOT NULL UNIQUE,
        kind        TEXT NOT NULL,
        lane        TEXT NOT NULL CHECK (lane IN ('gpu', 'cpu')),
        priority    INTEGER NOT NULL DEFAULT 0,
        state       TEXT NOT NULL
                    CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'canceled', 'interrupted', 'paused')),
        title       TEXT NOT NULL,
        params      TEXT NOT NULL,
        checkpoint  TEXT,
        progress    TEXT,
        result      TEXT,
        error       TEXT,
        attempts    INTEGER NOT NULL DEFAULT 0,
        -- the process running it ("pid@host"), so a dead runner's jobs can be recovered
        runner      TEXT,
        -- set by any process (a CLI, the server): 1 cancel, 2 pause; the runner stops within a step
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        created_at  INTEGER NOT NULL,
        started_at  INTEGER,
        finished_at INTEGER
      ) STRICT;
      INSERT INTO jobs_new SELECT * FROM jobs;
      DROP TABLE jobs;
      ALTER TABLE jobs_new RENAME TO jobs;
      CREATE INDEX jobs_pick ON jobs (state, lane, priority DESC, seq);
      CREATE INDEX jobs_recent ON jobs (seq DESC);

      CREATE TABLE import_results (
        job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        idx    INTEGER NOT NULL,
        file   TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('accepted', 'duplicate', 'rejected')),
        reason TEXT,
        sha256 TEXT,
        PRIMARY KEY (job_id, idx)
      ) STRICT;
      INSERT INTO import_results SELECT * FROM import_results_copy;
      DROP TABLE import_results_copy;
    `);
  },
};
