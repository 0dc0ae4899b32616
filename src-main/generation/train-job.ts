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
import { TrainProgressReporter, type TrainStepRecord } from './train-progress';
import type { ModelConverter } from './library-source';
import { trainModelFolder } from './train-model';
import { keepTrainedLora, type TrainedLora, type TrainedLoraKeeper } from './train-output';

export const TRAIN_JOB_KIND = 'train';

/**
 * A stored train job: the request with its seed fixed, so a re-run is exact. `continues`: the run this
 * job carries on after it was cancelled (its run folder, output and artifacts so far; `train.resume`).
 */
export const TrainJobParams = z.object({
  request: TrainParams.and(z.object({ seed: Seed })),
  continues: z.object({ jobId: z.string().min(1), artifacts: TrainArtifacts }).optional(),
});
export type TrainJobParams = z.infer<typeof TrainJobParams>;
type StoredRequest = TrainJobParams['request'];

/** What a paused or interrupted run keeps in its job checkpoint to carry on. */
const TrainJobCheckpoint = z.object({ artifacts: TrainArtifacts });

/**
 * The job's result: the engine's, with every checkpoint and sample of the run and the library model the
 * LoRA became (`file` is that model's file for a Train-page run, the `--out` file otherwise).
 */
export type TrainJobResult = Omit<TrainResult, 'checkpoints' | 'samples' | 'bestStep'> & {
  artifacts: TrainArtifacts;
  lora: TrainedLora | null;
  libraryError?: string;
  /** Every step this job ran, with all its metrics (what a client that missed progress events reads). */
  stepLog: TrainStepRecord[];
};

/** The run a job belongs to: its own, or the cancelled one it continues (whose folder and output it uses). */
export function trainRunId(params: Pick<TrainJobParams, 'continues'>, jobId: string): string {
  return params.continues?.jobId ?? jobId;
}

/** Data-home folders a training run writes to. */
export type TrainDirs = { loras: string; training: string; cache: string };

/**
 * Where a run writes. The LoRA: `out`, else `<data home>/loras/<dataset>-<job id>.safetensors` (moved
 * into the models library when the run ends, see train-output.ts). Checkpoints and samples: next to an explicit
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
  // A single-file checkpoint → its cached model folder (folders pass through); converted in the job, with progress.
  convert: ModelConverter = (model) => Promise.resolve(model),
  // The finished LoRA into the models library (absent: not kept there).
  keep?: TrainedLoraKeeper,
): JobHandler<TrainJobParams, TrainJobResult> {
  return {
    kind: TRAIN_JOB_KIND,
    lane: 'gpu',
    params: TrainJobParams,
    title: ({ request }) =>
      `Train LoRA ${request.out ? path.basename(request.out) : `on "${request.dataset ?? path.basename(request.images ?? '')}"`}`,
    run: async (ctx, { request, continues }) => {
      const { out, runDir } = trainRunPaths(request, trainRunId({ continues }, ctx.jobId), dirs);
      await mkdir(path.dirname(out), { recursive: true });
      await mkdir(runDir, { recursive: true });
      const items = request.dataset !== undefined ? datasetTrainItems(library, request.dataset) : undefined;
      const saved = TrainJobCheckpoint.safeParse(ctx.checkpoint);
      const artifacts = new ArtifactLog(saved.success ? saved.data.artifacts : continues?.artifacts);
      // Resumed after a pause or a cancel, or re-queued after its runner died: continue from the newest checkpoint.
      const resume = request.resume === true || saved.success || ctx.attempt > 1 || continues !== undefined;
      const model = await trainModelFolder(request.model, convert, ctx, resolveTrainSettings(request).steps);
      const engineRequest = {
        ...toEngineTrainRequest(
          { ...request, model },
          {
            out,
            runDir,
            cacheDir: path.join(dirs.cache, 'training'),
            ...(items ? { items } : {}),
            resume,
          },
        ),
        // The LoRA's ss_sd_model_* name the checkpoint file the user chose, not its converted folder.
        ...(model !== request.model ? { baseModelFile: request.model } : {}),
      };
      const reporter = new TrainProgressReporter(engineRequest.steps, artifacts, {
        progress: (update) => ctx.progress(update),
        saveArtifacts: (list) => ctx.saveCheckpoint({ artifacts: list }),
      });
      const result = await engine().train(engineRequest, {
        signal: ctx.signal,
        onEvent: (event) => reporter.onEvent(event),
      });
      const { checkpoints, samples, bestStep, ...rest } = result;
      const own = request.out === undefined;
      const kept = keep ? await keepTrainedLora(keep, request, result.file, out, own) : { lora: null };
      return {
        ...rest,
        // A Train-page run's file moved into the library: the result names where it is now.
        file: own && kept.lora ? kept.lora.file : rest.file,
        ...kept,
        artifacts: artifacts.merge(checkpoints, samples, bestStep),
        stepLog: reporter.stepLog(),
      };
    },
  };
}
