/**
 * Per-file outcomes of a dataset's latest import: what was accepted, what was already there
 * and what was rejected with the reason. Live while the job runs, restored after a reload.
 */
import { useState } from 'react';
import { useShallow } from 'zustand/react/shallow';
import type { ImportFileStatus, JobView } from '../../../../src-shared/api/schemas';
import { deserializeError, type SerializedError } from '../../../../src-shared/errors';
import { formatDateTime, plural } from '../../components/format';
import { ProgressBar } from '../../components/progress-bar';
import { userMessage } from '../../lib/errors';
import { isActive } from '../../state/jobs-store';
import { selectJobResults, useImportResultsStore } from './import-results-store';
import { useImportResultsFetch } from './use-import-results';

/** Rendering every row of a 10,000-file import would stall the page; the filter narrows it. */
const ROWS_SHOWN = 500;

type Filter = 'all' | ImportFileStatus;

const STATUS_LABELS: Record<ImportFileStatus, string> = {
  accepted: 'Added',
  duplicate: 'Already there',
  rejected: 'Rejected',
};

function jobLine(job: JobView, done: number): string {
  const total = job.progress?.total ?? 0;
  switch (job.state) {
    case 'queued':
      return 'Waiting to start…';
    case 'running':
      return total > 0 ? `Importing ${job.progress?.step ?? done} of ${total}…` : 'Reading files…';
    case 'succeeded':
      return `Finished ${job.finishedAt ? formatDateTime(job.finishedAt) : ''}`.trim();
    case 'canceled':
      return `Canceled after ${plural(done, 'file')}${total > 0 ? ` of ${total}` : ''}`;
    case 'failed':
      return `Failed: ${job.error ? userMessage(deserializeError(job.error as SerializedError)) : 'unknown error'}`;
    case 'interrupted':
      return 'Interrupted; it will continue when the studio restarts it.';
    case 'paused':
      return 'Paused.';
  }
}

/** The results panel for one import job. */
export function ImportResults({ job }: { job: JobView }) {
  useImportResultsFetch(job);
  const results = useImportResultsStore(useShallow(selectJobResults(job.id)));
  const [filter, setFilter] = useState<Filter>('all');

  const counts = { accepted: 0, duplicate: 0, rejected: 0 };
  for (const r of results) counts[r.status] += 1;
  const shown = filter === 'all' ? results : results.filter((r) => r.status === filter);
  const filters: [Filter, string, number][] = [
    ['all', 'All', results.length],
    ['accepted', STATUS_LABELS.accepted, counts.accepted],
    ['duplicate', STATUS_LABELS.duplicate, counts.duplicate],
    ['rejected', STATUS_LABELS.rejected, counts.rejected],
  ];

  return (
    <section
      className="import-results"
      aria-labelledby="import-results-title"
      data-testid="import-results"
      data-job-id={job.id}
      data-job-state={job.state}
    >
      <header className="import-results-head">
        <h2 id="import-results-title">Last import</h2>
        <span className="muted" data-testid="import-job-line">
          {jobLine(job, results.length)}
        </span>
      </header>
      {isActive(job) && (
        <ProgressBar step={job.progress?.step ?? 0} total={job.progress?.total ?? 0} label="Import progress" />
      )}
      <div className="filters" role="group" aria-label="Show results">
        {filters.map(([value, label, count]) => (
          <button
            key={value}
            type="button"
            className={filter === value ? 'chip chip-on' : 'chip'}
            aria-pressed={filter === value}
            onClick={() => setFilter(value)}
            data-testid={`import-filter-${value}`}
          >
            {label} <span className="chip-count">{count}</span>
          </button>
        ))}
      </div>
      {shown.length > 0 && (
        <ol className="result-list">
          {shown.slice(0, ROWS_SHOWN).map((r) => (
            <li
              key={r.index}
              className={`result result-${r.status}`}
              data-testid="import-result"
              data-status={r.status}
              data-file={r.file}
            >
              <span className={`badge badge-${r.status}`}>{STATUS_LABELS[r.status]}</span>
              <span className="result-file" title={r.file}>
                {r.file}
              </span>
              {r.reason && (
                <span className="result-reason" data-testid="import-reason">
                  {r.reason}
                </span>
              )}
            </li>
          ))}
        </ol>
      )}
      {shown.length > ROWS_SHOWN && (
        <p className="muted">
          Showing the first {ROWS_SHOWN} of {shown.length.toLocaleString()}. Pick a filter to narrow the list.
        </p>
      )}
    </section>
  );
}
