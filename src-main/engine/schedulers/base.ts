import { PinholeError } from '../../../src-shared/errors';
import { f32 } from './f32';
import type { NoiseSource } from './types';

/** Throws unless `setTimesteps` ran and `stepIndex` addresses one of the timesteps. */
export function checkStepIndex(className: string, stepIndex: number, timesteps: Float64Array): void {
  if (timesteps.length === 0) {
    throw new PinholeError('INVALID_PARAMS', `${className}: call setTimesteps before stepping`);
  }
  if (!Number.isInteger(stepIndex) || stepIndex < 0 || stepIndex >= timesteps.length) {
    throw new PinholeError(
      'INVALID_PARAMS',
      `${className}: step index ${stepIndex} is outside 0..${timesteps.length - 1}`,
    );
  }
}

/** Throws unless the tensors have the same length (and the shape, when given, matches it). */
export function checkLengths(
  className: string,
  a: Float32Array,
  b: Float32Array,
  shape?: readonly number[],
): readonly number[] {
  if (a.length !== b.length) {
    throw new PinholeError('INVALID_PARAMS', `${className}: tensors of ${a.length} and ${b.length} values`);
  }
  if (!shape) return [a.length];
  const count = shape.reduce((p, d) => p * d, 1);
  if (count !== a.length) {
    throw new PinholeError(
      'INVALID_PARAMS',
      `${className}: shape [${shape.join(', ')}] does not hold ${a.length} values`,
    );
  }
  return shape;
}

/** `noise.randn(shape)`, checked. diffusers' `randn_tensor` draws float32 on the CPU generator. */
export function drawNoise(className: string, noise: NoiseSource | undefined, shape: readonly number[]): Float32Array {
  if (!noise) {
    throw new PinholeError('INVALID_PARAMS', `${className}: this sampler draws noise; pass a generator to step`);
  }
  const out = noise.randn(shape);
  const count = shape.reduce((p, d) => p * d, 1);
  if (out.length !== count) {
    throw new PinholeError('INTERNAL', `${className}: the generator returned ${out.length} values for ${count}`);
  }
  return out;
}

/** `x / d` elementwise in float32 (torch's true division by a 0-d tensor). */
export function divideF32(x: Float32Array, d: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i]! / d;
  return out;
}

/** `a·x + b·y` with torch's float32 rounding of each product and the sum. */
export function axpbyF32(a: number, x: Float32Array, b: number, y: Float32Array): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = f32(a * x[i]!) + f32(b * y[i]!);
  return out;
}

/** `x + y·s` elementwise (Euler-family `add_noise`, `prev + noise·σ_up`), float32. */
export function addScaledF32(x: Float32Array, y: Float32Array, s: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i]! + f32(y[i]! * s);
  return out;
}

/**
 * x₀ from a model output at noise level σ in the "sigma" (variance-exploding) parameterization the Euler
 * family uses. The sample is the unscaled latent `x = x₀ + σ·ε`.
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

/** Euler-family input scaling: `x / √(σ² + 1)` in float32. */
export function scaleBySigma(sample: Float32Array, sigma: number): Float32Array {
  return divideF32(sample, f32(Math.sqrt(f32(f32(sigma * sigma) + 1))));
}

/** The largest value (torch's `max()` over the float32 sigmas). */
export function maxOf(values: Float32Array): number {
  let m = -Infinity;
  for (const v of values) if (v > m) m = v;
  return m;
}
