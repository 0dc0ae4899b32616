/**
 * The job the page is watching: step / total, time left, the newest preview and Cancel while it
 * runs; the images (each opening in the gallery) and the seed once it is done.
 */
import { useEffect, useState } from 'react';
import { z } from 'zod';
import type { JobView } from '../../../../src-shared/api/schemas';
import { deserializeError, type SerializedError } from '../../../../src-shared/errors';
import { ErrorText } from '../../components/error-text';
import { formatEta, plural } from '../../components/format';
import { ProgressBar } from '../../components/progress-bar';
import { userMessage } from '../../lib/errors';
import { navigate } from '../../lib/router';
import { useStudio } from '../../lib/studio-context';
import { isActive, upsertJob, useJobsStore } from '../../state/jobs-store';
import { notePreview, reuseSeed, useGenerateStore, type CurrentRun } from './generate-store';

/** The generate job's result, as the core stores it. */
const GenerateResult = z.object({
  images: z.array(z.object({ sha256: z.string(), seed: z.string(), width: z.number(), height: z.number() })),
  timings: z.object({ totalMs: z.number(), stepsPerSecond: z.number() }).partial().optional(),
});
type GenerateResult = z.infer<typeof GenerateResult>;

/** The part of a generate job's params the panel shows. */
const RunParams = z.object({ request: z.object({ prompt: z.string() }) });

const STATE_LABELS: Record<JobView['state'], string> = {
  queued: 'Waiting for the GPU',
  running: 'Generating',
  succeeded: 'Done',
  failed: 'Failed',
  canceled: 'Canceled',
  interrupted: 'Interrupted — will be retried',
  paused: 'Paused',
};

function Results({ result }: { result: GenerateResult }) {
  const { media } = useStudio();
  const { totalMs, stepsPerSecond } = result.timings ?? {};
  // One image is shown large (the full file); several as thumbnails.
  const single = result.images.length === 1;
  return (
    <div className="run-results">
      <ul
        className={single ? 'result-grid result-grid-single' : 'result-grid'}
        aria-label="Generated images"
        data-testid="generate-results"
      >
        {result.images.map((image, index) => (
          <li key={`${image.sha256}-${index}`}>
            <button
              type="button"
              className="result-thumb"
              onClick={() => navigate('gallery', [image.sha256])}
              aria-label={`Open image ${index + 1} (seed ${image.seed}) in the gallery`}
              title={`Seed ${image.seed} · ${image.width} × ${image.height}`}
              data-testid="generate-result"
              data-sha256={image.sha256}
              data-seed={image.seed}
            >
              <img
                src={single ? media.image(image.sha256) : media.thumb(image.sha256)}
                alt=""
                draggable={false}
                className={image.width < 384 ? 'pixelated' : undefined}
              />
            </button>
          </li>
        ))}
      </ul>
      {totalMs !== undefined && (
        <p className="muted run-timing">
          {plural(result.images.length, 'image')} in {(totalMs / 1000).toFixed(1)} s
          {stepsPerSecond ? ` · ${stepsPerSecond.toFixed(2)} steps/s` : ''}
        </p>
      )}
    </div>
  );
}

/** The watched job, or a hint before the first run. */
export function RunPanel() {
  const { client } = useStudio();
  const current = useGenerateStore((s) => s.current);
  const job = useJobsStore((s) => (current ? s.jobs[current.jobId] : undefined));
  const jobsLoaded = useJobsStore((s) => s.loaded);

  // A job outside the tray's window (or a reload before the list arrived) is asked for directly.
  const jobId = current?.jobId ?? null;
  const missing = jobId !== null && job === undefined && jobsLoaded;
  const [lookupError, setLookupError] = useState<string | null>(null);
  useEffect(() => {
    if (!missing || jobId === null) return;
    let stale = false;
    client
      .call('jobs.get', { jobId })
      .then((found) => !stale && upsertJob(found))
      .catch((e: unknown) => !stale && setLookupError(userMessage(e)));
    return () => {
      stale = true;
    };
  }, [client, jobId, missing]);

  if (!current) {
    return (
      <p className="muted run-empty" data-testid="generate-idle">
        Your images appear here. Press Generate (or Ctrl+Enter in a prompt).
      </p>
    );
  }
  return <RunView current={current} job={job ?? null} lookupError={lookupError} />;
}

