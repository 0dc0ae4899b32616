/**
 * The training request, its events and its result: what the engine process takes and gives back for
 * one LoRA training run (the job, the CLI and the Train page are built on exactly these names).
 */
import type { InferenceBackend } from '../runtime';

export type TrainItem = { file: string; caption: string };

export type TrainRequest = {
  /** Diffusers-layout model folder. */
  model: string;
  /**
   * The single-file checkpoint `model` was converted from: its name and hashes go in the LoRA's
   * `ss_sd_model_*` metadata (absent: the folder's name and its UNet weights' hashes).
   */
  baseModelFile?: string | undefined;
  /** Images with same-name `.txt` captions, in file-name order (give this or `items`). */
  images?: string | undefined;
  /** An explicit list of images and captions, in this order (a library dataset resolved by the job). */
  items?: TrainItem[] | undefined;
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
  /** Each image counts this many times per pass over the dataset (kohya's `num_repeats`). */
  repeats: number;
  /** Mirror each sample horizontally with probability ½ (one draw per sample). */
  flip: boolean;
  /** Probability that a sample trains with the empty caption. */
  captionDropout: number;
  /** Prepended to every caption (`trigger, caption`). */
  trigger?: string | undefined;
  /** kohya's noise offset: `noise += noiseOffset · randn(B, C, 1, 1)`; 0: off. */
  noiseOffset: number;
  /** Min-SNR-γ loss weighting (Hang et al. 2023, as kohya applies it); absent: off. */
  minSnrGamma?: number | undefined;
  lrSchedule: 'constant' | 'cosine';
  /** Linear warm-up steps in front of the schedule. */
  warmupSteps: number;
  /** kohya aspect-ratio buckets; off: every image resized to resolution × resolution. */
  buckets: boolean;
  /** Latent and text-embedding cache folder (in the data home); absent: nothing cached. */
  cacheDir?: string | undefined;
  /** Where checkpoints go; needed for `saveEvery`, `resume` and a checkpoint on cancel. */
  checkpointDir?: string | undefined;
  /** A checkpoint every N steps (and at the last); absent or 0: only on cancel. */
  saveEvery?: number | undefined;
  /** Continue from the newest checkpoint in `checkpointDir` (a fresh start when there is none). */
  resume?: boolean | undefined;
  /** Sample images every N steps (PNGs in `<checkpointDir>/samples`, else `<out>.samples`). */
  sampleEvery?: number | undefined;
  samplePrompts?: string[] | undefined;
  /** Prompt i uses seed + i (default: the run's seed). */
  sampleSeed?: bigint | undefined;
  /** Denoising steps per sample (default 20). */
  sampleSteps?: number | undefined;
  /** Also train the text encoder(s) (the graph side: training-graph.ts). */
  textEncoder: boolean;
  textEncoderLr?: number | undefined;
  /** LoCon: 3×3 Conv LoRA in ResNet blocks with this rank. */
  convRank?: number | undefined;
  convAlpha?: number | undefined;
  /** dtype of the written LoRA tensors (alphas stay F32, as kohya). */
  savePrecision: 'fp32' | 'fp16' | 'bf16';
  gradientCheckpointing: boolean;
  baseWeights: 'auto' | 'float32' | 'float16';
};

export type TrainEvent =
  | { kind: 'caching'; done: number; total: number }
  | {
      kind: 'step';
      /** Optimizer steps done (1 … totalSteps). */
      step: number;
      totalSteps: number;
      loss: number;
      lr: number;
      /** The global gradient norm before clipping. */
      gradNorm: number;
      elapsedMs: number;
    }
  | { kind: 'sample'; step: number; index: number; prompt: string; file: string }
  | { kind: 'checkpoint'; step: number; file: string; validationLoss?: number };

export type TrainCheckpoint = { step: number; file: string; validationLoss?: number };
export type TrainSample = { step: number; index: number; prompt: string; file: string };

export type RunTrainingOptions = {
  /** Aborting stops within one step; with `checkpointDir` the last completed step is saved first. */
  signal?: AbortSignal | undefined;
  onEvent?: ((event: TrainEvent) => void) | undefined;
  backend?: InferenceBackend | undefined;
};

export type TrainResult = {
  file: string;
  /** Steps done, resumed ones included. */
  steps: number;
  /** Per-step losses and learning rates from step 1 (a resumed run includes the checkpoint's). */
  losses: number[];
  lrs: number[];
  rank: number;
  alpha: number;
  modules: number;
  /** Images in the dataset (before repeats). */
  datasetSize: number;
  /**
   * msPerStep: mean forward + backward + update of this run's steps (graph builds, checkpoints and
   * samples excluded); cachingMs: encoding the dataset (or reading it from the cache).
   */
  timings: { totalMs: number; msPerStep: number; cachingMs: number };
  checkpoints: TrainCheckpoint[];
  /** The checkpoint step with the lowest validation loss. */
  bestStep?: number;
  samples: TrainSample[];
  /** The step this run resumed from (absent: a fresh start). */
  resumedFrom?: number;
};
