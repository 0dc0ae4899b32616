import { f32, sqrtF32 } from './f32';
import { addScaledF32, checkStepArgs, checkStepIndex, drawNoise, scaleBySigma, sigmaDerivative } from './base';
import { sigmaAddNoise } from './add-noise';
import {
  checkInteger,
  checkPredictionType,
  checkSpacing,
  resolveConfig,
  unsupported,
  type SchedulerConfigSource,
} from './config';
import { npInterpIndex } from './numpy';
import { sigmaPredOriginal } from './prediction';
import { alphasCumprodFromConfig, spacedTimestepsFor, trainSigmas } from './schedule';
import { sigmaInitNoiseSigma, withFinalSigma } from './sigma-schedule';
import type { NoiseSource, PredictionType, Scheduler } from './types';

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
    checkInteger(NAME, 'num_train_timesteps', config.num_train_timesteps, 2);
    this.prediction = checkPredictionType(NAME, config.prediction_type);
    // diffusers raises NotImplementedError for "sample" at step time; refuse it up front.
    if (this.prediction === 'sample') unsupported(NAME, 'prediction_type "sample"');
    checkSpacing(NAME, config);
    this.alphasCumprod = alphasCumprodFromConfig(NAME, config, true);
    this.trainSigmas = trainSigmas(this.alphasCumprod);
  }

  /** σ_max (or √(σ_max² + 1) for leading spacing), float32. */
  get initNoiseSigma(): number {
    return sigmaInitNoiseSigma(this.sigmas, this.trainSigmas, this.config.timestep_spacing);
  }

  setTimesteps(numSteps: number): void {
    const timesteps = spacedTimestepsFor(NAME, this.config, numSteps).map(f32);
    this.sigmas = withFinalSigma(npInterpIndex(timesteps, this.trainSigmas), 0);
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
    const dims = checkStepArgs(NAME, this.timesteps, stepIndex, modelOutput, sample, shape);
    const sigma = this.sigmas[stepIndex]!;
    const sigmaTo = this.sigmas[stepIndex + 1]!;
    const pred = sigmaPredOriginal(this.prediction, sigma, modelOutput, sample);
    // σ_up = (σ_to² (σ_from² − σ_to²) / σ_from²)^½ and σ_down = (σ_to² − σ_up²)^½, each op in float32.
    const to2 = f32(sigmaTo * sigmaTo);
    const from2 = f32(sigma * sigma);
    const sigmaUp = sqrtF32(f32(f32(to2 * f32(from2 - to2)) / from2));
    const sigmaDown = sqrtF32(f32(to2 - f32(sigmaUp * sigmaUp)));
    const dt = f32(sigmaDown - sigma);
    const out = addScaledF32(sample, sigmaDerivative(sample, pred, sigma), dt);
    const eps = drawNoise(NAME, noise, dims);
    this.predOriginalSample = pred;
    return addScaledF32(out, eps, sigmaUp);
  }

  addNoise(original: Float32Array, noise: Float32Array, stepIndex: number): Float32Array {
    checkStepArgs(NAME, this.timesteps, stepIndex, original, noise);
    return sigmaAddNoise(original, noise, this.sigmas[stepIndex]!);
  }
}
