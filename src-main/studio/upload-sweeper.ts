/**
 * Browser upload batches live under uploads/ until their import job ends. The import job
 * deletes its batch when it runs; this removes the batches of jobs that never ran
 * (cancelled while queued) and of jobs that no longer exist (a crash between upload and enqueue).
 */
import { readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import type { JobView } from '../../src-shared/api';
import type { JobQueue } from '../queue';

function cleanupFolderOf(job: JobView): string | null {
  const params = job.params as { cleanup?: unknown } | null;
  return typeof params?.cleanup === 'string' ? params.cleanup : null;
}

function isInside(root: string, folder: string): boolean {
  const relative = path.relative(root, folder);
  return relative !== '' && !relative.startsWith('..') && !path.isAbsolute(relative);
}

/** Deletes the batch of a job that reached a final state. */
export function removeBatchOfFinishedJob(uploadsRoot: string, job: JobView): void {
  if (job.state !== 'canceled' && job.state !== 'failed' && job.state !== 'succeeded') return;
  const folder = cleanupFolderOf(job);
  if (folder && isInside(uploadsRoot, folder)) rmSync(folder, { recursive: true, force: true });
}

/** At start: deletes every batch that no queued, running or interrupted job will import. */
export function sweepOrphanBatches(uploadsRoot: string, queue: JobQueue): void {
  const live = new Set(
    queue
      .list(['queued', 'running', 'interrupted'], 10_000)
      .map(cleanupFolderOf)
      .filter((f): f is string => f !== null)
      .map((f) => path.resolve(f)),
  );
  for (const entry of readdirSync(uploadsRoot, { withFileTypes: true })) {
    const folder = path.join(uploadsRoot, entry.name);
    if (!live.has(path.resolve(folder))) rmSync(folder, { recursive: true, force: true });
  }
}
