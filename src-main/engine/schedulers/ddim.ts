import { PinholeError } from '../../../src-shared/errors';
import { f32, sqrtF32 } from './f32';
import { addScaledF32, axpbyF32, checkStepArgs, checkStepIndex, drawNoise } from './base';
import { alphaCumprodAddNoise } from './add-noise';
import { checkInteger, checkPredictionType, checkSpacing, resolveConfig, type SchedulerConfigSource } from './config';
import { roundHalfEven } from './numpy';
import { clipPredOriginal, vpPredEpsilon, vpPredOriginal, vpScales } from './prediction';
import { alphasCumprodFromConfig, checkTrainRange, spacedTimestepsFor } from './schedule';
import type { NoiseSource, PredictionType, Scheduler } from './types';

/** `DDIMScheduler.__init__` keyword arguments, with diffusers' defaults. */
export interface DDIMConfig {
  num_train_timesteps: number;
  beta_start: number;
  beta_end: number;
  beta_schedule: string;
  trained_betas: unknown;
  clip_sample: boolean;
  set_alpha_to_one: boolean;
  steps_offset: number;
  prediction_type: string;
  thresholding: boolean;
  dynamic_thresholding_ratio: number;
  clip_sample_range: number;
  sample_max_value: number;
  timestep_spacing: string;
  rescale_betas_zero_snr: boolean;
}

/** `DDIMScheduler`'s own defaults (its `__init__` signature in diffusers). */
export const DDIM_DEFAULTS: Readonly<DDIMConfig> = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: 'linear',
  trained_betas: null,
  clip_sample: true,
  set_alpha_to_one: true,
  steps_offset: 0,
  prediction_type: 'epsilon',
  thresholding: false,
  dynamic_thresholding_ratio: 0.995,
  clip_sample_range: 1.0,
  sample_max_value: 1.0,
  // DDIM's own default: an SD 1.5 config (no timestep_spacing key) gets leading spacing, unlike Euler.
  timestep_spacing: 'leading',
  rescale_betas_zero_snr: false,
};

const NAME = 'DDIMScheduler';

/** DDIM's extra step option (diffusers passes it to `step`, not the constructor). */
export interface DDIMOptions {
  /** η: 0 is deterministic DDIM (the default), 1 is DDPM-like; η > 0 draws noise from the generator. */
  eta?: number;
}

/**
 * diffusers' `DDIMScheduler` (Song et al. 2020, eq. 12 and 16) with η = 0 by default. Integer timesteps; the
 * previous timestep is always `t − T // n` (diffusers' rule, whatever the spacing), and the last step goes to
 * ᾱ = 1 (`set_alpha_to_one`) or ᾱ₀.
 */
export class DDIMScheduler implements Scheduler {
  readonly className = NAME;
  readonly order = 1;
  readonly integerTimesteps = true;
  readonly initNoiseSigma = 1;
  readonly config: Readonly<DDIMConfig>;
  readonly alphasCumprod: Float32Array;
  /** ᾱ for the step after the last one. */
  readonly finalAlphaCumprod: number;
  readonly eta: number;
  timesteps: Float64Array = new Float64Array(0);
  numInferenceSteps = 0;
  predOriginalSample: Float32Array | null = null;
  private readonly prediction: PredictionType;

  /** diffusers' `DDIMScheduler.from_config(source, **overrides)`; `options.eta` is DDIM's step argument. */
  static fromConfig(
    source?: SchedulerConfigSource,
    overrides?: SchedulerConfigSource,
    options?: DDIMOptions,
  ): DDIMScheduler {
    return new DDIMScheduler(resolveConfig(NAME, DDIM_DEFAULTS, source, overrides).config, options);
  }

  constructor(config: DDIMConfig, options: DDIMOptions = {}) {
    this.config = config;
    checkInteger(NAME, 'num_train_timesteps', config.num_train_timesteps, 2);
    this.prediction = checkPredictionType(NAME, config.prediction_type);
    checkSpacing(NAME, config);
    this.eta = options.eta ?? 0;
    if (!(this.eta >= 0)) throw new PinholeError('INVALID_PARAMS', `${NAME}: eta must be ≥ 0`);
    this.alphasCumprod = alphasCumprodFromConfig(NAME, config, false);
    this.finalAlphaCumprod = config.set_alpha_to_one ? 1 : this.alphasCumprod[0]!;
  }

  setTimesteps(numSteps: number): void {
    // Integer timesteps: only linspace spacing gives fractional values to round.
    const timesteps = spacedTimestepsFor(NAME, this.config, numSteps).map(roundHalfEven);
    checkTrainRange(NAME, timesteps, this.config.num_train_timesteps);
    this.timesteps = timesteps;
    this.numInferenceSteps = numSteps;
    this.predOriginalSample = null;
  }

  scaleModelInput(sample: Float32Array, stepIndex: number): Float32Array {
    checkStepIndex(NAME, stepIndex, this.timesteps);
    return sample.slice();
  }

  step(
    modelOutput: Float32Array,
    stepIndex: number,
    sample: Float32Array,
    noise?: NoiseSource,
    shape?: readonly number[],
  ): Float32Array {
    const dims = checkStepArgs(NAME, this.timesteps, stepIndex, modelOutput, sample, shape);
    const cfg = this.config;
    const t = this.timesteps[stepIndex]!;
    const prevT = t - Math.floor(cfg.num_train_timesteps / this.numInferenceSteps);
    const alphaProd = this.alphasCumprod[t]!;
    const alphaProdPrev = prevT >= 0 ? this.alphasCumprod[prevT]! : this.finalAlphaCumprod;
    const { alpha, sigma } = vpScales(alphaProd);
    const x0 = clipPredOriginal(vpPredOriginal(this.prediction, alpha, sigma, modelOutput, sample), dims, cfg);
    // ε from the unclipped prediction, as in diffusers.
    const eps = vpPredEpsilon(this.prediction, alpha, sigma, modelOutput, sample);
    // σ_t(η) = η·√((1−ᾱ_prev)/(1−ᾱ_t) · (1 − ᾱ_t/ᾱ_prev)), float32.
    const variance = f32(f32(f32(1 - alphaProdPrev) / f32(1 - alphaProd)) * f32(1 - f32(alphaProd / alphaProdPrev)));
    const std = f32(this.eta * sqrtF32(variance));
    const dirCoef = sqrtF32(f32(f32(1 - alphaProdPrev) - f32(std * std)));
    const prevCoef = sqrtF32(alphaProdPrev);
    const out = axpbyF32(prevCoef, x0, dirCoef, eps);
    this.predOriginalSample = x0;
    return this.eta > 0 ? addScaledF32(out, drawNoise(NAME, noise, dims), std) : out;
  }

  addNoise(original: Float32Array, noise: Float32Array, stepIndex: number): Float32Array {
    checkStepArgs(NAME, this.timesteps, stepIndex, original, noise);
    return alphaCumprodAddNoise(original, noise, this.alphasCumprod[this.timesteps[stepIndex]!]!);
  }
}
