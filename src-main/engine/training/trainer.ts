/**
 * The training loop over `LoraTrainer`s: one torch-compatible generator for every draw (step-batch.ts
 * lists them in order), the batch order (batch-order.ts), the learning-rate schedule, and hooks for what
 * happens around steps (checkpoints, validation, samples; run.ts). With every feature off and no
 * shuffling this is the reference loop of the fixtures' README.
 *
 * One trainer (compiled training graph) per batch shape: with buckets, each bucket size, and a smaller
 * last batch of a bucket, gets its own; all share the LoRA and the optimizer. Only `maxLiveTrainers`
 * (default 1) stay loaded, the least recently used released first, since each holds the base model's
 * weights; the bucket order keeps a bucket's batches together so shapes change rarely.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { CanceledError, PinholeError } from '../../../src-shared/errors';
import { type LoraWeights } from '../lora';
import { safetensorsWeights, type UNetConfig } from '../models';
import { TorchGenerator } from '../random';
import { createOrtBackend } from '../runtime/ort-backend';
import { type InferenceBackend } from '../runtime';
import { alphasCumprodFromConfig, type BetaConfig } from '../schedulers/schedule';
import { SafetensorsFile } from '../weights';
import { BucketBatchOrder, SampleOrder, type BatchOrder } from './batch-order';
import { prepareTrainingData, type TrainingData, type TrainingExample } from './data';
import { constantSchedule, type LrSchedule } from './lr-schedule';
import { AdamW, Sgd, type Optimizer } from './optimizers';
import { drawStepBatch, type BatchFeatures } from './step-batch';
import { LoraTrainer, type LoraTrainerOptions, type StepBatch, type TrainingShape } from './training-graph';
import { ValidationSet } from './validation';

export type TrainOptions = {
  /** Diffusers-layout model folder (unet/, vae/, text_encoder/, tokenizer/, scheduler/). */
  modelDir: string;
  /** Images with same-name `.txt` captions (used when `data` is absent). */
  imagesDir?: string;
  /** The LoRA to train (updated in place). */
  lora: LoraWeights;
  optimizer: 'sgd' | 'adamw';
  lr: number;
  /** AdamW's decoupled decay (default 0.01) or SGD's L2 decay (default 0). */
  weightDecay?: number;
  steps: number;
  batch: number;
  seed: bigint;
  resolution: number;
  /** Gradient clipping by global norm; 0 or absent: off (the reference loop). */
  maxGradNorm?: number;
  /** The learning rate per 0-based step (default: constant `lr`). */
  schedule?: LrSchedule;
  /** Shuffle: one permutation per pass, drawn from the run's generator when first needed. */
  shuffle?: boolean;
  /** Each example this many times per pass (default 1). */
  repeats?: number;
  /** kohya bucket batches (see batch-order.ts); the data should have been prepared with buckets. */
  buckets?: boolean;
  /** Flip, caption dropout, noise offset, min-SNR-γ (step-batch.ts). */
  features?: Omit<BatchFeatures, 'sdxl'>;
  /** Training sessions kept loaded at once (one per batch shape; default 1). */
  maxLiveTrainers?: number;
  /** Also measure validation loss (`loop.validationLoss()`). */
  validation?: boolean;
  /** The training graph's options: text encoders trained, base-weight dtype, gradient checkpointing. */
  graph?: Omit<LoraTrainerOptions, 'textEncoderOptimizer'>;
  /** The text encoders' own learning rate per step (a second optimizer of the same kind); default: shared. */
  textEncoderSchedule?: LrSchedule;
  /** Checked before every step: aborting stops the loop within one step (`CanceledError`). */
  signal?: AbortSignal | undefined;
  /**
   * Called after every step (0-based) with its loss, learning rate, gradient norm before clipping, and
   * the milliseconds of its forward + backward + update (graph builds excluded).
   */
  onStep?: (step: number, loss: number, info: { lr: number; gradNorm: number; ms: number }) => void;
  /** After setup, before the first step: may restore state and return the step to start at (resume). */
  onReady?: (loop: TrainingLoop) => Promise<number | undefined>;
  /** After each step with the number of steps done (checkpoints, samples). */
  afterStep?: (done: number, loop: TrainingLoop) => Promise<void>;
  /** When an abort is seen, with the steps done, before `CanceledError` is thrown (a last checkpoint). */
  onCancel?: (done: number, loop: TrainingLoop) => Promise<void>;
  /** The run's generator (default: `new TorchGenerator(seed)`); a fresh LoRA may have drawn from it already. */
  generator?: TorchGenerator;
  backend?: InferenceBackend;
  /** Precomputed latents and conditioning (else computed from the model's VAE and text encoder). */
  data?: TrainingData;
};

