/**
 * Noise-schedule math shared by the schedulers: betas, ᾱ, training sigmas, timestep spacings and the sigma
 * conversions (Karras, exponential), each with diffusers' dtypes — torch float32 where diffusers uses tensors,
 * NumPy float64 where it uses NumPy.
 */
import { PinholeError } from '../../../src-shared/errors';
import { readTrainedBetas } from './config';
import { f32, lerpF32, logF32, sqrtF32, torchCumprodF32, torchLinspaceF32 } from './f32';
import { npArange, npLinspace, roundHalfEven } from './numpy';
import type { BetaSchedule, TimestepSpacing } from './types';

/**
 * diffusers' `betas_for_alpha_bar`: betas from a continuous ᾱ(t) on [0, 1], computed in double, capped at
 * `maxBeta`, stored as float32.
 */
export function betasForAlphaBar(numTimesteps: number, transform: 'cosine' | 'exp', maxBeta = 0.999): Float32Array {
  const alphaBar =
    transform === 'cosine'
      ? (t: number) => Math.cos((((t + 0.008) / 1.008) * Math.PI) / 2) ** 2
      : (t: number) => Math.exp(t * -12.0);
  const betas = new Float32Array(numTimesteps);
  for (let i = 0; i < numTimesteps; i++) {
    const t1 = i / numTimesteps;
    const t2 = (i + 1) / numTimesteps;
    betas[i] = Math.min(1 - alphaBar(t2) / alphaBar(t1), maxBeta);
  }
  return betas;
}

/** The float32 betas of a schedule, as the schedulers' constructors build them. */
export function makeBetas(
  className: string,
  schedule: string,
  numTrainTimesteps: number,
  betaStart: number,
  betaEnd: number,
  trainedBetas: Float32Array | null,
  allowed: readonly BetaSchedule[],
): Float32Array {
  if (trainedBetas) return trainedBetas;
  if (!(allowed as readonly string[]).includes(schedule)) {
    throw new PinholeError('NOT_IMPLEMENTED', `${className}: beta_schedule "${schedule}" is not implemented`);
  }
  switch (schedule as BetaSchedule) {
    case 'linear':
      return torchLinspaceF32(betaStart, betaEnd, numTrainTimesteps);
    case 'scaled_linear': {
      // linspace over the square roots (computed in Python floats), then squared in float32.
      const roots = torchLinspaceF32(Math.sqrt(betaStart), Math.sqrt(betaEnd), numTrainTimesteps);
      return roots.map((r) => f32(r * r));
    }
    case 'squaredcos_cap_v2':
      return betasForAlphaBar(numTrainTimesteps, 'cosine');
    case 'exp':
      return betasForAlphaBar(numTrainTimesteps, 'exp');
  }
}

/** `1 − betas` in float32. */
export function alphasFromBetas(betas: Float32Array): Float32Array {
  return betas.map((b) => f32(1 - b));
}

/**
 * diffusers' `rescale_zero_terminal_snr` (Lin et al. 2023, Algorithm 1) in float32: shifts √ᾱ so the last
 * timestep has zero signal, rescales so the first keeps its value, and converts back to betas.
 */
export function rescaleZeroTerminalSnr(betas: Float32Array): Float32Array {
  const n = betas.length;
  const sqrtBar = torchCumprodF32(alphasFromBetas(betas)).map(sqrtF32);
  const first = sqrtBar[0]!;
  const last = sqrtBar[n - 1]!;
  const scale = f32(first / f32(first - last));
  const bar = sqrtBar.map((v) => {
    const shifted = f32(f32(v - last) * scale);
    return f32(shifted * shifted);
  });
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    const alpha = i === 0 ? bar[0]! : f32(bar[i]! / bar[i - 1]!);
    out[i] = f32(1 - alpha);
  }
  return out;
}

/** Common constructor work: betas → (optionally rescaled) → ᾱ = cumprod(1 − β), float32 throughout. */
export function makeAlphasCumprod(betas: Float32Array, rescaleZeroSnr: boolean): Float32Array {
  const used = rescaleZeroSnr ? rescaleZeroTerminalSnr(betas) : betas;
  return torchCumprodF32(alphasFromBetas(used));
}

/** The fp16 smallest subnormal diffusers puts in ᾱ[−1] after a zero-SNR rescale so σ_max stays finite. */
export const ZERO_SNR_LAST_ALPHA_CUMPROD = 2 ** -24;

