/**
 * LoRAs to generate with: the library's LoRAs and those in the models folders' `loras/` (`models.list`), each
 * chosen one with a weight slider (A1111's multiplier). Typing `<lora:NAME:WEIGHT>` in a prompt works as well.
 */
import { useCallback, useEffect, useId, useState } from 'react';
import type { ModelEntry } from '../../../../src-shared/api/schemas';
import { ErrorText } from '../../components/error-text';
import { userMessage } from '../../lib/errors';
import { useStudio } from '../../lib/studio-context';
import { useConnectionStore } from '../../state/connection-store';
import { LORA_WEIGHT, type FormLora } from './form-model';

type Props = { value: readonly FormLora[]; onChange: (loras: FormLora[]) => void };

/** The LoRA select, the chosen LoRAs with their weights, and a hint about prompt tags. */
export function LoraPicker({ value, onChange }: Props) {
  const { client } = useStudio();
  const id = useId();
  const epoch = useConnectionStore((s) => s.epoch);
  const [available, setAvailable] = useState<ModelEntry[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(() => client.call('models.list', { kind: 'lora' }), [client]);

  // On every (re)connect.
  useEffect(() => {
    if (epoch === 0) return;
    let stale = false;
    load()
      .then((loras) => {
        if (stale) return;
        setAvailable(loras);
        setError(null);
      })
      .catch((e: unknown) => !stale && setError(userMessage(e)));
    return () => {
      stale = true;
    };
  }, [load, epoch]);

  const refresh = async (): Promise<void> => {
    try {
      setAvailable(await load());
      setError(null);
    } catch (e) {
      setError(userMessage(e));
    }
  };

  const chosen = new Set(value.map((l) => l.path));
  const addable = (available ?? []).filter((l) => l.error === null && !chosen.has(l.path));
  const add = (path: string): void => {
    const entry = available?.find((l) => l.path === path);
    if (entry) onChange([...value, { path: entry.path, name: entry.name, weight: 1 }]);
  };
  const setWeight = (path: string, weight: number): void =>
    onChange(value.map((l) => (l.path === path ? { ...l, weight } : l)));
  const remove = (path: string): void => onChange(value.filter((l) => l.path !== path));

  return (
    <div className="field lora-picker" data-testid="lora-picker">
      <div className="field-head">
        <label htmlFor={id}>LoRAs</label>
        <button type="button" className="link-button" onClick={() => void refresh()} data-testid="loras-refresh">
          Refresh
        </button>
      </div>
      <select
        id={id}
        className="input"
        value=""
        onChange={(e) => add(e.target.value)}
        disabled={available === null || addable.length === 0}
        data-testid="lora-select"
      >
        <option value="">
          {available === null
            ? 'Loading LoRAs…'
            : available.length === 0
              ? 'No LoRAs yet (import one on the Models page)'
              : addable.length === 0
                ? 'Every LoRA is chosen'
                : 'Add a LoRA…'}
        </option>
        {addable.map((l) => (
          <option key={l.path} value={l.path} title={l.path}>
            {l.name}
          </option>
        ))}
      </select>
      {value.length > 0 && (
        <ul className="lora-list">
          {value.map((l) => (
            <li key={l.path} className="lora-row" data-testid="lora-row" data-name={l.name}>
              <span className="lora-name" title={l.path}>
                {l.name}
              </span>
              <input
                type="range"
                min={LORA_WEIGHT.min}
                max={LORA_WEIGHT.max}
                step={LORA_WEIGHT.step}
                value={l.weight}
                aria-label={`Weight of ${l.name}`}
                onChange={(e) => setWeight(l.path, Number(e.target.value))}
                data-testid="lora-weight"
              />
              <output className="mono lora-weight-value" data-testid="lora-weight-value">
                {l.weight.toFixed(2)}
              </output>
              <button
                type="button"
                className="link-button"
                onClick={() => remove(l.path)}
                aria-label={`Remove ${l.name}`}
                data-testid="lora-remove"
              >
                Remove
              </button>
            </li>
          ))}
        </ul>
      )}
      <p className="field-note">
        Or type <code>&lt;lora:NAME:WEIGHT&gt;</code> in a prompt.
      </p>
      <ErrorText message={error} testId="loras-error" />
    </div>
  );
}
