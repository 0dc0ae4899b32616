/** Sample images over time: one row per sampling step, one column per prompt. */
import type { TrainSample } from '../../../../src-shared/api/schemas';
import { useStudio } from '../../lib/studio-context';
import { trainingMediaUrl } from './training-media';

/** Props: the run's job id and its samples in step order. */
export function SampleGrid({ jobId, samples }: { jobId: string; samples: readonly TrainSample[] }) {
  const { mode } = useStudio();
  if (samples.length === 0) return null;
  const steps = [...new Set(samples.map((s) => s.step))];
  return (
    <section className="sample-grid" aria-label="Sample images" data-testid="train-samples">
      {steps.map((step) => (
        <div className="sample-row" key={step} data-step={step}>
          <span className="sample-step">Step {step}</span>
          {samples.map((s, i) =>
            s.step === step ? (
              <img
                key={s.file}
                className="sample-image"
                data-testid="train-sample"
                src={trainingMediaUrl(mode, jobId, `sample-${i}`)}
                alt={`Step ${s.step}: ${s.prompt}`}
                title={s.prompt}
                loading="lazy"
              />
            ) : null,
          )}
        </div>
      ))}
    </section>
  );
}