/** The beta keys of a scheduler config (`rescale_betas_zero_snr` where the class takes it). */
export interface BetaConfig {
  readonly num_train_timesteps: number;
  readonly beta_start: number;
  readonly beta_end: number;
  readonly beta_schedule: string;
  readonly trained_betas: unknown;
  readonly rescale_betas_zero_snr?: boolean;
}

/**
 * A constructor's training schedule: the config's betas (or `trained_betas`), rescaled to zero terminal SNR when
 * the config asks, then ᾱ = cumprod(1 − β), float32.
 * @param finiteLastSigma after a zero-SNR rescale, put `ZERO_SNR_LAST_ALPHA_CUMPROD` in ᾱ[T − 1], as diffusers'
 *   sigma-based schedulers (Euler, Euler ancestral, DPM-Solver) do; DDIM and LCM keep ᾱ[T − 1] = 0.
 * @param allowed the beta schedules the class implements.
 */
export function alphasCumprodFromConfig(
  className: string,
  config: BetaConfig,
  finiteLastSigma: boolean,
  allowed: readonly BetaSchedule[] = ['linear', 'scaled_linear', 'squaredcos_cap_v2'],
): Float32Array {
  const T = config.num_train_timesteps;
  const betas = makeBetas(
    className,
    config.beta_schedule,
    T,
    config.beta_start,
    config.beta_end,
    readTrainedBetas(className, config.trained_betas),
    allowed,
  );
  const rescale = config.rescale_betas_zero_snr ?? false;
  const alphasCumprod = makeAlphasCumprod(betas, rescale);
  if (rescale && finiteLastSigma) alphasCumprod[T - 1] = ZERO_SNR_LAST_ALPHA_CUMPROD;
  return alphasCumprod;
}

/** σ(t) = √((1 − ᾱ) / ᾱ) over the training timesteps, float32 tensor ops (ascending in t). */
export function trainSigmas(alphasCumprod: Float32Array): Float32Array {
  return alphasCumprod.map((a) => sqrtF32(f32(f32(1 - a) / a)));
}

/**
 * Timesteps of a spacing, as float64 values before any dtype cast:
 * - `linspace`: `np.linspace(0, T − 1, n)` reversed;
 * - `leading`: `(arange(n) × (T // n)).round()` reversed, plus `steps_offset`;
 * - `trailing`: `arange(T, 0, −T / n).round() − 1`.
 * Euler-family schedulers cast these to float32 (linspace values stay fractional); DDIM rounds them to
 * integers (only linspace values can be fractional).
 */
export function spacedTimesteps(
  spacing: TimestepSpacing,
  numTrainTimesteps: number,
  numSteps: number,
  stepsOffset: number,
): Float64Array {
  switch (spacing) {
    case 'linspace':
      return npLinspace(0, numTrainTimesteps - 1, numSteps).reverse();
    case 'leading': {
      const ratio = Math.floor(numTrainTimesteps / numSteps);
      const out = new Float64Array(numSteps);
      for (let i = 0; i < numSteps; i++) out[i] = roundHalfEven((numSteps - 1 - i) * ratio) + stepsOffset;
      return out;
    }
    case 'trailing': {
      const values = npArange(numTrainTimesteps, 0, -numTrainTimesteps / numSteps);
      return values.map((v) => roundHalfEven(v) - 1);
    }
  }
}

/** Throws unless a step count is a positive integer. */
export function checkStepCount(className: string, numSteps: number): void {
  if (!Number.isInteger(numSteps) || numSteps < 1) {
    throw new PinholeError('INVALID_PARAMS', `${className}: the number of steps must be a positive integer`);
  }
}

/**
 * `set_timesteps`' common start: checks the step count, then spaces the timesteps as the config says
 * (`spacedTimesteps`, float64 before any cast).
 */
export function spacedTimestepsFor(
  className: string,
  config: { readonly num_train_timesteps: number; readonly timestep_spacing: string; readonly steps_offset: number },
  numSteps: number,
): Float64Array {
  const T = config.num_train_timesteps;
  checkSteps(className, numSteps, T);
  return spacedTimesteps(config.timestep_spacing as TimestepSpacing, T, numSteps, config.steps_offset);
}

/** Checks a step count against the training schedule. */
export function checkSteps(className: string, numSteps: number, numTrainTimesteps: number): void {
  checkStepCount(className, numSteps);
  if (numSteps > numTrainTimesteps) {
    throw new PinholeError(
      'INVALID_PARAMS',
      `${className}: ${numSteps} steps exceed the ${numTrainTimesteps} training timesteps`,
    );
  }
}

