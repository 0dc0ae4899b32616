/**
 * Data shapes that cross the API boundary. Plain JSON only: ids are strings,
 * times are epoch milliseconds, image ids are lowercase hex SHA-256 of the stored file.
 */
import { z } from 'zod';
import { ModelKind, ModelSource, PredictionType } from './model-schemas';

export const Sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'expected a lowercase hex SHA-256');

/** Dataset names: what the user types, trimmed; used as the CLI's `--dataset NAME`. */
export const DatasetName = z
  .string()
  .trim()
  .min(1, 'dataset name is empty')
  .max(80, 'dataset name is longer than 80 characters')
  // eslint-disable-next-line no-control-regex -- control characters are what we refuse
  .refine((s) => !/[\u0000-\u001f]/.test(s), 'dataset name contains control characters');

export const SerializedErrorSchema: z.ZodType<{
  name: string;
  code: string;
  message: string;
  cause?: unknown;
}> = z.object({
  name: z.string(),
  code: z.string(),
  message: z.string(),
  cause: z.unknown().optional(),
});

/** `paused`: a training run stopped with a checkpoint, waiting for `train.resume`. */
export const JobState = z.enum(['queued', 'running', 'succeeded', 'failed', 'canceled', 'interrupted', 'paused']);
export type JobState = z.infer<typeof JobState>;

export const Lane = z.enum(['gpu', 'cpu']);
export type Lane = z.infer<typeof Lane>;

/** One training checkpoint as a job lists it (a kohya LoRA file plus its resumable state). */
export const TrainCheckpoint = z.object({
  step: z.number().int().nonnegative(),
  file: z.string(),
  /** Mean loss on fixed (noise, timestep) pairs per image; lower is better. */
  validationLoss: z.number().nullable(),
});
export type TrainCheckpoint = z.infer<typeof TrainCheckpoint>;

/** One sample image rendered with the LoRA as it was at `step`. */
export const TrainSample = z.object({
  step: z.number().int().nonnegative(),
  index: z.number().int().nonnegative(),
  prompt: z.string(),
  file: z.string(),
});
export type TrainSample = z.infer<typeof TrainSample>;

/** A training job's artifacts so far (kept in its checkpoint while it runs, in its result at the end). */
export const TrainArtifacts = z.object({
  checkpoints: z.array(TrainCheckpoint),
  samples: z.array(TrainSample),
  /** The step of the checkpoint with the lowest validation loss, when any has one. */
  bestStep: z.number().int().nullable(),
});
export type TrainArtifacts = z.infer<typeof TrainArtifacts>;

export const JobProgress = z.object({
  step: z.number().int().nonnegative(),
  total: z.number().int().nonnegative(),
  /** Estimated milliseconds left, from the observed step rate; null until it can be estimated. */
  etaMs: z.number().nonnegative().nullable(),
  message: z.string().optional(),
  /** A small preview image as a data: URL (generation and training previews). */
  preview: z.string().optional(),
  /** Numbers of this step a chart or a script reads, e.g. a training step's `loss` and `lr`. */
  metrics: z.record(z.string(), z.number()).optional(),
  /** A training run's checkpoints and sample images so far. */
  artifacts: TrainArtifacts.optional(),
});
export type JobProgress = z.infer<typeof JobProgress>;

export const JobView = z.object({
  id: z.string(),
  kind: z.string(),
  lane: Lane,
  state: JobState,
  priority: z.number().int(),
  /** A one-line human title, e.g. `Import 12 files into "Rex"`. */
  title: z.string(),
  params: z.unknown(),
  progress: JobProgress.nullable(),
  result: z.unknown().nullable(),
  error: SerializedErrorSchema.nullable(),
  /** How many times the job started running (interruptions re-queue it and count). */
  attempts: z.number().int().nonnegative(),
  createdAt: z.number(),
  startedAt: z.number().nullable(),
  finishedAt: z.number().nullable(),
});
export type JobView = z.infer<typeof JobView>;

export const Dataset = z.object({
  id: z.string(),
  name: z.string(),
  imageCount: z.number().int().nonnegative(),
  createdAt: z.number(),
  /** A thumbnail for the dataset card. */
  coverSha256: Sha256.nullable(),
});
export type Dataset = z.infer<typeof Dataset>;

