/**
 * The library: every image the studio keeps (imported or generated), the datasets that
 * group them with captions, the gallery listing and full-text search, and the per-file
 * record of import jobs. It owns the `images`, `datasets`, `dataset_images`,
 * `import_results` and `image_text` tables and the image and thumbnail stores; the SQL of
 * the gallery and of import records lives in gallery-query.ts and import-records.ts.
 */
import { existsSync } from 'node:fs';
import sharp from 'sharp';
import {
  DatasetName,
  type Dataset,
  type DatasetImage,
  type ImageDetail,
  type ImageView,
  type ImportFileResult,
} from '../../src-shared/api';
import { PinholeError } from '../../src-shared/errors';
import type { DataHome } from '../platform/data-home';
import { Emitter } from '../platform/emitter';
import { newId } from '../platform/ids';
import { ContentStore, sha256Hex } from '../storage/content-store';
import type { Database } from '../storage/database';
import { decodeCursor, encodeCursor } from './cursor';
import { syncImageText } from './fts';
import { queryGallery, type GalleryQuery } from './gallery-query';
import {
  countImportResults,
  listImportResults,
  writeImportRecord,
  type ImportCounts,
  type ImportRecord,
} from './import-records';
import { makeThumbnail } from './ingest-image';
import {
  contentTypeOf,
  nextCreatedAt,
  toDataset,
  toDatasetImage,
  toImageView,
  type DatasetImageRow,
  type DatasetRow,
  type ImageRow,
} from './rows';

export type { GalleryQuery } from './gallery-query';
export type { ImportCounts, ImportOutcome, ImportRecord, NewImportedImage } from './import-records';

/** One page of a keyset-paged listing, as the contract's `Page(...)`. */
export type PageOf<T> = { items: T[]; nextCursor: string | null; total: number };

/** A stored file to serve: where it is and what it is. */
export type StoredFile = { path: string; contentType: string };

/** An image produced by the generation engine. */
export type GeneratedImageInput = {
  /** Encoded image (PNG; JPEG and WebP also accepted), stored byte for byte. */
  png: Uint8Array;
  prompt: string;
  negativePrompt?: string | null;
  /** Generation parameters (seed, steps, model, LoRAs…), returned as ImageDetail.metadata. */
  metadata?: Record<string, unknown>;
};

const SHA256 = /^[0-9a-f]{64}$/;

const DATASET_SELECT = `
  SELECT d.id, d.name, d.created_at,
    (SELECT COUNT(*) FROM dataset_images x WHERE x.dataset_id = d.id) AS image_count,
    (SELECT x.sha256 FROM dataset_images x WHERE x.dataset_id = d.id ORDER BY x.added_at, x.sha256 LIMIT 1) AS cover
  FROM datasets d`;

const DATASET_IMAGE_SELECT = `
  SELECT i.*, di.dataset_id, di.caption, di.original_name, di.added_at
  FROM dataset_images di JOIN images i ON i.sha256 = di.sha256`;

/** The library service; one per data home and process. */
export class Library {
  /** Images added or removed, captions edited, datasets created or deleted (null: not one dataset's). */
  readonly onDidChange = new Emitter<{ datasetId: string | null }>();
  /** One file of an import job was recorded. */
  readonly onDidImportFile = new Emitter<ImportFileResult>();

  readonly db: Database;
  readonly home: DataHome;
  private readonly images: ContentStore;
  private readonly thumbs: ContentStore;

  constructor(options: { db: Database; home: DataHome }) {
    this.db = options.db;
    this.home = options.home;
    this.images = new ContentStore(options.home.images, options.home.tmp);
    this.thumbs = new ContentStore(options.home.thumbs, options.home.tmp, '.webp');
  }

  // ---- datasets ----

  /** Every dataset, by name. */
  listDatasets(): Dataset[] {
    return (this.db.prepare(`${DATASET_SELECT} ORDER BY d.name COLLATE NOCASE, d.id`).all() as DatasetRow[]).map(
      toDataset,
    );
  }

  /** One dataset, or null. */
  getDataset(datasetId: string): Dataset | null {
    const row = this.db.prepare(`${DATASET_SELECT} WHERE d.id = ?`).get(datasetId) as DatasetRow | undefined;
    return row ? toDataset(row) : null;
  }

  /** Creates a dataset; CONFLICT when the name exists (compared case-insensitively). */
  createDataset(name: string): Dataset {
    const clean = checkName(name);
    const info = this.db
      .prepare('INSERT INTO datasets (id, name, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING')
      .run(newId('ds'), clean, Date.now());
    if (info.changes === 0) throw new PinholeError('CONFLICT', `A dataset named "${clean}" already exists`);
    const dataset = this.findDatasetByName(clean)!;
    this.onDidChange.fire({ datasetId: dataset.id });
    return dataset;
  }

  /** The dataset with this name (case-insensitive), created when missing. Safe against a concurrent create. */
  ensureDataset(name: string): Dataset {
    const clean = checkName(name);
    const info = this.db
      .prepare('INSERT INTO datasets (id, name, created_at) VALUES (?, ?, ?) ON CONFLICT (name) DO NOTHING')
      .run(newId('ds'), clean, Date.now());
    const dataset = this.findDatasetByName(clean)!;
    if (info.changes > 0) this.onDidChange.fire({ datasetId: dataset.id });
    return dataset;
  }

