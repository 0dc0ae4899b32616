/**
 * Models: every checkpoint, LoRA, VAE and embedding in the library (and the model folders found
 * in the models folders), with family, native resolution, size, A1111 short hash, source and
 * last use; rename, delete, make default; import files (dropped on the window — the shell routes
 * drops, see src/app/window-drop.tsx — or picked); the curated catalogue for downloads; access tokens.
 */
import { useState } from 'react';
import { ModelKind } from '../../../../src-shared/api/model-schemas';
import { ErrorText } from '../../components/error-text';
import { CataloguePanel } from './catalogue-panel';
import { ImportPanel } from './import-panel';
import { ModelTable } from './model-table';
import { TokensPanel } from './tokens-panel';
import { useModels } from './use-models';
import './models.css';

/** The Models page. */
export function ModelsPage() {
  const { models, error } = useModels();
  const [notice, setNotice] = useState<string | null>(null);

  return (
    <section className="page models" aria-labelledby="models-title" data-testid="models-page">
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
          <TokensPanel />
        </aside>
      </div>
    </section>
  );
}
