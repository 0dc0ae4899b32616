/**
 * A stopped run's checkpoints side by side, each with the samples of its step and its validation
 * loss; the suggested one (lowest validation loss) is marked. "Use this one" makes a checkpoint the
 * run's LoRA (its models-library LoRA too); "Generate with it" opens the Generate page with that LoRA.
 */
import { useState } from 'react';
import type { JobView, TrainArtifacts } from '../../../../src-shared/api/schemas';
import { ErrorText } from '../../components/error-text';
import { userMessage } from '../../lib/errors';
import { useStudio } from '../../lib/studio-context';
import { trainingMediaUrl } from './training-media';

type Props = {
  job: JobView;
  artifacts: TrainArtifacts;
  /** The LoRA file the run's result names (null until "use this one" or success gives one). */
  loraFile: string | null;
  /** Its name in the models library (what `<lora:NAME>` and the Generate page's picker call it). */
  libraryName: string | null;
  onGenerate: (loraFile: string) => void;
};

/** The checkpoint cards and the run's result actions. */
export function CheckpointList({ job, artifacts, loraFile, libraryName, onGenerate }: Props) {
  const { client, mode } = useStudio();
  const [chosen, setChosen] = useState<{ step: number; file: string; name?: string | undefined } | null>(null);
  const [busy, setBusy] = useState<number | null>(null);
  const [error, setError] = useState<string | null>(null);

  const use = async (step: number): Promise<void> => {
    setBusy(step);
    setError(null);
    try {
      setChosen(await client.call('train.useCheckpoint', { jobId: job.id, step }));
    } catch (e) {
      setError(userMessage(e));
    } finally {
      setBusy(null);
    }
  };

  const result = chosen?.file ?? loraFile;
  const name = chosen ? (chosen.name ?? null) : libraryName;
  return (
    <section className="checkpoints" aria-label="Checkpoints" data-testid="train-checkpoints">
      {result && (
        <div className="train-result" data-testid="train-result" data-file={result}>
          <span>
            LoRA: <code>{result}</code>
            {chosen ? ` (checkpoint of step ${chosen.step})` : ''}
            {name !== null && (
              <span className="muted" data-testid="train-result-name" data-name={name}>
                {' '}
                — in the Models library as “{name}”
              </span>
            )}
          </span>
          <button
            type="button"
            className="button button-primary"
            data-testid="generate-with"
            onClick={() => onGenerate(result)}
          >
            Generate with it
          </button>
        </div>
      )}
      <ErrorText message={error} />
      <div className="checkpoint-cards">
        {artifacts.checkpoints.map((c) => {
          const best = c.step === artifacts.bestStep;
          const samples = artifacts.samples.map((s, index) => ({ ...s, index })).filter((s) => s.step === c.step);
          return (
            <article
              key={c.file}
              className={best ? 'checkpoint-card best' : 'checkpoint-card'}
              data-testid="train-checkpoint"
              data-step={c.step}
              data-best={best}
            >
              <header>
                <strong>Step {c.step}</strong>
                {best && <span className="badge">Suggested</span>}
              </header>
              <p className="muted">Validation loss {c.validationLoss === null ? '—' : c.validationLoss.toFixed(4)}</p>
              <div className="checkpoint-samples">
                {samples.map((s) => (
                  <img
                    key={s.file}
                    src={trainingMediaUrl(mode, job.id, `sample-${s.index}`)}
                    alt={`Step ${s.step}: ${s.prompt}`}
                    title={s.prompt}
                  />
                ))}
              </div>
              <button
                type="button"
                className="button"
                data-testid="use-checkpoint"
                disabled={busy !== null}
                onClick={() => void use(c.step)}
              >
                {busy === c.step ? 'Copying…' : chosen?.step === c.step ? 'In use' : 'Use this one'}
              </button>
            </article>
          );
        })}
      </div>
    </section>
  );
}
