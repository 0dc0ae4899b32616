/**
 * The `train` job kind (GPU lane): one LoRA training run in the engine process. It fills the
 * engine request (preset and defaults resolved, a library dataset turned into items, the latent
 * cache and checkpoints in the data home), reports every optimizer step (loss, smoothed loss, lr,
 * gradient norm, steps/s; the queue adds the ETA) and lists sample images and checkpoints as they
 * appear. Pause and cancel abort the engine, which writes a checkpoint first; a resumed (or
 * crash-recovered) run continues from the newest checkpoint of its run folder.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { resolveTrainSettings, Seed, TrainArtifacts, TrainParams } from '../../src-shared/api';
import type { EngineClient, TrainRequest, TrainResult } from '../engine';
import type { Library } from '../library';
import type { JobHandler } from '../queue';
import { datasetTrainItems } from './train-dataset';
import { ArtifactLog } from './train-artifacts';
import { TrainProgressReporter } from './train-progress';

export const TRAIN_JOB_KIND = 'train';

/** A stored train job: the request with its seed fixed, so a re-run is exact. */
export const TrainJobParams = z.object({
  request: TrainParams.and(z.object({ seed: Seed })),
});
export type TrainJobParams = z.infer<typeof TrainJobParams>;
type StoredRequest = TrainJobParams['request'];

/** What a paused or interrupted run keeps in its job checkpoint to carry on. */
const TrainJobCheckpoint = z.object({ artifacts: TrainArtifacts });

/** The job's result: the engine's, with the LoRA's path and every checkpoint and sample of the run. */
export type TrainJobResult = Omit<TrainResult, 'checkpoints' | 'samples' | 'bestStep'> & {
  artifacts: TrainArtifacts;
};

/** Data-home folders a training run writes to. */
export type TrainDirs = { loras: string; training: string; cache: string };

/**
 * Where a run writes. The LoRA: `out`, else `<data home>/loras/<dataset>-<job id>.safetensors` (the
 * Generate page's LoRA picker shows the file name). Checkpoints and samples: next to an explicit
 * `out` in `<out>.checkpoints/` (so `pinhole train --resume` with the same `--out` finds them),
 * else `<data home>/training/<job id>/`.
 */
export function trainRunPaths(
  request: { out?: string | undefined; dataset?: string | undefined; images?: string | undefined },
  jobId: string,
  dirs: TrainDirs,
) {
  const subject = fileSlug(request.dataset ?? path.basename(request.images ?? ''));
  const out = request.out ?? path.join(dirs.loras, `${subject ? `${subject}-` : ''}${jobId}.safetensors`);
  const runDir = request.out ? `${request.out}.checkpoints` : path.join(dirs.training, jobId);
  return { out, runDir };
}

/** A name safe in any file system: letters, digits, `-` and `_`, at most 40 characters. */
function fileSlug(name: string): string {
  return name
    .normalize('NFKD')
    .replace(/[^A-Za-z0-9_-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 40)
    .toLowerCase();
}

/** The engine request: every setting resolved (explicit › preset › default), paths filled in. */
export function toEngineTrainRequest(
  request: StoredRequest,
  run: { out: string; runDir: string; cacheDir: string; items?: { file: string; caption: string }[]; resume: boolean },
): TrainRequest {
  const s = resolveTrainSettings(request);
  const seed = BigInt(request.seed);
  return {
    model: request.model,
    ...(request.images !== undefined ? { images: request.images } : {}),
    ...(run.items !== undefined ? { items: run.items } : {}),
    out: run.out,
    rank: s.rank,
    alpha: s.alpha,
    steps: s.steps,
    batch: s.batch,
    lr: s.lr,
    optimizer: s.optimizer,
    weightDecay: s.weightDecay,
    maxGradNorm: s.maxGradNorm,
    seed,
    resolution: s.resolution,
    shuffle: s.shuffle,
    initLora: request.initLora,
    repeats: s.repeats,
    flip: s.flip,
    captionDropout: s.captionDropout,
    trigger: s.trigger,
    noiseOffset: s.noiseOffset,
    minSnrGamma: s.minSnrGamma,
    lrSchedule: s.lrSchedule,
    warmupSteps: s.warmupSteps,
    buckets: s.buckets,
    cacheDir: run.cacheDir,
    checkpointDir: run.runDir,
    saveEvery: s.saveEvery,
    resume: run.resume,
    sampleEvery: s.sampleEvery,
    samplePrompts: s.samplePrompts,
    // Samples use one fixed seed per run, so the grid shows the LoRA changing, not the noise.
    sampleSeed: seed,
    sampleSteps: s.sampleSteps,
    textEncoder: s.textEncoder,
    textEncoderLr: s.textEncoderLr,
    convRank: s.convRank,
    convAlpha: s.convAlpha,
    savePrecision: s.savePrecision,
    gradientCheckpointing: s.gradientCheckpointing,
    baseWeights: 'auto',
  };
}

export function createTrainJobHandler(
  engine: () => EngineClient,
  library: Library,
  dirs: TrainDirs,
): JobHandler<TrainJobParams, TrainJobResult> {
  return {
    kind: TRAIN_JOB_KIND,
    lane: 'gpu',
    params: TrainJobParams,
    title: ({ request }) =>
      `Train LoRA ${request.out ? path.basename(request.out) : `on "${request.dataset ?? path.basename(request.images ?? '')}"`}`,
    run: async (ctx, { request }) => {
      const { out, runDir } = trainRunPaths(request, ctx.jobId, dirs);
      await mkdir(path.dirname(out), { recursive: true });
      await mkdir(runDir, { recursive: true });
      const items = request.dataset !== undefined ? datasetTrainItems(library, request.dataset) : undefined;
      const saved = TrainJobCheckpoint.safeParse(ctx.checkpoint);
      const artifacts = new ArtifactLog(saved.success ? saved.data.artifacts : undefined);
      // Resumed after a pause, or re-queued after its runner died: continue from the newest checkpoint.
      const resume = request.resume === true || saved.success || ctx.attempt > 1;
      const engineRequest = toEngineTrainRequest(request, {
        out,
        runDir,
        cacheDir: path.join(dirs.cache, 'training'),
        ...(items ? { items } : {}),
        resume,
      });
      const reporter = new TrainProgressReporter(engineRequest.steps, artifacts, {
        progress: (update) => ctx.progress(update),
        saveArtifacts: (list) => ctx.saveCheckpoint({ artifacts: list }),
      });
      const result = await engine().train(engineRequest, {
        signal: ctx.signal,
        onEvent: (event) => reporter.onEvent(event),
      });
      const { checkpoints, samples, bestStep, ...rest } = result;
      return { ...rest, artifacts: artifacts.merge(checkpoints, samples, bestStep) };
    },
  };
}
