/**
 * Which model to generate with: the library's checkpoints and the folders `models.list` finds
 * (the data home's models/ folder and $PINHOLE_MODELS). With none, it says exactly where to put one.
 */
import { useCallback, useEffect, useId, useState } from 'react';
import type { ResultOf } from '../../../../src-shared/api/contract';
import type { ModelEntry } from '../../../../src-shared/api/schemas';
import { ErrorText } from '../../components/error-text';
import { userMessage } from '../../lib/errors';
import { useStudio } from '../../lib/studio-context';
import { useConnectionStore } from '../../state/connection-store';

type AppInfo = ResultOf<'app.info'>;
type Loaded = { models: ModelEntry[]; info: AppInfo };

/** The models folder inside the data home, spelled the way the core's platform spells paths. */
export function modelsFolder(info: AppInfo): string {
  const separator = info.platform.startsWith('win32') ? '\\' : '/';
  return `${info.dataDir.replace(/[\\/]+$/, '')}${separator}models`;
}

type Props = { value: string; onChange: (model: string) => void };

/** The model select, its refresh button and the empty state. */
export function ModelPicker({ value, onChange }: Props) {
  const { client } = useStudio();
  const id = useId();
  const epoch = useConnectionStore((s) => s.epoch);
  const [loaded, setLoaded] = useState<Loaded | null>(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const fetchAll = useCallback(async (): Promise<Loaded> => {
    const [models, info] = await Promise.all([
      client.call('models.list', { kind: 'checkpoint' }),
      client.call('app.info', {}),
    ]);
    return { models, info };
  }, [client]);

  // On every (re)connect.
  useEffect(() => {
    if (epoch === 0) return;
    let stale = false;
    fetchAll()
      .then((result) => {
        if (stale) return;
        setLoaded(result);
        setError(null);
      })
      .catch((e: unknown) => !stale && setError(userMessage(e)));
    return () => {
      stale = true;
    };
  }, [fetchAll, epoch]);

  // The Refresh button: after the user put a model folder in place.
  const refresh = async (): Promise<void> => {
    setLoading(true);
    try {
      setLoaded(await fetchAll());
      setError(null);
    } catch (e) {
      setError(userMessage(e));
    } finally {
      setLoading(false);
    }
  };

  // Nothing chosen yet: take the default checkpoint, else the first model that loads.
  const usable = loaded?.models.filter((m) => m.error === null) ?? [];
  const firstUsable = (usable.find((m) => m.isDefault) ?? usable[0])?.path ?? null;
  useEffect(() => {
    if (value === '' && firstUsable !== null) onChange(firstUsable);
  }, [value, firstUsable, onChange]);

  const known = loaded?.models.some((m) => m.path === value) ?? true;
  const empty = loaded !== null && loaded.models.length === 0;

  return (
    <div className="field model-picker">
      <div className="field-head">
        <label htmlFor={id}>Model</label>
        <button
          type="button"
          className="link-button"
          onClick={() => void refresh()}
          disabled={loading}
          data-testid="models-refresh"
        >
          {loading ? 'Looking…' : 'Refresh'}
        </button>
      </div>
      {empty ? (
        <div className="models-empty" data-testid="models-empty">
          <p>
            <strong>No models yet.</strong> Import a checkpoint on the Models page, or put a model folder (one with a{' '}
            <code>model_index.json</code>, in the diffusers / ONNX layout) into your models folder, then press Refresh:
          </p>
          <p className="mono models-folder" data-testid="models-folder">
            {modelsFolder(loaded.info)}
          </p>
        </div>
      ) : (
        <select
          id={id}
          className="input"
          value={value}
          onChange={(e) => onChange(e.target.value)}
          disabled={loaded === null}
          data-testid="model-select"
        >
          {loaded === null && <option value={value}>Loading models…</option>}
          {loaded !== null && value === '' && <option value="">Choose a model</option>}
          {loaded?.models.map((m) => (
            <option key={m.path} value={m.path} disabled={m.error !== null} title={m.error ?? m.path}>
              {m.name}
              {m.family ? ` (${m.family})` : ''}
              {m.error ? ' — cannot be read' : ''}
            </option>
          ))}
          {loaded !== null && !known && value !== '' && (
            <option value={value}>{value} (not in the models folders)</option>
          )}
        </select>
      )}
      {loaded !== null && !known && value !== '' && (
        <p className="field-note" data-testid="model-missing">
          This model is not in the models folders; generating needs it at {value}.
        </p>
      )}
      {loaded?.models
        .filter((m) => m.error !== null)
        .map((m) => (
          <p key={m.path} className="field-note">
            {m.name}: {m.error}
          </p>
        ))}
      <ErrorText message={error} testId="models-error" />
    </div>
  );
}
