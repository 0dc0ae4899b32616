/**
 * Change counters for library data (images, captions, datasets). Views that cache library
 * data re-fetch when their counter moves; the counters themselves carry no data, so an event
 * storm during a big import costs a number increment each.
 */
import { create } from 'zustand';

/** Library-change slice. */
export type LibraryState = {
  /** Bumped on every library change, whatever it touched (the gallery follows this). */
  any: number;
  /** Bumped on changes not tied to one dataset (they may touch all of them). */
  unscoped: number;
  /** Bumped per dataset id on changes to that dataset. */
  byDataset: Record<string, number>;
};

/** The library-change slice; written by `startSync`. */
export const useLibraryStore = create<LibraryState>(() => ({ any: 0, unscoped: 0, byDataset: {} }));

/** Records one `library.changed` event. */
export function noteLibraryChanged(datasetId: string | null): void {
  useLibraryStore.setState((s) =>
    datasetId === null
      ? { any: s.any + 1, unscoped: s.unscoped + 1 }
      : { any: s.any + 1, byDataset: { ...s.byDataset, [datasetId]: (s.byDataset[datasetId] ?? 0) + 1 } },
  );
}

/** Selector: a number that changes whenever dataset `id` may have changed. */
export function selectDatasetVersion(id: string | null): (s: LibraryState) => number {
  return (s) => s.unscoped + (id ? (s.byDataset[id] ?? 0) : 0);
}
