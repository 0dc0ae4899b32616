/**
 * The selected dataset's images. Re-read when the dataset changes in the library, after a
 * reconnect, and as the running import accepts files (the core announces library changes
 * only when an import ends, but thumbnails should appear while it runs).
 */
import { useEffect } from 'react';
import { ErrorText } from '../../components/error-text';
import { plural } from '../../components/format';
import { useStudio } from '../../lib/studio-context';
import { useConnectionStore } from '../../state/connection-store';
import { selectDatasetVersion, useLibraryStore } from '../../state/library-store';
import {
  loadMoreDatasetImages,
  refreshDatasetImages,
  selectDatasetImages,
  useDatasetImagesStore,
} from './dataset-images-store';
import { ImageCard } from './image-card';

/** Quiet time before a refresh, so a burst of accepted files costs one request. */
const REFRESH_DELAY_MS = 400;

type Props = {
  datasetId: string;
  /** Files accepted so far by the latest import (drives live refresh). */ acceptedCount: number;
};

/** The grid of a dataset's images. */
export function DatasetImages({ datasetId, acceptedCount }: Props) {
  const { client } = useStudio();
  const epoch = useConnectionStore((s) => s.epoch);
  const version = useLibraryStore(selectDatasetVersion(datasetId));
  const entry = useDatasetImagesStore(selectDatasetImages(datasetId));

  useEffect(() => {
    if (epoch === 0) return;
    // The first load of a dataset is immediate; later triggers are debounced.
    const loaded = datasetId in useDatasetImagesStore.getState().byDataset;
    const timer = setTimeout(() => void refreshDatasetImages(client, datasetId), loaded ? REFRESH_DELAY_MS : 0);
    return () => clearTimeout(timer);
  }, [client, datasetId, epoch, version, acceptedCount]);

  return (
    <section className="dataset-images" aria-labelledby="dataset-images-title">
      <header className="section-head">
        <h2 id="dataset-images-title">Photos</h2>
        <span className="muted" data-testid="dataset-image-total">
          {plural(entry.total, 'photo')}
        </span>
      </header>
      <ErrorText message={entry.error} />
      {entry.items.length === 0 && !entry.loading && <p className="muted">No photos yet. Drop some above.</p>}
      <ul className="image-grid" aria-label="Dataset photos" data-testid="dataset-images">
        {entry.items.map((image) => (
          <ImageCard key={image.sha256} image={image} />
        ))}
      </ul>
      {entry.nextCursor && (
        <button
          type="button"
          className="button"
          onClick={() => void loadMoreDatasetImages(client, datasetId)}
          disabled={entry.loading}
        >
          Show more ({(entry.total - entry.items.length).toLocaleString()} left)
        </button>
      )}
    </section>
  );
}