export const ImageView = z.object({
  sha256: Sha256,
  width: z.number().int(),
  height: z.number().int(),
  format: z.string(),
  bytes: z.number().int(),
  source: z.enum(['import', 'generated']),
  createdAt: z.number(),
  /** Prompt for generated images; original file name for imported ones. */
  title: z.string(),
});
export type ImageView = z.infer<typeof ImageView>;

export const DatasetImage = ImageView.extend({
  datasetId: z.string(),
  caption: z.string(),
  originalName: z.string(),
  addedAt: z.number(),
});
export type DatasetImage = z.infer<typeof DatasetImage>;

export const ImageDetail = ImageView.extend({
  prompt: z.string().nullable(),
  negativePrompt: z.string().nullable(),
  /** Generation parameters or import metadata, as stored. */
  metadata: z.record(z.string(), z.unknown()),
  datasets: z.array(z.object({ id: z.string(), name: z.string(), caption: z.string() })),
});
export type ImageDetail = z.infer<typeof ImageDetail>;

export const ImportFileStatus = z.enum(['accepted', 'duplicate', 'rejected']);
export type ImportFileStatus = z.infer<typeof ImportFileStatus>;

/** One file's outcome, as the CLI prints it with `--json` (plus the job and image ids). */
export const ImportFileResult = z.object({
  jobId: z.string(),
  index: z.number().int().nonnegative(),
  file: z.string(),
  status: ImportFileStatus,
  reason: z.string().optional(),
  sha256: Sha256.optional(),
});
export type ImportFileResult = z.infer<typeof ImportFileResult>;

export const Page = <T extends z.ZodType>(item: T) =>
  z.object({ items: z.array(item), nextCursor: z.string().nullable(), total: z.number().int() });

/** Samplers, named as the CLI's `--sampler` takes them. */
export const SamplerName = z.enum(['euler', 'euler_a', 'ddim', 'dpmpp_2m', 'dpmpp_2m_karras', 'lcm', 'heun']);
export type SamplerName = z.infer<typeof SamplerName>;

const U64_MAX = (1n << 64n) - 1n;

/** Seeds travel as decimal strings: 0 … 2^64 − 1 does not fit a JSON number without loss. */
export const Seed = z
  .string()
  .regex(/^\d{1,20}$/, 'a seed is a whole number from 0 to 18446744073709551615')
  .refine((s) => BigInt(s) <= U64_MAX, 'a seed is at most 18446744073709551615');

/** An input image for img2img or an inpainting mask: a file on the core's machine, or inline. */
export const ImageRef = z.union([
  z.object({ path: z.string().min(1) }).strict(),
  z
    .object({
      dataUrl: z
        .string()
        .max(48_000_000, 'inline images are limited to 36 MB')
        .regex(/^data:image\/(png|jpeg|webp);base64,[A-Za-z0-9+/=]+$/, 'expected a base64 PNG, JPEG or WebP data URL'),
    })
    .strict(),
]);
export type ImageRef = z.infer<typeof ImageRef>;

const PixelSize = z
  .number()
  .int()
  .min(64)
  .max(4096)
  .refine((n) => n % 8 === 0, 'sizes must be multiples of 8');

/** What to generate; everything but `model` and `prompt` defaults per model. */
export const GenerateParams = z
  .object({
    /** A model folder (optimum ONNX layout). */
    model: z.string().min(1),
    prompt: z.string().max(20_000),
    negativePrompt: z.string().max(20_000).optional(),
    sampler: SamplerName.optional(),
    steps: z.number().int().min(1).max(500).optional(),
    cfgScale: z.number().min(0).max(50).optional(),
    /** Absent: a random seed, chosen when the job is queued and recorded with it. */
    seed: Seed.optional(),
    width: PixelSize.optional(),
    height: PixelSize.optional(),
    batchSize: z.number().int().min(1).max(16).optional(),
    batchCount: z.number().int().min(1).max(100).optional(),
    clipSkip: z.number().int().min(1).max(12).optional(),
    /** img2img / inpainting: the share of the schedule to run. */
    strength: z.number().gt(0).max(1).optional(),
    initImage: ImageRef.optional(),
    /** White where the image is repainted. */
    maskImage: ImageRef.optional(),
    /** kohya LoRA files merged at their weights (A1111's multipliers). */
    loras: z
      .array(z.object({ path: z.string().min(1), weight: z.number().min(-100).max(100) }).strict())
      .max(16)
      .optional(),
    /** A separate VAE in place of the model's own: a library VAE's name or a VAE file. Absent: the model's own. */
    vae: z.string().min(1).optional(),
    /** Overrides what the model predicts (else a library model's setting, else what its weights say). */
    prediction: PredictionType.optional(),
  })
  .strict()
  .refine((p) => p.maskImage === undefined || p.initImage !== undefined, {
    message: 'a mask needs an init image',
    path: ['maskImage'],
  });
