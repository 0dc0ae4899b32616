/**
 * `pinhole-source.json` in a converted model folder: what it was converted from (`source`, the absolute path;
 * `sha256`, the source file's hash, absent for folders; family, precision and the like besides). The pipeline
 * writes the source checkpoint's A1111 hash and name into the PNG infotext from it, whoever converted the file,
 * and the models library finds the training runs that used a library checkpoint through it.
 */
import { readFileSync } from 'node:fs';
import { rename, writeFile } from 'node:fs/promises';
import path from 'node:path';

export const CONVERTED_SOURCE_FILE = 'pinhole-source.json';

/** What a converted folder records about its source. */
export type ConvertedSource = {
  /** The absolute path of the file or folder it was converted from (at the time). */
  source: string;
  /** Hex SHA-256 of the source file; absent for folders and for folders converted before it was recorded. */
  sha256: string | undefined;
  /** The whole record as written. */
  record: Record<string, unknown>;
};

/** The record of a folder our converter wrote, or undefined for any other folder (or an unreadable record). */
export function readConvertedSource(dir: string): ConvertedSource | undefined {
  let value: unknown;
  try {
    value = JSON.parse(readFileSync(path.join(dir, CONVERTED_SOURCE_FILE), 'utf8'));
  } catch {
    return undefined;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined;
  const record = value as Record<string, unknown>;
  const { source, sha256 } = record;
  if (typeof source !== 'string') return undefined;
  return { source, sha256: typeof sha256 === 'string' && /^[0-9a-f]{64}$/.test(sha256) ? sha256 : undefined, record };
}

/**
 * Brings a converted folder's record up to date on a cache hit: the file just converted becomes its `source` (the
 * cache is keyed by content, so two files with the same bytes share a folder; the infotext names the one in use),
 * and a folder converted before the hash was recorded gets its `sha256`.
 */
export async function refreshConvertedSource(dir: string, source: string, sha256: string): Promise<void> {
  const known = readConvertedSource(dir);
  if (!known || (known.source === source && known.sha256 === sha256)) return;
  const record = JSON.stringify({ ...known.record, source, sha256 }, null, 2);
  // Written aside and renamed: a reader never sees half a record.
  const tmp = path.join(dir, `${CONVERTED_SOURCE_FILE}.${process.pid}.tmp`);
  await writeFile(tmp, record);
  await rename(tmp, path.join(dir, CONVERTED_SOURCE_FILE));
}
