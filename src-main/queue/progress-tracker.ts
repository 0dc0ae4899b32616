/**
 * Turns a handler's raw step reports into JobProgress: adds an ETA from the observed
 * step rate, throttles events (the UI needs ~10 a second, not thousands) and persists
 * less often still (other processes read progress from the database).
 */
import type { JobProgress, TrainArtifacts } from '../../src-shared/api';

const EVENT_INTERVAL_MS = 100;
const PERSIST_INTERVAL_MS = 500;

export class ProgressTracker {
  private firstStep: { step: number; at: number } | null = null;
  private lastEventAt = -Infinity;
  private lastPersistAt = -Infinity;
  private pending: JobProgress | null = null;
  /** The last progress sent as an event but not yet written to the database. */
  private unsaved: JobProgress | null = null;

  constructor(
    private readonly now: () => number,
    private readonly emit: (progress: JobProgress, persist: boolean) => void,
  ) {}

  report(update: {
    step: number;
    total: number;
    message?: string | undefined;
    preview?: string | undefined;
    metrics?: Record<string, number> | undefined;
    artifacts?: TrainArtifacts | undefined;
  }): void {
    const at = this.now();
    // A repeated first step (e.g. step 0 while a training run caches its data) moves the start, so
    // the rate counts only real steps.
    if (this.firstStep === null || update.step <= this.firstStep.step) this.firstStep = { step: update.step, at };
    const progress: JobProgress = {
      step: update.step,
      total: update.total,
      etaMs: this.eta(update.step, update.total, at),
      ...(update.message !== undefined ? { message: update.message } : {}),
      ...(update.preview !== undefined ? { preview: update.preview } : {}),
      ...(update.metrics !== undefined ? { metrics: update.metrics } : {}),
      ...(update.artifacts !== undefined ? { artifacts: update.artifacts } : {}),
    };
    // Previews, per-step metrics and the final step always go out; plain steps are throttled.
    const important = update.preview !== undefined || update.metrics !== undefined || update.step >= update.total;
    if (important || at - this.lastEventAt >= EVENT_INTERVAL_MS) {
      this.send(progress, at);
    } else {
      this.pending = progress;
    }
  }

  /** Sends the last throttled report and makes sure the latest progress is stored (the job is ending). */
  flush(): void {
    if (this.pending) this.send(this.pending, this.now(), true);
    else if (this.unsaved) this.send(this.unsaved, this.now(), true);
  }

  private send(progress: JobProgress, at: number, forcePersist = false): void {
    this.pending = null;
    this.lastEventAt = at;
    const persist = forcePersist || at - this.lastPersistAt >= PERSIST_INTERVAL_MS || progress.step >= progress.total;
    if (persist) this.lastPersistAt = at;
    this.unsaved = persist ? null : progress;
    this.emit(progress, persist);
  }

  private eta(step: number, total: number, at: number): number | null {
    if (!this.firstStep || step <= this.firstStep.step || total <= step) return total <= step ? 0 : null;
    const perStep = (at - this.firstStep.at) / (step - this.firstStep.step);
    return Math.max(0, Math.round(perStep * (total - step)));
  }
}
