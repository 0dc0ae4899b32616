/** One job in the tray: what it is, where it stands, and (while it can) a Cancel button. */
import { useState } from 'react';
import type { JobView } from '../../../../src-shared/api/schemas';
import { deserializeError, type SerializedError } from '../../../../src-shared/errors';
import { ErrorText } from '../../components/error-text';
import { formatDateTime, formatDuration, formatEta } from '../../components/format';
import { ProgressBar } from '../../components/progress-bar';
import { userMessage } from '../../lib/errors';
import { useStudio } from '../../lib/studio-context';
import { isActive, upsertJob } from '../../state/jobs-store';

const STATE_LABELS: Record<JobView['state'], string> = {
  queued: 'Queued',
  running: 'Running',
  succeeded: 'Done',
  failed: 'Failed',
  canceled: 'Canceled',
  interrupted: 'Interrupted',
  paused: 'Paused',
};

/** Renders one job; active jobs get progress and Cancel, finished ones their outcome. */
export function JobRow({ job }: { job: JobView }) {
  const { client } = useStudio();
  const [canceling, setCanceling] = useState(false);
  const [cancelError, setCancelError] = useState<string | null>(null);
  const active = isActive(job);

  const cancel = async (): Promise<void> => {
    setCanceling(true);
    setCancelError(null);
    try {
      upsertJob(await client.call('jobs.cancel', { jobId: job.id }));
    } catch (error) {
      setCancelError(userMessage(error));
    } finally {
      setCanceling(false);
    }
  };

  const progress = job.progress;
  const eta = job.state === 'running' ? formatEta(progress?.etaMs ?? null) : null;
  return (
    <li
      className={`job job-${job.state}`}
      data-testid="job-row"
      data-state={job.state}
      data-kind={job.kind}
      data-job-id={job.id}
    >
      <div className="job-head">
        <span className="job-title" title={job.title}>
          {job.title}
        </span>
        <span className={`badge badge-${job.state}`}>{STATE_LABELS[job.state]}</span>
      </div>
      {active && (
        <>
          <ProgressBar
            step={progress?.step ?? 0}
            total={job.state === 'running' ? (progress?.total ?? 0) : 1}
            label={`Progress of ${job.title}`}
          />
          <div className="job-meta">
            <span data-testid="job-progress">
              {progress && progress.total > 0
                ? `${progress.step} / ${progress.total}`
                : job.state === 'queued'
                  ? 'Waiting for its turn'
                  : 'Starting…'}
            </span>
            {eta && <span>{eta}</span>}
            {progress?.message && <span className="job-message">{progress.message}</span>}
          </div>
          <button
            type="button"
            className="button button-small button-danger"
            onClick={() => void cancel()}
            disabled={canceling}
            data-testid="job-cancel"
            aria-label={`Cancel ${job.title}`}
          >
            {canceling ? 'Canceling…' : 'Cancel'}
          </button>
          <ErrorText message={cancelError} />
        </>
      )}
      {!active && (
        <div className="job-meta">
          {job.finishedAt !== null && <span>{formatDateTime(job.finishedAt)}</span>}
          {job.startedAt !== null && job.finishedAt !== null && (
            <span>took {formatDuration(job.startedAt, job.finishedAt)}</span>
          )}
          {/* Progress is throttled, so only a finished job's last report is known to be exact. */}
          {job.state === 'succeeded' && progress && progress.total > 0 && (
            <span>{`${progress.step} / ${progress.total}`}</span>
          )}
        </div>
      )}
      {job.state === 'failed' && job.error && (
        <p className="job-error" data-testid="job-error">
          {userMessage(deserializeError(job.error as SerializedError))}
        </p>
      )}
      {job.state === 'interrupted' && (
        <p className="job-note">The studio stopped while this ran; it will be retried.</p>
      )}
    </li>
  );
}
