import { CanceledError } from '../../../src-shared/errors';
import type { NoiseSource, Scheduler } from '../schedulers';
import type { UNetConditioning, UNetRunner } from './unet';

/**
 * The denoising loop shared by txt2img, img2img and inpainting: diffusers' loop with the scheduler addressed
 * by step index, classifier-free guidance on a doubled batch, and, for inpainting with an ordinary UNet, the
 * known region re-imposed after every step.
 */

/** Inpainting with a 4-channel UNet: blending with the image latents after every step. */
export interface MaskBlend {
  /** float32 [h × w]: 1 where the image is repainted, 0 where it is kept (one mask for the whole batch). */
  readonly mask: Float32Array;
  /** float32 [B, C, h, w]: the clean image latents. */
  readonly imageLatents: Float32Array;
  /** float32 [B, C, h, w]: the noise drawn at the start, re-used to noise the known region. */
  readonly noise: Float32Array;
}

/** Called after every step with the new latents (float32 [B, C, h, w]); may be async (previews). */
export type StepCallback = (info: {
  /** 1-based step among the steps actually run. */
  readonly step: number;
  readonly totalSteps: number;
  readonly timestep: number;
  readonly latents: Float32Array;
}) => void | Promise<void>;

export interface DenoiseParams {
  readonly unet: UNetRunner;
  /** Already `setTimesteps`; a fresh instance per run (multistep samplers keep history). */
  readonly scheduler: Scheduler;
  readonly generator: NoiseSource;
  /** float32 [B, C, h, w]: the starting latents (noise × σ₀, or noised image latents). */
  readonly latents: Float32Array;
  readonly shape: readonly [number, number, number, number];
  /** The first index into `scheduler.timesteps` (img2img: `t_start × order`; 0 for txt2img). */
  readonly startIndex: number;
  /** Conditioning for the whole UNet batch: 2B rows `[negative…, prompt…]` with guidance, B rows without. */
  readonly conditioning: UNetConditioning;
  /** Guidance scale; classifier-free guidance runs when `guided`. */
  readonly guidance: number;
  readonly guided: boolean;
  /** Ordinary-UNet inpainting. */
  readonly blend?: MaskBlend;
  /**
   * Inpainting UNet: float32 [B, extra, h, w] appended to the scaled latents along channels (the mask and the
   * masked image's latents, 1 + 4 channels).
   */
  readonly extraChannels?: { readonly data: Float32Array; readonly channels: number };
  readonly signal?: AbortSignal;
  readonly onStep?: StepCallback;
}

/** Throws `CanceledError` if the signal is aborted (cooperative cancel, checked between steps). */
export function throwIfAborted(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new CanceledError('Generation canceled');
}

/**
 * Lets the event loop poll once. ORT runs a session on this thread, so a cancel message that arrived during a
 * step is only read once the loop gets to poll; yielding before the abort check makes it count before the next
 * step rather than after it.
 */
function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** `[x; x]` along the batch axis. */
function doubled(x: Float32Array): Float32Array {
  const out = new Float32Array(x.length * 2);
  out.set(x);
  out.set(x, x.length);
  return out;
}

/** Concatenates `[B, c1, h, w]` and `[B, c2, h, w]` along channels. */
export function concatChannels(
  a: Float32Array,
  c1: number,
  b: Float32Array,
  c2: number,
  batch: number,
  plane: number,
): Float32Array {
  const out = new Float32Array(batch * (c1 + c2) * plane);
  for (let i = 0; i < batch; i++) {
    out.set(a.subarray(i * c1 * plane, (i + 1) * c1 * plane), i * (c1 + c2) * plane);
    out.set(b.subarray(i * c2 * plane, (i + 1) * c2 * plane), (i * (c1 + c2) + c1) * plane);
  }
  return out;
}

/** `uncond + g · (text − uncond)` with torch's float32 rounding at each operation. */
export function applyGuidance(prediction: Float32Array, guidance: number): Float32Array {
  const half = prediction.length / 2;
  const g = Math.fround(guidance);
  const out = new Float32Array(half);
  for (let i = 0; i < half; i++) {
    const uncond = prediction[i]!;
    out[i] = Math.fround(uncond + Math.fround(g * Math.fround(prediction[half + i]! - uncond)));
  }
  return out;
}

/** `(1 − m)·known + m·latents`, the mask broadcast over batch and channels (float32 at each operation). */
export function blendKnown(latents: Float32Array, known: Float32Array, mask: Float32Array): Float32Array {
  const plane = mask.length;
  const out = new Float32Array(latents.length);
  for (let i = 0; i < latents.length; i++) {
    const m = mask[i % plane]!;
    out[i] = Math.fround(Math.fround((1 - m) * known[i]!) + Math.fround(m * latents[i]!));
  }
  return out;
}

/**
 * Runs the loop from `startIndex` to the last timestep and returns the final latents (float32 [B, C, h, w]).
 * @throws CanceledError when `signal` is aborted (checked before every step).
 */
export async function denoise(params: DenoiseParams): Promise<Float32Array> {
  const { unet, scheduler, generator, shape, conditioning, blend, extraChannels, signal } = params;
  const [batch, channels, h, w] = shape;
  const timesteps = scheduler.timesteps;
  const total = timesteps.length - params.startIndex;
  let latents = params.latents;
  for (let i = params.startIndex; i < timesteps.length; i++) {
    if (signal) await yieldToEventLoop();
    throwIfAborted(signal);
    const t = timesteps[i]!;
    let input = scheduler.scaleModelInput(latents, i);
    let inputChannels = channels;
    if (extraChannels) {
      input = concatChannels(input, channels, extraChannels.data, extraChannels.channels, batch, h * w);
      inputChannels += extraChannels.channels;
    }
    const unetBatch = params.guided ? batch * 2 : batch;
    if (params.guided) input = doubled(input);
    const prediction = await unet.predict(input, [unetBatch, inputChannels, h, w], t, conditioning);
    const noisePred = params.guided ? applyGuidance(prediction, params.guidance) : prediction;
    latents = scheduler.step(noisePred, i, latents, generator, shape);
    if (blend) {
      // The known region follows the schedule: the image latents noised to the next timestep, clean at the end.
      const known =
        i + 1 < timesteps.length ? scheduler.addNoise(blend.imageLatents, blend.noise, i + 1) : blend.imageLatents;
      latents = blendKnown(latents, known, blend.mask);
    }
    await params.onStep?.({ step: i - params.startIndex + 1, totalSteps: total, timestep: t, latents });
  }
  return latents;
}
