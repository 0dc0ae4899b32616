/**
 * `pinhole train --json` step lines when job updates go missing: exactly one line per step, in
 * order, every field present, sample and checkpoint lines after their step — late steps come from
 * the job's step log with the numbers they were reported with.
 */
import { describe, expect, it } from 'vitest';
import type { JobProgress, TrainArtifacts } from '../../src-shared/api';
import { TrainEventLines, type StepRecord, type TrainLinesResult } from '../../src-main/cli/train-event-lines';
import type { Output } from '../../src-main/cli/output';

const FIELDS = ['step', 'totalSteps', 'loss', 'smoothLoss', 'lr', 'gradNorm', 'stepsPerSec', 'etaMs'];

function capture(): { out: Output; lines: Record<string, unknown>[] } {
  const lines: Record<string, unknown>[] = [];
  const out: Output = {
    json: true,
    bars: false,
    line: (value) => lines.push(value as Record<string, unknown>),
    info: () => undefined,
    progress: () => undefined,
    endProgress: () => undefined,
  };
  return { out, lines };
}

const TOTAL = 6;
const record = (step: number): StepRecord => ({
  step,
  totalSteps: TOTAL,
  loss: 1 / step,
  smoothLoss: 2 / step,
  lr: 1e-4,
  gradNorm: step / 10,
  stepsPerSec: step === 1 ? null : 2,
  etaMs: (TOTAL - step) * 500,
});

const checkpointAt = (step: number) => ({ step, file: `/run/step-${step}.safetensors`, validationLoss: 0.1 });
const sampleAt = (step: number) => ({ step, index: 0, prompt: 'p', file: `/run/samples/${step}.png` });

/** The progress a step (with the artifacts so far) sends. */
function progressOf(step: number, artifacts: TrainArtifacts): JobProgress {
  const r = record(step);
  const metrics: Record<string, number> = { loss: r.loss, smoothLoss: r.smoothLoss!, lr: r.lr, gradNorm: r.gradNorm! };
  if (r.stepsPerSec !== null) metrics['stepsPerSec'] = r.stepsPerSec;
  if (r.etaMs !== null) metrics['etaMs'] = r.etaMs;
  return { step, total: TOTAL, etaMs: 999, metrics, artifacts };
}

/** Artifacts of a run with checkpoints every 2 steps and samples every 3, up to `step`. */
function artifactsUpTo(step: number): TrainArtifacts {
  const steps = Array.from({ length: step }, (_, i) => i + 1);
  return {
    checkpoints: steps.filter((s) => s % 2 === 0).map(checkpointAt),
    samples: steps.filter((s) => s % 3 === 0).map(sampleAt),
    bestStep: null,
  };
}

const result = (from = 0): TrainLinesResult => ({
  steps: TOTAL,
  losses: Array.from({ length: TOTAL }, (_, i) => record(i + 1).loss),
  lrs: Array.from({ length: TOTAL }, () => 1e-4),
  stepLog: Array.from({ length: TOTAL - from }, (_, i) => record(from + i + 1)),
  artifacts: artifactsUpTo(TOTAL),
  ...(from > 0 ? { resumedFrom: from } : {}),
});

/** Checks the contract on the printed lines and returns the step numbers in order. */
function checkLines(lines: Record<string, unknown>[], first: number): void {
  const steps = lines.filter((l) => l['event'] === 'step');
  expect(steps.map((l) => l['step'])).toEqual(Array.from({ length: TOTAL - first + 1 }, (_, i) => first + i));
  for (const line of steps) {
    for (const field of FIELDS) expect(line, `step ${String(line['step'])} ${field}`).toHaveProperty(field);
    // The numbers the step was reported with, whichever way the line arrived.
    const r = record(line['step'] as number);
    expect(line).toMatchObject({ loss: r.loss, smoothLoss: r.smoothLoss, gradNorm: r.gradNorm, etaMs: r.etaMs });
  }
  // Every artifact line comes after its step's line.
  lines.forEach((line, i) => {
    if (line['event'] === 'step') return;
    const stepLine = lines.findIndex((l) => l['event'] === 'step' && l['step'] === line['step']);
    expect(stepLine, JSON.stringify(line)).toBeGreaterThanOrEqual(0);
    expect(stepLine).toBeLessThan(i);
  });
}

describe('pinhole train --json lines', () => {
  it('every update arrives: lines as they come, artifacts after their step', () => {
    const { out, lines } = capture();
    const events = new TrainEventLines(out, false);
    for (let step = 1; step <= TOTAL; step++) events.progress(progressOf(step, artifactsUpTo(step)));
    const before = lines.length;
    events.finish(result());
    expect(lines).toHaveLength(before); // nothing was left for the end
    checkLines(lines, 1);
    expect(lines.filter((l) => l['event'] === 'checkpoint').map((l) => l['step'])).toEqual([2, 4, 6]);
    expect(lines.filter((l) => l['event'] === 'sample').map((l) => l['step'])).toEqual([3, 6]);
  });

  it('missed updates (step 2 and the end): later lines wait, the step log fills the gaps in order', () => {
    const { out, lines } = capture();
    const events = new TrainEventLines(out, false);
    // Step 2's update and the last two are lost; step 3's carries step 2's checkpoint.
    for (const step of [1, 3, 4]) events.progress(progressOf(step, artifactsUpTo(step)));
    // Nothing after step 1 is printed while step 2 is missing.
    expect(lines.map((l) => l['event'])).toEqual(['step']);
    events.finish(result());
    checkLines(lines, 1);
    expect(lines.filter((l) => l['event'] !== 'step')).toHaveLength(5);
  });

  it('a resumed run starts at its first step and leaves the earlier run’s artifacts out', () => {
    const { out, lines } = capture();
    const events = new TrainEventLines(out, true);
    for (const step of [3, 5]) events.progress(progressOf(step, artifactsUpTo(step)));
    events.finish(result(2));
    checkLines(lines, 3);
    // Step 2's checkpoint was printed by the run it resumed.
    expect(lines.filter((l) => l['event'] === 'checkpoint').map((l) => l['step'])).toEqual([4, 6]);
  });

  it('a result without a step log still gives one line per step', () => {
    const { out, lines } = capture();
    const events = new TrainEventLines(out, false);
    events.progress(progressOf(1, artifactsUpTo(1)));
    const old: TrainLinesResult = { ...result() };
    delete old.stepLog;
    events.finish(old);
    expect(lines.filter((l) => l['event'] === 'step').map((l) => l['step'])).toEqual([1, 2, 3, 4, 5, 6]);
    for (const line of lines.filter((l) => l['event'] === 'step')) {
      for (const field of FIELDS) expect(line).toHaveProperty(field);
    }
  });
});
