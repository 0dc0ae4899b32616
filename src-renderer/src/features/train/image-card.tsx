/** One dataset image: thumbnail, file name and size, editable caption, and Remove. */
import { useState } from 'react';
import type { DatasetImage } from '../../../../src-shared/api/schemas';
import { formatBytes } from '../../components/format';
import { userMessage } from '../../lib/errors';
import { useStudio } from '../../lib/studio-context';
import { CaptionField } from './caption-field';
import { dropDatasetImage } from './dataset-images-store';

/** A card in the dataset grid. */
export function ImageCard({ image }: { image: DatasetImage }) {
  const { client, media } = useStudio();
  const [removing, setRemoving] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const remove = async (): Promise<void> => {
    setRemoving(true);
    setError(null);
    try {
      await client.call('datasets.removeImage', { datasetId: image.datasetId, sha256: image.sha256 });
      dropDatasetImage(image.datasetId, image.sha256);
    } catch (e) {
      setError(userMessage(e));
      setRemoving(false);
    }
  };

  return (
    <li className="image-card" data-testid="dataset-image" data-sha256={image.sha256}>
      <img
        className="image-card-thumb"
        src={media.thumb(image.sha256)}
        alt={image.originalName}
        width={image.width}
        height={image.height}
        loading="lazy"
        decoding="async"
        data-testid="dataset-thumb"
      />
      <div className="image-card-body">
        <div className="image-card-head">
          <span className="image-card-name" title={image.originalName}>
            {image.originalName}
          </span>
          <span className="muted">
            {image.width}×{image.height} · {formatBytes(image.bytes)}
          </span>
        </div>
        <CaptionField key={image.caption} image={image} />
        <button
          type="button"
          className="button button-small button-ghost"
          onClick={() => void remove()}
          disabled={removing}
          aria-label={`Remove ${image.originalName} from the dataset`}
          data-testid="remove-image"
        >
          {removing ? 'Removing…' : 'Remove'}
        </button>
        {error && (
          <p className="error-text" role="alert">
            {error}
          </p>
        )}
      </div>
    </li>
  );
}
