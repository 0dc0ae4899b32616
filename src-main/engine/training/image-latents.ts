/**
 * Image → VAE latents for training: the image fitted to its bucket (kohya's resize-to-cover and center
 * crop; see buckets.ts), optionally mirrored, encoded with the model folder's VAE encoder (built from
 * `vae/`), latents = mean × scaling factor (the reference loop's `latent_dist.mean * scaling_factor`).
 * Cached per (VAE identity, image content hash, bucket, flip); the VAE session is created on the first
 * cache miss only.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { loadRgb, readRgb, rgbToTensor, type RgbImage } from '../image';
import { buildVaeEncoder, resolveVaeConfig, safetensorsWeights, type AutoencoderKLConfig } from '../models';
import { type InferenceBackend, type RawSession } from '../runtime';
import { SafetensorsFile } from '../weights';
import { coverCrop, selectBucket, type Bucket } from './buckets';
import { modelPartIdentity, sha256, type TrainingCache } from './latent-cache';
import { createBuiltSession } from './built-model';

/** A decoded image fitted to its bucket: pixels and SDXL's size/crop conditioning. */
export type FittedImage = {
  image: RgbImage;
  bucket: Bucket;
  /** [orig_h, orig_w, crop_top, crop_left, target_h, target_w] (SDXL's `time_ids`). */
  timeIds: [number, number, number, number, number, number];
  /** SHA-256 of the file's bytes. */
  hash: string;
};

/** Reads `file`, picks its bucket among `buckets`, resizes to cover it and center-crops. */
export async function fitImage(file: string, buckets: readonly Bucket[]): Promise<FittedImage> {
  const bytes = new Uint8Array(await readFile(file));
  const decoded = await readRgb(bytes);
  const bucket = selectBucket(decoded.width, decoded.height, buckets);
  const { resized, left, top } = coverCrop(decoded.width, decoded.height, bucket);
  const big = await loadRgb(decoded, resized[0], resized[1]);
  const [bw, bh] = bucket;
  const data = new Uint8Array(bw * bh * 3);
  for (let y = 0; y < bh; y++) {
    const from = ((y + top) * resized[0] + left) * 3;
    data.set(big.data.subarray(from, from + bw * 3), y * bw * 3);
  }
  return {
    image: { data, width: bw, height: bh },
    bucket,
    timeIds: [decoded.height, decoded.width, top, left, bh, bw],
    hash: sha256(bytes),
  };
}

/** The image mirrored left ↔ right. */
export function flipHorizontal(image: RgbImage): RgbImage {
  const { width, height } = image;
  const out = new Uint8Array(image.data.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const from = (y * width + x) * 3;
      const to = (y * width + (width - 1 - x)) * 3;
      out[to] = image.data[from]!;
      out[to + 1] = image.data[from + 1]!;
      out[to + 2] = image.data[from + 2]!;
    }
  }
  return { data: out, width, height };
}

export class TrainingVae {
  private session: RawSession | undefined;

  private constructor(
    private readonly modelDir: string,
    private readonly config: AutoencoderKLConfig,
    private readonly identity: string,
    private readonly backend: InferenceBackend,
    private readonly cache: TrainingCache,
    readonly latentChannels: number,
    /** Pixels per latent along each side. */
    readonly factor: number,
  ) {}

  static async open(modelDir: string, backend: InferenceBackend, cache: TrainingCache): Promise<TrainingVae> {
    const configFile = path.join(modelDir, 'vae/config.json');
    const config = JSON.parse(await readFile(configFile, 'utf8')) as AutoencoderKLConfig;
    const spec = resolveVaeConfig(config);
    const identity = await modelPartIdentity(
      configFile,
      path.join(modelDir, 'vae/diffusion_pytorch_model.safetensors'),
    );
    return new TrainingVae(
      modelDir,
      config,
      identity,
      backend,
      cache,
      spec.latentChannels,
      2 ** (spec.blockOutChannels.length - 1),
    );
  }

  /** [C, h, w] for a bucket. */
  latentDims(bucket: Bucket): [number, number, number] {
    return [this.latentChannels, bucket[1] / this.factor, bucket[0] / this.factor];
  }

  /** Latents × scaling factor, [C, h, w] float32, of the fitted image (mirrored with `flip`). */
  async latents(fitted: FittedImage, flip: boolean): Promise<Float32Array> {
    const dims = this.latentDims(fitted.bucket);
    const length = dims[0] * dims[1] * dims[2];
    const key = { v: 1, vae: this.identity, image: fitted.hash, bucket: fitted.bucket, flip };
    const hit = await this.cache.get('latents', key, length);
    if (hit) return hit;
    const image = flip ? flipHorizontal(fitted.image) : fitted.image;
    const session = await this.ensureSession();
    const out = await session.run({
      sample: { type: 'float32', data: rgbToTensor(image), dims: [1, 3, image.height, image.width] },
    });
    const mean = (out['latent_parameters']!.data as Float32Array).subarray(0, length);
    const scaling = this.config.scaling_factor ?? 0.18215;
    const latents = mean.map((x) => Math.fround(x * scaling));
    await this.cache.put('latents', key, latents);
    return latents;
  }

  private async ensureSession(): Promise<RawSession> {
    if (this.session) return this.session;
    const file = await SafetensorsFile.open(path.join(this.modelDir, 'vae/diffusion_pytorch_model.safetensors'));
    try {
      const model = buildVaeEncoder(this.config, safetensorsWeights(file));
      this.session = await createBuiltSession(this.backend, model, { executionProvider: 'cpu' });
      return this.session;
    } finally {
      await file.close();
    }
  }

  async release(): Promise<void> {
    await this.session?.release();
    this.session = undefined;
  }
}
