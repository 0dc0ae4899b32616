/**
 * The reference training loop of the fixtures' README over a `LoraTrainer`: one torch-compatible
 * generator, per step `randn` noise then `randint` timesteps, images in file-name order (or shuffled).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { CanceledError, PinholeError } from '../../../src-shared/errors';
import { safetensorsWeights, type UNetConfig } from '../models';
import { TorchGenerator } from '../random';
import { createOrtBackend } from '../runtime/ort-backend';
import { type InferenceBackend } from '../runtime';
import { alphaCumprodAddNoise } from '../schedulers/add-noise';
import { vpScales } from '../schedulers/prediction';
import { alphasCumprodFromConfig, type BetaConfig } from '../schedulers/schedule';
import { SafetensorsFile } from '../weights';
import { constantSchedule, type LrSchedule } from './clip';
import { prepareTrainingData, type TrainingData, type TrainingExample } from './data';
import { AdamW, Sgd } from './optimizers';
import { LoraTrainer, type StepBatch, type TrainingShape } from './training-graph';
import { type LoraWeights } from '../lora';

export type TrainOptions = {
  /** Diffusers-layout model folder (unet/, vae/, text_encoder/, tokenizer/, scheduler/). */
  modelDir: string;
  /** Images with same-name `.txt` captions. */
  imagesDir: string;
  /** The LoRA to train (updated in place). */
  lora: LoraWeights;
  optimizer: 'sgd' | 'adamw';
  lr: number;
  weightDecay?: number;
  steps: number;
  batch: number;
  seed: bigint;
  resolution: number;
  /** Gradient clipping by global norm; 0 or absent: off (the reference loop). */
  maxGradNorm?: number;
  /** The learning rate per 0-based step (default: constant `lr`). */
  schedule?: LrSchedule;
  /**
   * Shuffle the images: one permutation per pass over the dataset, drawn from the run's generator
   * right before the noise of the step that first uses it. Off (file-name order) by default.
   */
  shuffle?: boolean;
  /** Checked before every step: aborting stops the loop within one step (`CanceledError`). */
  signal?: AbortSignal;
  /** Called after every step (0-based) with its loss, learning rate and gradient norm before clipping. */
  onStep?: (step: number, loss: number, info: { lr: number; gradNorm: number }) => void;
  /** The run's generator (default: `new TorchGenerator(seed)`); a fresh LoRA may have drawn from it already. */
  generator?: TorchGenerator;
  backend?: InferenceBackend;
  /** Precomputed latents and conditioning (else computed from the model's VAE and text encoder). */
  data?: TrainingData;
};

/** Mixes the batch and draws noise and timesteps: one reference-loop step's inputs. */
export function referenceBatch(
  data: TrainingData,
  step: number,
  batch: number,
  g: TorchGenerator,
  alphasCumprod: Float32Array,
  prediction: 'epsilon' | 'v_prediction',
  /** The example for the i-th sample of the run (default: file-name order, cycling). */
  pick: (i: number) => TrainingExample = (i) => data.examples[i % data.examples.length]!,
): StepBatch {
  const picked = Array.from({ length: batch }, (_, j) => pick(step * batch + j));
  const per = data.latentDims.reduce((a, b) => a * b, 1);
  const perCond = data.condDims[0] * data.condDims[1];
  const noise = g.randn([batch, ...data.latentDims]);
  const timesteps = g.randint(0, alphasCumprod.length, batch);
  const sample = new Float32Array(batch * per);
  const target = new Float32Array(batch * per);
  const cond = new Float32Array(batch * perCond);
  picked.forEach((ex, j) => {
    const eps = noise.subarray(j * per, (j + 1) * per);
    const a = alphasCumprod[timesteps[j]!]!;
    sample.set(alphaCumprodAddNoise(ex.latents, eps, a), j * per);
    if (prediction === 'epsilon') target.set(eps, j * per);
    else {
      // DDPM get_velocity: √ᾱ·ε − √(1 − ᾱ)·x0.
      const { alpha, sigma } = vpScales(a);
      for (let i = 0; i < per; i++) {
        target[j * per + i] = Math.fround(Math.fround(alpha * eps[i]!) - Math.fround(sigma * ex.latents[i]!));
      }
    }
    cond.set(ex.cond, j * perCond);
  });
  return { sample, timesteps, cond, target, latentDims: data.latentDims, condDims: data.condDims };
}

