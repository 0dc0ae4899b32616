/**
 * The gallery grid, virtualized by rows: only the rows near the viewport exist in the DOM,
 * so 10,000 images scroll like 50. The scroll area is sized from the query's total, and
 * pages load as the visible rows reach past what is loaded.
 */
import { useVirtualizer } from '@tanstack/react-virtual';
import { useEffect, useRef } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { useStudio } from '../../lib/studio-context';
import { loadMoreGallery, useGalleryStore } from './gallery-store';
import { useElementWidth } from './use-element-width';

const MIN_CELL = 160;
const GAP = 8;
/** Rows rendered beyond the viewport: enough to hide image decoding while scrolling. */
const OVERSCAN_ROWS = 4;

/** Props: what to do when a thumbnail is activated. */
type Props = { onOpen: (sha256: string) => void };

/** The virtualized thumbnail grid. */
export function GalleryGrid({ onOpen }: Props) {
  const { client, media } = useStudio();
  const { items, total, nextCursor, loading } = useGalleryStore(
    useShallow((s) => ({ items: s.items, total: s.total, nextCursor: s.nextCursor, loading: s.loading })),
  );
  const scrollRef = useRef<HTMLDivElement>(null);
  const width = useElementWidth(scrollRef);

  const columns = Math.max(1, Math.floor((width + GAP) / (MIN_CELL + GAP)));
  const cell = width > 0 ? Math.floor((width - GAP * (columns - 1)) / columns) : MIN_CELL;
  const rowHeight = cell + GAP;
  const count = Math.max(total, items.length);
  const rowCount = Math.ceil(count / columns);

  // The rule warns that React Compiler would skip this component (useVirtualizer returns fresh
  // functions each render). No compiler runs in this build and the grid needs no memoizing.
  // eslint-disable-next-line react-hooks/incompatible-library
  const virtualizer = useVirtualizer({
    count: rowCount,
    getScrollElement: () => scrollRef.current,
    estimateSize: () => rowHeight,
    overscan: OVERSCAN_ROWS,
  });

  // Row sizes are fixed per width; re-measure when the column layout changes.
  useEffect(() => {
    virtualizer.measure();
  }, [virtualizer, rowHeight]);

  const rows = virtualizer.getVirtualItems();
  const lastRow = rows.length > 0 ? rows[rows.length - 1]!.index : 0;
  // Load ahead of the viewport (the overscan again), so scrolling rarely meets placeholders.
  const needed = Math.min(count, (lastRow + 1 + OVERSCAN_ROWS) * columns);
  useEffect(() => {
    if (needed > items.length && nextCursor && !loading) void loadMoreGallery(client, needed);
  }, [client, needed, items.length, nextCursor, loading]);

  return (
    <div className="gallery-scroll" ref={scrollRef} data-testid="gallery-scroll" tabIndex={-1}>
      <div
        className="gallery-space"
        style={{ height: virtualizer.getTotalSize() }}
        role="list"
        aria-label="Gallery images"
      >
        {rows.map((row) => {
          const start = row.index * columns;
          return (
            <div
              key={row.key}
              className="gallery-row"
              style={{
                transform: `translateY(${row.start}px)`,
                height: rowHeight,
                gridTemplateColumns: `repeat(${columns}, ${cell}px)`,
                gap: GAP,
              }}
              role="presentation"
            >
              {Array.from({ length: Math.min(columns, count - start) }, (_, i) => {
                const image = items[start + i];
                if (!image)
                  return (
                    <div
                      key={`slot-${start + i}`}
                      className="gallery-cell gallery-placeholder"
                      role="listitem"
                      aria-busy="true"
                      style={{ height: cell }}
                    />
                  );
                return (
                  <div key={image.sha256} role="listitem" className="gallery-cell" style={{ height: cell }}>
                    <button
                      type="button"
                      className="gallery-thumb"
                      onClick={() => onOpen(image.sha256)}
                      aria-label={`Open ${image.title || image.sha256.slice(0, 12)}`}
                      data-testid="gallery-thumb"
                      data-sha256={image.sha256}
                    >
                      <img src={media.thumb(image.sha256)} alt="" loading="lazy" decoding="async" draggable={false} />
                    </button>
                  </div>
                );
              })}
            </div>
          );
        })}
      </div>
    </div>
  );
}
