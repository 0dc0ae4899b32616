import type { Migration } from './types';

/**
 * The models library: every model file the studio keeps under the data home's models/ folder
 * (checkpoints, LoRAs, VAEs, textual-inversion embeddings). Model folders discovered on disk are
 * not rows: they are listed from the folders each time.
 */
export const migration0002: Migration = {
  version: 2,
  name: 'models',
  up: (db) => {
    db.exec(`
      CREATE TABLE models (
        id                TEXT PRIMARY KEY,
        -- what prompts (<lora:NAME>), --model and the UI call it; also the stored file's base name
        name              TEXT NOT NULL COLLATE NOCASE,
        kind              TEXT NOT NULL CHECK (kind IN ('checkpoint', 'lora', 'vae', 'embedding')),
        family            TEXT,
        variant           TEXT,
        native_resolution INTEGER,
        bytes             INTEGER NOT NULL,
        sha256            TEXT NOT NULL UNIQUE,
        -- A1111's short hash: the first 10 hex digits of sha256, as PNG infotexts record it
        short_hash        TEXT NOT NULL,
        source            TEXT NOT NULL CHECK (source IN ('file', 'url', 'upload')),
        -- the original path or URL it came from (the upload's file name for uploads)
        origin            TEXT NOT NULL,
        -- the stored original, relative to the data home
        stored_path       TEXT NOT NULL UNIQUE,
        added_at          INTEGER NOT NULL,
        last_used_at      INTEGER,
        is_default        INTEGER NOT NULL DEFAULT 0 CHECK (is_default IN (0, 1))
      ) STRICT;
      -- Names are unique per kind (case-insensitively: they are file names on every OS).
      CREATE UNIQUE INDEX models_kind_name ON models (kind, name);
      CREATE INDEX models_short_hash ON models (short_hash);
      -- At most one default per kind.
      CREATE UNIQUE INDEX models_default ON models (kind) WHERE is_default = 1;
    `);
  },
};
