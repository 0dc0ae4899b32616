/**
 * Which job is "the import" of a dataset. Import jobs (kind `import`) carry the dataset *name*
 * they import into (the dataset may not exist until the job creates it), and their result
 * names the dataset id once done.
 */
import type { Dataset, JobView } from '../../../../src-shared/api/schemas';
import type { JobsState } from '../../state/jobs-store';

function paramString(job: JobView, key: string): string | null {
  const params = job.params;
  if (typeof params !== 'object' || params === null) return null;
  const value = (params as Record<string, unknown>)[key];
  return typeof value === 'string' ? value : null;
}

function resultDatasetId(job: JobView): string | null {
  const result = job.result;
  if (typeof result !== 'object' || result === null) return null;
  const value = (result as Record<string, unknown>)['datasetId'];
  return typeof value === 'string' ? value : null;
}

/** True when `job` imports into `dataset` (names compare trimmed and case-insensitively, as the core does). */
export function isImportInto(job: JobView, dataset: Pick<Dataset, 'id' | 'name'>): boolean {
  if (job.kind !== 'import') return false;
  if (resultDatasetId(job) === dataset.id) return true;
  const name = paramString(job, 'dataset');
  return name !== null && name.trim().toLowerCase() === dataset.name.trim().toLowerCase();
}

/** Selector: the newest import job of a dataset, or null. */
export function selectLatestImport(dataset: Pick<Dataset, 'id' | 'name'> | null): (s: JobsState) => JobView | null {
  return (s) => {
    if (!dataset) return null;
    let latest: JobView | null = null;
    for (const job of Object.values(s.jobs)) {
      if (isImportInto(job, dataset) && (!latest || job.createdAt > latest.createdAt)) latest = job;
    }
    return latest;
  };
}
