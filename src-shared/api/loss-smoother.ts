/**
 * The smoothed training loss the progress bar and the Train page's chart show: an exponential
 * moving average with β = 0.9 (about the last 10 steps), bias-corrected as Adam corrects its
 * moments (`ema / (1 − β^n)`), so the first steps are not pulled toward 0. The raw loss of one
 * step is mostly timestep noise; this is the trend.
 */
export const LOSS_EMA_BETA = 0.9;

export class LossSmoother {
  private ema = 0;
  private count = 0;

  constructor(private readonly beta = LOSS_EMA_BETA) {}

  /** Adds one step's loss; returns the smoothed loss so far. */
  add(loss: number): number {
    this.count++;
    this.ema = this.beta * this.ema + (1 - this.beta) * loss;
    return this.value();
  }

  /** The smoothed loss, or NaN before any step. */
  value(): number {
    return this.count === 0 ? Number.NaN : this.ema / (1 - this.beta ** this.count);
  }
}

/** The smoothed series of a whole run (what the chart draws for a finished run). */
export function smoothLosses(losses: readonly number[]): number[] {
  const smoother = new LossSmoother();
  return losses.map((loss) => smoother.add(loss));
}
