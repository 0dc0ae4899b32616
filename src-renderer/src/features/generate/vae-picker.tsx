/**
 * Which VAE decodes the image: the model's own (the default), or a separate one from the library (`models.list`
 * of kind `vae`), as A1111's "SD VAE" setting does. The image's parameters then name it (`VAE hash`, `VAE`).
 */
import { useCallback, useEffect, useId, useState } from 'react';
import type { ModelEntry } from '../../../../src-shared/api/schemas';
import { ErrorText } from '../../components/error-text';
import { userMessage } from '../../lib/errors';
import { useStudio } from '../../lib/studio-context';
import { useConnectionStore } from '../../state/connection-store';

type Props = { value: string; onChange: (vae: string) => void };

/** The VAE select: '' is the model's own VAE, anything else a library VAE's file. */
export function VaePicker({ value, onChange }: Props) {
  const { client } = useStudio();
  const id = useId();
  const epoch = useConnectionStore((s) => s.epoch);
  const [available, setAvailable] = useState<ModelEntry[] | null>(null);
  const [error, setError] = useState<string | null>(null);

  const load = useCallback(() => client.call('models.list', { kind: 'vae' }), [client]);

  // On every (re)connect.
  useEffect(() => {
    if (epoch === 0) return;
    let stale = false;
    load()
      .then((vaes) => {
        if (stale) return;
        setAvailable(vaes);
        setError(null);
      })
      .catch((e: unknown) => !stale && setError(userMessage(e)));
    return () => {
      stale = true;
    };
  }, [load, epoch]);

  const known = value === '' || (available?.some((v) => v.path === value) ?? true);

  return (
    <div className="field vae-picker">
      <label htmlFor={id}>VAE</label>
      <select
        id={id}
        className="input"
        value={value}
        onChange={(e) => onChange(e.target.value)}
        data-testid="vae-select"
      >
        <option value="">The model’s own</option>
        {available?.map((v) => (
          <option key={v.path} value={v.path} disabled={v.error !== null} title={v.error ?? v.path}>
            {v.name}
            {v.family ? ` (${v.family})` : ''}
          </option>
        ))}
        {!known && <option value={value}>{value} (not in the library)</option>}
      </select>
      {available !== null && available.length === 0 && (
        <p className="field-note">Import a separate VAE on the Models page to choose it here.</p>
      )}
      <ErrorText message={error} testId="vaes-error" />
    </div>
  );
}
