/**
 * A training run's checkpoints and sample images: collected from engine events (and from before a
 * pause), served to the browser by job id and index only (never a path from a URL), and "use this
 * one": a checkpoint's LoRA made the run's result (its output file and its library model).
 */
import { copyFile, rename, rm } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { JobView, TrainArtifacts, TrainCheckpoint, TrainSample } from '../../src-shared/api';
import { TrainArtifacts as TrainArtifactsSchema } from '../../src-shared/api';
import { PinholeError } from '../../src-shared/errors';
import { keepTrainedLora, type TrainedLoraKeeper } from './train-output';

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
 * "Use this one": the checkpoint's LoRA becomes the run's result. A CLI run's `--out` file is
 * overwritten with it (through a temporary file and a rename, so a reader never sees half a file);
 * the run's library model (see train-output.ts) gets its bytes, keeping its name. The run must have
 * stopped. Returns the file to generate with: the library's, when it keeps the LoRA.
 */
export async function useTrainCheckpoint(
  job: JobView,
  step: number,
  run: {
    /** The run's output file (a Train-page run's is the studio's own: not written, the library holds it). */
    out: string;
    request: { out?: string | undefined; dataset?: string | undefined; images?: string | undefined };
    keep?: TrainedLoraKeeper | undefined;
  },
): Promise<{ file: string; step: number; name?: string }> {
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
  const own = run.request.out === undefined && run.keep !== undefined;
  if (!own) await replaceFile(checkpoint.file, run.out);
  if (!run.keep) return { file: run.out, step };
  // Copied from the checkpoint (never moved: the run still lists it).
  const kept = await keepTrainedLora(run.keep, run.request, checkpoint.file, run.out, false);
  if (!kept.lora) throw new PinholeError('DATA_HOME_UNAVAILABLE', kept.libraryError ?? 'Not added to the library.');
  return { file: kept.lora.file, step, name: kept.lora.name };
}

/** Copies `source` over `target` through a temporary file and a rename. */
async function replaceFile(source: string, target: string): Promise<void> {
  const partial = `${target}.partial`;
  try {
    await copyFile(source, partial);
    await rename(partial, target);
  } catch (error) {
    await rm(partial, { force: true });
    throw new PinholeError('DATA_HOME_UNAVAILABLE', `Could not write ${target}: ${(error as Error).message}`, {
      cause: error,
    });
  }
}
