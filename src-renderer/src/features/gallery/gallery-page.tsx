/**
 * Gallery: every library image, newest first, searchable by prompt and caption text.
 * The open image is the route's first segment (`#/gallery/<sha256>`), so it survives a reload.
 */
import { useEffect, useId, useState } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { ErrorText } from '../../components/error-text';
import { plural } from '../../components/format';
import { navigate, useRoute } from '../../lib/router';
import { useStudio } from '../../lib/studio-context';
import { useConnectionStore } from '../../state/connection-store';
import { useLibraryStore } from '../../state/library-store';
import { GalleryGrid } from './gallery-grid';
import { FIRST_PAGE, loadGallery, markGalleryStale, useGalleryStore } from './gallery-store';
import { ImageDetailDialog } from './image-detail';
import './gallery.css';

const SEARCH_DELAY_MS = 250;
const REFRESH_DELAY_MS = 500;

/** The Gallery page. */
export function GalleryPage() {
  const { client } = useStudio();
  const searchId = useId();
  const { rest } = useRoute();
  const openSha = rest[0] ?? null;
  const epoch = useConnectionStore((s) => s.epoch);
  const libraryVersion = useLibraryStore((s) => s.any);
  const { search, total, loading, error, stale } = useGalleryStore(
    useShallow((s) => ({ search: s.search, total: s.total, loading: s.loading, error: s.error, stale: s.stale })),
  );
  const [query, setQuery] = useState(search);
  const neighbours = useGalleryStore(
    useShallow((s) => {
      const index = openSha ? s.items.findIndex((i) => i.sha256 === openSha) : -1;
      return {
        previous: index > 0 ? (s.items[index - 1]?.sha256 ?? null) : null,
        next: index >= 0 ? (s.items[index + 1]?.sha256 ?? null) : null,
      };
    }),
  );

  // Typing waits for a pause; the first load (and a reconnect) go at once.
  useEffect(() => {
    if (epoch === 0) return;
    const timer = setTimeout(
      () => void loadGallery(client, query),
      query === useGalleryStore.getState().search ? 0 : SEARCH_DELAY_MS,
    );
    return () => clearTimeout(timer);
  }, [client, query, epoch]);

  // Library changes reload silently only while few pages are loaded; deeper, reloading would jump.
  useEffect(() => {
    if (libraryVersion === 0) return;
    const timer = setTimeout(() => {
      const state = useGalleryStore.getState();
      if (state.items.length <= FIRST_PAGE) void loadGallery(client, state.search);
      else markGalleryStale();
    }, REFRESH_DELAY_MS);
    return () => clearTimeout(timer);
  }, [client, libraryVersion]);

  return (
    <section className="page gallery" aria-labelledby="gallery-title">
      <header className="page-head gallery-head">
        <div>
          <h1 id="gallery-title">Gallery</h1>
          <p className="muted" data-testid="gallery-total">
            {loading && total === 0 ? 'Loading…' : plural(total, 'image')}
          </p>
        </div>
        <div className="gallery-tools">
          <label htmlFor={searchId} className="visually-hidden">
            Search images
          </label>
          <input
            id={searchId}
            className="input search"
            type="search"
            placeholder="Search prompts and captions…"
            value={query}
            onChange={(e) => setQuery(e.target.value)}
            data-testid="gallery-search"
          />
          {stale && (
            <button
              type="button"
              className="button"
              onClick={() => void loadGallery(client, search)}
              data-testid="gallery-refresh"
            >
              New images — refresh
            </button>
          )}
        </div>
      </header>
      <ErrorText message={error} />
      {!loading && total === 0 && !error ? (
        <p className="empty-state" data-testid="gallery-empty">
          {search.trim() ? `No images match “${search.trim()}”.` : 'No images yet. Import photos on the Train page.'}
        </p>
      ) : (
        <GalleryGrid onOpen={(sha) => navigate('gallery', [sha])} />
      )}
      {openSha && (
        <ImageDetailDialog
          key="detail"
          sha256={openSha}
          previous={neighbours.previous}
          next={neighbours.next}
          onNavigate={(sha) => navigate('gallery', [sha], { replace: true })}
          onClose={() => navigate('gallery')}
        />
      )}
    </section>
  );
}
