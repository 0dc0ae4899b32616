/** Creates a dataset by name, then selects it. */
import { useId, useState, type FormEvent } from 'react';
import type { Dataset } from '../../../../src-shared/api/schemas';
import { ErrorText } from '../../components/error-text';
import { userMessage } from '../../lib/errors';
import { useStudio } from '../../lib/studio-context';
import { upsertDataset } from '../../state/datasets-store';

/** The name field and Create button; `onCreated` receives the new dataset. */
export function CreateDatasetForm({ onCreated }: { onCreated: (dataset: Dataset) => void }) {
  const { client } = useStudio();
  const inputId = useId();
  const [name, setName] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const submit = async (event: FormEvent): Promise<void> => {
    event.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const dataset = await client.call('datasets.create', { name });
      upsertDataset(dataset);
      setName('');
      onCreated(dataset);
    } catch (e) {
      // CONFLICT and INVALID_PARAMS messages name the problem ("already exists", "is empty").
      setError(userMessage(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="create-dataset" onSubmit={(e) => void submit(e)} aria-label="Create a dataset">
      <label htmlFor={inputId}>New dataset</label>
      <div className="inline-field">
        <input
          id={inputId}
          className="input"
          value={name}
          onChange={(e) => setName(e.target.value)}
          placeholder="e.g. Rex the dog"
          maxLength={80}
          data-testid="dataset-name-input"
        />
        <button
          type="submit"
          className="button button-primary"
          disabled={busy || name.trim() === ''}
          data-testid="dataset-create"
        >
          Create
        </button>
      </div>
      <ErrorText message={error} testId="dataset-create-error" />
    </form>
  );
}
