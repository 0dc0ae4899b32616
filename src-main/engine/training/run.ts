/**
 * One LoRA training run from a request, as the engine process runs it: the dataset encoded once
 * (through the cache, `caching` events), the LoRA read (`initLora`, its rank and alpha) or created fresh
 * on kohya's default UNet targets, the loop (`trainLora`) with checkpoints, validation and samples, and a
 * kohya-format file written at the end (`savePrecision` tensors, 0-d F32 alphas, `ss_*` metadata).
 *
 * Random draws, all from one torch-compatible generator seeded with `seed`: a fresh LoRA is created
 * first (per target module in build order: the two default-init draws, then kaiming-uniform for
 * `lora_down`), then per step what step-batch.ts and batch-order.ts list. With `initLora` nothing is
 * drawn before the loop. A resumed run restores the generator, the batch order, the optimizer and the
 * LoRA from the newest checkpoint, so it ends with the LoRA an uninterrupted run gives.
 */
import { access, mkdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { CanceledError, PinholeError } from '../../../src-shared/errors';
import {
  createLora,
  loraRank,
  readKohyaLora,
  textEncoderLoraTargets,
  unetLoraTargets,
  writeKohyaLora,
  type LoraWeights,
} from '../lora';
import { safetensorsWeights, type ClipTextConfig, type UNetConfig } from '../models';
import { TorchGenerator } from '../random';
import { createOrtBackend } from '../runtime/ort-backend';
import { selectExecutionProvider } from '../runtime/providers';
import { SafetensorsFile } from '../weights';
import { baseModelFileOf, baseModelHashes } from './base-model-hash';
import { settingsFingerprint } from './checkpoint';
import { prepareTrainingData, type TrainingData } from './data';
import { createLrSchedule } from './lr-schedule';
import { RunCheckpoints } from './run-checkpoints';
import { trainingMetadata } from './run-metadata';
import { createTrainingSampler } from './sampling';
import type { RunTrainingOptions, TrainEvent, TrainRequest, TrainResult } from './train-api';
import { trainLora } from './trainer';
import { type TrainedTextEncoder } from './training-graph';
import { validateTrainRequest } from './validate-request';

export type {
  RunTrainingOptions,
  TrainCheckpoint,
  TrainEvent,
  TrainItem,
  TrainRequest,
  TrainResult,
  TrainSample,
} from './train-api';

/** Denoising steps of a sample image when the request names none (A1111's default). */
const DEFAULT_SAMPLE_STEPS = 20;

const SAVE_DTYPE = { fp32: 'float32', fp16: 'float16', bf16: 'bfloat16' } as const;

/**
 * The model's UNet config, after checking that the folder has the diffusers-layout weights training
 * reads (an ONNX-only folder can generate but not train).
 * @throws PinholeError `NOT_FOUND` naming the first missing file.
 */
async function readUnetConfig(model: string): Promise<UNetConfig> {
  const needed = [
    'unet/config.json',
    'unet/diffusion_pytorch_model.safetensors',
    'vae/config.json',
    'vae/diffusion_pytorch_model.safetensors',
    'text_encoder/config.json',
    'text_encoder/model.safetensors',
    'scheduler/scheduler_config.json',
  ];
  for (const file of needed) {
    await access(path.join(model, file)).catch((error: unknown) => {
      throw new PinholeError(
        'NOT_FOUND',
        `${model}: training needs the model's diffusers-layout weights, and ${file} is missing`,
        { cause: error },
      );
    });
  }
  return JSON.parse(await readFile(path.join(model, 'unet/config.json'), 'utf8')) as UNetConfig;
}

/** SD 1.x, 2.x (cross-attention 1024) or XL (added text/time conditioning), for metadata. */
function familyOf(config: UNetConfig): 'sd1' | 'sd2' | 'sdxl' {
  if (config.addition_embed_type === 'text_time') return 'sdxl';
  return config.cross_attention_dim === 1024 ? 'sd2' : 'sd1';
}

/** The text encoders a run trains: `te` (SD 1.x/2.x) or SDXL's `te1` and `te2`, weights opened. */
async function openTextEncoders(
  model: string,
  sdxl: boolean,
): Promise<{ encoders: TrainedTextEncoder[]; close: () => Promise<void> }> {
  const parts: [TrainedTextEncoder['part'], string][] = sdxl
    ? [
        ['te1', 'text_encoder'],
        ['te2', 'text_encoder_2'],
      ]
    : [['te', 'text_encoder']];
  const files: SafetensorsFile[] = [];
  const close = async () => {
    for (const f of files) await f.close();
  };
  try {
    const encoders: TrainedTextEncoder[] = [];
    for (const [part, folder] of parts) {
      const config = JSON.parse(await readFile(path.join(model, folder, 'config.json'), 'utf8')) as ClipTextConfig;
      const file = await SafetensorsFile.open(path.join(model, folder, 'model.safetensors'));
      files.push(file);
      encoders.push({ part, config, weights: safetensorsWeights(file) });
    }
    return { encoders, close };
  } catch (error) {
    await close();
    throw error;
  }
}

/**
 * `initLora` as it is, or a fresh LoRA: kohya creates the text-encoder modules first, then the UNet's
 * (with `convRank`, also its 3×3 Conv / ResNet targets, LoCon), and so do we (the draw order).
 */
async function initialLora(
  request: TrainRequest,
  config: UNetConfig,
  encoders: readonly TrainedTextEncoder[],
  g: TorchGenerator,
): Promise<LoraWeights> {
  if (request.initLora !== undefined) {
    const lora = await readKohyaLora(request.initLora);
    lora.metadata = {};
    return lora;
  }
  const file = await SafetensorsFile.open(path.join(request.model, 'unet/diffusion_pytorch_model.safetensors'));
  try {
    const targets = [
      ...encoders.flatMap((te) => textEncoderLoraTargets(te.config, te.weights, te.part)),
      ...unetLoraTargets(config, safetensorsWeights(file), { conv3x3: request.convRank !== undefined }),
    ];
    return createLora(targets, {
      rank: request.rank,
      alpha: request.alpha,
      ...(request.convRank !== undefined ? { convRank: request.convRank } : {}),
      ...(request.convAlpha !== undefined ? { convAlpha: request.convAlpha } : {}),
      generator: g,
    });
  } finally {
    await file.close();
  }
}

export async function runTraining(request: TrainRequest, options: RunTrainingOptions = {}): Promise<TrainResult> {
  const started = performance.now();
  validateTrainRequest(request);
  const config = await readUnetConfig(request.model);
  const family = familyOf(config);
  const g = new TorchGenerator(request.seed);
  const textEncoders = request.textEncoder ? await openTextEncoders(request.model, family === 'sdxl') : undefined;
  try {
    return await trainOpened(request, options, { config, family, g, encoders: textEncoders?.encoders ?? [], started });
  } finally {
    await textEncoders?.close();
  }
}

type Opened = {
  config: UNetConfig;
  family: 'sd1' | 'sd2' | 'sdxl';
  g: TorchGenerator;
  encoders: TrainedTextEncoder[];
  started: number;
};

async function trainOpened(request: TrainRequest, options: RunTrainingOptions, opened: Opened): Promise<TrainResult> {
  const { config, family, g, encoders, started } = opened;
  const backend = options.backend ?? createOrtBackend();
  const emit = (event: TrainEvent) => options.onEvent?.(event);
  const lora = await initialLora(request, config, encoders, g);
  if (options.signal?.aborted) throw new CanceledError('Training canceled');

  const cachingStart = performance.now();
  const data: TrainingData = await prepareTrainingData({
    modelDir: request.model,
    images: request.items ?? request.images!,
    resolution: request.resolution,
    buckets: request.buckets,
    flip: request.flip,
    trigger: request.trigger,
    captionDropout: request.captionDropout > 0,
    sdxl: family === 'sdxl',
    tokens: request.textEncoder,
    cacheDir: request.cacheDir,
    backend,
    signal: options.signal,
    onProgress: (done, total) => emit({ kind: 'caching', done, total }),
  });
  const cachingMs = performance.now() - cachingStart;

  // Hashed once per run (cached across runs): every checkpoint and the final file name the same base model.
  // A base file gone since its conversion leaves the hashes out (kohya writes "NOFILE"); it does not stop training.
  const baseModel = await baseModelHashes(
    baseModelFileOf(request.model, request.baseModelFile),
    request.cacheDir,
  ).catch(() => undefined);
  const metadata = (steps: number) => trainingMetadata(lora, request, data.examples, steps, family, baseModel);
  const dtype = SAVE_DTYPE[request.savePrecision];
  const checkpointDir = request.checkpointDir;
  const run = new RunCheckpoints(checkpointDir, lora, {
    settings: settingsFingerprint(request),
    metadata,
    dtype,
    emit,
  });
  let resumedFrom: number | undefined;

  // The user's GPU, chosen as generation chooses it (PINHOLE_EP forces one; a software WebGPU
  // adapter is skipped): the trainer and its sample images run there, never on the CPU by default.
  const { provider } = await selectExecutionProvider(backend);
  const sampler =
    request.sampleEvery !== undefined && request.sampleEvery > 0 && (request.samplePrompts ?? []).length > 0
      ? await createTrainingSampler({
          modelDir: request.model,
          prompts: request.samplePrompts!,
          seed: request.sampleSeed ?? request.seed,
          steps: request.sampleSteps ?? DEFAULT_SAMPLE_STEPS,
          width: request.resolution,
          height: request.resolution,
          outDir: checkpointDir !== undefined ? path.join(checkpointDir, 'samples') : `${request.out}.samples`,
          backend,
          provider,
          lora,
        })
      : undefined;

  const loopStart = performance.now();
  let stepsRun = 0;
  let stepMs = 0;
  try {
    await trainLora({
      modelDir: request.model,
      lora,
      optimizer: request.optimizer,
      lr: request.lr,
      weightDecay: request.weightDecay,
      steps: request.steps,
      batch: request.batch,
      seed: request.seed,
      resolution: request.resolution,
      maxGradNorm: request.maxGradNorm,
      schedule: createLrSchedule({
        kind: request.lrSchedule,
        lr: request.lr,
        warmupSteps: request.warmupSteps,
        totalSteps: request.steps,
      }),
      shuffle: request.shuffle,
      repeats: request.repeats,
      buckets: request.buckets,
      features: {
        flip: request.flip,
        captionDropout: request.captionDropout,
        noiseOffset: request.noiseOffset,
        minSnrGamma: request.minSnrGamma,
      },
      validation: checkpointDir !== undefined,
      graph: {
        ...(encoders.length > 0 ? { textEncoders: encoders } : {}),
        provider,
        baseWeights: request.baseWeights,
        gradientCheckpointing: request.gradientCheckpointing,
      },
      ...(request.textEncoder && request.textEncoderLr !== undefined
        ? {
            textEncoderSchedule: createLrSchedule({
              kind: request.lrSchedule,
              lr: request.textEncoderLr,
              warmupSteps: request.warmupSteps,
              totalSteps: request.steps,
            }),
          }
        : {}),
      signal: options.signal,
      generator: g,
      backend,
      data,
      onReady: async (loop) => {
        if (request.resume === true) resumedFrom = await run.resume(loop);
        return resumedFrom;
      },
      onStep: (step, loss, info) => {
        stepsRun++;
        stepMs += info.ms;
        run.history.losses.push(loss);
        run.history.lrs.push(info.lr);
        emit({
          kind: 'step',
          step: step + 1,
          totalSteps: request.steps,
          loss,
          lr: info.lr,
          gradNorm: info.gradNorm,
          elapsedMs: performance.now() - loopStart,
        });
      },
      afterStep: async (done, loop) => {
        const every = request.saveEvery ?? 0;
        if (every > 0 && (done % every === 0 || done === request.steps)) await run.save(done, loop, true);
        if (sampler && done % request.sampleEvery! === 0) {
          await loop.syncToHost();
          for (const s of await sampler.sample(lora, done)) {
            const sample = { step: done, index: s.index, prompt: s.prompt, file: s.file };
            run.history.samples.push(sample);
            emit({ kind: 'sample', ...sample });
          }
        }
      },
      // A cancel keeps the last completed step (pause = cancel + resume); no validation, to stop quickly.
      onCancel: (done, loop) => run.save(done, loop, false),
    });
  } finally {
    await sampler?.release();
  }

  const first = lora.modules.values().next().value;
  if (!first) throw new PinholeError('INVALID_PARAMS', 'the LoRA has no modules');
  // Written beside the target, then renamed (writeSafetensors): a failed write leaves no partial file.
  await mkdir(path.dirname(path.resolve(request.out)), { recursive: true });
  await writeKohyaLora(request.out, lora, metadata(request.steps), dtype);
  const best = run.best();
  const { losses, lrs, checkpoints, samples } = run.history;
  return {
    file: request.out,
    steps: losses.length,
    losses,
    lrs,
    rank: loraRank(first),
    alpha: first.alpha,
    modules: lora.modules.size,
    datasetSize: data.examples.length,
    timings: { totalMs: performance.now() - started, msPerStep: stepMs / Math.max(1, stepsRun), cachingMs },
    checkpoints,
    ...(best ? { bestStep: best.step } : {}),
    samples,
    ...(resumedFrom !== undefined ? { resumedFrom } : {}),
  };
}
