/** The models of one kind as a table (checkpoints, LoRAs, VAEs or embeddings). */
import type { ModelEntry } from '../../../../src-shared/api/schemas';
import type { ModelKind } from '../../../../src-shared/api/model-schemas';
import { ModelRow } from './model-row';

export const KIND_TITLES: Record<ModelKind, string> = {
  checkpoint: 'Checkpoints',
  lora: 'LoRAs',
  vae: 'VAEs',
  embedding: 'Embeddings',
};

type Props = { kind: ModelKind; models: ModelEntry[]; onNotice: (message: string) => void };

export function ModelTable({ kind, models, onNotice }: Props) {
  const titleId = `models-${kind}-title`;
  return (
    <section className="model-kind" aria-labelledby={titleId} data-testid={`models-${kind}`}>
      <h2 id={titleId}>
        {KIND_TITLES[kind]} <span className="muted">{models.length}</span>
      </h2>
      {models.length === 0 ? (
        <p className="muted">None yet.</p>
      ) : (
        <table className="model-table">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Family</th>
              <th scope="col">Size</th>
              <th scope="col">Hash</th>
              <th scope="col">Source</th>
              <th scope="col">Last used</th>
              <th scope="col">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {models.map((m) => (
              <ModelRow key={m.id ?? m.path} model={m} onNotice={onNotice} />
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
