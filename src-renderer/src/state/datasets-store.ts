/** The dataset cache: `datasets.list` on every connect and after library changes. */
import { create } from 'zustand';
import type { Dataset } from '../../../src-shared/api/schemas';

/** Datasets slice. */
export type DatasetsState = {
  datasets: Dataset[];
  loaded: boolean;
  /** The last refresh's failure, as a user message; null when it worked. */
  error: string | null;
};

/** The datasets slice. */
export const useDatasetsStore = create<DatasetsState>(() => ({ datasets: [], loaded: false, error: null }));

/** Stores a fresh list. */
export function setDatasets(datasets: Dataset[]): void {
  useDatasetsStore.setState({ datasets, loaded: true, error: null });
}

/** Records a failed refresh without dropping what is shown. */
export function setDatasetsError(error: string): void {
  useDatasetsStore.setState({ error });
}

/** Adds or replaces one dataset (e.g. the answer of `datasets.create`) before the next refresh. */
export function upsertDataset(dataset: Dataset): void {
  useDatasetsStore.setState((s) => {
    const index = s.datasets.findIndex((d) => d.id === dataset.id);
    const datasets =
      index === -1 ? [...s.datasets, dataset] : s.datasets.map((d) => (d.id === dataset.id ? dataset : d));
    return { datasets };
  });
}
