import { f32 } from './f32';
import { addScaledF32, checkStepArgs, checkStepIndex, scaleBySigma, sigmaDerivative } from './base';
import { sigmaAddNoise } from './add-noise';
import {
  checkInteger,
  checkPredictionType,
  checkSigmaConversion,
  checkSpacing,
  resolveConfig,
  type SchedulerConfigSource,
} from './config';
import { npInterpIndex } from './numpy';
import { sigmaPredOriginal } from './prediction';
import { alphasCumprodFromConfig, clampSample, spacedTimestepsFor, trainSigmas } from './schedule';
import { convertSigmas, sigmaInitNoiseSigma } from './sigma-schedule';
import type { NoiseSource, PredictionType, Scheduler } from './types';

/** `HeunDiscreteScheduler.__init__` keyword arguments, with diffusers' defaults. */
export interface HeunDiscreteConfig {
  num_train_timesteps: number;
  beta_start: number;
  beta_end: number;
  beta_schedule: string;
  trained_betas: unknown;
  prediction_type: string;
  use_karras_sigmas: boolean;
  use_exponential_sigmas: boolean;
  use_beta_sigmas: boolean;
  clip_sample: boolean;
  clip_sample_range: number;
  timestep_spacing: string;
  steps_offset: number;
}

/** `HeunDiscreteScheduler`'s own defaults (its `__init__` signature in diffusers). */
export const HEUN_DISCRETE_DEFAULTS: Readonly<HeunDiscreteConfig> = {
  num_train_timesteps: 1000,
  beta_start: 0.00085,
  beta_end: 0.012,
  beta_schedule: 'linear',
  trained_betas: null,
  prediction_type: 'epsilon',
  use_karras_sigmas: false,
  use_exponential_sigmas: false,
  use_beta_sigmas: false,
  clip_sample: false,
  clip_sample_range: 1.0,
  timestep_spacing: 'linspace',
  steps_offset: 0,
};

const NAME = 'HeunDiscreteScheduler';

/**
 * diffusers' `HeunDiscreteScheduler` (Karras et al. 2022, Algorithm 1): an Euler predictor then a trapezoidal
 * corrector, two model evaluations per step. Like diffusers, `timesteps` repeats every timestep but the first
 * (`2n − 1` entries) and `sigmas` repeats every interior sigma (`2n` entries), so the caller's loop runs once
 * per model evaluation. Whether a call is a predictor or corrector is the scheduler's state (as in diffusers):
 * the first `step` after `setTimesteps` is a predictor, and the two alternate from there.
 */
export class HeunDiscreteScheduler implements Scheduler {
  readonly className = NAME;
  readonly order = 2;
  readonly integerTimesteps = false;
  readonly config: Readonly<HeunDiscreteConfig>;
  readonly alphasCumprod: Float32Array;
  readonly trainSigmas: Float32Array;
  /** The doubled inference sigmas, float32, `timesteps.length + 1` values ending in 0. */
  sigmas: Float32Array = new Float32Array(0);
  timesteps: Float64Array = new Float64Array(0);
  numInferenceSteps = 0;
  predOriginalSample: Float32Array | null = null;
  private readonly prediction: PredictionType;
  private readonly hidden: Readonly<Record<string, unknown>>;
  // Predictor state kept for the corrector (diffusers' prev_derivative, dt, sample); null between steps.
  private prevDerivative: Float32Array | null = null;
  private dt: number | null = null;
  private savedSample: Float32Array | null = null;

  /** diffusers' `HeunDiscreteScheduler.from_config(source, **overrides)`. */
  static fromConfig(source?: SchedulerConfigSource, overrides?: SchedulerConfigSource): HeunDiscreteScheduler {
    const { config, hidden } = resolveConfig(NAME, HEUN_DISCRETE_DEFAULTS, source, overrides);
    return new HeunDiscreteScheduler(config, hidden);
  }

  /**
   * @param hidden config keys the class does not take; diffusers' Karras conversion still reads `sigma_min` /
   *   `sigma_max` from them when a model's config carries them.
   */
  constructor(config: HeunDiscreteConfig, hidden: Readonly<Record<string, unknown>> = {}) {
    this.config = config;
    this.hidden = hidden;
    checkInteger(NAME, 'num_train_timesteps', config.num_train_timesteps, 2);
    this.prediction = checkPredictionType(NAME, config.prediction_type);
    checkSpacing(NAME, config);
    checkSigmaConversion(NAME, config);
    // Heun takes no rescale_betas_zero_snr, but it has the exp beta schedule.
    this.alphasCumprod = alphasCumprodFromConfig(NAME, config, false, [
      'linear',
      'scaled_linear',
      'squaredcos_cap_v2',
      'exp',
    ]);
    this.trainSigmas = trainSigmas(this.alphasCumprod);
  }

