import { f32, sqrtF32 } from './f32';
import { addScaledF32, checkLengths, checkStepIndex, maxOf, scaleBySigma, sigmaPredOriginal } from './base';
import {
  checkChoice,
  checkInteger,
  readOptionalNumber,
  readTrainedBetas,
  resolveConfig,
  unsupported,
  type SchedulerConfigSource,
} from './config';
import { npInterpIndex } from './numpy';
import {
  checkSteps,
  clampSample,
  exponentialSigmas,
  karrasSigmas,
  makeAlphasCumprod,
  makeBetas,
  npLogF32,
  sigmaToT,
  spacedTimesteps,
  trainSigmas,
} from './schedule';
import type { NoiseSource, PredictionType, Scheduler, TimestepSpacing } from './types';

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
    const T = checkInteger(NAME, 'num_train_timesteps', config.num_train_timesteps, 2);
    this.prediction = checkChoice(NAME, 'prediction_type', config.prediction_type, [
      'epsilon',
      'v_prediction',
      'sample',
    ] as const);
    checkChoice(NAME, 'timestep_spacing', config.timestep_spacing, ['linspace', 'leading', 'trailing'] as const);
    checkInteger(NAME, 'steps_offset', config.steps_offset, 0);
    if (config.use_beta_sigmas) unsupported(NAME, 'use_beta_sigmas (needs scipy.stats.beta.ppf)');
    if (config.use_karras_sigmas && config.use_exponential_sigmas) {
      unsupported(NAME, 'more than one of use_karras_sigmas / use_exponential_sigmas');
    }
    const betas = makeBetas(
      NAME,
      config.beta_schedule,
      T,
      config.beta_start,
      config.beta_end,
      readTrainedBetas(NAME, config.trained_betas),
      ['linear', 'scaled_linear', 'squaredcos_cap_v2', 'exp'],
    );
    this.alphasCumprod = makeAlphasCumprod(betas, false);
    this.trainSigmas = trainSigmas(this.alphasCumprod);
  }

  /** σ_max (or √(σ_max² + 1) for leading spacing), float32. */
  get initNoiseSigma(): number {
    const max = maxOf(this.sigmas.length > 0 ? this.sigmas : this.trainSigmas);
    const spacing = this.config.timestep_spacing;
    if (spacing === 'linspace' || spacing === 'trailing') return max;
    return sqrtF32(f32(f32(max * max) + 1));
  }

  /** True when the next `step` is a predictor (Euler) step. */
  get stateInFirstOrder(): boolean {
    return this.dt === null;
  }

  setTimesteps(numSteps: number): void {
    const cfg = this.config;
    const T = cfg.num_train_timesteps;
    checkSteps(NAME, numSteps, T);
    let timesteps: Float64Array = spacedTimesteps(
      cfg.timestep_spacing as TimestepSpacing,
      T,
      numSteps,
      cfg.steps_offset,
    ).map(f32);
    const train = this.trainSigmas;
    const logSigmas = npLogF32(train);
    let sigmas = npInterpIndex(timesteps, train);
    if (cfg.use_karras_sigmas || cfg.use_exponential_sigmas) {
      const sigmaMin = readOptionalNumber(NAME, 'sigma_min', this.hidden['sigma_min']) ?? sigmas[sigmas.length - 1]!;
      const sigmaMax = readOptionalNumber(NAME, 'sigma_max', this.hidden['sigma_max']) ?? sigmas[0]!;
      sigmas = cfg.use_karras_sigmas
        ? karrasSigmas(sigmaMin, sigmaMax, numSteps)
        : exponentialSigmas(sigmaMin, sigmaMax, numSteps);
      timesteps = sigmas.map((s) => sigmaToT(s, logSigmas));
    }
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
    checkStepIndex(NAME, stepIndex, this.timesteps);
    checkLengths(NAME, modelOutput, sample, shape);
    const first = this.dt === null;
    // Predictor: from σ[i] towards σ[i+1]. Corrector: the same interval, seen from its end.
    const sigma = first ? this.sigmas[stepIndex]! : this.sigmas[stepIndex - 1]!;
    const sigmaNext = first ? this.sigmas[stepIndex + 1]! : this.sigmas[stepIndex]!;
    const sigmaInput = first ? sigma : sigmaNext;
    let pred = sigmaPredOriginal(this.prediction, sigmaInput, modelOutput, sample);
    if (this.config.clip_sample) pred = clampSample(pred, this.config.clip_sample_range);
    this.predOriginalSample = pred;
    const n = sample.length;
    const out = new Float32Array(n);
    if (first) {
      const derivative = new Float32Array(n);
      for (let i = 0; i < n; i++) derivative[i] = f32(sample[i]! - pred[i]!) / sigma;
      const dt = f32(sigmaNext - sigma);
      for (let i = 0; i < n; i++) out[i] = sample[i]! + f32(derivative[i]! * dt);
      this.prevDerivative = derivative;
      this.dt = dt;
      this.savedSample = sample.slice();
      return out;
    }
    const prev = this.prevDerivative!;
    const dt = this.dt!;
    const base = this.savedSample!;
    for (let i = 0; i < n; i++) {
      const d = f32(f32(sample[i]! - pred[i]!) / sigmaNext);
      const avg = f32(f32(prev[i]! + d) / 2);
      out[i] = base[i]! + f32(avg * dt);
    }
    this.prevDerivative = null;
    this.dt = null;
    this.savedSample = null;
    return out;
  }

  addNoise(original: Float32Array, noise: Float32Array, stepIndex: number): Float32Array {
    checkStepIndex(NAME, stepIndex, this.timesteps);
    checkLengths(NAME, original, noise);
    return addScaledF32(original, noise, this.sigmas[stepIndex]!);
  }
}