  /** Deletes a dataset and its memberships and captions; its images stay in the library. */
  deleteDataset(datasetId: string): { deleted: boolean } {
    const deleted = this.db
      .transaction(() => {
        const captioned = this.db
          .prepare(`SELECT sha256 FROM dataset_images WHERE dataset_id = ? AND caption <> ''`)
          .all(datasetId) as { sha256: string }[];
        // Explicit rather than relying on ON DELETE CASCADE, which needs foreign_keys on.
        this.db.prepare('DELETE FROM dataset_images WHERE dataset_id = ?').run(datasetId);
        const info = this.db.prepare('DELETE FROM datasets WHERE id = ?').run(datasetId);
        for (const { sha256 } of captioned) syncImageText(this.db, sha256);
        return info.changes > 0;
      })
      .immediate();
    if (deleted) this.onDidChange.fire({ datasetId });
    return { deleted };
  }

  /** A dataset's images in the order they were added, keyset-paged. NOT_FOUND for an unknown dataset. */
  datasetImages(datasetId: string, cursor: string | undefined, limit: number): PageOf<DatasetImage> {
    this.requireDataset(datasetId);
    const after = cursor ? decodeCursor(cursor) : null;
    const rows = (
      after
        ? this.db
            .prepare(
              `${DATASET_IMAGE_SELECT} WHERE di.dataset_id = ? AND (di.added_at, di.sha256) > (?, ?)
               ORDER BY di.added_at, di.sha256 LIMIT ?`,
            )
            .all(datasetId, after.time, after.sha256, limit + 1)
        : this.db
            .prepare(`${DATASET_IMAGE_SELECT} WHERE di.dataset_id = ? ORDER BY di.added_at, di.sha256 LIMIT ?`)
            .all(datasetId, limit + 1)
    ) as DatasetImageRow[];
    const more = rows.length > limit;
    const items = rows.slice(0, limit);
    const last = items[items.length - 1];
    const total = (
      this.db.prepare('SELECT COUNT(*) AS n FROM dataset_images WHERE dataset_id = ?').get(datasetId) as { n: number }
    ).n;
    return {
      items: items.map(toDatasetImage),
      nextCursor: more && last ? encodeCursor({ time: last.added_at, sha256: last.sha256 }) : null,
      total,
    };
  }

  /** Sets an image's caption in a dataset (trimmed) and re-indexes it for search. */
  setCaption(datasetId: string, sha256: string, caption: string): DatasetImage {
    const row = this.db
      .transaction(() => {
        const info = this.db
          .prepare('UPDATE dataset_images SET caption = ? WHERE dataset_id = ? AND sha256 = ?')
          .run(caption.trim(), datasetId, sha256);
        if (info.changes === 0) return null;
        syncImageText(this.db, sha256);
        return this.db
          .prepare(`${DATASET_IMAGE_SELECT} WHERE di.dataset_id = ? AND di.sha256 = ?`)
          .get(datasetId, sha256) as DatasetImageRow;
      })
      .immediate();
    if (!row) throw new PinholeError('NOT_FOUND', `Image ${sha256.slice(0, 12)} is not in dataset ${datasetId}`);
    this.onDidChange.fire({ datasetId });
    return toDatasetImage(row);
  }

  /** Takes an image out of a dataset (it stays in the library). */
  removeImage(datasetId: string, sha256: string): { removed: boolean } {
    const removed = this.db
      .transaction(() => {
        const info = this.db
          .prepare('DELETE FROM dataset_images WHERE dataset_id = ? AND sha256 = ?')
          .run(datasetId, sha256);
        if (info.changes > 0) syncImageText(this.db, sha256);
        return info.changes > 0;
      })
      .immediate();
    if (removed) this.onDidChange.fire({ datasetId });
    return { removed };
  }

  // ---- gallery ----

  /** Library images newest first, optionally filtered by source and full-text search; keyset-paged. */
  galleryQuery(query: GalleryQuery): PageOf<ImageView> {
    return queryGallery(this.db, query);
  }

  /** One image with its prompt, metadata and dataset memberships. NOT_FOUND when missing. */
  getImage(sha256: string): ImageDetail {
    const row = this.db.prepare('SELECT * FROM images WHERE sha256 = ?').get(sha256) as ImageRow | undefined;
    if (!row) throw new PinholeError('NOT_FOUND', `No image ${sha256.slice(0, 64)}`);
    const datasets = this.db
      .prepare(
        `SELECT d.id, d.name, di.caption FROM dataset_images di JOIN datasets d ON d.id = di.dataset_id
         WHERE di.sha256 = ? ORDER BY d.name COLLATE NOCASE`,
      )
      .all(sha256) as { id: string; name: string; caption: string }[];
    return {
      ...toImageView(row),
      prompt: row.prompt,
      negativePrompt: row.negative_prompt,
      metadata: parseMetadata(row.metadata),
      datasets,
    };
  }

