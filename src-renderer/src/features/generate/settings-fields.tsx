/** Sampler, steps, CFG, size, seed, batches and clip skip: the numbers under the prompts. */
import { useId } from 'react';
import { useShallow } from 'zustand/react/shallow';
import type { SamplerName } from '../../../../src-shared/api/schemas';
import { SAMPLERS, type Field, type FieldErrors } from './form-model';
import { setFormValues, useGenerateStore } from './generate-store';

type NumberProps = {
  field: Field;
  label: string;
  value: string;
  error: string | undefined;
  placeholder?: string;
  /** `decimal` for CFG; everything else is a whole number. */
  decimal?: boolean;
  hint?: string;
};

/** A number typed as text (so "7." can be typed), checked by the form model. */
function NumberField({ field, label, value, error, placeholder, decimal, hint }: NumberProps) {
  const id = useId();
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <input
        id={id}
        className="input"
        inputMode={decimal ? 'decimal' : 'numeric'}
        autoComplete="off"
        spellCheck={false}
        value={value}
        placeholder={placeholder}
        title={hint}
        aria-invalid={error !== undefined}
        aria-describedby={error ? `${id}-error` : undefined}
        onChange={(e) => setFormValues({ [field]: e.target.value })}
        data-testid={`field-${field}`}
      />
      {error && (
        <p className="field-error" id={`${id}-error`} role="alert" data-testid={`error-${field}`}>
          {error}
        </p>
      )}
    </div>
  );
}

/** The seed: typed, or left to chance; the last run's seed can be taken over with one click. */
function SeedField({ error }: { error: string | undefined }) {
  const id = useId();
  const { seedMode, seed, lastSeed } = useGenerateStore(
    useShallow((s) => ({ seedMode: s.seedMode, seed: s.seed, lastSeed: s.current?.seed ?? null })),
  );
  const random = seedMode === 'random';
  const toggle = (): void => {
    if (random) setFormValues({ seedMode: 'fixed', seed: seed.trim() === '' && lastSeed ? lastSeed : seed });
    else setFormValues({ seedMode: 'random' });
  };
  return (
    <div className="field seed-field">
      <label htmlFor={id}>Seed</label>
      <div className="inline-field">
        <input
          id={id}
          className="input mono-input"
          inputMode="numeric"
          autoComplete="off"
          spellCheck={false}
          value={random ? '' : seed}
          placeholder={random ? 'Random each run' : '0 – 18446744073709551615'}
          disabled={random}
          aria-invalid={error !== undefined}
          onChange={(e) => setFormValues({ seed: e.target.value })}
          data-testid="field-seed"
        />
        <button
          type="button"
          className={random ? 'button seed-toggle' : 'button seed-toggle seed-locked'}
          aria-pressed={!random}
          onClick={toggle}
          title={random ? 'Use a fixed seed' : 'Pick a new random seed for every run'}
          data-testid="seed-lock"
        >
          {random ? 'Random' : 'Locked'}
        </button>
      </div>
      {error && (
        <p className="field-error" role="alert" data-testid="error-seed">
          {error}
        </p>
      )}
    </div>
  );
}

/** The settings grid. */
export function SettingsFields({ errors }: { errors: FieldErrors }) {
  const samplerId = useId();
  const v = useGenerateStore(
    useShallow((s) => ({
      sampler: s.sampler,
      steps: s.steps,
      cfgScale: s.cfgScale,
      width: s.width,
      height: s.height,
      batchSize: s.batchSize,
      batchCount: s.batchCount,
      clipSkip: s.clipSkip,
    })),
  );
  return (
    <fieldset className="settings-grid">
      <legend className="visually-hidden">Generation settings</legend>
      <div className="field">
        <label htmlFor={samplerId}>Sampler</label>
        <select
          id={samplerId}
          className="input"
          value={v.sampler}
          onChange={(e) => setFormValues({ sampler: e.target.value as SamplerName | '' })}
          data-testid="field-sampler"
        >
          <option value="">Model default</option>
          {SAMPLERS.map((s) => (
            <option key={s.value} value={s.value}>
              {s.label}
            </option>
          ))}
        </select>
      </div>
      <NumberField field="steps" label="Steps" value={v.steps} error={errors.steps} placeholder="Model default" />
      <NumberField
        field="cfgScale"
        label="CFG scale"
        value={v.cfgScale}
        error={errors.cfgScale}
        placeholder="Model default"
        decimal
        hint="How strictly the image follows the prompt (classifier-free guidance)."
      />
      <NumberField
        field="width"
        label="Width"
        value={v.width}
        error={errors.width}
        placeholder="Model default"
        hint="Pixels, a multiple of 8."
      />
      <NumberField
        field="height"
        label="Height"
        value={v.height}
        error={errors.height}
        placeholder="Model default"
        hint="Pixels, a multiple of 8."
      />
      <SeedField error={errors.seed} />
      <NumberField
        field="batchSize"
        label="Batch size"
        value={v.batchSize}
        error={errors.batchSize}
        placeholder="1"
        hint="Images made together in one pass (uses more GPU memory)."
      />
      <NumberField
        field="batchCount"
        label="Batch count"
        value={v.batchCount}
        error={errors.batchCount}
        placeholder="1"
        hint="Passes run one after another; pass k uses seed + k."
      />
      <NumberField
        field="clipSkip"
        label="Clip skip"
        value={v.clipSkip}
        error={errors.clipSkip}
        placeholder="1"
        hint="1 uses the text encoder's last layer; 2 the one before it."
      />
    </fieldset>
  );
}