/** Throws unless every (integer) timestep indexes the training schedule, where diffusers would raise IndexError. */
export function checkTrainRange(className: string, timesteps: Float64Array, numTrainTimesteps: number): void {
  for (const t of timesteps) {
    if (!Number.isInteger(t) || t < 0 || t >= numTrainTimesteps) {
      throw new PinholeError(
        'INVALID_PARAMS',
        `${className}: timestep ${t} is outside the ${numTrainTimesteps} training timesteps (check steps_offset)`,
      );
    }
  }
}

/**
 * diffusers' `_sigma_to_t`: the (fractional) training timestep whose log-sigma matches `sigma`, by linear
 * interpolation in log space. `logSigmas` is NumPy's float32 `log` of the training sigmas; the arithmetic mixes
 * float64 and float32 exactly as NumPy's scalar promotion does.
 */
export function sigmaToT(sigma: number, logSigmas: Float32Array): number {
  const logSigma = Math.log(Math.max(sigma, 1e-10));
  const n = logSigmas.length;
  // cumsum(dists >= 0).argmax(): the last index whose log-sigma is ≤ logSigma (0 when none), capped at n − 2.
  let low = 0;
  for (let i = 0; i < n; i++) if (logSigma - logSigmas[i]! >= 0) low = i;
  low = Math.min(low, n - 2);
  const high = low + 1;
  const lo = logSigmas[low]!;
  const hi = logSigmas[high]!;
  // (lo − hi) is float32 − float32 in NumPy, so it rounds to float32.
  let w = (lo - logSigma) / f32(lo - hi);
  w = Math.min(Math.max(w, 0), 1);
  return (1 - w) * low + w * high;
}

/** NumPy float32 `log` of float32 values (one rounding of the double log). */
export function npLogF32(values: Float32Array): Float32Array {
  return values.map(logF32);
}

/**
 * Karras et al. (2022) sigmas: `(σ_max^(1/ρ) + ramp·(σ_min^(1/ρ) − σ_max^(1/ρ)))^ρ` with ρ = 7 over
 * `np.linspace(0, 1, n)`, float64.
 */
export function karrasSigmas(sigmaMin: number, sigmaMax: number, numSteps: number): Float64Array {
  const rho = 7.0;
  const ramp = npLinspace(0, 1, numSteps);
  const minInv = sigmaMin ** (1 / rho);
  const maxInv = sigmaMax ** (1 / rho);
  return ramp.map((r) => (maxInv + r * (minInv - maxInv)) ** rho);
}

/** Exponential sigmas: `exp(linspace(log σ_max, log σ_min, n))`, float64. */
export function exponentialSigmas(sigmaMin: number, sigmaMax: number, numSteps: number): Float64Array {
  return npLinspace(Math.log(sigmaMax), Math.log(sigmaMin), numSteps).map(Math.exp);
}

/**
 * diffusers' dynamic thresholding (`_threshold_sample`, Imagen): per batch item, s = the `ratio` quantile of
 * |x| (torch.quantile, linear interpolation), clamped to [1, maxValue] (torch's clamp: `min(max(s, 1), maxValue)`,
 * so maxValue wins when below 1); then x is clamped to [−s, s] and divided by s. float32 throughout.
 */
export function thresholdSample(
  x: Float32Array,
  shape: readonly number[],
  ratio: number,
  maxValue: number,
): Float32Array {
  const batch = shape.length > 1 ? shape[0]! : 1;
  if (x.length % batch !== 0) {
    throw new PinholeError('INVALID_PARAMS', 'thresholding: the shape does not match the sample');
  }
  const per = x.length / batch;
  const out = new Float32Array(x.length);
  const q = f32(ratio);
  for (let b = 0; b < batch; b++) {
    const row = x.subarray(b * per, (b + 1) * per);
    const sorted = Float32Array.from(row, Math.abs).sort();
    const rank = f32(q * (per - 1));
    const below = Math.floor(rank);
    const above = Math.ceil(rank);
    const weight = f32(rank - below);
    const quantile = lerpF32(sorted[below]!, sorted[above]!, weight);
    const s = Math.min(Math.max(quantile, 1), f32(maxValue));
    for (let i = 0; i < per; i++) {
      const v = Math.min(Math.max(row[i]!, -s), s);
      out[b * per + i] = f32(v / s);
    }
  }
  return out;
}

/** `x.clamp(−range, range)` in float32. */
export function clampSample(x: Float32Array, range: number): Float32Array {
  const r = f32(range);
  return x.map((v) => Math.min(Math.max(v, -r), r));
}
