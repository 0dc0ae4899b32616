/**
 * Engine training events → job progress. Every optimizer step goes out with its metrics (`loss`,
 * `smoothLoss` — see LossSmoother —, `lr`, `gradNorm`, `stepsPerSec`, `etaMs`) and is kept in the
 * run's step log (the job's result carries it, so a client that missed a progress event still gets
 * every step with every field); caching reports step 0 with `cachingDone`/`cachingTotal`; samples
 * and checkpoints are added to the run's artifacts, which are saved with the job (a paused run keeps
 * them) and sent with the next progress.
 */
import { LossSmoother, type TrainArtifacts } from '../../src-shared/api';
import type { ArtifactLog } from './train-artifacts';
import type { TrainEvent } from '../engine';

/** One optimizer step as the step log keeps it (and `pinhole train --json` prints it). */
export type TrainStepRecord = {
  step: number;
  totalSteps: number;
  loss: number;
  smoothLoss: number;
  lr: number;
  gradNorm: number;
  /** null on the first step a run (or a resumed run) sees: no rate yet. */
  stepsPerSec: number | null;
  etaMs: number | null;
};

type ProgressUpdate = {
  step: number;
  total: number;
  message?: string;
  metrics?: Record<string, number>;
  artifacts?: TrainArtifacts;
};

export class TrainProgressReporter {
  private readonly smoother = new LossSmoother();
  private lastStep = 0;
  private total: number;
  private firstSeen: { step: number; elapsedMs: number } | null = null;
  private lastMetrics: Record<string, number> | undefined;
  private lastMessage: string | undefined;
  private readonly log: TrainStepRecord[] = [];

  constructor(
    totalSteps: number,
    private readonly artifacts: ArtifactLog,
    private readonly sink: { progress(update: ProgressUpdate): void; saveArtifacts(artifacts: TrainArtifacts): void },
  ) {
    this.total = totalSteps;
  }

  onEvent(event: TrainEvent): void {
    switch (event.kind) {
      case 'caching':
        this.lastMessage = `Caching latents and captions ${event.done}/${event.total}`;
        this.send({ cachingDone: event.done, cachingTotal: event.total });
        return;
      case 'step': {
        // An engine may announce a step twice (events and legacy progress); count it once.
        if (event.step <= this.lastStep) return;
        this.lastStep = event.step;
        this.total = event.totalSteps;
        const smoothLoss = this.smoother.add(event.loss);
        // For people (the job tray); scripts read the exact numbers from `metrics`.
        this.lastMessage = `loss ${event.loss.toFixed(4)} (avg ${smoothLoss.toFixed(4)}) lr ${event.lr.toExponential(1)}`;
        const metrics: Record<string, number> = {
          loss: event.loss,
          smoothLoss,
          lr: event.lr,
          gradNorm: event.gradNorm,
        };
        const rate = this.stepsPerSec(event.step, event.elapsedMs);
        // From the engine's own clock, so the log's ETA is the one the step was reported with.
        const etaMs = rate !== null && rate > 0 ? Math.round(((event.totalSteps - event.step) * 1000) / rate) : null;
        if (rate !== null) metrics['stepsPerSec'] = rate;
        if (etaMs !== null) metrics['etaMs'] = etaMs;
        this.log.push({
          step: event.step,
          totalSteps: event.totalSteps,
          loss: event.loss,
          smoothLoss,
          lr: event.lr,
          gradNorm: event.gradNorm,
          stepsPerSec: rate,
          etaMs,
        });
        this.send(metrics);
        return;
      }
      case 'sample':
        this.artifacts.addSample(event);
        this.saveAndSend();
        return;
      case 'checkpoint':
        this.artifacts.addCheckpoint(event);
        this.saveAndSend();
        return;
      default: {
        const never: never = event;
        return never;
      }
    }
  }

  /** Every step this run reported, in order (a resumed run's from where it resumed). */
  stepLog(): TrainStepRecord[] {
    return [...this.log];
  }

  /** Steps per second since the first step this run saw (a resumed run starts counting again). */
  private stepsPerSec(step: number, elapsedMs: number): number | null {
    if (!this.firstSeen) {
      this.firstSeen = { step, elapsedMs };
      return null;
    }
    const dt = elapsedMs - this.firstSeen.elapsedMs;
    return dt > 0 ? ((step - this.firstSeen.step) * 1000) / dt : null;
  }

  private saveAndSend(): void {
    this.sink.saveArtifacts(this.artifacts.snapshot());
    this.send(this.lastMetrics);
  }

  private send(metrics: Record<string, number> | undefined): void {
    this.lastMetrics = metrics;
    this.sink.progress({
      step: this.lastStep,
      total: this.total,
      ...(this.lastMessage !== undefined ? { message: this.lastMessage } : {}),
      ...(metrics !== undefined ? { metrics } : {}),
      artifacts: this.artifacts.snapshot(),
    });
  }
}