/** What the hooks see of a running loop. */
export type TrainingLoop = {
  readonly lora: LoraWeights;
  readonly optimizer: Optimizer;
  /** Every optimizer: the UNet's (= `optimizer`), then the text encoders' own when they have one. */
  readonly optimizers: readonly Optimizer[];
  readonly order: BatchOrder;
  readonly generator: TorchGenerator;
  /** Mean validation loss of the LoRA now (with `validation`). */
  validationLoss(): Promise<number | undefined>;
  /**
   * Brings `lora` and the optimizers' moments in host memory up to date: where the provider keeps them on
   * the device between steps, the host arrays are stale until this runs. Hooks call it before reading them.
   */
  syncToHost(): Promise<void>;
};

type SchedulerConfig = BetaConfig & { prediction_type?: string };

/** The model's training noise schedule and prediction type. */
export async function readTrainingSchedule(
  modelDir: string,
): Promise<{ alphasCumprod: Float32Array; prediction: 'epsilon' | 'v_prediction' }> {
  const sched = JSON.parse(
    await readFile(path.join(modelDir, 'scheduler/scheduler_config.json'), 'utf8'),
  ) as SchedulerConfig;
  const type = sched.prediction_type ?? 'epsilon';
  if (type !== 'epsilon' && type !== 'v_prediction') {
    throw new PinholeError(
      'INVALID_PARAMS',
      `training: prediction_type ${type} is not supported (epsilon, v_prediction)`,
    );
  }
  return { alphasCumprod: alphasCumprodFromConfig('DDPMScheduler', sched, false), prediction: type };
}

/**
 * The reference loop's batch for `step` (file-name order or `pick`): noise then timesteps.
 * Kept for callers of the plain loop; `drawStepBatch` is the general form.
 */
export function referenceBatch(
  data: TrainingData,
  step: number,
  batch: number,
  g: TorchGenerator,
  alphasCumprod: Float32Array,
  prediction: 'epsilon' | 'v_prediction',
  pick: (i: number) => TrainingExample = (i) => data.examples[i % data.examples.length]!,
): StepBatch {
  const picked = Array.from({ length: batch }, (_, j) => pick(step * batch + j));
  return drawStepBatch(data, picked, g, alphasCumprod, prediction);
}

