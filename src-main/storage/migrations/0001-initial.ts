import type { Migration } from './types';

/** The first schema: job queue, library (images, datasets), import results, full-text search. */
export const migration0001: Migration = {
  version: 1,
  name: 'initial',
  up: (db) => {
    db.exec(`
      CREATE TABLE jobs (
        id          TEXT PRIMARY KEY,
        seq         INTEGER NOT NULL UNIQUE,
        kind        TEXT NOT NULL,
        lane        TEXT NOT NULL CHECK (lane IN ('gpu', 'cpu')),
        priority    INTEGER NOT NULL DEFAULT 0,
        state       TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'failed', 'canceled', 'interrupted')),
        title       TEXT NOT NULL,
        params      TEXT NOT NULL,
        checkpoint  TEXT,
        progress    TEXT,
        result      TEXT,
        error       TEXT,
        attempts    INTEGER NOT NULL DEFAULT 0,
        -- the process running it ("pid@host"), so a dead runner's jobs can be recovered
        runner      TEXT,
        -- set by any process (a CLI, the server); the runner aborts the job within a step
        cancel_requested INTEGER NOT NULL DEFAULT 0,
        created_at  INTEGER NOT NULL,
        started_at  INTEGER,
        finished_at INTEGER
      ) STRICT;
      CREATE INDEX jobs_pick ON jobs (state, lane, priority DESC, seq);
      CREATE INDEX jobs_recent ON jobs (seq DESC);

      CREATE TABLE images (
        sha256          TEXT PRIMARY KEY,
        source_sha256   TEXT,
        format          TEXT NOT NULL,
        width           INTEGER NOT NULL,
        height          INTEGER NOT NULL,
        bytes           INTEGER NOT NULL,
        source          TEXT NOT NULL CHECK (source IN ('import', 'generated')),
        title           TEXT NOT NULL,
        prompt          TEXT,
        negative_prompt TEXT,
        metadata        TEXT NOT NULL DEFAULT '{}',
        created_at      INTEGER NOT NULL
      ) STRICT;
      CREATE INDEX images_source_sha ON images (source_sha256);
      CREATE INDEX images_recent ON images (created_at DESC, sha256 DESC);
      -- The gallery filtered by source pages (and counts) by range scans rather than a table scan.
      CREATE INDEX images_source_recent ON images (source, created_at DESC, sha256 DESC);

      CREATE TABLE datasets (
        id         TEXT PRIMARY KEY,
        name       TEXT NOT NULL UNIQUE COLLATE NOCASE,
        created_at INTEGER NOT NULL
      ) STRICT;

      CREATE TABLE dataset_images (
        dataset_id    TEXT NOT NULL REFERENCES datasets (id) ON DELETE CASCADE,
        sha256        TEXT NOT NULL REFERENCES images (sha256),
        caption       TEXT NOT NULL DEFAULT '',
        original_name TEXT NOT NULL,
        added_at      INTEGER NOT NULL,
        PRIMARY KEY (dataset_id, sha256)
      ) STRICT;
      CREATE INDEX dataset_images_order ON dataset_images (dataset_id, added_at, sha256);
      CREATE INDEX dataset_images_sha ON dataset_images (sha256);

      CREATE TABLE import_results (
        job_id TEXT NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
        idx    INTEGER NOT NULL,
        file   TEXT NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('accepted', 'duplicate', 'rejected')),
        reason TEXT,
        sha256 TEXT,
        PRIMARY KEY (job_id, idx)
      ) STRICT;

      -- Full-text search over prompts and captions; one row per image, kept by the library.
      -- rowid = created_at << 21 | 21 bits of sha256 (see library/fts.ts), so matches come newest
      -- first without a sort; prefix indexes keep one- and two-letter search-as-you-type fast.
      CREATE VIRTUAL TABLE image_text USING fts5 (
        sha256 UNINDEXED, prompt, captions, tokenize = 'unicode61 remove_diacritics 2', prefix = '1 2'
      );
    `);
  },
};
