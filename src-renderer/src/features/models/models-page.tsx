/**
 * Models: every checkpoint, LoRA, VAE and embedding in the library (and the model folders found
 * in the models folders), with family, native resolution, size, A1111 short hash, source and
 * last use; rename, delete, make default; drop files anywhere on the page to import them; the
 * curated catalogue for downloads.
 */
import { useState, type DragEvent } from 'react';
import { ModelKind } from '../../../../src-shared/api/model-schemas';
import { ErrorText } from '../../components/error-text';
import { CataloguePanel } from './catalogue-panel';
import { ImportPanel, useStartImport } from './import-panel';
import { ModelTable } from './model-table';
import { useModels } from './use-models';
import './models.css';

/** The Models page. */
export function ModelsPage() {
  const { models, error } = useModels();
  const startImport = useStartImport();
  const [dragging, setDragging] = useState(false);
  const [notice, setNotice] = useState<string | null>(null);

  const onDrop = (event: DragEvent): void => {
    event.preventDefault();
    setDragging(false);
    void startImport(Array.from(event.dataTransfer.files));
  };

  return (
    <section
      className={dragging ? 'page models dragging' : 'page models'}
      aria-labelledby="models-title"
      data-testid="models-page"
      onDragEnter={(e) => {
        e.preventDefault();
        setDragging(true);
      }}
      onDragOver={(e) => {
        e.preventDefault();
        e.dataTransfer.dropEffect = 'copy';
      }}
      onDragLeave={(e) => {
        if (!e.currentTarget.contains(e.relatedTarget as Node | null)) setDragging(false);
      }}
      onDrop={onDrop}
    >
      <header className="page-head">
        <h1 id="models-title">Models</h1>
        <p className="muted">Your checkpoints, LoRAs, VAEs and embeddings. Drop model files here to add them.</p>
      </header>
      {notice && (
        <p className="models-notice" role="status" data-testid="models-notice">
          {notice}
        </p>
      )}
      <div className="models-layout">
        <div className="models-lists">
          <ErrorText message={error} testId="models-list-error" />
          {models === null && !error && <p className="muted">Loading models…</p>}
          {models &&
            ModelKind.options.map((kind) => (
              <ModelTable key={kind} kind={kind} models={models.filter((m) => m.kind === kind)} onNotice={setNotice} />
            ))}
        </div>
        <aside className="models-side">
          <ImportPanel />
          <CataloguePanel />
        </aside>
      </div>
    </section>
  );
}
