/**
 * The live loss curve of each training run seen since the page loaded: one point per optimizer
 * step from the `job.updated` events (the core sends every step's metrics). A finished run's
 * chart comes from its result (every step), so a reload loses nothing at the end.
 */
import { create } from 'zustand';
import type { JobView } from '../../../../src-shared/api/schemas';

/** One step's raw and smoothed (EMA, bias-corrected, as the core computes it) loss. */
export type LossPoint = { step: number; loss: number; smooth: number };

/** Loss history slice: points per job id, in step order. */
export type LossHistoryState = { byJob: Record<string, LossPoint[]> };

/** The loss history slice. */
export const useLossHistoryStore = create<LossHistoryState>(() => ({ byJob: {} }));

/** Adds the step a job view reports, once (repeated reports of a step are ignored). */
export function recordLoss(job: JobView): void {
  const p = job.progress;
  const loss = p?.metrics?.['loss'];
  const smooth = p?.metrics?.['smoothLoss'];
  if (job.kind !== 'train' || !p || loss === undefined || smooth === undefined || p.step < 1) return;
  useLossHistoryStore.setState((s) => {
    const points = s.byJob[job.id] ?? [];
    const last = points[points.length - 1];
    if (last && last.step >= p.step) return s;
    return { byJob: { ...s.byJob, [job.id]: [...points, { step: p.step, loss, smooth }] } };
  });
}
