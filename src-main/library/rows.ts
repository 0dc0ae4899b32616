/** Database rows of the library tables and their mapping to the API shapes. */
import type { Dataset, DatasetImage, ImageView } from '../../src-shared/api';
import type { Database } from '../storage/database';

/** A row of `images`. */
export type ImageRow = {
  sha256: string;
  source_sha256: string | null;
  format: string;
  width: number;
  height: number;
  bytes: number;
  source: 'import' | 'generated';
  title: string;
  prompt: string | null;
  negative_prompt: string | null;
  metadata: string;
  created_at: number;
};

/** A dataset with its image count and cover, as the library's dataset query returns it. */
export type DatasetRow = {
  id: string;
  name: string;
  created_at: number;
  image_count: number;
  cover: string | null;
};

/** An image joined with its membership in one dataset. */
export type DatasetImageRow = ImageRow & {
  dataset_id: string;
  caption: string;
  original_name: string;
  added_at: number;
};

/** The columns of `images` an ImageView needs, prefixed by a table alias. */
export function imageColumns(alias: string): string {
  return ['sha256', 'format', 'width', 'height', 'bytes', 'source', 'title', 'created_at']
    .map((c) => `${alias}.${c}`)
    .join(', ');
}

/** Row → ImageView (the gallery's item). */
export function toImageView(
  row: Pick<ImageRow, 'sha256' | 'format' | 'width' | 'height' | 'bytes' | 'source' | 'title' | 'created_at'>,
): ImageView {
  return {
    sha256: row.sha256,
    width: row.width,
    height: row.height,
    format: row.format,
    bytes: row.bytes,
    source: row.source,
    createdAt: row.created_at,
    title: row.title,
  };
}

/** Row → DatasetImage. */
export function toDatasetImage(row: DatasetImageRow): DatasetImage {
  return {
    ...toImageView(row),
    datasetId: row.dataset_id,
    caption: row.caption,
    originalName: row.original_name,
    addedAt: row.added_at,
  };
}

/** Row → Dataset. */
export function toDataset(row: DatasetRow): Dataset {
  return {
    id: row.id,
    name: row.name,
    imageCount: row.image_count,
    createdAt: row.created_at,
    coverSha256: row.cover,
  };
}

const CONTENT_TYPES: Record<string, string> = {
  jpeg: 'image/jpeg',
  png: 'image/png',
  webp: 'image/webp',
};

/** The HTTP content type of a stored format; stored files are only ever these three. */
export function contentTypeOf(format: string): string {
  return CONTENT_TYPES[format] ?? 'application/octet-stream';
}

/**
 * A creation time for a new image: now, but strictly after the newest image, so the gallery
 * keeps arrival order within one millisecond and (created_at, sha256) rarely ties. Call it
 * inside the inserting write transaction, which makes it strict across processes too.
 */
export function nextCreatedAt(db: Database): number {
  const last = db.prepare('SELECT MAX(created_at) AS t FROM images').get() as { t: number | null };
  return Math.max(Date.now(), (last.t ?? 0) + 1);
}
