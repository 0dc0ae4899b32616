/**
 * Copies a file while hashing it: one read of the original, the copy written to a temporary
 * file and flushed to disk before anyone renames it into place. A copy (not a hard link): the
 * library's file must stay the bytes its SHA-256 names even if the original is edited in place
 * later, and a link cannot cross volumes anyway.
 */
import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, rm, statfs } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { PinholeError } from '../../src-shared/errors';

export type CopyProgress = (bytesDone: number) => void;

/** Free bytes on the volume holding `dir`, or null where the platform cannot tell. */
async function freeBytes(dir: string): Promise<number | null> {
  try {
    const stats = await statfs(dir);
    return stats.bavail * stats.bsize;
  } catch {
    return null;
  }
}

/** Throws a clear error when `bytes` (plus a margin) do not fit on the volume holding `dir`. */
export async function ensureFreeSpace(dir: string, bytes: number): Promise<void> {
  const free = await freeBytes(dir);
  const margin = 64 * 1024 * 1024;
  if (free !== null && free < bytes + margin) {
    throw new PinholeError(
      'DATA_HOME_UNAVAILABLE',
      `Not enough free disk space in ${dir}: the copy needs ${gb(bytes + margin)}, ${gb(free)} is free.`,
    );
  }
}

function gb(bytes: number): string {
  return `${(bytes / 1024 ** 3).toFixed(2)} GB`;
}

/**
 * Copies `source` to `target` (created; its folder must exist) and returns the SHA-256 of the
 * bytes written. On failure or abort `target` is removed.
 */
export async function copyHashed(
  source: string,
  target: string,
  options: { signal?: AbortSignal | undefined; onProgress?: CopyProgress | undefined } = {},
): Promise<{ sha256: string; bytes: number }> {
  const hash = createHash('sha256');
  let bytes = 0;
  const tap = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      hash.update(chunk);
      bytes += chunk.length;
      options.onProgress?.(bytes);
      done(null, chunk);
    },
  });
  try {
    await pipeline(createReadStream(source), tap, createWriteStream(target, { flags: 'wx' }), {
      signal: options.signal,
    });
    // Flush before the rename makes it the library's file: a crash must not leave a short file under a full hash.
    const handle = await open(target, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch (error) {
    await rm(target, { force: true });
    if (options.signal?.aborted) throw options.signal.reason;
    throw new PinholeError('IMPORT_REJECTED', `Cannot copy ${path.basename(source)}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return { sha256: hash.digest('hex'), bytes };
}
