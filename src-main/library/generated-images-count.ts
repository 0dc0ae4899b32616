/**
 * Counts the generated images whose stored metadata (the A1111 infotext and the request each keeps) matches a
 * test — how the models library says how many images a model made before it is deleted. A substring `hint`
 * filters in SQL first, so only candidate rows are parsed; removing a model is rare, so a scan is acceptable.
 */
import type { Database } from '../storage/database';

/**
 * The number of generated images whose metadata JSON contains `hint` (ASCII case-insensitively) and whose parsed
 * metadata passes `test`.
 */
export function countGeneratedImagesMatching(
  db: Database,
  hint: string,
  test: (metadata: Record<string, unknown>) => boolean,
): number {
  const rows = db
    .prepare("SELECT metadata FROM images WHERE source = 'generated' AND instr(lower(metadata), lower(?)) > 0")
    .all(hint) as { metadata: string }[];
  let count = 0;
  for (const { metadata } of rows) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(metadata);
    } catch {
      continue; // a row written by hand or by a broken version: it names no model we can tell
    }
    if (typeof parsed === 'object' && parsed !== null && test(parsed as Record<string, unknown>)) count++;
  }
  return count;
}
