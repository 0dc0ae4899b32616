/**
 * Train: build a dataset of a subject's photos (create, import, caption, prune), then train a
 * LoRA on it and watch the run (loss chart, samples, checkpoints).
 */
import { useShallow } from 'zustand/react/shallow';
import { ErrorText } from '../../components/error-text';
import { navigate, useRoute } from '../../lib/router';
import { useDatasetsStore, type DatasetsState } from '../../state/datasets-store';
import { useJobsStore } from '../../state/jobs-store';
import { CreateDatasetForm } from './create-dataset-form';
import { DatasetImages } from './dataset-images';
import { DatasetList } from './dataset-list';
import { DropZone } from './drop-zone';
import { selectLatestImport } from './import-jobs';
import { useImportResultsStore } from './import-results-store';
import { ImportResults } from './import-results';
import { useImportFileEvents } from './use-import-results';
import { TrainForm } from './train-form';
import { TrainRunPanel } from './train-run-panel';
import { selectLatestTraining } from './train-runs';
import './train.css';

const selectDatasets = (s: DatasetsState) => ({
  datasets: s.datasets,
  loaded: s.loaded,
  error: s.error,
});

/** The Train page; the selected dataset is the route's first segment (`#/train/<id>`). */
export function TrainPage() {
  useImportFileEvents();
  const { rest } = useRoute();
  const { datasets, loaded, error } = useDatasetsStore(useShallow(selectDatasets));
  const routeId = rest[0] ?? null;
  // With nothing (or a deleted dataset) in the address, show the first one. Derived, not
  // redirected: a redirect effect can race a navigation away from this page.
  const selected = datasets.find((d) => d.id === routeId) ?? datasets[0] ?? null;
  const latestImport = useJobsStore(selectLatestImport(selected));
  const latestRun = useJobsStore(selectLatestTraining(selected));
  const acceptedCount = useImportResultsStore((s) => {
    const results = latestImport ? s.byJob[latestImport.id] : undefined;
    return results ? Object.values(results).filter((r) => r.status === 'accepted').length : 0;
  });

  const select = (id: string): void => navigate('train', [id]);

  return (
    <section className="page train" aria-labelledby="train-title">
      <header className="page-head">
        <h1 id="train-title">Train</h1>
        <p className="muted">Collect 15–50 photos of one subject, caption them, and train a personal LoRA.</p>
      </header>
      <div className="train-layout">
        <aside className="datasets-panel" aria-label="Datasets">
          <CreateDatasetForm onCreated={(d) => select(d.id)} />
          <ErrorText message={error} />
          {loaded ? (
            <DatasetList datasets={datasets} selectedId={selected?.id ?? null} onSelect={select} />
          ) : (
            <p className="muted">Loading datasets…</p>
          )}
        </aside>
        <div className="dataset-panel">
          {selected ? (
            <>
              <header className="dataset-head">
                <h2 className="dataset-title" data-testid="selected-dataset">
                  {selected.name}
                </h2>
              </header>
              <TrainForm dataset={selected} />
              {latestRun && <TrainRunPanel key={latestRun.id} job={latestRun} />}
              <DropZone datasetName={selected.name} />
              {latestImport && <ImportResults key={latestImport.id} job={latestImport} />}
              <DatasetImages datasetId={selected.id} acceptedCount={acceptedCount} />
            </>
          ) : (
            loaded && <p className="empty-state">Create a dataset to start collecting photos.</p>
          )}
        </div>
      </div>
    </section>
  );
}
