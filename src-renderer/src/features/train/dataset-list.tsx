/** The datasets, each with its image count and cover; clicking one selects it. */
import type { Dataset } from '../../../../src-shared/api/schemas';
import { plural } from '../../components/format';
import { useStudio } from '../../lib/studio-context';

type Props = { datasets: readonly Dataset[]; selectedId: string | null; onSelect: (id: string) => void };

/** The dataset list. */
export function DatasetList({ datasets, selectedId, onSelect }: Props) {
  const { media } = useStudio();
  if (datasets.length === 0) {
    return <p className="muted">No datasets yet. Create one to start collecting photos.</p>;
  }
  return (
    <ul className="dataset-list" aria-label="Datasets">
      {datasets.map((dataset) => {
        const selected = dataset.id === selectedId;
        return (
          <li key={dataset.id} data-testid="dataset-item" data-dataset-name={dataset.name} data-selected={selected}>
            <button
              type="button"
              className={selected ? 'dataset-button selected' : 'dataset-button'}
              aria-current={selected ? 'true' : undefined}
              onClick={() => onSelect(dataset.id)}
            >
              {dataset.coverSha256 ? (
                <img className="dataset-cover" src={media.thumb(dataset.coverSha256)} alt="" loading="lazy" />
              ) : (
                <span className="dataset-cover dataset-cover-empty" aria-hidden="true" />
              )}
              <span className="dataset-text">
                <span className="dataset-name">{dataset.name}</span>
                <span className="dataset-count" data-testid="dataset-count">
                  {plural(dataset.imageCount, 'image')}
                </span>
              </span>
            </button>
          </li>
        );
      })}
    </ul>
  );
}
