/**
 * What a library checkpoint predicts, editable: SD 2.x's v-prediction is read from the weights, and a fine-tune
 * can fool that reading (its images then come out gray or burnt). The choice is stored with the model; the next
 * generation converts it again with it.
 */
import { useState } from 'react';
import type { PredictionType } from '../../../../src-shared/api/model-schemas';
import { ErrorText } from '../../components/error-text';
import { userMessage } from '../../lib/errors';
import { useStudio } from '../../lib/studio-context';

const OPTIONS: readonly { value: PredictionType | ''; label: string }[] = [
  { value: '', label: 'Prediction: from the weights' },
  { value: 'epsilon', label: 'Prediction: epsilon' },
  { value: 'v_prediction', label: 'Prediction: v-prediction' },
];

type Props = { id: string; name: string; value: PredictionType | null };

/** A select that stores the checkpoint's prediction type ('' = what the weights say). */
export function PredictionSelect({ id, name, value }: Props) {
  const { client } = useStudio();
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  const change = async (next: string): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      const prediction = next === 'epsilon' || next === 'v_prediction' ? next : null;
      await client.call('models.setPrediction', { id, prediction });
    } catch (e) {
      setError(userMessage(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <div className="model-prediction">
      <select
        className="input"
        value={value ?? ''}
        disabled={busy}
        onChange={(e) => void change(e.target.value)}
        aria-label={`What ${name} predicts`}
        data-testid="model-prediction"
      >
        {OPTIONS.map((o) => (
          <option key={o.value} value={o.value}>
            {o.label}
          </option>
        ))}
      </select>
      <ErrorText message={error} testId="model-prediction-error" />
    </div>
  );
}