  /** The stored image file, or null when the id is malformed, unknown or its file is gone. */
  imagePath(sha256: string): StoredFile | null {
    if (!SHA256.test(sha256)) return null;
    const row = this.db.prepare('SELECT format FROM images WHERE sha256 = ?').get(sha256) as
      { format: string } | undefined;
    if (!row) return null;
    const file = this.images.pathOf(sha256);
    return existsSync(file) ? { path: file, contentType: contentTypeOf(row.format) } : null;
  }

  /** The WebP thumbnail, or null when there is none. */
  thumbPath(sha256: string): StoredFile | null {
    if (!SHA256.test(sha256)) return null;
    const file = this.thumbs.pathOf(sha256);
    return existsSync(file) ? { path: file, contentType: 'image/webp' } : null;
  }

  /** Stores a generated image (idempotent by content) and indexes its prompt for search. */
  async addGeneratedImage(input: GeneratedImageInput): Promise<ImageView> {
    const bytes = Buffer.from(input.png);
    let meta;
    try {
      meta = await sharp(bytes).metadata();
    } catch (error) {
      throw new PinholeError('INVALID_PARAMS', 'The generated image cannot be read', { cause: error });
    }
    if (meta.format !== 'png' && meta.format !== 'jpeg' && meta.format !== 'webp') {
      throw new PinholeError('INVALID_PARAMS', `Generated images must be PNG, JPEG or WebP, not ${meta.format}`);
    }
    const sha256 = sha256Hex(bytes);
    await this.storeImageFiles({ sha256, bytes, thumbnail: await makeThumbnail(bytes) });
    const row = this.db
      .transaction(() => {
        const info = this.db
          .prepare(
            `INSERT INTO images (sha256, source_sha256, format, width, height, bytes, source, title, prompt,
               negative_prompt, metadata, created_at)
             VALUES (?, ?, ?, ?, ?, ?, 'generated', ?, ?, ?, ?, ?) ON CONFLICT (sha256) DO NOTHING`,
          )
          .run(
            sha256,
            sha256,
            meta.format,
            meta.width,
            meta.height,
            bytes.length,
            input.prompt,
            input.prompt,
            input.negativePrompt ?? null,
            JSON.stringify(input.metadata ?? {}),
            nextCreatedAt(this.db),
          );
        if (info.changes > 0) syncImageText(this.db, sha256);
        return this.db.prepare('SELECT * FROM images WHERE sha256 = ?').get(sha256) as ImageRow;
      })
      .immediate();
    this.onDidChange.fire({ datasetId: null });
    return toImageView(row);
  }

  // ---- import (used by the import job) ----

  /** Per-file outcomes of an import job, in file order. */
  importResults(jobId: string): ImportFileResult[] {
    return listImportResults(this.db, jobId);
  }

  /** How many files of a job were accepted, duplicates and rejected so far. */
  importCounts(jobId: string): ImportCounts {
    return countImportResults(this.db, jobId);
  }

  /**
   * The stored image an original file became on an earlier import (or that it is byte for
   * byte), so a re-import is recognized without decoding it. Null when unknown or its file is gone.
   */
  findImageBySource(sourceSha256: string): string | null {
    const row = this.db
      .prepare('SELECT sha256 FROM images WHERE source_sha256 = ? OR sha256 = ? LIMIT 1')
      .get(sourceSha256, sourceSha256) as { sha256: string } | undefined;
    return row && this.images.has(row.sha256) ? row.sha256 : null;
  }

  /** Writes an image and its thumbnail into the stores (before its row, so a row never lacks its file). */
  async storeImageFiles(image: { sha256: string; bytes: Uint8Array; thumbnail: Uint8Array }): Promise<void> {
    await this.images.put(image.bytes, image.sha256);
    await this.thumbs.put(image.thumbnail, image.sha256);
  }

  /**
   * Records one file of an import in one transaction (see `writeImportRecord`) and announces
   * it. Idempotent per (job, index): a file already recorded returns its first result, unannounced.
   */
  recordImport(record: ImportRecord): ImportFileResult {
    const { result, fresh } = writeImportRecord(this.db, record);
    if (fresh) this.onDidImportFile.fire(result);
    return result;
  }

  // ---- helpers ----

  private findDatasetByName(name: string): Dataset | null {
    const row = this.db.prepare(`${DATASET_SELECT} WHERE d.name = ?`).get(name) as DatasetRow | undefined;
    return row ? toDataset(row) : null;
  }

  private requireDataset(datasetId: string): void {
    if (!this.db.prepare('SELECT 1 FROM datasets WHERE id = ?').get(datasetId)) {
      throw new PinholeError('NOT_FOUND', `No dataset ${datasetId}`);
    }
  }
}

function checkName(name: string): string {
  const parsed = DatasetName.safeParse(name);
  if (!parsed.success)
    throw new PinholeError('INVALID_PARAMS', `name: ${parsed.error.issues[0]?.message ?? 'invalid'}`);
  return parsed.data;
}

function parseMetadata(text: string): Record<string, unknown> {
  try {
    const value: unknown = JSON.parse(text);
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}
