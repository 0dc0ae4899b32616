/**
 * One library model: its facts and its actions — rename (the stored file moves with it), make
 * it the default of its kind, and delete, which says what used it and asks again when queued
 * jobs still need it. Model folders (source `folder`) are listed as they are, without actions.
 */
import { useState } from 'react';
import type { ModelEntry } from '../../../../src-shared/api/schemas';
import { ErrorText } from '../../components/error-text';
import { formatBytes, formatDateTime } from '../../components/format';
import { toPinholeError, userMessage } from '../../lib/errors';
import { useStudio } from '../../lib/studio-context';
import { PredictionSelect } from './prediction-select';

const SOURCE_LABELS: Record<ModelEntry['source'], string> = {
  folder: 'Models folder',
  file: 'Imported file',
  upload: 'Uploaded',
  url: 'Downloaded',
  trained: 'Trained here',
};

type Props = { model: ModelEntry; onNotice: (message: string) => void };

/** A table row for one model. */
export function ModelRow({ model, onNotice }: Props) {
  const { client } = useStudio();
  const [renaming, setRenaming] = useState<string | null>(null);
  const [confirmRemove, setConfirmRemove] = useState<{ force: boolean; message: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const id = model.id;

  const run = async (action: () => Promise<void>): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      await action();
    } catch (e) {
      setError(userMessage(e));
    } finally {
      setBusy(false);
    }
  };

  const rename = (name: string) =>
    run(async () => {
      if (!id) return;
      await client.call('models.rename', { id, name });
      setRenaming(null);
    });

  const remove = (force: boolean) =>
    run(async () => {
      if (!id) return;
      try {
        const { usedBy } = await client.call('models.remove', { id, force });
        setConfirmRemove(null);
        onNotice(
          usedBy.length > 0
            ? `Removed "${model.name}". What used it: ${usedBy.join('; ')}.`
            : `Removed "${model.name}".`,
        );
      } catch (e) {
        const error = toPinholeError(e);
        // Queued jobs still need it: say which, and let the user decide.
        if (error.code === 'CONFLICT') setConfirmRemove({ force: true, message: error.message });
        else throw error;
      }
    });

  const facts = [
    model.family ?? 'unknown family',
    model.variant,
    model.nativeResolution ? `${model.nativeResolution} px` : null,
  ].filter(Boolean);

  return (
    <tr data-testid="model-row" data-name={model.name} data-kind={model.kind} data-source={model.source}>
      <td>
        {renaming !== null ? (
          <form
            className="model-rename"
            onSubmit={(e) => {
              e.preventDefault();
              void rename(renaming);
            }}
          >
            <input
              className="input"
              value={renaming}
              onChange={(e) => setRenaming(e.target.value)}
              aria-label={`New name for ${model.name}`}
              data-testid="model-rename-input"
              autoFocus
            />
            <button type="submit" className="button button-small" disabled={busy} data-testid="model-rename-save">
              Save
            </button>
            <button type="button" className="button button-small button-ghost" onClick={() => setRenaming(null)}>
              Cancel
            </button>
          </form>
        ) : (
          <span className="model-name" title={model.path}>
            {model.name}
            {model.isDefault && (
              <span className="badge badge-succeeded model-default" data-testid="model-default">
                default
              </span>
            )}
          </span>
        )}
        {model.error && <p className="error-text">{model.error}</p>}
      </td>
      <td>
        {facts.join(' · ')}
        {id && model.kind === 'checkpoint' && <PredictionSelect id={id} name={model.name} value={model.prediction} />}
      </td>
      <td>{model.sizeBytes !== null ? formatBytes(model.sizeBytes) : '—'}</td>
      <td className="mono" data-testid="model-short-hash">
        {model.shortHash ?? '—'}
      </td>
      <td title={model.origin ?? undefined}>{SOURCE_LABELS[model.source]}</td>
      <td>{model.lastUsedAt !== null ? formatDateTime(model.lastUsedAt) : 'never'}</td>
      <td className="model-actions">
        {id && renaming === null && !confirmRemove && (
          <>
            <button type="button" className="link-button" onClick={() => setRenaming(model.name)} disabled={busy}>
              Rename
            </button>
            {!model.isDefault && (
              <button
                type="button"
                className="link-button"
                onClick={() => void run(async () => void (await client.call('models.setDefault', { id })))}
                disabled={busy}
                data-testid="model-set-default"
              >
                Make default
              </button>
            )}
            <button
              type="button"
              className="link-button"
              onClick={() =>
                setConfirmRemove({
                  force: false,
                  message: `Delete "${model.name}" and its file${model.isDefault ? ' (it is the default ' + model.kind + ')' : ''}?`,
                })
              }
              disabled={busy}
              data-testid="model-delete"
            >
              Delete
            </button>
          </>
        )}
        {confirmRemove && (
          <div className="model-confirm" role="alertdialog" aria-label={`Delete ${model.name}`}>
            <p data-testid="model-delete-message">{confirmRemove.message}</p>
            <button
              type="button"
              className="button button-small button-danger"
              onClick={() => void remove(confirmRemove.force)}
              disabled={busy}
              data-testid="model-delete-confirm"
            >
              {confirmRemove.force ? 'Delete anyway' : 'Delete'}
            </button>
            <button type="button" className="button button-small button-ghost" onClick={() => setConfirmRemove(null)}>
              Keep it
            </button>
          </div>
        )}
        <ErrorText message={error} />
      </td>
    </tr>
  );
}
