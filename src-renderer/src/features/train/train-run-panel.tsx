/**
 * The dataset's latest training run: state, step/total, ETA, steps/s, the live loss chart, the
 * sample grid; pause, resume and cancel while it runs; checkpoints and the result once it stops; a
 * cancelled run offers "Resume from step N" (its newest checkpoint).
 */
import { useEffect, useMemo, useState } from 'react';
import type { JobView } from '../../../../src-shared/api/schemas';
import { resolveTrainSettings } from '../../../../src-shared/api/train-presets';
import { smoothLosses } from '../../../../src-shared/api/loss-smoother';
import { formatEta } from '../../components/format';
import { ErrorText } from '../../components/error-text';
import { ProgressBar } from '../../components/progress-bar';
import { userMessage } from '../../lib/errors';
import { navigate } from '../../lib/router';
import { useStudio } from '../../lib/studio-context';
import { handOffToGenerate } from '../../state/generate-handoff';
import { upsertJob } from '../../state/jobs-store';
import { CheckpointList } from './checkpoint-list';
import { LossChart } from './loss-chart';
import { recordLoss, useLossHistoryStore, type LossPoint } from './loss-history-store';
import { SampleGrid } from './sample-grid';
import { runArtifacts, runResult, trainRequestField, trainRequestOf } from './train-runs';

const STATE_TEXT: Record<JobView['state'], string> = {
  queued: 'Waiting for the GPU',
  running: 'Training',
  paused: 'Paused — resume continues from the last checkpoint',
  succeeded: 'Done',
  failed: 'Failed',
  canceled: 'Canceled — the last checkpoint was kept; resume continues from it',
  interrupted: 'Interrupted — it continues from the last checkpoint when the studio restarts it',
};

const NO_POINTS: LossPoint[] = [];

/** The chart's points: the finished run's every step, else what arrived live. */
function useLossPoints(job: JobView): LossPoint[] {
  const live = useLossHistoryStore((s) => s.byJob[job.id] ?? NO_POINTS);
  return useMemo(() => {
    const result = runResult(job);
    if (!result) return live;
    const smooth = smoothLosses(result.losses);
    return result.losses.map((loss, i) => ({ step: i + 1, loss, smooth: smooth[i] ?? loss }));
    // The result never changes once set; `job.result` is the dependency.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [live, job.result]);
}

/** Props: the run's job. */
export function TrainRunPanel({ job }: { job: JobView }) {
  const { client } = useStudio();
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  useEffect(() => recordLoss(job), [job]);
  const points = useLossPoints(job);
  const artifacts = runArtifacts(job);
  const p = job.progress;
  const total = p?.total ?? Number(trainRequestField(job, 'steps') ?? 0);
  const rate = p?.metrics?.['stepsPerSec'];
  // Before the first step the job converts a single-file checkpoint (metric `converting`), then caches its data:
  // the job's message says which.
  const caching =
    (p?.metrics?.['cachingTotal'] !== undefined || p?.metrics?.['converting'] !== undefined) &&
    p.metrics['loss'] === undefined;
  const stopped = job.state === 'succeeded' || job.state === 'canceled' || job.state === 'paused';
  // A cancelled run goes on from its newest checkpoint (as a new job: `train.resume` returns it).
  const resumeFrom =
    job.state === 'canceled' && artifacts.checkpoints.length > 0
      ? Math.max(...artifacts.checkpoints.map((c) => c.step))
      : null;

  const act = async (method: 'train.pause' | 'train.resume' | 'jobs.cancel'): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      upsertJob(await client.call(method, { jobId: job.id }));
    } catch (e) {
      setError(userMessage(e));
    } finally {
      setBusy(false);
    }
  };

  // The Generate page, filled with the run's model, its trigger word, the LoRA at weight 1 and the
  // size it was trained at.
  const generateWith = (lora: string): void => {
    const request = trainRequestOf(job);
    if (!request) {
      setError('This run was started by another version of the studio; pick its LoRA on the Generate page.');
      return;
    }
    const { model, trigger } = request;
    const size = resolveTrainSettings(request).resolution;
    handOffToGenerate({
      kind: 'use-settings',
      request: {
        model,
        prompt: trigger ? `a photo of ${trigger}` : '',
        width: size,
        height: size,
        loras: [{ path: lora, weight: 1 }],
      },
    });
    navigate('generate', []);
  };

  return (
    <section
      className="train-run"
      aria-label="Training run"
      data-testid="train-run"
      data-job-id={job.id}
      data-job-state={job.state}
      data-step={p?.step ?? 0}
    >
      <header className="train-run-head">
        <strong data-testid="train-state">{STATE_TEXT[job.state]}</strong>
        <span className="muted" data-testid="train-steps-done">
          {caching ? p?.message : `Step ${p?.step ?? 0} of ${total}`}
        </span>
        {job.state === 'running' && p?.etaMs != null && (
          <span className="muted" data-testid="train-eta">
            {formatEta(p.etaMs)}
          </span>
        )}
        {job.state === 'running' && rate !== undefined && <span className="muted">{rate.toFixed(2)} steps/s</span>}
      </header>
      {(job.state === 'running' || job.state === 'queued') && (
        <ProgressBar step={p?.step ?? 0} total={total} label="Training progress" />
      )}
      {job.state === 'failed' && job.error && <ErrorText message={job.error.message} />}
      <div className="train-run-actions">
        {(job.state === 'running' || job.state === 'queued') && (
          <button
            type="button"
            className="button"
            data-testid="train-pause"
            disabled={busy}
            onClick={() => void act('train.pause')}
          >
            Pause
          </button>
        )}
        {(job.state === 'paused' || resumeFrom !== null) && (
          <button
            type="button"
            className="button button-primary"
            data-testid="train-resume"
            data-step={resumeFrom ?? undefined}
            disabled={busy}
            onClick={() => void act('train.resume')}
          >
            {resumeFrom !== null ? `Resume from step ${resumeFrom}` : 'Resume'}
          </button>
        )}
        {(job.state === 'running' || job.state === 'queued' || job.state === 'paused') && (
          <button
            type="button"
            className="button"
            data-testid="train-cancel"
            disabled={busy}
            onClick={() => void act('jobs.cancel')}
          >
            Cancel
          </button>
        )}
      </div>
      <ErrorText message={error} />
      <LossChart points={points} totalSteps={total} />
      <SampleGrid jobId={job.id} samples={artifacts.samples} />
      {stopped && (
        <CheckpointList
          job={job}
          artifacts={artifacts}
          loraFile={runResult(job)?.file ?? null}
          libraryName={runResult(job)?.libraryName ?? null}
          onGenerate={generateWith}
        />
      )}
    </section>
  );
}
