/**
 * `pinhole train --json` lines: one `step` line per optimizer step, in step order, each with every
 * field (`step`, `totalSteps`, `loss`, `smoothLoss`, `lr`, `gradNorm`, `stepsPerSec`, `etaMs`), and
 * each `sample` or `checkpoint` line after the line of its step.
 *
 * Progress arrives as job updates, which a client can miss (a reconnect, an update overtaken by the
 * job's end when a server runs it). Lines after a missed step wait until it can be printed: from a
 * later update, else at the end from the job's step log, which has every step with all its fields.
 */
import type { JobProgress, TrainArtifacts } from '../../src-shared/api';
import type { Output } from './output';

/** One step as the job's step log keeps it (see TrainStepRecord in generation/train-progress.ts). */
export type StepRecord = {
  step: number;
  totalSteps: number;
  loss: number;
  smoothLoss: number | null;
  lr: number;
  gradNorm: number | null;
  stepsPerSec: number | null;
  etaMs: number | null;
};

/** What the lines need from the finished job's result. */
export type TrainLinesResult = {
  steps: number;
  losses: number[];
  lrs: number[];
  stepLog?: StepRecord[];
  resumedFrom?: number;
  artifacts?: TrainArtifacts;
};

type ArtifactLine =
  | { event: 'checkpoint'; step: number; file: string; validationLoss: number | null }
  | { event: 'sample'; step: number; index: number; prompt: string; file: string };

export class TrainEventLines {
  /** The last step printed; for a resumed run unknown (null) until its first step shows where it resumed. */
  private printedStep: number | null;
  /** The step a resumed run continued from: its artifacts up to there were printed by the run it resumed. */
  private resumedFrom: number | null = null;
  private cachingDone = -1;
  /** Steps seen after a step still missing. */
  private readonly held = new Map<number, StepRecord>();
  /** Artifacts whose step line is not printed yet, by file. */
  private readonly waiting = new Map<string, ArtifactLine>();
  private readonly printedFiles = new Set<string>();

  /** `resumed`: the run continues an earlier one, so its first step is not step 1. */
  constructor(
    private readonly out: Output,
    resumed: boolean,
  ) {
    this.printedStep = resumed ? null : 0;
  }

  /** For a resumed run, the step it continues from (known from its first step, or from its result). */
  private start(resumedFrom: number): void {
    if (this.printedStep !== null) return;
    this.printedStep = resumedFrom;
    this.resumedFrom = resumedFrom;
  }

  /** A job update: caching lines at once, steps and artifacts once everything before them is printed. */
  progress(p: JobProgress): void {
    if (!this.out.json) return;
    const m = p.metrics ?? {};
    const done = m['cachingDone'];
    const total = m['cachingTotal'];
    if (done !== undefined && total !== undefined && m['loss'] === undefined && done > this.cachingDone) {
      this.cachingDone = done;
      this.out.line({ event: 'caching', done, total });
    }
    const loss = m['loss'];
    const lr = m['lr'];
    if (loss !== undefined && lr !== undefined && p.step > 0) {
      this.hold({
        step: p.step,
        totalSteps: p.total,
        loss,
        smoothLoss: m['smoothLoss'] ?? null,
        lr,
        gradNorm: m['gradNorm'] ?? null,
        stepsPerSec: m['stepsPerSec'] ?? null,
        etaMs: m['etaMs'] ?? null,
      });
    }
    if (p.artifacts) this.addArtifacts(p.artifacts);
    this.flush();
  }

  /** The job ended: every step not printed yet (from the step log), then what is left of the artifacts. */
  finish(result: TrainLinesResult): void {
    if (!this.out.json) return;
    this.start(result.resumedFrom ?? 0);
    for (const record of result.stepLog ?? []) this.hold(record);
    const logged = new Map((result.stepLog ?? []).map((r) => [r.step, r]));
    for (let step = (this.printedStep ?? 0) + 1; step <= result.losses.length; step++) {
      // A job from another version without a step log: the bare numbers of its result.
      if (!this.held.has(step) && !logged.has(step)) this.hold(bareRecord(result, step));
    }
    if (result.artifacts) this.addArtifacts(result.artifacts);
    this.flush();
    // Whatever is left names a step past the last one (it should not happen): printed rather than lost.
    this.printArtifactsUpTo(Infinity);
  }

  private hold(record: StepRecord): void {
    // A resumed run: its first step says where it resumed.
    this.start(record.step - 1);
    if (record.step > (this.printedStep ?? 0) && !this.held.has(record.step)) this.held.set(record.step, record);
  }

  private addArtifacts(artifacts: TrainArtifacts): void {
    for (const c of artifacts.checkpoints) {
      this.wait({ event: 'checkpoint', step: c.step, file: c.file, validationLoss: c.validationLoss });
    }
    for (const s of artifacts.samples) {
      this.wait({ event: 'sample', step: s.step, index: s.index, prompt: s.prompt, file: s.file });
    }
  }

  private wait(line: ArtifactLine): void {
    if (!this.printedFiles.has(line.file)) this.waiting.set(line.file, line);
  }

  /** Prints the steps that follow the last one printed, each followed by its artifacts. */
  private flush(): void {
    if (this.printedStep === null) return;
    this.printArtifactsUpTo(this.printedStep);
    for (let next = this.held.get(this.printedStep + 1); next; next = this.held.get(this.printedStep + 1)) {
      this.held.delete(next.step);
      this.out.line({ event: 'step', ...next });
      this.printedStep = next.step;
      this.printArtifactsUpTo(next.step);
    }
  }

  private printArtifactsUpTo(step: number): void {
    const due = [...this.waiting.values()]
      .filter((a) => a.step <= step)
      .sort((a, b) => a.step - b.step || order(a) - order(b));
    for (const line of due) {
      this.waiting.delete(line.file);
      // An artifact up to the step a resumed run continued from belongs to the run it resumed (printed there).
      if (this.resumedFrom !== null && line.step <= this.resumedFrom) continue;
      this.printedFiles.add(line.file);
      this.out.line(line);
    }
  }
}

/** Checkpoints before samples of the same step, as the engine writes them; samples by index. */
function order(line: ArtifactLine): number {
  return line.event === 'checkpoint' ? -1 : line.index;
}

function bareRecord(result: TrainLinesResult, step: number): StepRecord {
  return {
    step,
    totalSteps: result.steps,
    loss: result.losses[step - 1]!,
    smoothLoss: null,
    lr: result.lrs[step - 1]!,
    gradNorm: null,
    stepsPerSec: null,
    etaMs: null,
  };
}
