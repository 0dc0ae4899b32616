import { expF32, f32, logF32, torchLinspaceF32 } from './f32';
import { addScaledF32, checkStepArgs, checkStepIndex, scaleBySigma, sigmaDerivative } from './base';
import { sigmaAddNoise } from './add-noise';
import {
  checkChoice,
  checkInteger,
  checkPredictionType,
  checkSigmaConversion,
  checkSpacing,
  readOptionalNumber,
  resolveConfig,
  type SchedulerConfigSource,
} from './config';
import { npInterpIndex } from './numpy';
import { sigmaPredOriginal } from './prediction';
import { alphasCumprodFromConfig, spacedTimestepsFor, trainSigmas } from './schedule';
import { convertSigmas, sigmaInitNoiseSigma, withFinalSigma } from './sigma-schedule';
import type { NoiseSource, PredictionType, Scheduler } from './types';

/** `EulerDiscreteScheduler.__init__` keyword arguments, with diffusers' defaults. */
export interface EulerDiscreteConfig {
  num_train_timesteps: number;
  beta_start: number;
  beta_end: number;
  beta_schedule: string;
  trained_betas: unknown;
  prediction_type: string;
  interpolation_type: string;
  use_karras_sigmas: boolean;
  use_exponential_sigmas: boolean;
  use_beta_sigmas: boolean;
  sigma_min: unknown;
  sigma_max: unknown;
  timestep_spacing: string;
  timestep_type: string;
  steps_offset: number;
  rescale_betas_zero_snr: boolean;
  final_sigmas_type: string;
}

/** `EulerDiscreteScheduler`'s own defaults (its `__init__` signature in diffusers). */
export const EULER_DISCRETE_DEFAULTS: Readonly<EulerDiscreteConfig> = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: 'linear',
  trained_betas: null,
  prediction_type: 'epsilon',
  interpolation_type: 'linear',
  use_karras_sigmas: false,
  use_exponential_sigmas: false,
  use_beta_sigmas: false,
  sigma_min: null,
  sigma_max: null,
  // EulerDiscrete's own default: an SD 1.5 config (no timestep_spacing key) gets linspace, unlike DDIM.
  timestep_spacing: 'linspace',
  timestep_type: 'discrete',
  steps_offset: 0,
  rescale_betas_zero_snr: false,
  final_sigmas_type: 'zero',
};

const NAME = 'EulerDiscreteScheduler';

/**
 * diffusers' `EulerDiscreteScheduler` (Karras et al. 2022, Algorithm 2 without churn): σ-space Euler steps,
 * optionally on Karras or exponential sigmas. Timesteps are float32 values (fractional for linspace spacing and
 * Karras sigmas); `sigmas` has one more entry than `timesteps` (the final σ, 0 by default).
 */
export class EulerDiscreteScheduler implements Scheduler {
  readonly className = NAME;
  readonly order = 1;
  readonly integerTimesteps = false;
  readonly config: Readonly<EulerDiscreteConfig>;
  readonly alphasCumprod: Float32Array;
  /** Training sigmas √((1 − ᾱ)/ᾱ), ascending in t (float32). */
  readonly trainSigmas: Float32Array;
  /** The inference sigmas, float32, `timesteps.length + 1` values (more with log_linear interpolation). */
  sigmas: Float32Array = new Float32Array(0);
  timesteps: Float64Array = new Float64Array(0);
  numInferenceSteps = 0;
  predOriginalSample: Float32Array | null = null;
  private readonly prediction: PredictionType;

  /** diffusers' `EulerDiscreteScheduler.from_config(source, **overrides)`. */
  static fromConfig(source?: SchedulerConfigSource, overrides?: SchedulerConfigSource): EulerDiscreteScheduler {
    // sigma_min / sigma_max are EulerDiscrete's own keys, so the hidden ones never matter here.
    return new EulerDiscreteScheduler(resolveConfig(NAME, EULER_DISCRETE_DEFAULTS, source, overrides).config);
  }

  constructor(config: EulerDiscreteConfig) {
    this.config = config;
    checkInteger(NAME, 'num_train_timesteps', config.num_train_timesteps, 2);
    this.prediction = checkPredictionType(NAME, config.prediction_type);
    checkChoice(NAME, 'interpolation_type', config.interpolation_type, ['linear', 'log_linear'] as const);
    checkSpacing(NAME, config);
    checkChoice(NAME, 'timestep_type', config.timestep_type, ['discrete', 'continuous'] as const);
    checkChoice(NAME, 'final_sigmas_type', config.final_sigmas_type, ['zero', 'sigma_min'] as const);
    checkSigmaConversion(NAME, config);
    readOptionalNumber(NAME, 'sigma_min', config.sigma_min);
    readOptionalNumber(NAME, 'sigma_max', config.sigma_max);
    this.alphasCumprod = alphasCumprodFromConfig(NAME, config, true);
    this.trainSigmas = trainSigmas(this.alphasCumprod);
  }

  /** σ_max (or √(σ_max² + 1) for leading spacing), float32. */
  get initNoiseSigma(): number {
    return sigmaInitNoiseSigma(this.sigmas, this.trainSigmas, this.config.timestep_spacing);
  }

  setTimesteps(numSteps: number): void {
    const cfg = this.config;
    const T = cfg.num_train_timesteps;
    // NumPy computes the spacing in float64 and diffusers casts it to float32.
    let timesteps: Float64Array = spacedTimestepsFor(NAME, cfg, numSteps).map(f32);
    const train = this.trainSigmas;
    let sigmas: Float64Array;
    if (cfg.interpolation_type === 'linear') {
      sigmas = npInterpIndex(timesteps, train);
    } else {
      // log_linear: torch.linspace(log σ_max, log σ_min, n + 1).exp() in float32, as diffusers does (n + 1 sigmas).
      const logs = torchLinspaceF32(logF32(train[T - 1]!), logF32(train[0]!), numSteps + 1);
      sigmas = Float64Array.from(logs, expF32);
    }
    // Karras / exponential bounds: sigma_min / sigma_max from the config, else the ends of the sigmas just computed.
    const converted = convertSigmas(NAME, cfg, numSteps, train, {
      configured: cfg,
      defaultMin: sigmas[sigmas.length - 1]!,
      defaultMax: sigmas[0]!,
    });
    if (converted) ({ sigmas, timesteps } = converted);
    this.sigmas = withFinalSigma(sigmas, cfg.final_sigmas_type === 'sigma_min' ? train[0]! : 0);
    if (cfg.timestep_type === 'continuous' && cfg.prediction_type === 'v_prediction') {
      // EDM-style timesteps: 0.25·log σ, float32.
      this.timesteps = Float64Array.from(this.sigmas.subarray(0, this.sigmas.length - 1), (s) => f32(0.25 * logF32(s)));
    } else {
      this.timesteps = timesteps.map(f32);
    }
    this.numInferenceSteps = numSteps;
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
    // s_churn = 0 (diffusers' default and what its pipelines pass): γ = 0, σ̂ = σ, no noise is drawn.
    const sigma = this.sigmas[stepIndex]!;
    const pred = sigmaPredOriginal(this.prediction, sigma, modelOutput, sample);
    const dt = f32(this.sigmas[stepIndex + 1]! - sigma);
    this.predOriginalSample = pred;
    return addScaledF32(sample, sigmaDerivative(sample, pred, sigma), dt);
  }

  addNoise(original: Float32Array, noise: Float32Array, stepIndex: number): Float32Array {
    checkStepArgs(NAME, this.timesteps, stepIndex, original, noise);
    return sigmaAddNoise(original, noise, this.sigmas[stepIndex]!);
  }
}
