import { PinholeError } from '../../../src-shared/errors';
import { f32, sqrtF32 } from './f32';
import { axpbyF32, checkStepArgs, checkStepIndex, drawNoise } from './base';
import { alphaCumprodAddNoise } from './add-noise';
import { checkInteger, checkPredictionType, resolveConfig, type SchedulerConfigSource } from './config';
import { npLinspace } from './numpy';
import { clipPredOriginal, vpPredOriginal, vpScales } from './prediction';
import { alphasCumprodFromConfig, checkStepCount, checkTrainRange } from './schedule';
import type { NoiseSource, PredictionType, Scheduler } from './types';

/** `LCMScheduler.__init__` keyword arguments, with diffusers' defaults. */
export interface LCMConfig {
  num_train_timesteps: number;
  beta_start: number;
  beta_end: number;
  beta_schedule: string;
  trained_betas: unknown;
  original_inference_steps: number;
  clip_sample: boolean;
  clip_sample_range: number;
  set_alpha_to_one: boolean;
  steps_offset: number;
  prediction_type: string;
  thresholding: boolean;
  dynamic_thresholding_ratio: number;
  sample_max_value: number;
  timestep_spacing: string;
  timestep_scaling: number;
  rescale_betas_zero_snr: boolean;
}

/** `LCMScheduler`'s own defaults (its `__init__` signature in diffusers). */
export const LCM_DEFAULTS: Readonly<LCMConfig> = {
  num_train_timesteps: 1000,
  beta_start: 0.00085,
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  trained_betas: null,
  original_inference_steps: 50,
  clip_sample: false,
  clip_sample_range: 1.0,
  set_alpha_to_one: true,
  steps_offset: 0,
  prediction_type: 'epsilon',
  thresholding: false,
  dynamic_thresholding_ratio: 0.995,
  sample_max_value: 1.0,
  timestep_spacing: 'leading',
  timestep_scaling: 10.0,
  rescale_betas_zero_snr: false,
};

const NAME = 'LCMScheduler';

/**
 * diffusers' `LCMScheduler` (Latent Consistency Models, multistep sampling): each step predicts the clean sample
 * with the consistency boundary conditions (c_skip, c_out) and re-noises it to the next timestep with fresh
 * noise from the generator — except at the last step, which returns the denoised sample and draws nothing.
 * Timesteps are integers taken evenly from the `original_inference_steps`-long distillation schedule.
 * (`timestep_spacing` and `steps_offset` are accepted but, as in diffusers, unused.)
 */
export class LCMScheduler implements Scheduler {
  readonly className = NAME;
  readonly order = 1;
  readonly integerTimesteps = true;
  readonly initNoiseSigma = 1;
  readonly config: Readonly<LCMConfig>;
  readonly alphasCumprod: Float32Array;
  readonly finalAlphaCumprod: number;
  timesteps: Float64Array = new Float64Array(0);
  numInferenceSteps = 0;
  predOriginalSample: Float32Array | null = null;
  private readonly prediction: PredictionType;

  /** diffusers' `LCMScheduler.from_config(source, **overrides)`. */
  static fromConfig(source?: SchedulerConfigSource, overrides?: SchedulerConfigSource): LCMScheduler {
    return new LCMScheduler(resolveConfig(NAME, LCM_DEFAULTS, source, overrides).config);
  }

  constructor(config: LCMConfig) {
    this.config = config;
    checkInteger(NAME, 'num_train_timesteps', config.num_train_timesteps, 2);
    checkInteger(NAME, 'original_inference_steps', config.original_inference_steps, 1);
    this.prediction = checkPredictionType(NAME, config.prediction_type);
    this.alphasCumprod = alphasCumprodFromConfig(NAME, config, false);
    this.finalAlphaCumprod = config.set_alpha_to_one ? 1 : this.alphasCumprod[0]!;
  }

  /**
   * LCM's schedule: the distillation timesteps `k·i − 1` (i = 1 … original_steps × strength, k = T // original
   * steps), reversed, and `numSteps` of them picked at `floor(linspace(0, len, numSteps, endpoint=False))`.
   * @param strength img2img strength as diffusers' LCM pipelines pass it (1 for txt2img).
   */
  setTimesteps(numSteps: number, strength = 1): void {
    const cfg = this.config;
    const T = cfg.num_train_timesteps;
    const originalSteps = cfg.original_inference_steps;
    checkStepCount(NAME, numSteps);
    if (originalSteps > T) {
      throw new PinholeError('INVALID_PARAMS', `${NAME}: original_inference_steps exceeds num_train_timesteps`);
    }
    if (numSteps > T) {
      throw new PinholeError('INVALID_PARAMS', `${NAME}: ${numSteps} steps exceed the ${T} training timesteps`);
    }
    const k = Math.floor(T / originalSteps);
    const count = Math.trunc(originalSteps * strength);
    const origin = new Float64Array(count).map((_, i) => (count - i) * k - 1); // already reversed
    if (Math.floor(count / numSteps) < 1) {
      throw new PinholeError(
        'INVALID_PARAMS',
        `${NAME}: ${numSteps} steps need original_inference_steps × strength ≥ ${numSteps} (got ${count})`,
      );
    }
    if (numSteps > originalSteps) {
      throw new PinholeError(
        'INVALID_PARAMS',
        `${NAME}: ${numSteps} steps exceed original_inference_steps (${originalSteps})`,
      );
    }
    const picks = npLinspace(0, count, numSteps, false);
    const timesteps = picks.map((p) => origin[Math.floor(p)]!);
    checkTrainRange(NAME, timesteps, T);
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
    const prevT = stepIndex + 1 < this.timesteps.length ? this.timesteps[stepIndex + 1]! : t;
    const alphaProd = this.alphasCumprod[t]!;
    const alphaProdPrev = prevT >= 0 ? this.alphasCumprod[prevT]! : this.finalAlphaCumprod;
    // Boundary conditions with σ_data = 0.5 on the scaled timestep (an int64 tensor × float → float32).
    const scaled = f32(t * f32(cfg.timestep_scaling));
    const denom = f32(f32(scaled * scaled) + 0.25);
    const cSkip = f32(0.25 / denom);
    const cOut = f32(scaled / sqrtF32(denom));
    const { alpha, sigma } = vpScales(alphaProd);
    const x0 = clipPredOriginal(vpPredOriginal(this.prediction, alpha, sigma, modelOutput, sample), dims, cfg);
    const denoised = axpbyF32(cOut, x0, cSkip, sample);
    this.predOriginalSample = denoised;
    // No noise (and no draw) at the last step, which also covers one-step sampling.
    if (stepIndex === this.numInferenceSteps - 1) return denoised.slice();
    return alphaCumprodAddNoise(denoised, drawNoise(NAME, noise, dims), alphaProdPrev);
  }

  addNoise(original: Float32Array, noise: Float32Array, stepIndex: number): Float32Array {
    checkStepArgs(NAME, this.timesteps, stepIndex, original, noise);
    return alphaCumprodAddNoise(original, noise, this.alphasCumprod[this.timesteps[stepIndex]!]!);
  }
}