type SchedulerConfig = BetaConfig & { prediction_type?: string };

/** Runs the reference loop; returns the per-step losses (the LoRA is updated in place). */
export async function trainLora(options: TrainOptions): Promise<number[]> {
  const backend = options.backend ?? createOrtBackend();
  const unetDir = path.join(options.modelDir, 'unet');
  const config = JSON.parse(await readFile(path.join(unetDir, 'config.json'), 'utf8')) as UNetConfig;
  const sched = JSON.parse(
    await readFile(path.join(options.modelDir, 'scheduler/scheduler_config.json'), 'utf8'),
  ) as SchedulerConfig;
  const prediction = sched.prediction_type === 'v_prediction' ? 'v_prediction' : 'epsilon';
  if (sched.prediction_type !== undefined && sched.prediction_type !== 'epsilon' && prediction === 'epsilon') {
    throw new PinholeError('INVALID_PARAMS', `training: prediction_type ${sched.prediction_type} is not supported`);
  }
  const alphasCumprod = alphasCumprodFromConfig('DDPMScheduler', sched, false);
  const data =
    options.data ?? (await prepareTrainingData(options.modelDir, options.imagesDir, options.resolution, backend));
  const optimizer =
    options.optimizer === 'sgd'
      ? new Sgd(options.lr)
      : new AdamW({ lr: options.lr, weightDecay: options.weightDecay ?? 0.01 });
  const file = await SafetensorsFile.open(path.join(unetDir, 'diffusion_pytorch_model.safetensors'));
  let trainer: LoraTrainer | undefined;
  try {
    const shape: TrainingShape = {
      batch: options.batch,
      height: data.latentDims[1],
      width: data.latentDims[2],
      sequence: data.condDims[0],
    };
    trainer = await LoraTrainer.create(config, safetensorsWeights(file), options.lora, optimizer, shape, backend);
    trainer.maxGradNorm = options.maxGradNorm ?? 0;
    const schedule = options.schedule ?? constantSchedule(options.lr);
    const g = options.generator ?? new TorchGenerator(options.seed);
    const order = new ShuffledOrder(data.examples, options.shuffle === true, g);
    const losses: number[] = [];
    for (let step = 0; step < options.steps; step++) {
      if (options.signal?.aborted) throw new CanceledError('Training canceled');
      optimizer.lr = schedule(step);
      order.prepare((step + 1) * options.batch - 1);
      const batch = referenceBatch(data, step, options.batch, g, alphasCumprod, prediction, (i) => order.at(i));
      const loss = await trainer.step(batch);
      losses.push(loss);
      options.onStep?.(step, loss, { lr: optimizer.lr, gradNorm: trainer.lastGradNorm });
    }
    return losses;
  } finally {
    await trainer?.release();
    await file.close();
  }
}

/**
 * The order samples are taken in: file-name order cycling, or with `shuffle` one permutation per
 * pass (Fisher–Yates from the end, `randint(0, i + 1)` per position), drawn when first needed.
 */
export class ShuffledOrder {
  private readonly epochs: number[][] = [];

  constructor(
    private readonly examples: readonly TrainingExample[],
    private readonly shuffle: boolean,
    private readonly g: TorchGenerator,
  ) {}

  /** Draws the permutations of every pass up to sample `last` (before that step's noise). */
  prepare(last: number): void {
    if (!this.shuffle) return;
    const n = this.examples.length;
    while (this.epochs.length <= Math.floor(last / n)) {
      const perm = Array.from({ length: n }, (_, i) => i);
      for (let i = n - 1; i > 0; i--) {
        const j = this.g.randint(0, i + 1, 1)[0]!;
        [perm[i], perm[j]] = [perm[j]!, perm[i]!];
      }
      this.epochs.push(perm);
    }
  }

  at(i: number): TrainingExample {
    const n = this.examples.length;
    if (!this.shuffle) return this.examples[i % n]!;
    this.prepare(i);
    return this.examples[this.epochs[Math.floor(i / n)]![i % n]!]!;
  }
}
