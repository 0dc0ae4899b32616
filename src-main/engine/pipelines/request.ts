import { PinholeError } from '../../../src-shared/errors';
import type { ImageInput, RgbImage } from '../image';
import { isSamplerName, SAMPLER_NAMES, type PredictionType, type SamplerName } from '../schedulers';
import type { LoraRequest } from './lora-models';
import { resolvePromptLoras, withLoraTags, type PromptNetworks } from './prompt-networks';
import type { ModelFolder } from './model-folder';

/** What to generate. Only `model`, `prompt` and `seed` are required; the rest defaults per model. */
export interface GenerateRequest {
  /** The model folder (optimum ONNX layout). */
  readonly model: string;
  readonly prompt: string;
  /** Empty or absent: no negative prompt (SDXL then uses zero embeddings when the model says so). */
  readonly negativePrompt?: string | undefined;
  /** 0 … 2^64 − 1; image batch k of `batchCount` uses `seed + k` (mod 2^64). */
  readonly seed: bigint;
  readonly sampler?: SamplerName | undefined;
  readonly steps?: number | undefined;
  /** Classifier-free guidance scale; ≤ 1 runs the UNet once per step without the negative prompt. */
  readonly cfgScale?: number | undefined;
  /** Pixels, multiples of 8 (defaults: the UNet's native size). */
  readonly width?: number | undefined;
  readonly height?: number | undefined;
  /** Images denoised together (one generator, one UNet batch). */
  readonly batchSize?: number | undefined;
  /** Batches run one after the other, each with its own seed. */
  readonly batchCount?: number | undefined;
  /** A1111's clip skip: 1 = last layer. */
  readonly clipSkip?: number | undefined;
  /** img2img / inpainting: how much of the schedule to run (default 0.75 for img2img, 1 for inpainting). */
  readonly strength?: number | undefined;
  /** img2img when given alone; inpainting with `maskImage`. */
  readonly initImage?: ImageInput | undefined;
  /** White = repaint. */
  readonly maskImage?: ImageInput | undefined;
  /** Inpainting: paste the original pixels back where the mask keeps the image (off by default). */
  readonly pasteBack?: boolean | undefined;
  /** Overrides the scheduler config's prediction type (e.g. a v-prediction SD 2.x model shipped without it). */
  readonly predictionType?: PredictionType | undefined;
  /** Parse A1111's prompt weighting syntax (default true). */
  readonly emphasis?: boolean | undefined;
  /** The infotext's `Model:` (the folder name by default). */
  readonly modelName?: string | undefined;
  /** The checkpoint's SHA-256 in hex (its first 10 digits become `Model hash:`); computed when absent. */
  readonly modelHash?: string | undefined;
  /**
   * A separate VAE baked into the model folder by the caller's conversion: its SHA-256 in hex (the first 10
   * digits become `VAE hash:`) and its name (`VAE:`). Both absent when the model's own VAE is used.
   */
  readonly vaeHash?: string | undefined;
  readonly vaeName?: string | undefined;
  /** A preview every this many steps (0 = none; default 4). */
  readonly previewEvery?: number | undefined;
  /**
   * kohya LoRAs merged into the UNet and text encoder at their weights (A1111's multipliers; at most 16). The
   * model folder needs its diffusers weights for the parts they change (see `lora-models.ts`).
   */
  readonly loras?: readonly { readonly path: string; readonly weight: number }[] | undefined;
  /**
   * What names in the prompts stand for, as the caller's resolver found them: `<lora:NAME:W>` tags (prompt and
   * negative prompt) are looked up in `loras`, and `embeddings` lists the textual-inversion embeddings a prompt
   * may use by name (only those it uses are read). A tag whose name is missing is an error naming it.
   */
  readonly networks?: PromptNetworks | undefined;
}

export type GenerateMode = 'txt2img' | 'img2img' | 'inpaint';

