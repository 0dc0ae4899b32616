/**
 * The curated catalogue (official model files with their licenses) and the downloads in
 * progress. A license is shown, and must be accepted, before a download starts; a file with no
 * published hash must be confirmed as unverified. Downloads are jobs: progress with speed and
 * time left, pause, resume and cancel.
 */
import { useEffect, useState } from 'react';
import { useShallow } from 'zustand/react/shallow';
import type { CatalogueEntry, JobView } from '../../../../src-shared/api/schemas';
import { ErrorText } from '../../components/error-text';
import { formatBytes, formatEta } from '../../components/format';
import { ProgressBar } from '../../components/progress-bar';
import { userMessage } from '../../lib/errors';
import { useStudio } from '../../lib/studio-context';
import { useConnectionStore } from '../../state/connection-store';
import { upsertJob, useJobsStore, type JobsState } from '../../state/jobs-store';

const selectDownloads = (s: JobsState): JobView[] =>
  Object.values(s.jobs)
    .filter((j) => j.kind === 'download' && ['queued', 'running', 'paused', 'interrupted'].includes(j.state))
    .sort((a, b) => b.createdAt - a.createdAt);

/** One catalogue entry with its license and the confirmation before downloading. */
function CatalogueItem({ entry }: { entry: CatalogueEntry }) {
  const { client } = useStudio();
  const [open, setOpen] = useState(false);
  const [accepted, setAccepted] = useState(false);
  const [unverifiedOk, setUnverifiedOk] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const unverified = entry.sha256 === null;

  const start = async (): Promise<void> => {
    setBusy(true);
    setError(null);
    try {
      const { jobId } = await client.call('downloads.start', { catalogueId: entry.id, allowUnverified: unverified });
      upsertJob(await client.call('jobs.get', { jobId }));
      setOpen(false);
    } catch (e) {
      setError(userMessage(e));
    } finally {
      setBusy(false);
    }
  };

  return (
    <li className="catalogue-item" data-testid="catalogue-item" data-id={entry.id}>
      <div className="catalogue-head">
        <strong>{entry.name}</strong>
        <span className="muted">
          {entry.kind} · {entry.family}
          {entry.sizeBytes !== null ? ` · ${formatBytes(entry.sizeBytes)}` : ''}
        </span>
        {!open && (
          <button
            type="button"
            className="button button-small"
            onClick={() => setOpen(true)}
            data-testid="catalogue-open"
          >
            Download…
          </button>
        )}
      </div>
      {open && (
        <div className="catalogue-confirm">
          <p>
            License:{' '}
            <a href={entry.license.url} target="_blank" rel="noreferrer noopener" data-testid="catalogue-license">
              {entry.license.name}
            </a>
            {entry.gated && ' — the host asks you to accept its terms and use an access token.'}
          </p>
          <label>
            <input
              type="checkbox"
              checked={accepted}
              onChange={(e) => setAccepted(e.target.checked)}
              data-testid="catalogue-accept"
            />{' '}
            I have read and accept this license
          </label>
          {unverified && (
            <label>
              <input type="checkbox" checked={unverifiedOk} onChange={(e) => setUnverifiedOk(e.target.checked)} /> No
              published SHA-256: download it unverified
            </label>
          )}
          <div className="catalogue-actions">
            <button
              type="button"
              className="button button-small button-primary"
              disabled={busy || !accepted || (unverified && !unverifiedOk)}
              onClick={() => void start()}
              data-testid="catalogue-start"
            >
              Download
            </button>
            <button type="button" className="button button-small button-ghost" onClick={() => setOpen(false)}>
              Cancel
            </button>
          </div>
        </div>
      )}
      <ErrorText message={error} />
    </li>
  );
}

/** A download job's progress line and controls. */
function DownloadRow({ job }: { job: JobView }) {
  const { client } = useStudio();
  const [error, setError] = useState<string | null>(null);
  const metrics = job.progress?.metrics ?? {};
  const bytes = metrics['bytes'] ?? 0;
  const total = metrics['totalBytes'] ?? 0;
  const speed = metrics['bytesPerSecond'];
  const act = (call: () => Promise<JobView>) => void call().then(upsertJob, (e: unknown) => setError(userMessage(e)));
  return (
    <li className="download-row" data-testid="download-row" data-job-state={job.state}>
      <span>{job.title}</span>
      <ProgressBar step={bytes} total={total} label={`${job.title} progress`} />
      <span className="muted">
        {formatBytes(bytes)}
        {total > 0 ? ` of ${formatBytes(total)}` : ''}
        {speed !== undefined ? ` · ${formatBytes(speed)}/s` : ''}
        {job.progress ? ` · ${formatEta(job.progress.etaMs) ?? ''}` : ''}
        {job.state === 'paused' ? ' · paused' : ''}
      </span>
      <span className="download-actions">
        {job.state === 'paused' ? (
          <button
            type="button"
            className="link-button"
            onClick={() => act(() => client.call('downloads.resume', { jobId: job.id }))}
          >
            Resume
          </button>
        ) : (
          <button
            type="button"
            className="link-button"
            onClick={() => act(() => client.call('downloads.pause', { jobId: job.id }))}
          >
            Pause
          </button>
        )}
        <button
          type="button"
          className="link-button"
          onClick={() => act(() => client.call('jobs.cancel', { jobId: job.id }))}
        >
          Cancel
        </button>
      </span>
      <ErrorText message={error} />
    </li>
  );
}

/** The catalogue and the downloads in progress. */
export function CataloguePanel() {
  const { client } = useStudio();
  const epoch = useConnectionStore((s) => s.epoch);
  const [entries, setEntries] = useState<CatalogueEntry[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const downloads = useJobsStore(useShallow(selectDownloads));

  useEffect(() => {
    if (epoch === 0) return;
    let stale = false;
    client.call('downloads.catalogue', {}).then(
      (list) => !stale && setEntries(list),
      (e: unknown) => !stale && setError(userMessage(e)),
    );
    return () => {
      stale = true;
    };
  }, [client, epoch]);

  return (
    <section className="models-catalogue" aria-labelledby="catalogue-title" data-testid="models-catalogue">
      <h2 id="catalogue-title">Download</h2>
      {downloads.length > 0 && (
        <ul className="download-list" aria-label="Downloads">
          {downloads.map((job) => (
            <DownloadRow key={job.id} job={job} />
          ))}
        </ul>
      )}
      <ErrorText message={error} />
      {entries === null && !error && <p className="muted">Loading the catalogue…</p>}
      {entries && (
        <ul className="catalogue-list">
          {entries.map((entry) => (
            <CatalogueItem key={entry.id} entry={entry} />
          ))}
        </ul>
      )}
    </section>
  );
}
