import { PinholeError } from '../../../src-shared/errors';
import type { NoiseSource, Scheduler } from '../schedulers';
import type { MaskBlend } from './denoise';
import { imageLatents, type EncodedImage } from './vae';
import type { VaeSettings } from './model-folder';

/**
 * Where the loop starts for each mode, with the generator drawn in diffusers' order: txt2img draws the noise;
 * img2img draws the encoder's sample first (when the encoder gives a distribution), then the noise; inpainting
 * likewise, and an inpainting UNet's masked-image latents come last.
 */

/** The first timestep index for a strength: `t_start × order` with `t_start = steps − min(⌊steps·strength⌋, steps)`. */
export function startIndexFor(scheduler: Scheduler, steps: number, strength: number): number {
  const initTimestep = Math.min(Math.trunc(steps * strength), steps);
  const tStart = Math.max(steps - initTimestep, 0);
  return tStart * scheduler.order;
}

/** `x · σ` in float32 (txt2img's `randn × init_noise_sigma`). */
function scaled(x: Float32Array, sigma: number): Float32Array {
  const s = Math.fround(sigma);
  return x.map((v) => Math.fround(v * s));
}

/** `[x; x; …]`, `times` copies along the batch axis. */
export function repeatBatch(x: Float32Array, times: number): Float32Array {
  const out = new Float32Array(x.length * times);
  for (let i = 0; i < times; i++) out.set(x, i * x.length);
  return out;
}

/** The latents and what the loop needs besides them. */
export interface StartLatents {
  readonly latents: Float32Array;
  readonly startIndex: number;
  readonly blend?: MaskBlend;
  readonly extraChannels?: { readonly data: Float32Array; readonly channels: number };
}

/** txt2img: `randn([B, C, h, w]) × init_noise_sigma`. */
export function txt2imgStart(generator: NoiseSource, scheduler: Scheduler, shape: readonly number[]): StartLatents {
  return { latents: scaled(generator.randn(shape), scheduler.initNoiseSigma), startIndex: 0 };
}

/**
 * img2img: image latents (sampled, then repeated over the batch), noise, and the scheduler's `add_noise` at the
 * first remaining timestep — no `init_noise_sigma` factor.
 */
export function img2imgStart(
  generator: NoiseSource,
  scheduler: Scheduler,
  shape: readonly number[],
  encoded: EncodedImage,
  vae: VaeSettings,
  steps: number,
  strength: number,
): StartLatents {
  const startIndex = startIndexFor(scheduler, steps, strength);
  const init = repeatBatch(imageLatents(encoded, generator, vae), shape[0]!);
  const noise = generator.randn(shape);
  return { latents: scheduler.addNoise(init, noise, startIndex), startIndex };
}

/** The inpainting inputs prepared once per request. */
export interface InpaintInputs {
  readonly encoded: EncodedImage;
  /** float32 [h × w] of 0/1 on the latent grid. */
  readonly latentMask: Float32Array;
  /** Inpainting UNets only: the encoded masked image (`image × (mask < 0.5)`). */
  readonly encodedMasked?: EncodedImage;
}

/**
 * Inpainting. Ordinary UNet (diffusers' inpaint pipeline with 4 channels): image latents drawn first, then the
 * noise; the start is `noise × init_noise_sigma` at strength 1, else the noised image latents; the loop blends
 * the known region after each step. Inpainting UNet: the image latents are drawn only when strength < 1, then
 * the noise, then the masked image's latents, which ride along as extra input channels with the mask.
 */
export function inpaintStart(
  generator: NoiseSource,
  scheduler: Scheduler,
  shape: readonly number[],
  inputs: InpaintInputs,
  vae: VaeSettings,
  steps: number,
  strength: number,
): StartLatents {
  const batch = shape[0]!;
  const startIndex = startIndexFor(scheduler, steps, strength);
  const strengthMax = strength === 1;
  const inpaintUnet = inputs.encodedMasked !== undefined;
  const image =
    !inpaintUnet || !strengthMax ? repeatBatch(imageLatents(inputs.encoded, generator, vae), batch) : undefined;
  const noise = generator.randn(shape);
  let latents: Float32Array;
  if (strengthMax) latents = scaled(noise, scheduler.initNoiseSigma);
  else if (image) latents = scheduler.addNoise(image, noise, startIndex);
  else throw new PinholeError('INTERNAL', 'no image latents to noise');
  if (!inpaintUnet) return { latents, startIndex, blend: { mask: inputs.latentMask, imageLatents: image!, noise } };
  const masked = repeatBatch(imageLatents(inputs.encodedMasked, generator, vae), batch);
  const plane = inputs.latentMask.length;
  const channels = masked.length / batch / plane;
  const extra = new Float32Array(batch * (1 + channels) * plane);
  for (let b = 0; b < batch; b++) {
    extra.set(inputs.latentMask, b * (1 + channels) * plane);
    extra.set(masked.subarray(b * channels * plane, (b + 1) * channels * plane), (b * (1 + channels) + 1) * plane);
  }
  return { latents, startIndex, extraChannels: { data: extra, channels: 1 + channels } };
}