/** A request with every default filled in and every value checked. */
export interface ResolvedRequest {
  readonly mode: GenerateMode;
  readonly prompt: string;
  readonly negativePrompt: string;
  readonly seed: bigint;
  readonly sampler: SamplerName;
  readonly steps: number;
  readonly cfgScale: number;
  readonly width: number;
  readonly height: number;
  readonly batchSize: number;
  readonly batchCount: number;
  readonly clipSkip: number;
  readonly strength: number;
  readonly initImage: ImageInput | undefined;
  readonly maskImage: ImageInput | undefined;
  readonly pasteBack: boolean;
  readonly predictionType: PredictionType | undefined;
  readonly emphasis: boolean;
  readonly previewEvery: number;
  /**
   * The explicit LoRAs, then those of the prompts' `<lora:…>` tags. `prompt` then ends with a tag for each explicit
   * LoRA (A1111's infotext lists every LoRA in the prompt; the encoder removes the tags).
   */
  readonly loras: readonly LoraRequest[];
  /** Embedding name → file (empty when the caller gave none). */
  readonly embeddings: ReadonlyMap<string, string>;
}

/** One finished image. */
export interface GeneratedImage {
  readonly image: RgbImage;
  /** PNG with the A1111 `parameters` text chunk. */
  readonly png: Uint8Array;
  /** The infotext written into the PNG. */
  readonly parameters: string;
  /** The seed of this image's batch. */
  readonly seed: bigint;
  /** Which batch (0 … batchCount − 1) and which image in it (0 … batchSize − 1). */
  readonly iteration: number;
  readonly batchIndex: number;
}

export interface GenerateTimings {
  readonly totalMs: number;
  readonly textMs: number;
  readonly denoiseMs: number;
  readonly decodeMs: number;
  /** UNet steps per second over the denoising loops (each step covers a whole batch). */
  readonly stepsPerSecond: number;
}

export interface GenerateResult {
  readonly images: GeneratedImage[];
  /** The timesteps the UNet saw, in order (for img2img, the remaining ones). */
  readonly timesteps: number[];
  /** Each batch's final latents, float32 [batchSize, C, h, w] (before the VAE), one entry per batch. */
  readonly latents: Float32Array[];
  readonly mode: GenerateMode;
  readonly timings: GenerateTimings;
}

/** One step's progress. */
export interface GenerateProgress {
  readonly iteration: number;
  readonly batchCount: number;
  /** 1-based among the steps actually run. */
  readonly step: number;
  readonly totalSteps: number;
  readonly timestep: number;
  /** A latent2rgb preview of the batch's first image, as a PNG data URL, every `previewEvery` steps. */
  readonly preview?: string;
}

const U64_MAX = (1n << 64n) - 1n;

function invalid(field: string, message: string): PinholeError {
  return new PinholeError('INVALID_PARAMS', `${field}: ${message}`);
}

function integer(field: string, value: number | undefined, fallback: number, min: number, max: number): number {
  const v = value ?? fallback;
  if (!Number.isInteger(v) || v < min || v > max)
    throw invalid(field, `must be an integer from ${min} to ${max}, got ${v}`);
  return v;
}

function size(field: string, value: number | undefined, fallback: number, scaleFactor: number): number {
  const v = integer(field, value, fallback, 8, 16384);
  if (v % 8 !== 0) throw invalid(field, `${v} is not a multiple of 8`);
  if (v % scaleFactor !== 0) throw invalid(field, `${v} is not a multiple of the VAE's ${scaleFactor}`);
  return v;
}

/**
 * Fills in defaults from the model and checks every value.
 * @throws PinholeError `INVALID_PARAMS` naming the field.
 */