export type GenerateParams = z.infer<typeof GenerateParams>;

/**
 * A LoRA training run (`pinhole train`, `train.start`). Absent fields take the preset's value when
 * `preset` names one, else `TRAIN_DEFAULTS` (CONTRACTS.md, training defaults); `resolveTrainSettings`
 * in `train-presets.ts` does that in one place for the job, the CLI and the Train page.
 */
export const TrainParams = z
  .object({
    /** A diffusers-layout model folder (unet/, vae/, text_encoder/, tokenizer/, scheduler/). */
    model: z.string().min(1),
    /** A folder of images with same-name `.txt` captions (or `dataset`, not both). */
    images: z.string().min(1).optional(),
    /** A library dataset, by name: its images with their captions (or `images`, not both). */
    dataset: DatasetName.optional(),
    /**
     * The kohya `.safetensors` file to write (the models library keeps a copy); absent: the studio's own file,
     * kept in the models library under the dataset's name.
     */
    out: z.string().min(1).optional(),
    /** A preset from `TRAIN_PRESETS` (per model family); explicit fields override it. */
    preset: z.enum(['sd1', 'sd2', 'sdxl']).optional(),
    /** Rank of a fresh LoRA (an `initLora` keeps its own). */
    rank: z.number().int().min(1).max(1024).optional(),
    /** Alpha of a fresh LoRA (default: the rank, i.e. scale 1). */
    alpha: z.number().positive().max(100_000).optional(),
    steps: z.number().int().min(1).max(1_000_000).optional(),
    batch: z.number().int().min(1).max(256).optional(),
    lr: z.number().positive().max(100).optional(),
    optimizer: z.enum(['adamw', 'sgd']).optional(),
    /** Weight decay: AdamW's decoupled decay (default 0.01), SGD's L2 term added to the gradient (default 0). */
    weightDecay: z.number().min(0).max(10).optional(),
    lrSchedule: z.enum(['constant', 'cosine']).optional(),
    /** Linear warm-up from 0 over this many steps. */
    warmupSteps: z.number().int().min(0).max(1_000_000).optional(),
    /** Gradient clipping by global norm; 0 turns it off. */
    maxGradNorm: z.number().min(0).max(1e6).optional(),
    /** Absent: a random seed, chosen when the job is queued and recorded with it. */
    seed: Seed.optional(),
    resolution: z
      .number()
      .int()
      .min(64)
      .max(4096)
      .refine((n) => n % 8 === 0, 'the resolution must be a multiple of 8')
      .optional(),
    /** Aspect-ratio buckets (kohya's); off: every image center-cropped to a square. */
    buckets: z.boolean().optional(),
    shuffle: z.boolean().optional(),
    /** Each image this many times per epoch. */
    repeats: z.number().int().min(1).max(1000).optional(),
    /** Random horizontal flips. */
    flip: z.boolean().optional(),
    /** Probability of training a step on the empty caption. */
    captionDropout: z.number().min(0).max(1).optional(),
    /** A word put in front of every caption (the LoRA's trigger word). */
    trigger: z.string().trim().min(1).max(100).optional(),
    noiseOffset: z.number().min(0).max(1).optional(),
    /** Min-SNR-γ loss weighting; absent: off. */
    minSnrGamma: z.number().positive().max(100).optional(),
    /** Also train the text encoder(s)' attention and MLP Linears. */
    textEncoder: z.boolean().optional(),
    textEncoderLr: z.number().positive().max(100).optional(),
    /** LoCon: also 3×3 convolutions in the ResNet blocks, at this rank. */
    convRank: z.number().int().min(1).max(1024).optional(),
    convAlpha: z.number().positive().max(100_000).optional(),
    savePrecision: z.enum(['fp32', 'fp16', 'bf16']).optional(),
    gradientCheckpointing: z.boolean().optional(),
    /** Checkpoint (LoRA + optimizer + generator state) every N steps; 0: only on pause or cancel. */
    saveEvery: z.number().int().min(0).max(1_000_000).optional(),
    /** Sample images every N steps from `samplePrompts` (0: never). */
    sampleEvery: z.number().int().min(0).max(1_000_000).optional(),
    samplePrompts: z.array(z.string().trim().min(1).max(2000)).max(8).optional(),
    sampleSteps: z.number().int().min(1).max(200).optional(),
    /** Continue from the last checkpoint of this run (same `out`). */
    resume: z.boolean().optional(),
    /** Start from this kohya LoRA file (its modules, rank and alpha). */
    initLora: z.string().min(1).optional(),
  })
  .strict()
  .refine((p) => (p.images === undefined) !== (p.dataset === undefined), {
    message: 'name either a dataset or a folder of images (one of them)',
    path: ['dataset'],
  })
  .refine((p) => !p.sampleEvery || (p.samplePrompts?.length ?? 0) > 0, {
    message: 'sampling every N steps needs at least one sample prompt',
    path: ['samplePrompts'],
  });