  /** σ_max (or √(σ_max² + 1) for leading spacing), float32. */
  get initNoiseSigma(): number {
    return sigmaInitNoiseSigma(this.sigmas, this.trainSigmas, this.config.timestep_spacing);
  }

  /** True when the next `step` is a predictor (Euler) step. */
  get stateInFirstOrder(): boolean {
    return this.dt === null;
  }

  setTimesteps(numSteps: number): void {
    let timesteps: Float64Array = spacedTimestepsFor(NAME, this.config, numSteps).map(f32);
    const train = this.trainSigmas;
    let sigmas = npInterpIndex(timesteps, train);
    // Karras / exponential bounds: the model config's (hidden) sigma_min / sigma_max, else the spaced sigmas' ends.
    const converted = convertSigmas(NAME, this.config, numSteps, train, {
      configured: this.hidden,
      defaultMin: sigmas[sigmas.length - 1]!,
      defaultMax: sigmas[0]!,
    });
    if (converted) ({ sigmas, timesteps } = converted);
    // [σ0, σ1, σ1, …, σn−1, σn−1, 0] and [t0, t1, t1, …, tn−1, tn−1].
    const n = sigmas.length;
    const doubledSigmas = new Float32Array(2 * n);
    const doubledTimesteps = new Float64Array(2 * n - 1);
    doubledSigmas[0] = sigmas[0]!;
    doubledTimesteps[0] = f32(timesteps[0]!);
    for (let i = 1; i < n; i++) {
      doubledSigmas[2 * i - 1] = sigmas[i]!;
      doubledSigmas[2 * i] = sigmas[i]!;
      doubledTimesteps[2 * i - 1] = f32(timesteps[i]!);
      doubledTimesteps[2 * i] = f32(timesteps[i]!);
    }
    doubledSigmas[2 * n - 1] = 0;
    this.sigmas = doubledSigmas;
    this.timesteps = doubledTimesteps;
    this.numInferenceSteps = numSteps;
    this.prevDerivative = null;
    this.dt = null;
    this.savedSample = null;
    this.predOriginalSample = null;
  }

  scaleModelInput(sample: Float32Array, stepIndex: number): Float32Array {
    checkStepIndex(NAME, stepIndex, this.timesteps);
    return scaleBySigma(sample, this.sigmas[stepIndex]!);
  }

  step(
    modelOutput: Float32Array,
    stepIndex: number,
    sample: Float32Array,
    _noise?: NoiseSource,
    shape?: readonly number[],
  ): Float32Array {
    checkStepArgs(NAME, this.timesteps, stepIndex, modelOutput, sample, shape);
    const first = this.dt === null;
    // Predictor: from σ[i] towards σ[i+1]. Corrector: the same interval, seen from its end.
    const sigma = first ? this.sigmas[stepIndex]! : this.sigmas[stepIndex - 1]!;
    const sigmaNext = first ? this.sigmas[stepIndex + 1]! : this.sigmas[stepIndex]!;
    const sigmaInput = first ? sigma : sigmaNext;
    let pred = sigmaPredOriginal(this.prediction, sigmaInput, modelOutput, sample);
    if (this.config.clip_sample) pred = clampSample(pred, this.config.clip_sample_range);
    this.predOriginalSample = pred;
    if (first) {
      const derivative = sigmaDerivative(sample, pred, sigma);
      const dt = f32(sigmaNext - sigma);
      this.prevDerivative = derivative;
      this.dt = dt;
      this.savedSample = sample.slice();
      return addScaledF32(sample, derivative, dt);
    }
    // The trapezoidal rule: the mean of the predictor's derivative and this one, from the predictor's start.
    const prev = this.prevDerivative!;
    const derivative = sigmaDerivative(sample, pred, sigmaNext);
    const mean = derivative.map((d, i) => f32(prev[i]! + d) / 2);
    const out = addScaledF32(this.savedSample!, mean, this.dt!);
    this.prevDerivative = null;
    this.dt = null;
    this.savedSample = null;
    return out;
  }

  addNoise(original: Float32Array, noise: Float32Array, stepIndex: number): Float32Array {
    checkStepArgs(NAME, this.timesteps, stepIndex, original, noise);
    return sigmaAddNoise(original, noise, this.sigmas[stepIndex]!);
  }
}