export function resolveRequest(request: GenerateRequest, model: ModelFolder): ResolvedRequest {
  if (typeof request.prompt !== 'string') throw invalid('prompt', 'must be a string');
  if (typeof request.seed !== 'bigint' || request.seed < 0n || request.seed > U64_MAX) {
    throw invalid('seed', 'must be an integer from 0 to 2^64 − 1 (a bigint)');
  }
  const recommended = model.traits.recommended;
  const sampler = request.sampler ?? recommended.sampler;
  if (!isSamplerName(sampler))
    throw invalid('sampler', `unknown sampler "${String(sampler)}"; expected ${SAMPLER_NAMES.join(', ')}`);
  const cfgScale = request.cfgScale ?? recommended.cfgScale;
  if (!Number.isFinite(cfgScale) || cfgScale < 0 || cfgScale > 100)
    throw invalid('cfgScale', `must be from 0 to 100, got ${cfgScale}`);
  if (request.maskImage !== undefined && request.initImage === undefined)
    throw invalid('maskImage', 'inpainting needs initImage too');
  const mode: GenerateMode =
    request.maskImage !== undefined ? 'inpaint' : request.initImage !== undefined ? 'img2img' : 'txt2img';
  if (model.traits.inpainting && mode !== 'inpaint') {
    throw invalid('maskImage', `${model.name} is an inpainting model (9-channel UNet): give an init image and a mask`);
  }
  const strength = request.strength ?? (mode === 'inpaint' ? 1 : mode === 'img2img' ? 0.75 : 1);
  if (!Number.isFinite(strength) || strength <= 0 || strength > 1)
    throw invalid('strength', `must be in (0, 1], got ${strength}`);
  const steps = integer('steps', request.steps, recommended.steps, 1, 1000);
  if (mode !== 'txt2img' && Math.trunc(steps * strength) < 1) {
    throw invalid('strength', `${strength} × ${steps} steps leaves no step to run; raise the strength or the steps`);
  }
  const negativePrompt = request.negativePrompt ?? '';
  if (typeof negativePrompt !== 'string') throw invalid('negativePrompt', 'must be a string');
  const explicit = resolveLoras(request.loras);
  const tagged = resolvePromptLoras([request.prompt, negativePrompt], request.networks);
  if (explicit.length + tagged.loras.length > 16)
    throw invalid('loras', `at most 16 LoRAs, got ${explicit.length + tagged.loras.length}`);
  return {
    mode,
    prompt: withLoraTags(request.prompt, explicit),
    negativePrompt,
    seed: request.seed,
    sampler,
    steps,
    cfgScale,
    width: size('width', request.width, model.defaultSize, model.vae.scaleFactor),
    height: size('height', request.height, model.defaultSize, model.vae.scaleFactor),
    batchSize: integer('batchSize', request.batchSize, 1, 1, 64),
    batchCount: integer('batchCount', request.batchCount, 1, 1, 10000),
    clipSkip: integer('clipSkip', request.clipSkip, 1, 1, 12),
    strength,
    initImage: request.initImage,
    maskImage: request.maskImage,
    pasteBack: request.pasteBack ?? false,
    predictionType: request.predictionType,
    emphasis: request.emphasis ?? true,
    previewEvery: integer('previewEvery', request.previewEvery, 4, 0, 1000),
    loras: [...explicit, ...tagged.loras],
    embeddings: tagged.embeddings,
  };
}

/** At most 16 LoRAs, each a non-empty path and a finite weight from −100 to 100. */
function resolveLoras(loras: GenerateRequest['loras']): ResolvedRequest['loras'] {
  if (loras === undefined) return [];
  if (!Array.isArray(loras)) throw invalid('loras', 'must be a list of { path, weight }');
  if (loras.length > 16) throw invalid('loras', `at most 16 LoRAs, got ${loras.length}`);
  return loras.map((lora: unknown, i) => {
    const { path, weight } = (typeof lora === 'object' && lora !== null ? lora : {}) as Record<string, unknown>;
    if (typeof path !== 'string' || path === '') throw invalid(`loras[${i}].path`, 'must be a file path');
    if (typeof weight !== 'number' || !Number.isFinite(weight) || Math.abs(weight) > 100)
      throw invalid(`loras[${i}].weight`, `must be a number from -100 to 100, got ${String(weight)}`);
    return { path, weight };
  });
}

/** `(seed + k) mod 2^64`: the seed of batch k. */
export function seedForIteration(seed: bigint, iteration: number): bigint {
  return BigInt.asUintN(64, seed + BigInt(iteration));
}
