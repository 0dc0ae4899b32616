/**
 * The job cache: main owns the queue; this mirrors it from `jobs.list` (on every connect)
 * and `job.updated` events. Views read it through the selectors below.
 */
import { create } from 'zustand';
import type { JobState, JobView } from '../../../src-shared/api/schemas';

/** Jobs slice: every known job by id. */
export type JobsState = { jobs: Record<string, JobView>; loaded: boolean };

/** The jobs slice; written through the functions below. */
export const useJobsStore = create<JobsState>(() => ({ jobs: {}, loaded: false }));

const ACTIVE: ReadonlySet<JobState> = new Set(['queued', 'running']);

/** True while a job may still make progress. */
export function isActive(job: JobView): boolean {
  return ACTIVE.has(job.state);
}

const FINAL: ReadonlySet<JobState> = new Set(['succeeded', 'failed', 'canceled']);

/**
 * Picks the fresher of two views of one job. Events and list answers can cross in flight, and
 * JobView has no version, but a job only moves forward: a final state never changes again,
 * and within one running attempt progress only grows. (`interrupted` is not final: the job is
 * re-queued after a restart.)
 */
export function fresher(current: JobView | undefined, incoming: JobView): JobView {
  if (!current) return incoming;
  if (FINAL.has(current.state)) return current;
  if (current.state === 'running' && incoming.state === 'running' && incoming.attempts === current.attempts) {
    return (incoming.progress?.step ?? 0) >= (current.progress?.step ?? 0) ? incoming : current;
  }
  return incoming;
}

/** Merges one job view (from an event or a call answer). */
export function upsertJob(job: JobView): void {
  useJobsStore.setState((s) => {
    const next = fresher(s.jobs[job.id], job);
    return next === s.jobs[job.id] ? s : { jobs: { ...s.jobs, [job.id]: next } };
  });
}

/**
 * Replaces the cache with a fresh `jobs.list` answer. Jobs missing from the answer are dropped
 * (they fell out of the list's window), except ones newer than everything in it, which were
 * created while the request was in flight.
 */
export function replaceJobs(list: readonly JobView[]): void {
  useJobsStore.setState((s) => {
    const newest = list.reduce((max, job) => Math.max(max, job.createdAt), 0);
    const jobs: Record<string, JobView> = {};
    for (const job of Object.values(s.jobs)) if (job.createdAt > newest) jobs[job.id] = job;
    for (const job of list) jobs[job.id] = fresher(s.jobs[job.id], job);
    return { jobs, loaded: true };
  });
}

/** Queued and running jobs: running first, then by priority and age (queue order). */
export function selectActiveJobs(s: JobsState): JobView[] {
  return Object.values(s.jobs)
    .filter(isActive)
    .sort(
      (a, b) =>
        Number(b.state === 'running') - Number(a.state === 'running') ||
        b.priority - a.priority ||
        a.createdAt - b.createdAt,
    );
}

/** Finished jobs, most recently finished first. */
export function selectFinishedJobs(s: JobsState): JobView[] {
  return Object.values(s.jobs)
    .filter((job) => !isActive(job))
    .sort((a, b) => (b.finishedAt ?? b.createdAt) - (a.finishedAt ?? a.createdAt));
}
