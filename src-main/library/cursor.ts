/**
 * Opaque keyset cursors: a position (time, sha256) in a listing, plus the listing's total
 * when it was first counted, base64url-encoded so clients treat it as a token and the
 * format can change without breaking them.
 */
import { PinholeError } from '../../src-shared/errors';

/** A row position: the sort time and the sha256 that breaks ties; `total` as of the first page. */
export type Keyset = { time: number; sha256: string; total?: number | undefined };

/** The opaque token for a position (and the total, when known). */
export function encodeCursor(key: Keyset): string {
  const total = key.total === undefined ? '' : `:${key.total}`;
  return Buffer.from(`${key.time}:${key.sha256}${total}`, 'utf8').toString('base64url');
}

/** Throws INVALID_PARAMS for anything this module did not produce. */
export function decodeCursor(cursor: string): Keyset {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  const match = /^(\d{1,15}):([0-9a-f]{64})(?::(\d{1,15}))?$/.exec(text);
  if (!match) throw new PinholeError('INVALID_PARAMS', 'cursor: not a cursor from this listing');
  return { time: Number(match[1]), sha256: match[2]!, total: match[3] === undefined ? undefined : Number(match[3]) };
}
