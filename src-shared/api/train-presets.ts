/**
 * Training presets per model family and the one place where a `TrainParams` becomes complete
 * settings: explicit field › preset › `TRAIN_DEFAULTS`. The CLI, the train job and the Train page
 * all call `resolveTrainSettings`, so what the page shows is what runs.
 */
import { TRAIN_DEFAULTS, type TrainParams } from './schemas';

export type TrainPresetName = NonNullable<TrainParams['preset']>;

/** The fields a preset may set (data and optimisation options; never paths, seed or prompts). */
export type TrainPreset = {
  label: string;
  /** Why these values, shown as a hint on the Train page. */
  description: string;
  values: Required<
    Pick<
      TrainParams,
      | 'rank'
      | 'alpha'
      | 'lr'
      | 'steps'
      | 'batch'
      | 'resolution'
      | 'lrSchedule'
      | 'warmupSteps'
      | 'buckets'
      | 'repeats'
      | 'flip'
      | 'captionDropout'
      | 'noiseOffset'
      | 'minSnrGamma'
      | 'gradientCheckpointing'
      | 'saveEvery'
    >
  >;
};

/*
 * A personal LoRA on 10–30 real photos of one subject. Shared choices, and why:
 * - flip off: faces are not symmetric (hair parting, moles, a crooked smile); mirrored copies teach
 *   the model a face that is half someone else's. For products with text, a flip is just wrong.
 * - aspect-ratio buckets on: phone photos are 3:4 or 9:16; a square crop cuts off heads and feet.
 * - min-SNR γ = 5 (Hang et al. 2023): evens out the loss across timesteps, so the raw loss is less
 *   dominated by the noisiest steps and training converges in fewer steps.
 * - a small caption dropout (5 %) lets the trigger word carry the subject without captions.
 * - cosine decay after a short warm-up; alpha = rank / 2 (kohya's common choice: scale 0.5 keeps
 *   AdamW's first steps gentle at 1e-4).
 * - checkpoints every quarter of the run, so "use this one" can pick an earlier, less overfit one.
 */
export const TRAIN_PRESETS: Readonly<Record<TrainPresetName, TrainPreset>> = {
  sd1: {
    label: 'SD 1.x — personal LoRA',
    description: 'Rank 16 at 512 px, 1500 steps of AdamW 1e-4 with cosine decay; no flips (faces are not symmetric).',
    values: {
      rank: 16,
      alpha: 8,
      lr: 1e-4,
      steps: 1500,
      batch: 1,
      resolution: 512,
      lrSchedule: 'cosine',
      warmupSteps: 100,
      buckets: true,
      repeats: 1,
      flip: false,
      captionDropout: 0.05,
      noiseOffset: 0.05,
      minSnrGamma: 5,
      gradientCheckpointing: false,
      saveEvery: 375,
    },
  },
  // SD 2.x checkpoints people train on are mostly the 768-px v-prediction ones.
  sd2: {
    label: 'SD 2.x — personal LoRA',
    description: 'Rank 16 at 768 px, 1500 steps of AdamW 1e-4 with cosine decay; no flips.',
    values: {
      rank: 16,
      alpha: 8,
      lr: 1e-4,
      steps: 1500,
      batch: 1,
      resolution: 768,
      lrSchedule: 'cosine',
      warmupSteps: 100,
      buckets: true,
      repeats: 1,
      flip: false,
      captionDropout: 0.05,
      noiseOffset: 0.05,
      minSnrGamma: 5,
      gradientCheckpointing: true,
      saveEvery: 375,
    },
  },
  // SDXL: a wider UNet needs a higher rank for faces; 1024 px only fits 16 GB with recomputation.
  // Noise offset 0.0357 is the value SDXL base itself was trained with.
  sdxl: {
    label: 'SDXL — personal LoRA',
    description: 'Rank 32 at 1024 px, 2000 steps of AdamW 1e-4 with cosine decay, gradient checkpointing; no flips.',
    values: {
      rank: 32,
      alpha: 16,
      lr: 1e-4,
      steps: 2000,
      batch: 1,
      resolution: 1024,
      lrSchedule: 'cosine',
      warmupSteps: 100,
      buckets: true,
      repeats: 1,
      flip: false,
      captionDropout: 0.05,
      noiseOffset: 0.0357,
      minSnrGamma: 5,
      gradientCheckpointing: true,
      saveEvery: 500,
    },
  },
};