function RunView({
  current,
  job,
  lookupError,
}: {
  current: CurrentRun;
  job: JobView | null;
  lookupError: string | null;
}) {
  const { client } = useStudio();
  const preview = useGenerateStore((s) => (s.preview?.jobId === current.jobId ? s.preview.dataUrl : null));
  const [canceling, setCanceling] = useState(false);
  const [cancelError, setCancelError] = useState<string | null>(null);

  const latest = job?.progress?.preview;
  useEffect(() => {
    if (latest) notePreview(current.jobId, latest);
  }, [current.jobId, latest]);

  const cancel = async (): Promise<void> => {
    setCanceling(true);
    setCancelError(null);
    try {
      upsertJob(await client.call('jobs.cancel', { jobId: current.jobId }));
    } catch (e) {
      setCancelError(userMessage(e));
    } finally {
      setCanceling(false);
    }
  };

  const state = job?.state ?? 'queued';
  const active = job === null || isActive(job);
  const progress = job?.progress ?? null;
  const eta = state === 'running' ? formatEta(progress?.etaMs ?? null) : null;
  const parsed = job?.state === 'succeeded' ? GenerateResult.safeParse(job.result) : null;
  // The run may not match the form (a re-run from the gallery, or the form edited since).
  const params = RunParams.safeParse(job?.params);
  const prompt = params.success ? params.data.request.prompt : null;

  return (
    <div className="run" data-testid="generate-run" data-job-id={current.jobId} data-state={state}>
      <div className="run-head">
        <span className={`badge badge-${state}`} data-testid="generate-state">
          {STATE_LABELS[state]}
        </span>
        <span className="run-seed">
          Seed{' '}
          <span className="mono" data-testid="generate-seed">
            {current.seed}
          </span>
        </span>
        <button
          type="button"
          className="button button-small"
          onClick={() => reuseSeed(current.seed)}
          title="Lock the seed field to this seed"
          data-testid="reuse-seed"
        >
          Reuse seed
        </button>
      </div>
      {prompt !== null && (
        <p className="run-prompt" title={prompt} data-testid="generate-run-prompt">
          {prompt || <span className="muted">No prompt</span>}
        </p>
      )}
      {active && (
        <div className="run-progress">
          <ProgressBar
            step={progress?.step ?? 0}
            total={state === 'running' ? (progress?.total ?? 0) : 0}
            label="Generation progress"
          />
          <div className="run-meta">
            <span data-testid="generate-progress">
              {progress && progress.total > 0
                ? `Step ${progress.step} / ${progress.total}`
                : state === 'queued'
                  ? 'Waiting for its turn'
                  : 'Loading the model…'}
            </span>
            {eta && <span data-testid="generate-eta">{eta}</span>}
            {progress?.message && <span>{progress.message}</span>}
          </div>
          <button
            type="button"
            className="button button-small button-danger"
            onClick={() => void cancel()}
            disabled={canceling}
            data-testid="generate-cancel"
          >
            {canceling ? 'Canceling…' : 'Cancel'}
          </button>
        </div>
      )}
      {active && preview && (
        <img
          className="run-preview"
          src={preview}
          alt="Preview of the image being generated"
          data-testid="generate-preview"
        />
      )}
      {parsed?.success && <Results result={parsed.data} />}
      {parsed && !parsed.success && <ErrorText message="The finished job's result could not be read." />}
      {state === 'canceled' && (
        <p className="muted" data-testid="generate-canceled">
          Canceled{progress && progress.total > 0 ? ` at step ${progress.step} of ${progress.total}` : ''}. Nothing was
          saved.
        </p>
      )}
      {state === 'failed' && job?.error && (
        <ErrorText message={userMessage(deserializeError(job.error as SerializedError))} testId="generate-error" />
      )}
      <ErrorText message={cancelError ?? lookupError} />
    </div>
  );
}
