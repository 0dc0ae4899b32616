/**
 * A library dataset as training items: every image's stored file with its caption, in the order
 * the images were added (the order the Train page shows). Resolved when the run starts, so caption
 * edits made while it waited in the queue are used.
 */
import { PinholeError } from '../../src-shared/errors';
import type { Library } from '../library';

export type TrainItem = { file: string; caption: string };

const PAGE = 500;

export function datasetTrainItems(library: Library, name: string): TrainItem[] {
  const wanted = name.trim().toLowerCase();
  const dataset = library.listDatasets().find((d) => d.name.toLowerCase() === wanted);
  if (!dataset)
    throw new PinholeError(
      'NOT_FOUND',
      `No dataset named "${name}". Create it with pinhole import … --dataset "${name}".`,
    );
  const items: TrainItem[] = [];
  let cursor: string | undefined;
  do {
    const page = library.datasetImages(dataset.id, cursor, PAGE);
    for (const image of page.items) {
      const stored = library.imagePath(image.sha256);
      if (!stored) {
        throw new PinholeError(
          'NOT_FOUND',
          `The stored file of "${image.originalName}" in "${dataset.name}" is missing; remove it from the dataset or import it again.`,
        );
      }
      items.push({ file: stored.path, caption: image.caption });
    }
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  if (items.length === 0) {
    throw new PinholeError('INVALID_PARAMS', `Dataset "${dataset.name}" has no images; import some photos first.`);
  }
  return items;
}