/** Every training setting decided: what the engine gets, apart from paths and the seed. */
export type TrainSettings = {
  rank: number;
  alpha: number | undefined;
  steps: number;
  batch: number;
  lr: number;
  optimizer: 'adamw' | 'sgd';
  weightDecay: number;
  lrSchedule: 'constant' | 'cosine';
  warmupSteps: number;
  maxGradNorm: number;
  resolution: number;
  buckets: boolean;
  shuffle: boolean;
  repeats: number;
  flip: boolean;
  captionDropout: number;
  trigger: string | undefined;
  noiseOffset: number;
  minSnrGamma: number | undefined;
  textEncoder: boolean;
  textEncoderLr: number | undefined;
  convRank: number | undefined;
  convAlpha: number | undefined;
  savePrecision: 'fp32' | 'fp16' | 'bf16';
  gradientCheckpointing: boolean;
  saveEvery: number;
  sampleEvery: number;
  samplePrompts: string[];
  sampleSteps: number;
};

/** Explicit field › preset › default, for every setting. */
export function resolveTrainSettings(params: Omit<TrainParams, 'model'>): TrainSettings {
  const preset: Partial<TrainPreset['values']> = params.preset ? TRAIN_PRESETS[params.preset].values : {};
  const D = TRAIN_DEFAULTS;
  const optimizer = params.optimizer ?? D.optimizer;
  return {
    rank: params.rank ?? preset.rank ?? D.rank,
    // A preset's alpha goes with its rank; with the rank overridden, alpha defaults to that rank.
    alpha: params.alpha ?? (params.rank === undefined ? preset.alpha : undefined),
    steps: params.steps ?? preset.steps ?? D.steps,
    batch: params.batch ?? preset.batch ?? D.batch,
    lr: params.lr ?? preset.lr ?? D.lr,
    optimizer,
    weightDecay: params.weightDecay ?? (optimizer === 'adamw' ? D.adamwWeightDecay : 0),
    lrSchedule: params.lrSchedule ?? preset.lrSchedule ?? D.lrSchedule,
    warmupSteps: params.warmupSteps ?? preset.warmupSteps ?? D.warmupSteps,
    maxGradNorm: params.maxGradNorm ?? D.maxGradNorm,
    resolution: params.resolution ?? preset.resolution ?? D.resolution,
    buckets: params.buckets ?? preset.buckets ?? D.buckets,
    shuffle: params.shuffle ?? D.shuffle,
    repeats: params.repeats ?? preset.repeats ?? D.repeats,
    flip: params.flip ?? preset.flip ?? D.flip,
    captionDropout: params.captionDropout ?? preset.captionDropout ?? D.captionDropout,
    trigger: params.trigger,
    noiseOffset: params.noiseOffset ?? preset.noiseOffset ?? D.noiseOffset,
    minSnrGamma: params.minSnrGamma ?? preset.minSnrGamma,
    textEncoder: params.textEncoder ?? D.textEncoder,
    textEncoderLr: params.textEncoderLr,
    convRank: params.convRank,
    convAlpha: params.convAlpha,
    savePrecision: params.savePrecision ?? D.savePrecision,
    gradientCheckpointing: params.gradientCheckpointing ?? preset.gradientCheckpointing ?? D.gradientCheckpointing,
    saveEvery: params.saveEvery ?? preset.saveEvery ?? D.saveEvery,
    sampleEvery: params.sampleEvery ?? D.sampleEvery,
    samplePrompts: params.samplePrompts ?? [],
    sampleSteps: params.sampleSteps ?? D.sampleSteps,
  };
}
