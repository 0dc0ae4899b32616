/**
 * The `models` table: one row per library file. Plain reads and writes; the rules (unique
 * names, one default per kind, files moved with their rows) live in ModelLibrary.
 */
import type { ModelKind, PredictionType } from '../../src-shared/api';
import type { Database } from '../storage/database';

/** A library row. `storedPath` is relative to the data home, with forward slashes. */
export type ModelRecord = {
  id: string;
  name: string;
  kind: ModelKind;
  family: string | null;
  variant: string | null;
  nativeResolution: number | null;
  bytes: number;
  sha256: string;
  shortHash: string;
  source: 'file' | 'url' | 'upload' | 'trained';
  origin: string;
  storedPath: string;
  addedAt: number;
  lastUsedAt: number | null;
  isDefault: boolean;
  /** A checkpoint's prediction type as the user set it; null: what its weights say. */
  prediction: PredictionType | null;
};

type Row = {
  id: string;
  name: string;
  kind: ModelKind;
  family: string | null;
  variant: string | null;
  native_resolution: number | null;
  bytes: number;
  sha256: string;
  short_hash: string;
  source: ModelRecord['source'];
  origin: string;
  stored_path: string;
  added_at: number;
  last_used_at: number | null;
  is_default: number;
  prediction: PredictionType | null;
};

function toRecord(row: Row): ModelRecord {
  return {
    id: row.id,
    name: row.name,
    kind: row.kind,
    family: row.family,
    variant: row.variant,
    nativeResolution: row.native_resolution,
    bytes: row.bytes,
    sha256: row.sha256,
    shortHash: row.short_hash,
    source: row.source,
    origin: row.origin,
    storedPath: row.stored_path,
    addedAt: row.added_at,
    lastUsedAt: row.last_used_at,
    isDefault: row.is_default === 1,
    prediction: row.prediction,
  };
}

const KIND_ORDER = `CASE kind WHEN 'checkpoint' THEN 0 WHEN 'lora' THEN 1 WHEN 'vae' THEN 2 ELSE 3 END`;

export class ModelStore {
  constructor(private readonly db: Database) {}

  /** Every row (of one kind), checkpoints first, then by name. */
  list(kind?: ModelKind): ModelRecord[] {
    const rows = kind
      ? this.db.prepare<[string], Row>('SELECT * FROM models WHERE kind = ? ORDER BY name').all(kind)
      : this.db.prepare<[], Row>(`SELECT * FROM models ORDER BY ${KIND_ORDER}, name`).all();
    return rows.map(toRecord);
  }

  get(id: string): ModelRecord | null {
    const row = this.db.prepare<[string], Row>('SELECT * FROM models WHERE id = ?').get(id);
    return row ? toRecord(row) : null;
  }

  bySha256(sha256: string): ModelRecord | null {
    const row = this.db.prepare<[string], Row>('SELECT * FROM models WHERE sha256 = ?').get(sha256);
    return row ? toRecord(row) : null;
  }

  /** Case-insensitive, as names are file names. */
  byName(kind: ModelKind, name: string): ModelRecord | null {
    const row = this.db
      .prepare<[string, string], Row>('SELECT * FROM models WHERE kind = ? AND name = ?')
      .get(kind, name);
    return row ? toRecord(row) : null;
  }

  /** Rows of any kind with this name (a name given without a kind may match several). */
  allByName(name: string): ModelRecord[] {
    return this.db
      .prepare<[string], Row>(`SELECT * FROM models WHERE name = ? ORDER BY ${KIND_ORDER}`)
      .all(name)
      .map(toRecord);
  }

  /** The trained LoRA that came from this run output file, if the library keeps one. */
  trainedFrom(origin: string): ModelRecord | null {
    const row = this.db
      .prepare<[string], Row>(`SELECT * FROM models WHERE source = 'trained' AND origin = ?`)
      .get(origin);
    return row ? toRecord(row) : null;
  }

  byStoredPath(storedPath: string): ModelRecord | null {
    const row = this.db.prepare<[string], Row>('SELECT * FROM models WHERE stored_path = ?').get(storedPath);
    return row ? toRecord(row) : null;
  }

  insert(r: ModelRecord): void {
    this.db
      .prepare(
        `INSERT INTO models (id, name, kind, family, variant, native_resolution, bytes, sha256, short_hash, source,
           origin, stored_path, added_at, last_used_at, is_default, prediction)
         VALUES (@id, @name, @kind, @family, @variant, @nativeResolution, @bytes, @sha256, @shortHash, @source,
           @origin, @storedPath, @addedAt, @lastUsedAt, @isDefault, @prediction)`,
      )
      .run({ ...r, isDefault: r.isDefault ? 1 : 0 });
  }

  rename(id: string, name: string, storedPath: string): void {
    this.db.prepare('UPDATE models SET name = ?, stored_path = ? WHERE id = ?').run(name, storedPath, id);
  }

  /** A row's file was replaced by other bytes (a trained LoRA's new checkpoint): its facts follow. */
  replaceFile(id: string, file: { bytes: number; sha256: string; shortHash: string; addedAt: number }): void {
    this.db
      .prepare('UPDATE models SET bytes = ?, sha256 = ?, short_hash = ?, added_at = ? WHERE id = ?')
      .run(file.bytes, file.sha256, file.shortHash, file.addedAt, id);
  }

  delete(id: string): void {
    this.db.prepare('DELETE FROM models WHERE id = ?').run(id);
  }

  /** Makes `id` the one default of its kind. */
  setDefault(id: string, kind: ModelKind): void {
    this.db.prepare('UPDATE models SET is_default = 0 WHERE kind = ? AND is_default = 1').run(kind);
    this.db.prepare('UPDATE models SET is_default = 1 WHERE id = ?').run(id);
  }

  setPrediction(id: string, prediction: PredictionType | null): void {
    this.db.prepare('UPDATE models SET prediction = ? WHERE id = ?').run(prediction, id);
  }

  markUsed(id: string, at: number): void {
    this.db.prepare('UPDATE models SET last_used_at = ? WHERE id = ?').run(at, id);
  }

  /** Runs `fn` in one immediate transaction. */
  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn).immediate();
  }
}
