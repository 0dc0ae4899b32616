import type { Migration } from './types';

/**
 * Library models gain the source `trained`: LoRAs the studio trained itself (a run's result, or the
 * checkpoint chosen with "use this one"), with `origin` the run's output file. SQLite cannot alter a
 * CHECK constraint, so the models table is rebuilt (nothing references it) with its indexes.
 */
export const migration0005: Migration = {
  version: 5,
  name: 'trained-models',
  up: (db) => {
    db.exec(`
      CREATE TABLE models_new (
        id                TEXT PRIMARY KEY,
        name              TEXT NOT NULL COLLATE NOCASE,
        kind              TEXT NOT NULL CHECK (kind IN ('checkpoint', 'lora', 'vae', 'embedding')),
        family            TEXT,
        variant           TEXT,
        native_resolution INTEGER,
        bytes             INTEGER NOT NULL,
        sha256            TEXT NOT NULL UNIQUE,
        short_hash        TEXT NOT NULL,
        source            TEXT NOT NULL CHECK (source IN ('file', 'url', 'upload', 'trained')),
        origin            TEXT NOT NULL,
        stored_path       TEXT NOT NULL UNIQUE,
        added_at          INTEGER NOT NULL,
        last_used_at      INTEGER,
        is_default        INTEGER NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1)),
        prediction        TEXT CHECK (prediction IN ('epsilon', 'v_prediction'))
      ) STRICT;
      INSERT INTO models_new (id, name, kind, family, variant, native_resolution, bytes, sha256, short_hash, source,
        origin, stored_path, added_at, last_used_at, is_default, prediction)
      SELECT id, name, kind, family, variant, native_resolution, bytes, sha256, short_hash, source,
        origin, stored_path, added_at, last_used_at, is_default, prediction FROM models;
      DROP TABLE models;
      ALTER TABLE models_new RENAME TO models;
      CREATE UNIQUE INDEX models_kind_name ON models (kind, name);
      CREATE INDEX models_short_hash ON models (short_hash);
      CREATE UNIQUE INDEX models_default ON models (kind) WHERE is_default = 1;
      -- A trained LoRA is found again by the run output it came from ("use this one" replaces its file).
      CREATE INDEX models_trained_origin ON models (origin) WHERE source = 'trained';
    `);
  },
};
