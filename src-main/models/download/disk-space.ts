import { statfs } from 'node:fs/promises';
import { PinholeError } from '../../../src-shared/errors';

/** Room kept free beyond the download itself, for the database and the rest of the system. */
const MARGIN_BYTES = 256 * 1024 * 1024;

export type FreeBytes = (dir: string) => Promise<number | null>;

/** Free bytes on the volume holding `dir`, or null where the platform cannot tell. */
export const statfsFreeBytes: FreeBytes = async (dir) => {
  try {
    const stats = await statfs(dir);
    return stats.bavail * stats.bsize;
  } catch {
    return null;
  }
};

/** Throws DATA_HOME_UNAVAILABLE when `bytes` still to download do not fit in `dir`. */
export async function ensureDownloadSpace(dir: string, bytes: number, freeBytes: FreeBytes): Promise<void> {
  const free = await freeBytes(dir);
  if (free !== null && free < bytes + MARGIN_BYTES) {
    throw new PinholeError(
      'DATA_HOME_UNAVAILABLE',
      `Not enough free disk space for this download: it needs ${formatBytes(bytes)} more (plus ` +
        `${formatBytes(MARGIN_BYTES)} to spare) in ${dir}, and ${formatBytes(free)} is free.`,
    );
  }
}

/** `4.27 GB`, `134.6 MB`, `512 B`: decimal units, as download sizes are usually shown. */
export function formatBytes(bytes: number): string {
  if (bytes >= 1e9) return `${(bytes / 1e9).toFixed(2)} GB`;
  if (bytes >= 1e6) return `${(bytes / 1e6).toFixed(1)} MB`;
  if (bytes >= 1e3) return `${(bytes / 1e3).toFixed(1)} kB`;
  return `${bytes} B`;
}
