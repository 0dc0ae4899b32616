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

/**
 * The argument checks `step` and `addNoise` start with: the step index, then the two tensors' lengths (and the
 * shape, when given). Returns the shape (`[a.length]` when none is given).
 */
export function checkStepArgs(
  className: string,
  timesteps: Float64Array,
  stepIndex: number,
  a: Float32Array,
  b: Float32Array,
  shape?: readonly number[],
): readonly number[] {
  checkStepIndex(className, stepIndex, timesteps);
  return checkLengths(className, a, b, shape);
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

/** `x + y·s` elementwise (an Euler update `x + d·dt`, `add_noise`'s `x + ε·σ`, `prev + noise·σ_up`), float32. */
export function addScaledF32(x: Float32Array, y: Float32Array, s: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = x[i]! + f32(y[i]! * s);
  return out;
}

/** The Euler-family derivative `(x − x₀) / σ`, float32. */
export function sigmaDerivative(sample: Float32Array, predOriginal: Float32Array, sigma: number): Float32Array {
  const out = new Float32Array(sample.length);
  for (let i = 0; i < out.length; i++) out[i] = f32(f32(sample[i]! - predOriginal[i]!) / sigma);
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
