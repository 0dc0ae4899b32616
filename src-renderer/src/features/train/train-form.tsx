/**
 * Start a training run on the selected dataset: model, preset, trigger word; advanced settings
 * open on demand. A blank field shows (as its placeholder) and uses the preset's or the default
 * value — the same resolution the core applies (`resolveTrainSettings`).
 */
import { useEffect, useState, type FormEvent, type ReactNode } from 'react';
import { useShallow } from 'zustand/react/shallow';
import type { Dataset, ModelEntry } from '../../../../src-shared/api/schemas';
import { resolveTrainSettings, TRAIN_PRESETS, type TrainPresetName } from '../../../../src-shared/api/train-presets';
import { ErrorText } from '../../components/error-text';
import { userMessage } from '../../lib/errors';
import { useStudio } from '../../lib/studio-context';
import { useConnectionStore } from '../../state/connection-store';
import { upsertJob } from '../../state/jobs-store';
import { setTrainForm, trainRequestFromForm, useTrainFormStore, type TrainFormState } from './train-form-store';

const PRESETS = Object.keys(TRAIN_PRESETS) as TrainPresetName[];

function isPreset(family: string | null): family is TrainPresetName {
  return family !== null && (PRESETS as string[]).includes(family);
}

/** Model folders the core can train on (checkpoints it could read). */
function useTrainableModels(): { models: ModelEntry[]; error: string | null } {
  const { client } = useStudio();
  const epoch = useConnectionStore((s) => s.epoch);
  const [models, setModels] = useState<ModelEntry[]>([]);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    if (epoch === 0) return;
    let stale = false;
    client.call('models.list', {}).then(
      (list) => {
        if (stale) return;
        setModels(list.filter((m) => m.kind === 'checkpoint' && m.error === null));
        setError(null);
      },
      (e: unknown) => !stale && setError(userMessage(e)),
    );
    return () => {
      stale = true;
    };
  }, [client, epoch]);
  return { models, error };
}

function Field({ label, children }: { label: string; children: ReactNode }) {
  return (
    <label className="field">
      <span>{label}</span>
      {children}
    </label>
  );
}

/** Props: the dataset to train on. */
export function TrainForm({ dataset }: { dataset: Dataset }) {
  const { client } = useStudio();
  const form = useTrainFormStore(useShallow((s) => s));
  const { models, error: modelsError } = useTrainableModels();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  // The first model by default; its family's preset unless the user chose one.
  useEffect(() => {
    const first = models[0];
    if (form.model === '' && first) {
      setTrainForm({
        model: first.path,
        ...(form.preset === '' && isPreset(first.family) ? { preset: first.family } : {}),
      });
    }
  }, [models, form.model, form.preset]);

  const source = form.preset ? 'preset' : 'default';
  const effective = resolveTrainSettings({ dataset: dataset.name, ...(form.preset ? { preset: form.preset } : {}) });
  const text = (key: keyof TrainFormState, placeholder: string | number | undefined, testId: string) => (
    <input
      className="input"
      data-testid={testId}
      value={form[key]}
      placeholder={placeholder === undefined ? '' : String(placeholder)}
      onChange={(e) => setTrainForm({ [key]: e.target.value })}
    />
  );

  const submit = async (event: FormEvent): Promise<void> => {
    event.preventDefault();
    const built = trainRequestFromForm(form, dataset.name);
    if (!built.ok) {
      setError(built.error);
      return;
    }
    setBusy(true);
    setError(null);
    try {
      const { jobId } = await client.call('train.start', { request: built.request });
      upsertJob(await client.call('jobs.get', { jobId }));
    } catch (e) {
      setError(userMessage(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form className="train-form" aria-label="Train a LoRA" onSubmit={(e) => void submit(e)}>
      <div className="train-form-row">
        <Field label="Base model">
          <select
            className="input"
            data-testid="train-model"
            value={form.model}
            onChange={(e) => {
              const model = models.find((m) => m.path === e.target.value);
              setTrainForm({
                model: e.target.value,
                ...(model && isPreset(model.family) ? { preset: model.family } : {}),
              });
            }}
          >
            {models.length === 0 && <option value="">No models found</option>}
            {models.map((m) => (
              <option key={m.path} value={m.path}>
                {m.name}
                {m.family ? ` (${m.family})` : ''}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Preset">
          <select
            className="input"
            data-testid="train-preset"
            value={form.preset}
            onChange={(e) => setTrainForm({ preset: e.target.value as TrainFormState['preset'] })}
          >
            <option value="">None (plain defaults)</option>
            {PRESETS.map((p) => (
              <option key={p} value={p}>
                {TRAIN_PRESETS[p].label}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Trigger word">{text('trigger', 'e.g. rexdog', 'train-trigger')}</Field>
      </div>
      {form.preset && <p className="muted preset-note">{TRAIN_PRESETS[form.preset].description}</p>}
      <details className="advanced">
        <summary data-testid="train-advanced">Advanced settings</summary>
        <div className="train-form-grid">
          <Field label="Steps">{text('steps', effective.steps, 'train-steps')}</Field>
          <Field label="Resolution (px)">{text('resolution', effective.resolution, 'train-resolution')}</Field>
          <Field label="Rank">{text('rank', effective.rank, 'train-rank')}</Field>
          <Field label="Alpha">{text('alpha', effective.alpha ?? 'rank', 'train-alpha')}</Field>
          <Field label="Learning rate">{text('lr', effective.lr, 'train-lr')}</Field>
          <Field label="Schedule">
            <select
              className="input"
              data-testid="train-lr-schedule"
              value={form.lrSchedule}
              onChange={(e) => setTrainForm({ lrSchedule: e.target.value as TrainFormState['lrSchedule'] })}
            >
              <option value="">
                {effective.lrSchedule} ({source})
              </option>
              <option value="constant">constant</option>
              <option value="cosine">cosine</option>
            </select>
          </Field>
          <Field label="Warm-up steps">{text('warmupSteps', effective.warmupSteps, 'train-warmup')}</Field>
          <Field label="Checkpoint every">{text('saveEvery', effective.saveEvery, 'train-save-every')}</Field>
          <Field label="Sample every">{text('sampleEvery', effective.sampleEvery, 'train-sample-every')}</Field>
          <Field label="Flip">
            <select
              className="input"
              data-testid="train-flip"
              value={form.flip}
              onChange={(e) => setTrainForm({ flip: e.target.value as TrainFormState['flip'] })}
            >
              <option value="">
                {effective.flip ? 'on' : 'off'} ({source})
              </option>
              <option value="on">on</option>
              <option value="off">off</option>
            </select>
          </Field>
          <Field label="Caption dropout">
            {text('captionDropout', effective.captionDropout, 'train-caption-dropout')}
          </Field>
          <Field label="Seed">{text('seed', 'random', 'train-seed')}</Field>
        </div>
        <Field label="Sample prompts (one per line)">
          <textarea
            className="input"
            rows={2}
            data-testid="train-sample-prompts"
            value={form.samplePrompts}
            placeholder={form.trigger ? `a photo of ${form.trigger}` : 'a photo of …'}
            onChange={(e) => setTrainForm({ samplePrompts: e.target.value })}
          />
        </Field>
      </details>
      <ErrorText message={modelsError ?? error} />
      <button
        type="submit"
        className="button button-primary"
        data-testid="train-start"
        disabled={busy || form.model === '' || dataset.imageCount === 0}
      >
        {busy ? 'Starting…' : 'Start training'}
      </button>
    </form>
  );
}
