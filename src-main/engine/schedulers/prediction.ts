/**
 * Model output → clean sample x₀ (and noise ε) for each `prediction_type`, in the two parameterizations the
 * schedulers use, float32 in diffusers' operation order:
 * - sigma ("variance exploding", Euler family and Heun): the unscaled latent is `x = x₀ + σ·ε`;
 * - variance preserving (DDIM, LCM, DPM-Solver): `x = α·x₀ + σ·ε` with α = √ᾱ and σ = √(1 − ᾱ).
 */
import { f32, sqrtF32 } from './f32';
import { clampSample, thresholdSample } from './schedule';
import type { PredictionType } from './types';

/**
 * x₀ from a model output at noise level σ in the sigma parameterization:
 * - epsilon: `x − σ·out`
 * - v_prediction: `out·(−σ / √(σ² + 1)) + x / (σ² + 1)`
 * - sample: `out`
 */
export function sigmaPredOriginal(
  prediction: string,
  sigma: number,
  modelOutput: Float32Array,
  sample: Float32Array,
): Float32Array {
  const n = sample.length;
  const out = new Float32Array(n);
  if (prediction === 'epsilon') {
    for (let i = 0; i < n; i++) out[i] = sample[i]! - f32(sigma * modelOutput[i]!);
  } else if (prediction === 'v_prediction') {
    const s2p1 = f32(f32(sigma * sigma) + 1);
    const c = f32(-sigma / f32(Math.sqrt(s2p1)));
    for (let i = 0; i < n; i++) out[i] = f32(modelOutput[i]! * c) + f32(sample[i]! / s2p1);
  } else {
    out.set(modelOutput);
  }
  return out;
}

/** The variance-preserving scales at ᾱ: α = √ᾱ and σ = √(1 − ᾱ), float32. */
export function vpScales(alphaProd: number): { alpha: number; sigma: number } {
  return { alpha: sqrtF32(alphaProd), sigma: sqrtF32(f32(1 - alphaProd)) };
}

/**
 * x₀ from a model output in the variance-preserving parameterization with scales α and σ:
 * - epsilon: `(x − σ·out) / α`
 * - v_prediction: `α·x − σ·out`
 * - sample: `out`
 */
export function vpPredOriginal(
  prediction: PredictionType,
  alpha: number,
  sigma: number,
  modelOutput: Float32Array,
  sample: Float32Array,
): Float32Array {
  const n = sample.length;
  const x0 = new Float32Array(n);
  if (prediction === 'epsilon') {
    for (let i = 0; i < n; i++) x0[i] = f32(sample[i]! - f32(sigma * modelOutput[i]!)) / alpha;
  } else if (prediction === 'v_prediction') {
    for (let i = 0; i < n; i++) x0[i] = f32(alpha * sample[i]!) - f32(sigma * modelOutput[i]!);
  } else {
    x0.set(modelOutput);
  }
  return x0;
}

/**
 * ε from a model output in the variance-preserving parameterization with scales α and σ:
 * - epsilon: `out`
 * - v_prediction: `α·out + σ·x`
 * - sample: `(x − α·out) / σ`
 */
export function vpPredEpsilon(
  prediction: PredictionType,
  alpha: number,
  sigma: number,
  modelOutput: Float32Array,
  sample: Float32Array,
): Float32Array {
  const n = sample.length;
  const eps = new Float32Array(n);
  if (prediction === 'epsilon') {
    eps.set(modelOutput);
  } else if (prediction === 'v_prediction') {
    for (let i = 0; i < n; i++) eps[i] = f32(alpha * modelOutput[i]!) + f32(sigma * sample[i]!);
  } else {
    for (let i = 0; i < n; i++) eps[i] = f32(sample[i]! - f32(alpha * modelOutput[i]!)) / sigma;
  }
  return eps;
}

/** The x₀ clipping keys of DDIM and LCM. */
export interface ClipConfig {
  readonly thresholding: boolean;
  readonly dynamic_thresholding_ratio: number;
  readonly sample_max_value: number;
  readonly clip_sample: boolean;
  readonly clip_sample_range: number;
}

/** DDIM's and LCM's x₀ clipping: dynamic thresholding when set, else `clip_sample`'s clamp, else x₀ as is. */
export function clipPredOriginal(x0: Float32Array, shape: readonly number[], config: ClipConfig): Float32Array {
  if (config.thresholding) {
    return thresholdSample(x0, shape, config.dynamic_thresholding_ratio, config.sample_max_value);
  }
  return config.clip_sample ? clampSample(x0, config.clip_sample_range) : x0;
}
