/**
 * Full-text search over prompts and captions (the `image_text` FTS5 table): one row per
 * image that has any text, rebuilt from the source rows whenever that text changes.
 */
import { PinholeError } from '../../src-shared/errors';
import type { Database } from '../storage/database';

/** The most words a search uses; more only slows the query without narrowing it usefully. */
const MAX_TERMS = 16;

/** Creation times must fit 42 bits (until the year 2109) for the rowid layout below. */
const MAX_TIME = 2 ** 42;

/**
 * The FTS rowid of an image: its creation time (ms) in the high 42 bits, 21 bits of its
 * SHA-256 below. So rowid order is the gallery's (created_at, sha256) order, and FTS5 can
 * answer "newest matches after the cursor" by walking rowids with a LIMIT instead of sorting
 * every match. Derived from immutable columns (never `images.rowid`, which VACUUM may
 * renumber), so an update finds its row without scanning the unindexed sha256 column.
 */
export function textRowid(createdAt: number, sha256: string): bigint {
  if (!Number.isSafeInteger(createdAt) || createdAt < 0 || createdAt >= MAX_TIME) {
    throw new PinholeError('INTERNAL', `Image time ${createdAt} is outside the searchable range`);
  }
  return (BigInt(createdAt) << 21n) | (BigInt('0x' + sha256.slice(0, 6)) >> 3n);
}

/**
 * User text → a safe FTS5 MATCH expression, or null when nothing in it is searchable.
 * Every word becomes a quoted string (so `"`, `AND`, `(`, `*`, `:` are plain text, never
 * syntax), all words must match, and the last one matches as a prefix (search as you type).
 */
export function toFtsQuery(input: string): string | null {
  const terms = input
    // Control characters (NUL above all) could cut the query string short inside SQLite.
    // eslint-disable-next-line no-control-regex -- control characters are exactly what must go
    .replace(/[\u0000-\u001f\u007f]/g, ' ')
    .split(/\s+/)
    // The unicode61 tokenizer drops everything but letters and digits; a word without any
    // would become an empty phrase, which matches nothing and would empty the whole result.
    .filter((term) => /[\p{L}\p{N}]/u.test(term))
    .slice(0, MAX_TERMS);
  if (terms.length === 0) return null;
  return terms.map((term, i) => `"${term.replaceAll('"', '""')}"${i === terms.length - 1 ? '*' : ''}`).join(' ');
}

/**
 * Rewrites an image's search text from its prompt and all its dataset captions.
 * Call inside the transaction that changed them.
 */
export function syncImageText(db: Database, sha256: string): void {
  const image = db.prepare('SELECT prompt, created_at FROM images WHERE sha256 = ?').get(sha256) as
    { prompt: string | null; created_at: number } | undefined;
  if (!image) return;
  const rowid = textRowid(image.created_at, sha256);
  const captions = (
    db
      .prepare(`SELECT caption FROM dataset_images WHERE sha256 = ? AND caption <> '' ORDER BY added_at`)
      .all(sha256) as { caption: string }[]
  ).map((r) => r.caption);
  const holder = db.prepare('SELECT sha256 FROM image_text WHERE rowid = ?').get(rowid) as
    { sha256: string } | undefined;
  // Two images created in the same millisecond with the same 21 hash bits (created_at is
  // strictly increasing, so practically never): keep the first one's text, never overwrite it.
  if (holder && holder.sha256 !== sha256) return;
  if (holder) db.prepare('DELETE FROM image_text WHERE rowid = ?').run(rowid);
  const prompt = image.prompt ?? '';
  if (prompt === '' && captions.length === 0) return;
  db.prepare('INSERT INTO image_text (rowid, sha256, prompt, captions) VALUES (?, ?, ?, ?)').run(
    rowid,
    sha256,
    prompt,
    captions.join('\n'),
  );
}
