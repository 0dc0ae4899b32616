/**
 * A training run's checkpoints and sample images: collected from engine events (and from before a
 * pause), served to the browser by job id and index only (never a path from a URL), and "use this
 * one": a checkpoint's LoRA copied over the run's output file.
 */
import { copyFile, rename, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { JobView, TrainArtifacts, TrainCheckpoint, TrainSample } from '../../src-shared/api';
import { TrainArtifacts as TrainArtifactsSchema } from '../../src-shared/api';
import { PinholeError } from '../../src-shared/errors';

/** The artifacts of one run, in step order, without duplicates (a resumed run may re-announce one). */
export class ArtifactLog {
  private readonly checkpoints = new Map<string, TrainCheckpoint>();
  private readonly samples = new Map<string, TrainSample>();

  constructor(initial?: TrainArtifacts) {
    initial?.checkpoints.forEach((c) => this.addCheckpoint(c));
    initial?.samples.forEach((s) => this.addSample(s));
  }

  addCheckpoint(checkpoint: { step: number; file: string; validationLoss?: number | null | undefined }): void {
    this.checkpoints.set(checkpoint.file, {
      step: checkpoint.step,
      file: checkpoint.file,
      validationLoss: checkpoint.validationLoss ?? null,
    });
  }

  addSample(sample: TrainSample): void {
    this.samples.set(sample.file, { step: sample.step, index: sample.index, prompt: sample.prompt, file: sample.file });
  }

  /** The list as jobs show it; `bestStep` is the engine's suggestion, else the lowest validation loss. */
  snapshot(engineBest?: number): TrainArtifacts {
    const checkpoints = [...this.checkpoints.values()].sort((a, b) => a.step - b.step);
    const samples = [...this.samples.values()].sort((a, b) => a.step - b.step || a.index - b.index);
    return { checkpoints, samples, bestStep: engineBest ?? lowestValidationLoss(checkpoints) };
  }

  /** Adds the engine's final lists and returns the whole run's artifacts. */
  merge(
    checkpoints: { step: number; file: string; validationLoss?: number }[],
    samples: TrainSample[],
    bestStep: number | undefined,
  ): TrainArtifacts {
    checkpoints.forEach((c) => this.addCheckpoint(c));
    samples.forEach((s) => this.addSample(s));
    return this.snapshot(bestStep);
  }
}

function lowestValidationLoss(checkpoints: readonly TrainCheckpoint[]): number | null {
  let best: TrainCheckpoint | null = null;
  for (const c of checkpoints) {
    if (c.validationLoss !== null && (best === null || c.validationLoss < (best.validationLoss ?? Infinity))) best = c;
  }
  return best?.step ?? null;
}

/** A train job's artifacts: from its result once it succeeded, else from its last progress. */
export function jobArtifacts(job: JobView): TrainArtifacts | null {
  const fromResult = TrainArtifactsSchema.safeParse((job.result as { artifacts?: unknown } | null)?.artifacts);
  if (fromResult.success) return fromResult.data;
  return job.progress?.artifacts ?? null;
}

/** `sample-<i>` (index into the run's samples) or `checkpoint-<step>`, as media URLs name them. */
const ARTIFACT_NAME = /^(sample|checkpoint)-(\d{1,9})$/;

/** The file behind a training media name, or null when the job lists no such artifact. */
export function trainingMediaFile(job: JobView, name: string): { path: string; contentType: string } | null {
  const match = ARTIFACT_NAME.exec(name);
  const artifacts = jobArtifacts(job);
  if (!match || !artifacts) return null;
  const n = Number(match[2]);
  const file =
    match[1] === 'sample' ? artifacts.samples[n]?.file : artifacts.checkpoints.find((c) => c.step === n)?.file;
  if (!file || !existsSync(file)) return null;
  const contentType = match[1] === 'sample' ? contentTypeOf(file) : 'application/octet-stream';
  return { path: file, contentType };
}

function contentTypeOf(file: string): string {
  const ext = path.extname(file).toLowerCase();
  return ext === '.jpg' || ext === '.jpeg' ? 'image/jpeg' : ext === '.webp' ? 'image/webp' : 'image/png';
}

/**
 * "Use this one": copies the checkpoint's LoRA over the run's output file (through a temporary
 * file and a rename, so a reader never sees half a file). The run must have stopped.
 */
export async function useTrainCheckpoint(
  job: JobView,
  step: number,
  out: string,
): Promise<{ file: string; step: number }> {
  if (job.state === 'running' || job.state === 'queued') {
    throw new PinholeError(
      'CONFLICT',
      'The run is still going; pause it or wait for it to end before choosing a checkpoint.',
    );
  }
  const checkpoint = jobArtifacts(job)?.checkpoints.find((c) => c.step === step);
  if (!checkpoint) throw new PinholeError('NOT_FOUND', `Job ${job.id} has no checkpoint at step ${step}.`);
  if (!existsSync(checkpoint.file)) {
    throw new PinholeError('NOT_FOUND', `The checkpoint file of step ${step} is gone (${checkpoint.file}).`);
  }
  const partial = `${out}.partial`;
  try {
    await copyFile(checkpoint.file, partial);
    await rename(partial, out);
  } catch (error) {
    await rm(partial, { force: true });
    throw new PinholeError('DATA_HOME_UNAVAILABLE', `Could not write ${out}: ${(error as Error).message}`, {
      cause: error,
    });
  }
  return { file: out, step };
}
