/**
 * Transfer speed smoothed with an exponential moving average over time (a time constant
 * rather than a sample count, so bursty chunk sizes do not make the figure jump), and the
 * ETA derived from it.
 */

const TIME_CONSTANT_MS = 3000;

export class SpeedMeter {
  private last: { at: number; bytes: number } | null = null;
  private rate: number | null = null;

  constructor(private readonly now: () => number = Date.now) {}

  /** Records the byte count reached now; returns the smoothed bytes per second (0 until known). */
  update(bytes: number): number {
    const at = this.now();
    if (this.last === null || bytes < this.last.bytes) {
      this.last = { at, bytes };
      return this.rate ?? 0;
    }
    const dt = at - this.last.at;
    if (dt < 50) return this.rate ?? 0;
    const instant = ((bytes - this.last.bytes) * 1000) / dt;
    const weight = 1 - Math.exp(-dt / TIME_CONSTANT_MS);
    this.rate = this.rate === null ? instant : this.rate + weight * (instant - this.rate);
    this.last = { at, bytes };
    return this.rate;
  }

  /** Milliseconds left at the smoothed speed, or null when unknown. */
  eta(bytes: number, total: number | null): number | null {
    if (total === null || this.rate === null || this.rate <= 0) return null;
    return Math.max(0, Math.round(((total - bytes) * 1000) / this.rate));
  }
}
