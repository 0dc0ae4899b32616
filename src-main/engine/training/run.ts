/**
 * One LoRA training run from a request, as the engine process runs it: the dataset encoded once,
 * the LoRA read (`initLora`, its rank and alpha) or created fresh on kohya's default UNet targets,
 * the loop (`trainLora`), and a kohya-format file written at the end (F32 tensors, 0-d F32 alphas,
 * `ss_*` metadata).
 *
 * Random draws, all from one torch-compatible generator seeded with `seed`: a fresh LoRA is created
 * first (per target module in build order: the two default-init draws, then kaiming-uniform for
 * `lora_down`), then per step: the shuffle permutation when a pass over the images begins (with
 * shuffling on), `randn` noise, `randint` timesteps. With `initLora` nothing is drawn before the loop.
 */
import { readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { CanceledError, PinholeError } from '../../../src-shared/errors';
import { createLora, kohyaMetadata, loraRank, readKohyaLora, unetLoraTargets, writeKohyaLora } from '../lora';
import { safetensorsWeights, type UNetConfig } from '../models';
import { TorchGenerator } from '../random';
import { createOrtBackend } from '../runtime/ort-backend';
import { type InferenceBackend } from '../runtime';
import { SafetensorsFile } from '../weights';
import { constantSchedule } from './clip';
import { prepareTrainingData } from './data';
import { trainLora } from './trainer';

export type TrainRequest = {
  /** Diffusers-layout model folder. */
  model: string;
  /** Images with same-name `.txt` captions. */
  images: string;
  /** The `.safetensors` file to write. */
  out: string;
  /** Fresh LoRA rank (ignored with `initLora`). */
  rank: number;
  /** Fresh LoRA alpha (default: the rank; ignored with `initLora`). */
  alpha?: number | undefined;
  steps: number;
  batch: number;
  lr: number;
  optimizer: 'sgd' | 'adamw';
  weightDecay: number;
  /** Gradient clipping by global norm; 0: off. */
  maxGradNorm: number;
  seed: bigint;
  resolution: number;
  shuffle: boolean;
  /** Start from this kohya LoRA (its modules, rank and alpha). */
  initLora?: string | undefined;
};

export type TrainProgress = {
  /** Optimizer steps done (1 … totalSteps). */
  step: number;
  totalSteps: number;
  loss: number;
  lr: number;
  /** The global gradient norm before clipping. */
  gradNorm: number;
  elapsedMs: number;
};

export type TrainResult = {
  file: string;
  steps: number;
  losses: number[];
  lrs: number[];
  rank: number;
  alpha: number;
  modules: number;
  datasetSize: number;
  timings: { totalMs: number; msPerStep: number };
};

export type RunTrainingOptions = {
  signal?: AbortSignal | undefined;
  onProgress?: ((progress: TrainProgress) => void) | undefined;
  backend?: InferenceBackend | undefined;
};

export async function runTraining(request: TrainRequest, options: RunTrainingOptions = {}): Promise<TrainResult> {
  const started = performance.now();
  const backend = options.backend ?? createOrtBackend();
  if (!Number.isInteger(request.steps) || request.steps < 1) {
    throw new PinholeError('INVALID_PARAMS', `steps must be a positive integer, not ${request.steps}`);
  }
  if (request.resolution % 8 !== 0) {
    throw new PinholeError('INVALID_PARAMS', `resolution must be a multiple of 8, not ${request.resolution}`);
  }
  const g = new TorchGenerator(request.seed);
  let lora;
  if (request.initLora !== undefined) {
    lora = await readKohyaLora(request.initLora);
    lora.metadata = {};
  } else {
    const unetDir = path.join(request.model, 'unet');
    const config = JSON.parse(await readFile(path.join(unetDir, 'config.json'), 'utf8')) as UNetConfig;
    const file = await SafetensorsFile.open(path.join(unetDir, 'diffusion_pytorch_model.safetensors'));
    try {
      lora = createLora(unetLoraTargets(config, safetensorsWeights(file)), {
        rank: request.rank,
        alpha: request.alpha,
        generator: g,
      });
    } finally {
      await file.close();
    }
  }
  if (options.signal?.aborted) throw new CanceledError('Training canceled');
  const data = await prepareTrainingData(request.model, request.images, request.resolution, backend);
  const lrs: number[] = [];
  const loopStart = performance.now();
  const losses = await trainLora({
    modelDir: request.model,
    imagesDir: request.images,
    lora,
    optimizer: request.optimizer,
    lr: request.lr,
    weightDecay: request.weightDecay,
    steps: request.steps,
    batch: request.batch,
    seed: request.seed,
    resolution: request.resolution,
    maxGradNorm: request.maxGradNorm,
    schedule: constantSchedule(request.lr),
    shuffle: request.shuffle,
    signal: options.signal,
    generator: g,
    backend,
    data,
    onStep: (step, loss, info) => {
      lrs.push(info.lr);
      options.onProgress?.({
        step: step + 1,
        totalSteps: request.steps,
        loss,
        lr: info.lr,
        gradNorm: info.gradNorm,
        elapsedMs: performance.now() - loopStart,
      });
    },
  });
  const loopMs = performance.now() - loopStart;
  const first = lora.modules.values().next().value;
  if (!first) throw new PinholeError('INVALID_PARAMS', 'the LoRA has no modules');
  const metadata = kohyaMetadata(lora, {
    baseModelName: path.basename(path.resolve(request.model)),
    resolution: request.resolution,
    steps: request.steps,
    datasetSize: data.examples.length,
    extra: {
      ss_learning_rate: String(request.lr),
      ss_unet_lr: String(request.lr),
      ss_lr_scheduler: 'constant',
      ss_optimizer: request.optimizer === 'sgd' ? 'torch.optim.SGD' : 'torch.optim.AdamW',
      ss_max_grad_norm: String(request.maxGradNorm),
      ss_seed: request.seed.toString(),
      ss_total_batch_size: String(request.batch),
      ss_batch_size_per_device: String(request.batch),
      ss_network_train_unet_only: 'True',
      ss_shuffle: request.shuffle ? 'True' : 'False',
      ...(request.initLora !== undefined ? { ss_init_lora: path.basename(request.initLora) } : {}),
    },
  });
  // Written beside the target, then renamed: a cancelled or failed write leaves no partial file.
  const tmp = `${request.out}.${process.pid}.tmp`;
  try {
    await writeKohyaLora(tmp, lora, metadata);
    await rename(tmp, request.out);
  } catch (error) {
    await rm(tmp, { force: true });
    throw error;
  }
  const totalMs = performance.now() - started;
  return {
    file: request.out,
    steps: losses.length,
    losses,
    lrs,
    rank: loraRank(first),
    alpha: first.alpha,
    modules: lora.modules.size,
    datasetSize: data.examples.length,
    timings: { totalMs, msPerStep: loopMs / Math.max(1, losses.length) },
  };
}
