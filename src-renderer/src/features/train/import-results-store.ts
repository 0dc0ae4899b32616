/**
 * Per-file import outcomes, by job. Filled from `import.results` (after a reload or reconnect)
 * and live from `import.file` events; both are keyed by file index, so merging them in any
 * order gives the same answer.
 */
import { create } from 'zustand';
import type { ImportFileResult } from '../../../../src-shared/api/schemas';

/** Import-results slice: job id → file index → outcome. */
export type ImportResultsState = { byJob: Record<string, Record<number, ImportFileResult>> };

/** The import-results slice. */
export const useImportResultsStore = create<ImportResultsState>(() => ({ byJob: {} }));

/** Merges a batch of outcomes (from events or a fetch). */
export function mergeImportResults(results: readonly ImportFileResult[]): void {
  if (results.length === 0) return;
  useImportResultsStore.setState((s) => {
    const byJob = { ...s.byJob };
    for (const result of results) {
      const current = byJob[result.jobId];
      // Copy each touched job once per batch, not once per file.
      const target = current && current !== s.byJob[result.jobId] ? current : { ...current };
      target[result.index] = result;
      byJob[result.jobId] = target;
    }
    return { byJob };
  });
}

const NONE: ImportFileResult[] = [];

/** Selector: a job's outcomes in file order (use with useShallow). */
export function selectJobResults(jobId: string | null): (s: ImportResultsState) => ImportFileResult[] {
  return (s) => {
    const results = jobId ? s.byJob[jobId] : undefined;
    if (!results) return NONE;
    return Object.values(results).sort((a, b) => a.index - b.index);
  };
}
