/**
 * The gallery cache: the loaded prefix of `gallery.query` for the current search, plus the
 * total so the grid can size its scroll area for items not loaded yet. Keyset cursors only
 * go forward, so pages load in order as the user scrolls toward them.
 */
import { create } from 'zustand';
import type { ImageView } from '../../../../src-shared/api/schemas';
import { userMessage } from '../../lib/errors';
import type { StudioClient } from '../../lib/studio-client';

/** The first page's size; also the limit up to which library changes reload silently. */
export const FIRST_PAGE = 200;
const MAX_PAGE = 500;

/** Gallery slice. */
export type GalleryState = {
  search: string;
  items: ImageView[];
  nextCursor: string | null;
  total: number;
  loading: boolean;
  error: string | null;
  /** The library changed while many pages were loaded; reloading would lose the scroll place, so ask. */
  stale: boolean;
};

/** The gallery slice. */
export const useGalleryStore = create<GalleryState>(() => ({
  search: '',
  items: [],
  nextCursor: null,
  total: 0,
  loading: false,
  error: null,
  stale: false,
}));

// Bumped by every first-page load: answers for an older search or load are dropped.
let generation = 0;

/** Loads the first page for `search`, replacing what is shown once it arrives. */
export async function loadGallery(client: StudioClient, search: string): Promise<void> {
  const mine = ++generation;
  const changed = search !== useGalleryStore.getState().search;
  // A new search clears at once; a refresh of the same search keeps showing the old items meanwhile.
  useGalleryStore.setState(
    changed ? { search, items: [], nextCursor: null, total: 0, loading: true, error: null } : { loading: true },
  );
  try {
    const query = search.trim();
    const page = await client.call('gallery.query', { limit: FIRST_PAGE, ...(query ? { search: query } : {}) });
    if (mine !== generation) return;
    useGalleryStore.setState({
      items: page.items,
      nextCursor: page.nextCursor,
      total: page.total,
      loading: false,
      error: null,
      stale: false,
    });
  } catch (error) {
    if (mine !== generation) return;
    useGalleryStore.setState({ loading: false, error: userMessage(error) });
  }
}

/** Loads the next page, large enough to reach item index `needed` (a fast scroll). */
export async function loadMoreGallery(client: StudioClient, needed: number): Promise<void> {
  const state = useGalleryStore.getState();
  if (state.loading || !state.nextCursor) return;
  const mine = generation;
  const limit = Math.min(MAX_PAGE, Math.max(FIRST_PAGE, needed - state.items.length));
  useGalleryStore.setState({ loading: true });
  try {
    const query = state.search.trim();
    const page = await client.call('gallery.query', {
      cursor: state.nextCursor,
      limit,
      ...(query ? { search: query } : {}),
    });
    if (mine !== generation) return;
    useGalleryStore.setState((s) => ({
      items: [...s.items, ...page.items],
      nextCursor: page.nextCursor,
      total: page.total,
      loading: false,
      error: null,
    }));
  } catch (error) {
    if (mine !== generation) return;
    useGalleryStore.setState({ loading: false, error: userMessage(error) });
  }
}

/** Marks the loaded pages out of date (see `stale`). */
export function markGalleryStale(): void {
  useGalleryStore.setState({ stale: true });
}
