import { f32, sqrtF32 } from './f32';
import { addScaledF32, checkLengths, checkStepIndex, drawNoise, maxOf, scaleBySigma, sigmaPredOriginal } from './base';
import {
  checkChoice,
  checkInteger,
  readTrainedBetas,
  resolveConfig,
  unsupported,
  type SchedulerConfigSource,
} from './config';
import { npInterpIndex } from './numpy';
import {
  checkSteps,
  makeAlphasCumprod,
  makeBetas,
  spacedTimesteps,
  trainSigmas,
  ZERO_SNR_LAST_ALPHA_CUMPROD,
} from './schedule';
import type { NoiseSource, PredictionType, Scheduler, TimestepSpacing } from './types';

/** `EulerAncestralDiscreteScheduler.__init__` keyword arguments, with diffusers' defaults. */
export interface EulerAncestralConfig {
  num_train_timesteps: number;
  beta_start: number;
  beta_end: number;
  beta_schedule: string;
  trained_betas: unknown;
  prediction_type: string;
  timestep_spacing: string;
  steps_offset: number;
  rescale_betas_zero_snr: boolean;
}

/** `EulerAncestralDiscreteScheduler`'s own defaults (its `__init__` signature in diffusers). */
export const EULER_ANCESTRAL_DEFAULTS: Readonly<EulerAncestralConfig> = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: 'linear',
  trained_betas: null,
  prediction_type: 'epsilon',
  timestep_spacing: 'linspace',
  steps_offset: 0,
  rescale_betas_zero_snr: false,
};

const NAME = 'EulerAncestralDiscreteScheduler';

/**
 * diffusers' `EulerAncestralDiscreteScheduler`: an Euler step down to σ_down followed by fresh noise of
 * σ_up, where σ_up² + σ_down² = σ_next² and σ_up² = σ_next²(σ² − σ_next²)/σ². Draws `randn(shape)` from the
 * generator at every step (the last one too, with σ_up = 0), exactly like diffusers, so seeded runs match.
 */
export class EulerAncestralDiscreteScheduler implements Scheduler {
  readonly className = NAME;
  readonly order = 1;
  readonly integerTimesteps = false;
  readonly config: Readonly<EulerAncestralConfig>;
  readonly alphasCumprod: Float32Array;
  readonly trainSigmas: Float32Array;
  /** The inference sigmas, float32, `timesteps.length + 1` values ending in 0. */
  sigmas: Float32Array = new Float32Array(0);
  timesteps: Float64Array = new Float64Array(0);
  numInferenceSteps = 0;
  predOriginalSample: Float32Array | null = null;
  private readonly prediction: PredictionType;

  /** diffusers' `EulerAncestralDiscreteScheduler.from_config(source, **overrides)`. */
  static fromConfig(
    source?: SchedulerConfigSource,
    overrides?: SchedulerConfigSource,
  ): EulerAncestralDiscreteScheduler {
    return new EulerAncestralDiscreteScheduler(resolveConfig(NAME, EULER_ANCESTRAL_DEFAULTS, source, overrides).config);
  }

  constructor(config: EulerAncestralConfig) {
    this.config = config;
    const T = checkInteger(NAME, 'num_train_timesteps', config.num_train_timesteps, 2);
    this.prediction = checkChoice(NAME, 'prediction_type', config.prediction_type, [
      'epsilon',
      'v_prediction',
      'sample',
    ] as const);
    // diffusers raises NotImplementedError for "sample" at step time; refuse it up front.
    if (this.prediction === 'sample') unsupported(NAME, 'prediction_type "sample"');
    checkChoice(NAME, 'timestep_spacing', config.timestep_spacing, ['linspace', 'leading', 'trailing'] as const);
    checkInteger(NAME, 'steps_offset', config.steps_offset, 0);
    const betas = makeBetas(
      NAME,
      config.beta_schedule,
      T,
      config.beta_start,
      config.beta_end,
      readTrainedBetas(NAME, config.trained_betas),
      ['linear', 'scaled_linear', 'squaredcos_cap_v2'],
    );
    this.alphasCumprod = makeAlphasCumprod(betas, config.rescale_betas_zero_snr);
    if (config.rescale_betas_zero_snr) this.alphasCumprod[T - 1] = ZERO_SNR_LAST_ALPHA_CUMPROD;
    this.trainSigmas = trainSigmas(this.alphasCumprod);
  }

  /** σ_max (or √(σ_max² + 1) for leading spacing), float32. */
  get initNoiseSigma(): number {
    const max = maxOf(this.sigmas.length > 0 ? this.sigmas : this.trainSigmas);
    const spacing = this.config.timestep_spacing;
    if (spacing === 'linspace' || spacing === 'trailing') return max;
    return sqrtF32(f32(f32(max * max) + 1));
  }

  setTimesteps(numSteps: number): void {
    const cfg = this.config;
    checkSteps(NAME, numSteps, cfg.num_train_timesteps);
    const timesteps = spacedTimesteps(
      cfg.timestep_spacing as TimestepSpacing,
      cfg.num_train_timesteps,
      numSteps,
      cfg.steps_offset,
    ).map(f32);
    const sigmas = npInterpIndex(timesteps, this.trainSigmas);
    const sigmas32 = new Float32Array(sigmas.length + 1);
    sigmas32.set(sigmas);
    this.sigmas = sigmas32;
    this.timesteps = timesteps;
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
    noise?: NoiseSource,
    shape?: readonly number[],
  ): Float32Array {
    checkStepIndex(NAME, stepIndex, this.timesteps);
    const dims = checkLengths(NAME, modelOutput, sample, shape);
    const sigma = this.sigmas[stepIndex]!;
    const sigmaTo = this.sigmas[stepIndex + 1]!;
    const pred = sigmaPredOriginal(this.prediction, sigma, modelOutput, sample);
    // σ_up = (σ_to² (σ_from² − σ_to²) / σ_from²)^½ and σ_down = (σ_to² − σ_up²)^½, each op in float32.
    const to2 = f32(sigmaTo * sigmaTo);
    const from2 = f32(sigma * sigma);
    const sigmaUp = sqrtF32(f32(f32(to2 * f32(from2 - to2)) / from2));
    const sigmaDown = sqrtF32(f32(to2 - f32(sigmaUp * sigmaUp)));
    const dt = f32(sigmaDown - sigma);
    const out = new Float32Array(sample.length);
    for (let i = 0; i < out.length; i++) {
      const derivative = f32(f32(sample[i]! - pred[i]!) / sigma);
      out[i] = sample[i]! + f32(derivative * dt);
    }
    const eps = drawNoise(NAME, noise, dims);
    this.predOriginalSample = pred;
    return addScaledF32(out, eps, sigmaUp);
  }

  addNoise(original: Float32Array, noise: Float32Array, stepIndex: number): Float32Array {
    checkStepIndex(NAME, stepIndex, this.timesteps);
    checkLengths(NAME, original, noise);
    return addScaledF32(original, noise, this.sigmas[stepIndex]!);
  }
}
