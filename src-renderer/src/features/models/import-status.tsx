/**
 * The latest model import in one line, for pages other than Models (a model file dropped on the
 * window anywhere): the upload, the job, then how many files were imported, already there or
 * rejected. The Models page's import panel shows the same import in full.
 */
import { formatBytes, plural } from '../../components/format';
import { useJobsStore } from '../../state/jobs-store';
import { jobLine, outcomesOf } from './import-panel';
import { useModelsUiStore } from './models-store';

/** The status line, or nothing when no import was started. */
export function ModelImportStatus() {
  const { importJobId, upload, busy, importError } = useModelsUiStore();
  const job = useJobsStore((s) => (importJobId ? (s.jobs[importJobId] ?? null) : null));
  const outcomes = job ? outcomesOf(job) : null;

  let text: string | null;
  if (importError) text = `Could not add the model files: ${importError}`;
  else if (busy) text = upload ? `${busy} ${formatBytes(upload.sent)} of ${formatBytes(upload.total)}` : busy;
  else if (outcomes) {
    const count = (status: string) => outcomes.filter((o) => o.status === status).length;
    const parts = [`${plural(count('imported'), 'model')} added`];
    if (count('duplicate') > 0) parts.push(`${count('duplicate')} already there`);
    if (count('rejected') > 0) parts.push(`${count('rejected')} rejected`);
    text = parts.join(', ');
  } else text = job ? jobLine(job) : null;
  if (text === null) return null;

  // While a new import starts, the job in the store is still the previous one: not its state.
  const state = busy || importError ? '' : (job?.state ?? '');
  return (
    <span data-testid="model-import-status" data-job-state={state}>
      {text}
    </span>
  );
}
