/**
 * Keeps the shared caches in step with main: events update them as they happen, and every
 * (re)connect re-fetches jobs and datasets so a reload or a dropped socket shows current state.
 */
import { userMessage } from '../lib/errors';
import { coalesce } from '../lib/coalesce';
import type { ConnectionStatus, StudioClient } from '../lib/studio-client';
import { setConnectionStatus } from './connection-store';
import { setDatasets, setDatasetsError } from './datasets-store';
import { replaceJobs, upsertJob } from './jobs-store';
import { noteLibraryChanged } from './library-store';

/** How many jobs the tray mirrors (newest first on the server side). */
const JOB_WINDOW = 200;

/** Starts syncing; returns the stop function. */
export function startSync(client: StudioClient): () => void {
  const datasets = coalesce(async () => {
    try {
      setDatasets(await client.call('datasets.list', {}));
    } catch (error) {
      setDatasetsError(userMessage(error));
    }
  }, 250);

  const jobs = coalesce(async () => {
    replaceJobs(await client.call('jobs.list', { limit: JOB_WINDOW }));
  }, 0);

  const stopEvents = client.onEvent((message) => {
    switch (message.event) {
      case 'job.updated':
        upsertJob(message.payload);
        break;
      case 'library.changed':
        noteLibraryChanged(message.payload.datasetId);
        // Counts and covers live on the dataset rows.
        datasets.trigger();
        break;
      case 'import.file':
        // The core announces library changes when an import ends; an accepted file changes a
        // dataset's count now. (Per-file results are the Train view's business.)
        if (message.payload.status === 'accepted') datasets.trigger();
        break;
    }
  });

  const onStatus = (status: ConnectionStatus): void => {
    setConnectionStatus(status);
    if (status === 'open') {
      jobs.trigger(true);
      datasets.trigger(true);
    }
  };
  const stopStatus = client.onStatus(onStatus);
  // The desktop stream is open from the start and never announces it.
  if (client.status === 'open') onStatus('open');

  return () => {
    stopEvents();
    stopStatus();
    jobs.cancel();
    datasets.cancel();
  };
}
