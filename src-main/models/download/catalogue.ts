/**
 * The curated catalogue (resources/catalogue.json): official single-file models with their
 * sizes, SHA-256 and licenses. A null hash or size means none was found in a published source:
 * such an entry is offered as unverified and the user must confirm before it downloads.
 */
import { z } from 'zod';
import { CatalogueEntry } from '../../../src-shared/api';
import { PinholeError } from '../../../src-shared/errors';
import catalogueJson from '../../../resources/catalogue.json';

const CatalogueFileSchema = z.object({ version: z.literal(1), models: z.array(CatalogueEntry) });

/** Validates a catalogue document; throws INTERNAL naming the broken field (a shipped file is ours). */
export function parseCatalogue(raw: unknown): CatalogueEntry[] {
  const parsed = CatalogueFileSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new PinholeError('INTERNAL', `The model catalogue is invalid at ${issue?.path.join('.')}: ${issue?.message}`);
  }
  const ids = new Set<string>();
  for (const entry of parsed.data.models) {
    if (ids.has(entry.id)) throw new PinholeError('INTERNAL', `The model catalogue lists "${entry.id}" twice.`);
    ids.add(entry.id);
  }
  return parsed.data.models;
}

/** The catalogue shipped with the app (bundled at build time); a few entries, validated on each read. */
export function loadCatalogue(): CatalogueEntry[] {
  return parseCatalogue(catalogueJson);
}

export function findCatalogueEntry(id: string): CatalogueEntry {
  const entry = loadCatalogue().find((e) => e.id === id);
  if (!entry) throw new PinholeError('NOT_FOUND', `No model "${id}" in the catalogue.`);
  return entry;
}
