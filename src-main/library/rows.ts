/** Database rows of the library tables and their mapping to the API shapes. */
import type { Dataset, DatasetImage, ImageView } from '../../src-shared/api';

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

export type DatasetRow = {
  id: string;
  name: string;
  created_at: number;
  image_count: number;
  cover: string | null;
};

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

export function toDatasetImage(row: DatasetImageRow): DatasetImage {
  return {
    ...toImageView(row),
    datasetId: row.dataset_id,
    caption: row.caption,
    originalName: row.original_name,
    addedAt: row.added_at,
  };
}

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
