/**
 * Keeps one import job's per-file results current while the Train view shows them: live
 * events, batched per animation frame, and a full `import.results` fetch on mount, on every
 * reconnect and when the job finishes (events sent while nobody listened are not replayed).
 */
import { useEffect } from 'react';
import type { ImportFileResult, JobView } from '../../../../src-shared/api/schemas';
import { useStudio } from '../../lib/studio-context';
import { useConnectionStore } from '../../state/connection-store';
import { isActive } from '../../state/jobs-store';
import { mergeImportResults } from './import-results-store';

/** Subscribes to `import.file` events for as long as the caller is mounted. */
export function useImportFileEvents(): void {
  const { client } = useStudio();
  useEffect(() => {
    let pending: ImportFileResult[] = [];
    let frame: number | null = null;
    const flush = (): void => {
      frame = null;
      mergeImportResults(pending);
      pending = [];
    };
    const stop = client.onEvent((message) => {
      if (message.event !== 'import.file') return;
      pending.push(message.payload);
      // A fast import sends hundreds of events a second; one store update per frame is plenty.
      frame ??= requestAnimationFrame(flush);
    });
    return () => {
      stop();
      if (frame !== null) cancelAnimationFrame(frame);
      flush();
    };
  }, [client]);
}

/** Fetches a job's full result list whenever it may have missed events. */
export function useImportResultsFetch(job: JobView | null): void {
  const { client } = useStudio();
  const epoch = useConnectionStore((s) => s.epoch);
  const jobId = job?.id ?? null;
  const finished = job ? !isActive(job) : false;
  useEffect(() => {
    if (!jobId || epoch === 0) return;
    let stale = false;
    client
      .call('import.results', { jobId })
      .then((results) => {
        if (!stale) mergeImportResults(results);
      })
      .catch((error: unknown) => console.warn('Pinhole: could not load import results', error));
    return () => {
      stale = true;
    };
  }, [client, jobId, epoch, finished]);
}
