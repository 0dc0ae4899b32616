/**
 * Learning-rate schedules as transformers' `get_scheduler` (diffusers re-exports it) defines them:
 * a multiplier λ(step) of the base rate, evaluated at the 0-based optimizer step (the scheduler's
 * `last_epoch` when `optimizer.step()` runs, since `lr_scheduler.step()` follows it).
 * - constant: λ = 1; with warm-up (`constant_with_warmup`): λ = step / max(1, warmup) while step < warmup.
 * - cosine (`cosine_with_warmup`, num_cycles ½): after warm-up,
 *   λ = max(0, ½·(1 + cos(π · (step − warmup) / max(1, total − warmup)))), which reaches 0 at step = total.
 */
import { PinholeError } from '../../../src-shared/errors';

/** A learning-rate schedule: the rate for 0-based optimizer step `step`. */
export type LrSchedule = (step: number) => number;

/** The constant schedule (no warm-up): `lr` at every step. */
export function constantSchedule(lr: number): LrSchedule {
  return () => lr;
}

export type LrScheduleOptions = {
  kind: 'constant' | 'cosine';
  lr: number;
  /** Linear warm-up steps (0: none). */
  warmupSteps: number;
  /** The run's optimizer steps (cosine decays to 0 at this step). */
  totalSteps: number;
};

/**
 * The schedule for a run.
 * @throws PinholeError `INVALID_PARAMS` for a negative or fractional warm-up.
 */
export function createLrSchedule(options: LrScheduleOptions): LrSchedule {
  const { kind, lr, warmupSteps: warmup, totalSteps: total } = options;
  if (!Number.isInteger(warmup) || warmup < 0) {
    throw new PinholeError('INVALID_PARAMS', `warm-up steps must be a non-negative integer, not ${warmup}`);
  }
  return (step) => {
    if (step < warmup) return lr * (step / Math.max(1, warmup));
    if (kind === 'constant') return lr;
    const progress = (step - warmup) / Math.max(1, total - warmup);
    return lr * Math.max(0, 0.5 * (1 + Math.cos(Math.PI * 0.5 * 2 * progress)));
  };
}
