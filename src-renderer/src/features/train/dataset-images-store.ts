/**
 * A cache of the selected dataset's images, keyset-paged through `datasets.images`.
 * Refreshes re-read from the start (as many rows as are shown), because captions, removals
 * and imports can change any page.
 */
import { create } from 'zustand';
import type { DatasetImage } from '../../../../src-shared/api/schemas';
import { userMessage } from '../../lib/errors';
import type { StudioClient } from '../../lib/studio-client';

const PAGE = 120;
/** The contract's largest page: a refresh never re-reads more than this in one call. */
const MAX_PAGE = 500;

/** One dataset's loaded images. */
export type DatasetImagesEntry = {
  items: DatasetImage[];
  nextCursor: string | null;
  total: number;
  loading: boolean;
  error: string | null;
};

/** Dataset-images slice: dataset id → loaded images. */
export type DatasetImagesState = { byDataset: Record<string, DatasetImagesEntry> };

/** The dataset-images slice. */
export const useDatasetImagesStore = create<DatasetImagesState>(() => ({ byDataset: {} }));

const EMPTY: DatasetImagesEntry = { items: [], nextCursor: null, total: 0, loading: true, error: null };

/** Selector: one dataset's entry (a shared empty one until loaded). */
export function selectDatasetImages(datasetId: string): (s: DatasetImagesState) => DatasetImagesEntry {
  return (s) => s.byDataset[datasetId] ?? EMPTY;
}

function patch(datasetId: string, update: (entry: DatasetImagesEntry) => Partial<DatasetImagesEntry>): void {
  useDatasetImagesStore.setState((s) => {
    const entry = s.byDataset[datasetId] ?? EMPTY;
    return { byDataset: { ...s.byDataset, [datasetId]: { ...entry, ...update(entry) } } };
  });
}

// Only the newest request per dataset may write, so a slow old answer cannot overwrite a new one.
const latestRequest = new Map<string, number>();
let requestCounter = 0;

/** Re-reads a dataset from its first image, keeping at least as many rows as are loaded now. */
export async function refreshDatasetImages(client: StudioClient, datasetId: string): Promise<void> {
  const request = ++requestCounter;
  latestRequest.set(datasetId, request);
  const shown = useDatasetImagesStore.getState().byDataset[datasetId]?.items.length ?? 0;
  const limit = Math.min(MAX_PAGE, Math.max(PAGE, shown));
  patch(datasetId, () => ({ loading: true }));
  try {
    const page = await client.call('datasets.images', { datasetId, limit });
    if (latestRequest.get(datasetId) !== request) return;
    patch(datasetId, () => ({
      items: page.items,
      nextCursor: page.nextCursor,
      total: page.total,
      loading: false,
      error: null,
    }));
  } catch (error) {
    if (latestRequest.get(datasetId) !== request) return;
    patch(datasetId, () => ({ loading: false, error: userMessage(error) }));
  }
}

/** Appends the next page. */
export async function loadMoreDatasetImages(client: StudioClient, datasetId: string): Promise<void> {
  const entry = useDatasetImagesStore.getState().byDataset[datasetId];
  if (!entry?.nextCursor || entry.loading) return;
  const request = ++requestCounter;
  latestRequest.set(datasetId, request);
  patch(datasetId, () => ({ loading: true }));
  try {
    const page = await client.call('datasets.images', { datasetId, cursor: entry.nextCursor, limit: PAGE });
    if (latestRequest.get(datasetId) !== request) return;
    patch(datasetId, (current) => ({
      items: [...current.items, ...page.items],
      nextCursor: page.nextCursor,
      total: page.total,
      loading: false,
      error: null,
    }));
  } catch (error) {
    if (latestRequest.get(datasetId) !== request) return;
    patch(datasetId, () => ({ loading: false, error: userMessage(error) }));
  }
}

/** Replaces one image (e.g. after a caption save) without waiting for a refresh. */
export function replaceDatasetImage(image: DatasetImage): void {
  patch(image.datasetId, (entry) => ({ items: entry.items.map((i) => (i.sha256 === image.sha256 ? image : i)) }));
}

/** Drops one image from the view right after a successful removal. */
export function dropDatasetImage(datasetId: string, sha256: string): void {
  patch(datasetId, (entry) => ({
    items: entry.items.filter((i) => i.sha256 !== sha256),
    total: Math.max(0, entry.total - 1),
  }));
}