export type TrainParams = z.infer<typeof TrainParams>;

/** What an absent `TrainParams` field means without a preset (CONTRACTS.md, training defaults). */
export const TRAIN_DEFAULTS = {
  rank: 4,
  steps: 1000,
  batch: 1,
  lr: 1e-4,
  optimizer: 'adamw',
  adamwWeightDecay: 0.01,
  lrSchedule: 'constant',
  warmupSteps: 0,
  maxGradNorm: 1,
  resolution: 512,
  buckets: false,
  shuffle: true,
  repeats: 1,
  flip: false,
  captionDropout: 0,
  noiseOffset: 0,
  textEncoder: false,
  savePrecision: 'fp32',
  gradientCheckpointing: false,
  saveEvery: 0,
  sampleEvery: 0,
  sampleSteps: 20,
} as const;

/** One model the studio offers: a library file or a model folder found in the models folders. */
export const ModelEntry = z.object({
  /** The library row's id; null for a model folder (source `folder`). */
  id: z.string().nullable(),
  name: z.string(),
  /** The stored file (library) or the folder. */
  path: z.string(),
  kind: ModelKind,
  /** Detected family, e.g. "sd1", "sd2", "sdxl"; null when unknown or the folder could not be read. */
  family: z.string().nullable(),
  /** e.g. "inpaint", "v-prediction"; null for the family's ordinary model. */
  variant: z.string().nullable(),
  /** The side in pixels the model was trained at (512, 768, 1024), when known. */
  nativeResolution: z.number().int().positive().nullable(),
  sizeBytes: z.number().int().nonnegative().nullable(),
  sha256: z.string().nullable(),
  /** A1111's short hash (first 10 hex digits of the SHA-256), as PNG infotexts record it. */
  shortHash: z.string().nullable(),
  source: ModelSource,
  /** The original path or URL it was imported from. */
  origin: z.string().nullable(),
  addedAt: z.number().nullable(),
  lastUsedAt: z.number().nullable(),
  /** The default of its kind (the Generate page starts with the default checkpoint). */
  isDefault: z.boolean(),
  /** A checkpoint's prediction type as the user set it (null: read from its weights). */
  prediction: PredictionType.nullable(),
  error: z.string().nullable(),
});
export type ModelEntry = z.infer<typeof ModelEntry>;

/** One model of the curated download catalogue (resources/catalogue.json). */
export const CatalogueEntry = z
  .object({
    id: z.string().regex(/^[a-z0-9][a-z0-9-]*$/),
    name: z.string().min(1),
    family: z.enum(['sd1', 'sd2', 'sdxl']),
    kind: z.enum(['checkpoint', 'lora']),
    url: z.string().regex(/^https:\/\//, 'catalogue URLs are https'),
    /** Exact size in bytes, or null when no published figure was found. */
    sizeBytes: z.number().int().positive().nullable(),
    /** null: no published hash; the download is unverified and the user must confirm it. */
    sha256: Sha256.nullable(),
    /** Shown before the download starts. */
    license: z.object({ name: z.string().min(1), url: z.string().url() }),
    /** Whether the host asks you to accept terms (and send an access token) first. */
    gated: z.boolean(),
    /** Where the size and hash were found, or why they are null. */
    source: z.string().min(1),
  })
  .strict();
export type CatalogueEntry = z.infer<typeof CatalogueEntry>;

/** A host with a stored access token (the token itself never crosses the API). */
export const TokenHost = z.object({ host: z.string(), source: z.enum(['keychain', 'environment', 'session']) });
export type TokenHost = z.infer<typeof TokenHost>;
