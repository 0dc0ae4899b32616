/**
 * The inference σ tables of the sigma-based schedulers (Euler, Euler ancestral, Heun, DPM-Solver): the Karras or
 * exponential conversion of a schedule, the final σ, and the initial noise scale, with diffusers' dtypes.
 */
import { f32, sqrtF32 } from './f32';
import { maxOf } from './base';
import { readOptionalNumber } from './config';
import { exponentialSigmas, karrasSigmas, npLogF32, sigmaToT } from './schedule';

/** A converted schedule: float64 sigmas and their fractional timesteps (`_sigma_to_t`), before any dtype cast. */
export interface ConvertedSigmas {
  sigmas: Float64Array;
  timesteps: Float64Array;
}

/** Where a conversion's σ_min and σ_max come from. */
export interface SigmaBounds {
  /** Where the class reads `sigma_min` / `sigma_max`: its config, or the hidden keys (checked when used). */
  readonly configured: { readonly sigma_min?: unknown; readonly sigma_max?: unknown };
  /** σ_min when none is configured (each class has its own: the spaced or the training sigmas' end). */
  readonly defaultMin: number;
  /** σ_max when none is configured. */
  readonly defaultMax: number;
}

/**
 * diffusers' `_convert_to_karras` / `_convert_to_exponential` followed by `_sigma_to_t` on the training sigmas;
 * null when the config asks for neither.
 */
export function convertSigmas(
  className: string,
  config: { readonly use_karras_sigmas: boolean; readonly use_exponential_sigmas: boolean },
  numSteps: number,
  trainSigmas: Float32Array,
  bounds: SigmaBounds,
): ConvertedSigmas | null {
  if (!config.use_karras_sigmas && !config.use_exponential_sigmas) return null;
  const sigmaMin = readOptionalNumber(className, 'sigma_min', bounds.configured.sigma_min) ?? bounds.defaultMin;
  const sigmaMax = readOptionalNumber(className, 'sigma_max', bounds.configured.sigma_max) ?? bounds.defaultMax;
  const sigmas = config.use_karras_sigmas
    ? karrasSigmas(sigmaMin, sigmaMax, numSteps)
    : exponentialSigmas(sigmaMin, sigmaMax, numSteps);
  const logSigmas = npLogF32(trainSigmas);
  return { sigmas, timesteps: sigmas.map((s) => sigmaToT(s, logSigmas)) };
}

/** The float32 sigma tensor diffusers builds: `sigmas` cast to float32, then the final σ appended. */
export function withFinalSigma(sigmas: Float64Array, last: number): Float32Array {
  const out = new Float32Array(sigmas.length + 1);
  out.set(sigmas);
  out[sigmas.length] = last;
  return out;
}

/**
 * The Euler family's `init_noise_sigma`: σ_max (of the inference sigmas once set, else of the training sigmas),
 * or √(σ_max² + 1) for leading spacing, float32.
 */
export function sigmaInitNoiseSigma(sigmas: Float32Array, trainSigmas: Float32Array, spacing: string): number {
  const max = maxOf(sigmas.length > 0 ? sigmas : trainSigmas);
  if (spacing === 'linspace' || spacing === 'trailing') return max;
  return sqrtF32(f32(f32(max * max) + 1));
}