/** Runs the loop; returns the losses of the steps run by this call (the LoRA is updated in place). */
export async function trainLora(options: TrainOptions): Promise<number[]> {
  const backend = options.backend ?? createOrtBackend();
  const unetDir = path.join(options.modelDir, 'unet');
  const config = JSON.parse(await readFile(path.join(unetDir, 'config.json'), 'utf8')) as UNetConfig;
  const sdxl = config.addition_embed_type === 'text_time';
  const { alphasCumprod, prediction } = await readTrainingSchedule(options.modelDir);
  let data = options.data;
  if (!data) {
    if (options.imagesDir === undefined) throw new PinholeError('INVALID_PARAMS', 'training: no images given');
    data = await prepareTrainingData({
      modelDir: options.modelDir,
      images: options.imagesDir,
      resolution: options.resolution,
      sdxl,
      backend,
    });
  }
  const makeOptimizer = (lr: number): Optimizer =>
    options.optimizer === 'sgd'
      ? new Sgd(lr, options.weightDecay ?? 0)
      : new AdamW({ lr, weightDecay: options.weightDecay ?? 0.01 });
  const optimizer = makeOptimizer(options.lr);
  const teSchedule = options.textEncoderSchedule;
  const teOptimizer = teSchedule ? makeOptimizer(teSchedule(0)) : undefined;
  const g = options.generator ?? new TorchGenerator(options.seed);
  const repeats = options.repeats ?? 1;
  if (!Number.isInteger(repeats) || repeats < 1) {
    throw new PinholeError('INVALID_PARAMS', `repeats must be a positive integer, not ${repeats}`);
  }
  const order: BatchOrder =
    options.buckets === true
      ? new BucketBatchOrder(
          data.examples.map((e) => e.bucket),
          repeats,
          options.batch,
          options.shuffle === true,
          g,
        )
      : new SampleOrder(data.examples.length, repeats, options.batch, options.shuffle === true, g);
  const file = await SafetensorsFile.open(path.join(unetDir, 'diffusion_pytorch_model.safetensors'));
  const weights = safetensorsWeights(file);
  const trainers = new Map<string, LoraTrainer>();
  const validation =
    options.validation === true ? new ValidationSet(data, options.seed, alphasCumprod, prediction) : undefined;
  // The trainer that ran last: the one that may hold the LoRA's current state on the device.
  let current: LoraTrainer | undefined;
  const syncToHost = async () => current?.syncToHost();
  const loop: TrainingLoop = {
    lora: options.lora,
    optimizer,
    optimizers: teOptimizer ? [optimizer, teOptimizer] : [optimizer],
    order,
    generator: g,
    validationLoss: async () => {
      await syncToHost();
      return validation?.evaluate(config, weights, options.lora, backend);
    },
    syncToHost,
  };
  try {
    const trainerFor = async (batch: number, dims: readonly number[]): Promise<LoraTrainer> => {
      const key = `${batch}:${dims.join('x')}`;
      let trainer = trainers.get(key);
      // Another bucket's trainer feeds the host arrays: bring them up to date first.
      if (current && current !== trainer) await current.syncToHost();
      if (trainer) {
        // Most recently used last (Map keeps insertion order).
        trainers.delete(key);
        trainers.set(key, trainer);
      } else {
        const live = Math.max(1, options.maxLiveTrainers ?? 1);
        for (const [old, t] of [...trainers].slice(0, Math.max(0, trainers.size - live + 1))) {
          trainers.delete(old);
          await t.release();
        }
        const shape: TrainingShape = { batch, height: dims[1]!, width: dims[2]!, sequence: data.condDims[0] };
        trainer = await LoraTrainer.create(config, weights, options.lora, optimizer, shape, backend, {
          ...options.graph,
          ...(teOptimizer ? { textEncoderOptimizer: teOptimizer } : {}),
        });
        trainer.maxGradNorm = options.maxGradNorm ?? 0;
        trainers.set(key, trainer);
      }
      return trainer;
    };
    const schedule = options.schedule ?? constantSchedule(options.lr);
    const start = (await options.onReady?.(loop)) ?? 0;
    const losses: number[] = [];
    const features: BatchFeatures = { ...options.features, sdxl };
    for (let step = start; step < options.steps; step++) {
      if (options.signal?.aborted) {
        if (step > start) await options.onCancel?.(step, loop);
        throw new CanceledError('Training canceled');
      }
      optimizer.lr = schedule(step);
      if (teOptimizer) teOptimizer.lr = teSchedule!(step);
      order.prepare(step);
      const picked = order.batch(step).map((i) => data.examples[i]!);
      const batch = drawStepBatch(data, picked, g, alphasCumprod, prediction, features);
      const trainer = await trainerFor(picked.length, picked[0]!.latentDims);
      current = trainer;
      const stepStart = performance.now();
      const loss = await trainer.step(batch);
      const ms = performance.now() - stepStart;
      losses.push(loss);
      options.onStep?.(step, loss, { lr: optimizer.lr, gradNorm: trainer.lastGradNorm, ms });
      await options.afterStep?.(step + 1, loop);
    }
    await syncToHost();
    return losses;
  } finally {
    for (const t of trainers.values()) await t.release();
    await file.close();
  }
}
