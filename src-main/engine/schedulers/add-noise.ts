/**
 * diffusers' `add_noise` (img2img's start, inpainting's known region) in the two parameterizations, float32:
 * `x + σ·ε` for the sigma-based schedulers and `α·x + σ·ε` for the variance-preserving ones.
 */
import { addScaledF32, axpbyF32 } from './base';
import { vpScales } from './prediction';

/** The sigma-based schedulers' `add_noise` (Euler family, Heun): `x + σ·ε`. */
export function sigmaAddNoise(original: Float32Array, noise: Float32Array, sigma: number): Float32Array {
  return addScaledF32(original, noise, sigma);
}

/** The variance-preserving `add_noise` with scales α and σ: `α·x + σ·ε`. */
export function vpAddNoise(original: Float32Array, noise: Float32Array, alpha: number, sigma: number): Float32Array {
  return axpbyF32(alpha, original, sigma, noise);
}

/** DDPM's `add_noise` at ᾱ (DDIM, LCM): `√ᾱ·x + √(1 − ᾱ)·ε`. */
export function alphaCumprodAddNoise(original: Float32Array, noise: Float32Array, alphaProd: number): Float32Array {
  const { alpha, sigma } = vpScales(alphaProd);
  return vpAddNoise(original, noise, alpha, sigma);
}
