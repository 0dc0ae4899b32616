/**
 * Importing model files: drop them anywhere in the window (src/app routes drops) or pick them; the panel shows
 * the upload (browser), the import job's progress, and each file's outcome — imported (with
 * the name and kind it got), already in the library, or rejected with the reason.
 */
import { useRef } from 'react';
import { ModelImportJobResult, type ModelImportOutcome } from '../../../../src-shared/api/model-schemas';
import type { JobView } from '../../../../src-shared/api/schemas';
import { deserializeError, type SerializedError } from '../../../../src-shared/errors';
import { ErrorText } from '../../components/error-text';
import { formatBytes, plural } from '../../components/format';
import { ProgressBar } from '../../components/progress-bar';
import { userMessage } from '../../lib/errors';
import { MODEL_FILE_EXTENSIONS } from '../../lib/model-files';
import { useStudio } from '../../lib/studio-context';
import { isActive, upsertJob, useJobsStore } from '../../state/jobs-store';
import { importModelFiles } from './api/import-models';
import { setModelsUi, useModelsUiStore } from './models-store';

const STATUS_LABELS: Record<ModelImportOutcome['status'], string> = {
  imported: 'Imported',
  duplicate: 'Already there',
  rejected: 'Rejected',
};
const STATUS_BADGES: Record<ModelImportOutcome['status'], string> = {
  imported: 'badge badge-accepted',
  duplicate: 'badge badge-duplicate',
  rejected: 'badge badge-rejected',
};

/** Starts an import of `files` from this page; the job lands in the tray and the panel follows it. */
export function useStartImport(): (files: File[]) => Promise<void> {
  const studio = useStudio();
  return async (files) => {
    if (files.length === 0 || useModelsUiStore.getState().busy) return;
    const verb = studio.mode === 'headless' ? 'Uploading' : 'Adding';
    setModelsUi({ busy: `${verb} ${plural(files.length, 'file')}…`, importError: null, upload: null });
    try {
      const { jobId } = await importModelFiles(studio, files, (sent, total) =>
        setModelsUi({ upload: { sent, total } }),
      );
      setModelsUi({ importJobId: jobId });
      upsertJob(await studio.client.call('jobs.get', { jobId }));
    } catch (e) {
      setModelsUi({ importError: userMessage(e) });
    } finally {
      setModelsUi({ busy: null, upload: null });
    }
  };
}

/** A finished import's per-file outcomes, or null while it runs (or when it failed). */
export function outcomesOf(job: JobView): ModelImportOutcome[] | null {
  if (job.state !== 'succeeded') return null;
  const parsed = ModelImportJobResult.safeParse(job.result);
  return parsed.success ? parsed.data.files : null;
}

/** What the import job is doing, in a few words. */
export function jobLine(job: JobView): string {
  switch (job.state) {
    case 'queued':
      return 'Waiting to start…';
    case 'running':
      return job.progress?.message ? `Importing ${job.progress.message}…` : 'Reading files…';
    case 'succeeded':
      return 'Finished';
    case 'canceled':
      return 'Canceled';
    case 'failed':
      return `Failed: ${job.error ? userMessage(deserializeError(job.error as SerializedError)) : 'unknown error'}`;
    case 'interrupted':
      return 'Interrupted; it will continue when the studio restarts it.';
    case 'paused':
      return 'Paused';
  }
}

/** The drop target's explanation, the picker, and the watched import. */
export function ImportPanel() {
  const studio = useStudio();
  const input = useRef<HTMLInputElement>(null);
  const startImport = useStartImport();
  const { importJobId, upload, busy, importError } = useModelsUiStore();
  const job = useJobsStore((s) => (importJobId ? (s.jobs[importJobId] ?? null) : null));
  const outcomes = job ? outcomesOf(job) : null;

  const pick = async (): Promise<void> => {
    const native = window.pinhole;
    if (studio.mode === 'desktop' && native) {
      const paths = await native.pickPaths('files');
      if (paths.length === 0) return;
      try {
        const { jobId } = await studio.client.call('models.import', { paths });
        setModelsUi({ importJobId: jobId, importError: null });
        upsertJob(await studio.client.call('jobs.get', { jobId }));
      } catch (e) {
        setModelsUi({ importError: userMessage(e) });
      }
    } else {
      input.current?.click();
    }
  };

  return (
    <section className="models-import" aria-labelledby="models-import-title" data-testid="models-import">
      <h2 id="models-import-title">Add models</h2>
      <p className="muted">
        Drop checkpoints (.safetensors, .ckpt), LoRAs, VAEs or embeddings anywhere on this page, or model files on any
        other page. Each is checked without running anything inside it, copied into your library, and hashed.
      </p>
      <button
        type="button"
        className="button"
        onClick={() => void pick()}
        disabled={busy !== null}
        data-testid="models-pick"
      >
        Choose files…
      </button>
      {studio.mode === 'headless' && (
        <input
          ref={input}
          type="file"
          multiple
          accept={MODEL_FILE_EXTENSIONS.join(',')}
          hidden
          aria-label="Model files to import"
          data-testid="models-file-input"
          onChange={(e) => {
            const files = Array.from(e.currentTarget.files ?? []);
            e.currentTarget.value = '';
            void startImport(files);
          }}
        />
      )}
      {busy && (
        <p role="status" data-testid="models-busy">
          {busy}
          {upload && ` ${formatBytes(upload.sent)} of ${formatBytes(upload.total)}`}
        </p>
      )}
      {upload && <ProgressBar step={upload.sent} total={upload.total} label="Upload progress" />}
      <ErrorText message={importError} testId="models-import-error" />
      {job && (
        <div className="models-import-job" data-testid="models-import-job" data-job-state={job.state}>
          <p className="muted">{jobLine(job)}</p>
          {isActive(job) && (
            <ProgressBar step={job.progress?.step ?? 0} total={job.progress?.total ?? 0} label="Import progress" />
          )}
          {outcomes && (
            <ul className="model-results" aria-label="Import results">
              {outcomes.map((o, i) => (
                <li key={i} className="model-result" data-testid="models-import-result" data-status={o.status}>
                  <span className={STATUS_BADGES[o.status]}>{STATUS_LABELS[o.status]}</span>
                  <span className="model-result-file" title={o.file}>
                    {o.file}
                  </span>
                  <span className={o.status === 'rejected' ? 'model-result-reason' : 'muted'}>
                    {o.status === 'imported' ? `as ${o.kind ?? 'model'} "${o.name ?? ''}"` : (o.reason ?? '')}
                  </span>
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
    </section>
  );
}
