/**
 * The dataset of a training run, encoded once: each image fitted to its bucket and encoded by the VAE
 * (also mirrored, with `flip`), each caption (trigger word prepended) encoded by the text encoder(s),
 * and the empty caption for caption dropout. Everything goes through the run's cache (latent-cache.ts),
 * with progress per item.
 *
 * Inputs: a folder (png/jpg/webp with same-name `.txt` captions, in file-name order) or an explicit list.
 */
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { CanceledError, PinholeError } from '../../../src-shared/errors';
import { type InferenceBackend } from '../runtime';
import { makeBucketResolutions, type Bucket } from './buckets';
import { fitImage, TrainingVae } from './image-latents';
import { TrainingCache } from './latent-cache';
import { TrainingTextEncoder, type TextConditioning } from './text-conditioning';
import type { TrainItem } from './train-api';

const IMAGE_EXT = /\.(png|jpe?g|webp)$/i;

export type TrainingExample = {
  file: string;
  /** The caption trained on (trigger word prepended). */
  caption: string;
  /** Bucket in pixels, [width, height]. */
  bucket: Bucket;
  /** [latent_channels, h, w]. */
  latentDims: [number, number, number];
  /** [latent_channels, h, w] × scaling factor. */
  latents: Float32Array;
  /** The mirrored image's latents (with `flip`). */
  flipped?: Float32Array | undefined;
  /** [tokens, hidden]. */
  cond: Float32Array;
  /** SDXL's pooled text embeddings. */
  pooled?: Float32Array | undefined;
  /** SDXL's `time_ids`: [orig_h, orig_w, crop_top, crop_left, target_h, target_w]. */
  timeIds: readonly number[];
  /** The caption's token ids per encoder (with `tokens`: a run training the text encoder). */
  ids?: Int32Array | undefined;
  ids2?: Int32Array | undefined;
};

export type TrainingData = {
  examples: TrainingExample[];
  /** The first example's latent dims (every example's when buckets are off). */
  latentDims: [number, number, number];
  condDims: [number, number];
  /** SDXL's pooled width. */
  pooledDim?: number | undefined;
  /** The empty caption's conditioning (for caption dropout). */
  empty?: TextConditioning | undefined;
};

/** Image files of `dir` (png/jpg/webp) with their `.txt` captions ('' when absent), by file name. */
export async function listImages(dir: string): Promise<TrainItem[]> {
  const entries = await readdir(dir).catch((error: unknown) => {
    throw new PinholeError('NOT_FOUND', `${dir}: the images folder cannot be read`, { cause: error });
  });
  const names = entries.filter((n) => IMAGE_EXT.test(n)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  if (names.length === 0) throw new PinholeError('INVALID_PARAMS', `${dir}: no images to train on`);
  return Promise.all(
    names.map(async (n) => {
      const file = path.join(dir, n);
      const txt = file.replace(IMAGE_EXT, '.txt');
      const caption = await readFile(txt, 'utf8').then(
        (t) => t.trim(),
        () => '',
      );
      return { file, caption };
    }),
  );
}

/** `trigger, caption` (the caption alone without a trigger; no second copy when it already starts so). */
export function withTrigger(caption: string, trigger: string | undefined): string {
  const t = trigger?.trim();
  if (!t) return caption;
  if (caption === '') return t;
  if (caption === t || caption.startsWith(`${t},`) || caption.startsWith(`${t} `)) return caption;
  return `${t}, ${caption}`;
}

export type PrepareTrainingDataOptions = {
  modelDir: string;
  /** The images folder, or the items themselves. */
  images: string | readonly TrainItem[];
  resolution: number;
  /** kohya aspect-ratio buckets; off: one resolution × resolution bucket. */
  buckets?: boolean;
  /** Also encode the mirrored images. */
  flip?: boolean;
  trigger?: string | undefined;
  /** Also encode the empty caption. */
  captionDropout?: boolean;
  /** SDXL: two text encoders, pooled embeddings and `time_ids`. */
  sdxl?: boolean;
  /** Also keep the captions' token ids (training the text encoder). */
  tokens?: boolean;
  cacheDir?: string | undefined;
  backend: InferenceBackend;
  signal?: AbortSignal | undefined;
  onProgress?: ((done: number, total: number) => void) | undefined;
};

/** Encodes the dataset with the model folder's `vae/` and `text_encoder/` (diffusers layout). */
export async function prepareTrainingData(options: PrepareTrainingDataOptions): Promise<TrainingData> {
  const items = typeof options.images === 'string' ? await listImages(options.images) : [...options.images];
  if (items.length === 0) throw new PinholeError('INVALID_PARAMS', 'no images to train on');
  const { modelDir, resolution, backend } = options;
  if (!Number.isInteger(resolution) || resolution < 8 || resolution % 8 !== 0) {
    throw new PinholeError('INVALID_PARAMS', `resolution must be a positive multiple of 8, not ${resolution}`);
  }
  const buckets: Bucket[] = options.buckets === true ? makeBucketResolutions(resolution) : [[resolution, resolution]];
  const cache = new TrainingCache(options.cacheDir);
  const vae = await TrainingVae.open(modelDir, backend, cache);
  const text = await TrainingTextEncoder.open(modelDir, options.sdxl === true, backend, cache);
  const flips = options.flip === true ? [false, true] : [false];
  const total = items.length * (flips.length + 1) + (options.captionDropout === true ? 1 : 0);
  let done = 0;
  const tick = () => {
    if (options.signal?.aborted) throw new CanceledError('Training canceled');
    options.onProgress?.(++done, total);
  };
  try {
    const examples: TrainingExample[] = [];
    for (const item of items) {
      const fitted = await fitImage(item.file, buckets).catch((error: unknown) => {
        const missing = !(error instanceof PinholeError) && (error as { code?: unknown }).code === 'ENOENT';
        throw new PinholeError(
          missing ? 'NOT_FOUND' : 'INVALID_PARAMS',
          `${item.file}: ${missing ? 'this training image is missing' : 'not a readable image (skip or replace it)'}`,
          { cause: error },
        );
      });
      const latents = await vae.latents(fitted, false);
      tick();
      const flipped = flips.length > 1 ? await vae.latents(fitted, true) : undefined;
      if (flipped) tick();
      const caption = withTrigger(item.caption, options.trigger);
      const { cond, pooled } = await text.encode(modelDir, caption);
      const tokens = options.tokens === true ? await text.tokenize(modelDir, caption) : {};
      tick();
      examples.push({
        file: item.file,
        caption,
        bucket: fitted.bucket,
        latentDims: vae.latentDims(fitted.bucket),
        latents,
        flipped,
        cond,
        pooled,
        timeIds: fitted.timeIds,
        ...tokens,
      });
    }
    let empty: TextConditioning | undefined;
    if (options.captionDropout === true) {
      empty = {
        ...(await text.encode(modelDir, '')),
        ...(options.tokens === true ? await text.tokenize(modelDir, '') : {}),
      };
      tick();
    }
    return {
      examples,
      latentDims: examples[0]!.latentDims,
      condDims: text.condDims,
      pooledDim: text.pooledDim,
      empty,
    };
  } finally {
    await vae.release();
    await text.release();
  }
}
