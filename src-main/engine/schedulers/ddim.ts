import { PinholeError } from '../../../src-shared/errors';
import { f32, sqrtF32 } from './f32';
import { checkLengths, checkStepIndex, drawNoise } from './base';
import { checkChoice, checkInteger, readTrainedBetas, resolveConfig, type SchedulerConfigSource } from './config';
import { npArange, npLinspace, roundHalfEven } from './numpy';
import { checkSteps, checkTrainRange, clampSample, makeAlphasCumprod, makeBetas, thresholdSample } from './schedule';
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
 * x₀ and ε from a model output in the ᾱ ("variance-preserving") parameterization, float32:
 * - epsilon: x₀ = (x − √(1−ᾱ)·out) / √ᾱ, ε = out
 * - v_prediction: x₀ = √ᾱ·x − √(1−ᾱ)·out, ε = √ᾱ·out + √(1−ᾱ)·x
 * - sample: x₀ = out, ε = (x − √ᾱ·x₀) / √(1−ᾱ)
 */
export function alphaPredictions(
  prediction: PredictionType,
  alphaProd: number,
  modelOutput: Float32Array,
  sample: Float32Array,
): { x0: Float32Array; eps: Float32Array } {
  const n = sample.length;
  const sa = sqrtF32(alphaProd);
  const sb = sqrtF32(f32(1 - alphaProd));
  const x0 = new Float32Array(n);
  let eps: Float32Array;
  if (prediction === 'epsilon') {
    for (let i = 0; i < n; i++) x0[i] = f32(sample[i]! - f32(sb * modelOutput[i]!)) / sa;
    eps = modelOutput;
  } else if (prediction === 'v_prediction') {
    eps = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      x0[i] = f32(sa * sample[i]!) - f32(sb * modelOutput[i]!);
      eps[i] = f32(sa * modelOutput[i]!) + f32(sb * sample[i]!);
    }
  } else {
    x0.set(modelOutput);
    eps = new Float32Array(n);
    for (let i = 0; i < n; i++) eps[i] = f32(sample[i]! - f32(sa * x0[i]!)) / sb;
  }
  return { x0, eps };
}

/** `√ᾱ·x + √(1−ᾱ)·ε` (DDPM's `add_noise`), float32. */
export function ddpmAddNoise(original: Float32Array, noise: Float32Array, alphaProd: number): Float32Array {
  const sa = sqrtF32(alphaProd);
  const sb = sqrtF32(f32(1 - alphaProd));
  const out = new Float32Array(original.length);
  for (let i = 0; i < out.length; i++) out[i] = f32(sa * original[i]!) + f32(sb * noise[i]!);
  return out;
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
    const T = checkInteger(NAME, 'num_train_timesteps', config.num_train_timesteps, 2);
    this.prediction = checkChoice(NAME, 'prediction_type', config.prediction_type, [
      'epsilon',
      'v_prediction',
      'sample',
    ] as const);
    checkChoice(NAME, 'timestep_spacing', config.timestep_spacing, ['linspace', 'leading', 'trailing'] as const);
    checkInteger(NAME, 'steps_offset', config.steps_offset, 0);
    this.eta = options.eta ?? 0;
    if (!(this.eta >= 0)) throw new PinholeError('INVALID_PARAMS', `${NAME}: eta must be ≥ 0`);
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
    this.finalAlphaCumprod = config.set_alpha_to_one ? 1 : this.alphasCumprod[0]!;
  }

  setTimesteps(numSteps: number): void {
    const cfg = this.config;
    const T = cfg.num_train_timesteps;
    checkSteps(NAME, numSteps, T);
    let timesteps: Float64Array;
    switch (cfg.timestep_spacing) {
      case 'linspace':
        timesteps = npLinspace(0, T - 1, numSteps)
          .map(roundHalfEven)
          .reverse();
        break;
      case 'leading': {
        const ratio = Math.floor(T / numSteps);
        timesteps = new Float64Array(numSteps).map((_, i) => (numSteps - 1 - i) * ratio + cfg.steps_offset);
        break;
      }
      default:
        timesteps = npArange(T, 0, -T / numSteps).map((v) => roundHalfEven(v) - 1);
    }
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
    checkStepIndex(NAME, stepIndex, this.timesteps);
    const dims = checkLengths(NAME, modelOutput, sample, shape);
    const cfg = this.config;
    const t = this.timesteps[stepIndex]!;
    const prevT = t - Math.floor(cfg.num_train_timesteps / this.numInferenceSteps);
    const alphaProd = this.alphasCumprod[t]!;
    const alphaProdPrev = prevT >= 0 ? this.alphasCumprod[prevT]! : this.finalAlphaCumprod;
    const predicted = alphaPredictions(this.prediction, alphaProd, modelOutput, sample);
    const eps = predicted.eps;
    let x0 = predicted.x0;
    if (cfg.thresholding) {
      x0 = thresholdSample(x0, dims, cfg.dynamic_thresholding_ratio, cfg.sample_max_value);
    } else if (cfg.clip_sample) {
      x0 = clampSample(x0, cfg.clip_sample_range);
    }
    // σ_t(η) = η·√((1−ᾱ_prev)/(1−ᾱ_t) · (1 − ᾱ_t/ᾱ_prev)), float32.
    const variance = f32(f32(f32(1 - alphaProdPrev) / f32(1 - alphaProd)) * f32(1 - f32(alphaProd / alphaProdPrev)));
    const std = f32(this.eta * sqrtF32(variance));
    const dirCoef = sqrtF32(f32(f32(1 - alphaProdPrev) - f32(std * std)));
    const prevCoef = sqrtF32(alphaProdPrev);
    const out = new Float32Array(sample.length);
    for (let i = 0; i < out.length; i++) out[i] = f32(prevCoef * x0[i]!) + f32(dirCoef * eps[i]!);
    this.predOriginalSample = x0;
    if (this.eta > 0) {
      const z = drawNoise(NAME, noise, dims);
      for (let i = 0; i < out.length; i++) out[i] = out[i]! + f32(std * z[i]!);
    }
    return out;
  }

  addNoise(original: Float32Array, noise: Float32Array, stepIndex: number): Float32Array {
    checkStepIndex(NAME, stepIndex, this.timesteps);
    checkLengths(NAME, original, noise);
    return ddpmAddNoise(original, noise, this.alphasCumprod[this.timesteps[stepIndex]!]!);
  }
}
