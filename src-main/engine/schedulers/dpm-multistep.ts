import { PinholeError } from '../../../src-shared/errors';
import { f32, logF32, sqrtF32 } from './f32';
import { checkStepArgs, checkStepIndex, drawNoise } from './base';
import { vpAddNoise } from './add-noise';
import {
  checkChoice,
  checkInteger,
  checkPredictionType,
  checkSigmaConversion,
  checkSpacing,
  resolveConfig,
  unsupported,
  type SchedulerConfigSource,
} from './config';
import { npArange, npInterpIndex, npLinspace, roundHalfEven } from './numpy';
import { vpPredEpsilon, vpPredOriginal } from './prediction';
import {
  alphasCumprodFromConfig,
  checkStepCount,
  checkTrainRange,
  npLogF32,
  sigmaToT,
  thresholdSample,
  trainSigmas,
} from './schedule';
import { convertSigmas, withFinalSigma } from './sigma-schedule';
import type { NoiseSource, PredictionType, Scheduler } from './types';
import { alphaSigma, dpmFirstOrder, dpmSecondOrder, dpmThirdOrder, type DpmAlgorithm } from './dpm-updates';

/** `DPMSolverMultistepScheduler.__init__` keyword arguments, with diffusers' defaults. */
export interface DPMSolverMultistepConfig {
  num_train_timesteps: number;
  beta_start: number;
  beta_end: number;
  beta_schedule: string;
  trained_betas: unknown;
  solver_order: number;
  prediction_type: string;
  thresholding: boolean;
  dynamic_thresholding_ratio: number;
  sample_max_value: number;
  algorithm_type: string;
  solver_type: string;
  lower_order_final: boolean;
  euler_at_final: boolean;
  use_karras_sigmas: boolean;
  use_exponential_sigmas: boolean;
  use_beta_sigmas: boolean;
  use_lu_lambdas: boolean;
  use_flow_sigmas: boolean;
  flow_shift: number;
  final_sigmas_type: string;
  lambda_min_clipped: number;
  variance_type: unknown;
  timestep_spacing: string;
  steps_offset: number;
  rescale_betas_zero_snr: boolean;
  use_dynamic_shifting: boolean;
  time_shift_type: string;
}

/** `DPMSolverMultistepScheduler`'s own defaults (its `__init__` signature in diffusers). */
export const DPM_SOLVER_MULTISTEP_DEFAULTS: Readonly<DPMSolverMultistepConfig> = {
  num_train_timesteps: 1000,
  beta_start: 0.0001,
  beta_end: 0.02,
  beta_schedule: 'linear',
  trained_betas: null,
  solver_order: 2,
  prediction_type: 'epsilon',
  thresholding: false,
  dynamic_thresholding_ratio: 0.995,
  sample_max_value: 1.0,
  algorithm_type: 'dpmsolver++',
  solver_type: 'midpoint',
  lower_order_final: true,
  euler_at_final: false,
  use_karras_sigmas: false,
  use_exponential_sigmas: false,
  use_beta_sigmas: false,
  use_lu_lambdas: false,
  use_flow_sigmas: false,
  flow_shift: 1.0,
  final_sigmas_type: 'zero',
  lambda_min_clipped: -Infinity,
  variance_type: null,
  timestep_spacing: 'linspace',
  steps_offset: 0,
  rescale_betas_zero_snr: false,
  use_dynamic_shifting: false,
  time_shift_type: 'exponential',
};

const NAME = 'DPMSolverMultistepScheduler';

/**
 * diffusers' `DPMSolverMultistepScheduler`: DPM-Solver++ (Lu et al. 2022) by default — 2M with the midpoint
 * rule, which is "DPM++ 2M" (and "DPM++ 2M Karras" with `use_karras_sigmas`). Also the first- and third-order,
 * Heun-rule, plain DPM-Solver and SDE variants diffusers offers. Integer timesteps; `sigmas` has one more entry
 * than `timesteps` (the final σ, 0 by default). The multistep history and the count of lower-order warm-up
 * steps are state, reset by `setTimesteps`, so steps must be taken in order.
 */
export class DPMSolverMultistepScheduler implements Scheduler {
  readonly className = NAME;
  // diffusers' class attribute is 1 whatever the solver order: one model evaluation per step.
  readonly order = 1;
  readonly integerTimesteps = true;
  readonly initNoiseSigma = 1;
  readonly config: Readonly<DPMSolverMultistepConfig>;
  readonly alphasCumprod: Float32Array;
  readonly trainSigmas: Float32Array;
  /** λ(t) = log α_t − log σ_t over the training timesteps (float32). */
  readonly lambdaT: Float32Array;
  sigmas: Float32Array = new Float32Array(0);
  timesteps: Float64Array = new Float64Array(0);
  numInferenceSteps = 0;
  predOriginalSample: Float32Array | null = null;
  private readonly prediction: PredictionType;
  private readonly algorithm: DpmAlgorithm;
  private readonly hidden: Readonly<Record<string, unknown>>;
  // The last `solver_order` converted model outputs (x₀ predictions for ++), oldest first.
  private modelOutputs: (Float32Array | null)[] = [];
  private lowerOrderNums = 0;

  /** diffusers' `DPMSolverMultistepScheduler.from_config(source, **overrides)`. */
  static fromConfig(source?: SchedulerConfigSource, overrides?: SchedulerConfigSource): DPMSolverMultistepScheduler {
    const { config, hidden } = resolveConfig(NAME, DPM_SOLVER_MULTISTEP_DEFAULTS, source, overrides);
    return new DPMSolverMultistepScheduler(config, hidden);
  }

  /**
   * @param hidden config keys the class does not take; diffusers' Karras/exponential conversions still read
   *   `sigma_min` / `sigma_max` from them when a model's config carries them.
   */
  constructor(config: DPMSolverMultistepConfig, hidden: Readonly<Record<string, unknown>> = {}) {
    this.config = config;
    this.hidden = hidden;
    checkInteger(NAME, 'num_train_timesteps', config.num_train_timesteps, 2);
    checkInteger(NAME, 'solver_order', config.solver_order, 1);
    if (config.solver_order > 3) unsupported(NAME, `solver_order ${config.solver_order}`);
    if (config.prediction_type === 'flow_prediction') unsupported(NAME, 'prediction_type "flow_prediction"');
    this.prediction = checkPredictionType(NAME, config.prediction_type);
    // diffusers maps the old "deis" name to dpmsolver++ and logrho/bh1/bh2 to midpoint.
    const algorithm = config.algorithm_type === 'deis' ? 'dpmsolver++' : config.algorithm_type;
    this.algorithm = checkChoice(NAME, 'algorithm_type', algorithm, [
      'dpmsolver++',
      'dpmsolver',
      'sde-dpmsolver++',
      'sde-dpmsolver',
    ] as const);
    const solverType = ['logrho', 'bh1', 'bh2'].includes(config.solver_type) ? 'midpoint' : config.solver_type;
    checkChoice(NAME, 'solver_type', solverType, ['midpoint', 'heun'] as const);
    if (solverType !== config.solver_type) this.config = { ...config, solver_type: solverType };
    if (algorithm !== config.algorithm_type) this.config = { ...this.config, algorithm_type: algorithm };
    checkChoice(NAME, 'final_sigmas_type', config.final_sigmas_type, ['zero', 'sigma_min'] as const);
    checkSpacing(NAME, config);
    if (config.variance_type !== null && config.variance_type !== undefined) {
      unsupported(NAME, `variance_type ${JSON.stringify(config.variance_type)}`);
    }
    checkSigmaConversion(NAME, config);
    if (config.use_flow_sigmas) unsupported(NAME, 'use_flow_sigmas');
    if (config.use_dynamic_shifting) unsupported(NAME, 'use_dynamic_shifting');
    if ((algorithm === 'dpmsolver' || algorithm === 'sde-dpmsolver') && config.final_sigmas_type === 'zero') {
      throw new PinholeError(
        'INVALID_PARAMS',
        `${NAME}: final_sigmas_type "zero" needs algorithm_type dpmsolver++ or sde-dpmsolver++`,
      );
    }
    this.alphasCumprod = alphasCumprodFromConfig(NAME, config, true);
    this.lambdaT = this.alphasCumprod.map((a) => f32(logF32(sqrtF32(a)) - logF32(sqrtF32(f32(1 - a)))));
    this.trainSigmas = trainSigmas(this.alphasCumprod);
  }

  setTimesteps(numSteps: number): void {
    const cfg = this.config;
    const T = cfg.num_train_timesteps;
    checkStepCount(NAME, numSteps);
    // λ clipping (critical for the cosine schedule): searchsorted(flip(λ), lambda_min_clipped).
    let clipped = 0;
    const n = this.lambdaT.length;
    while (clipped < n && this.lambdaT[n - 1 - clipped]! < cfg.lambda_min_clipped) clipped++;
    const lastTimestep = T - clipped;
    let timesteps: Float64Array;
    switch (cfg.timestep_spacing) {
      case 'linspace':
        timesteps = npLinspace(0, lastTimestep - 1, numSteps + 1)
          .map(roundHalfEven)
          .reverse()
          .subarray(0, numSteps)
          .slice();
        break;
      case 'leading': {
        const ratio = Math.floor(lastTimestep / (numSteps + 1));
        timesteps = new Float64Array(numSteps).map((_, i) => (numSteps - i) * ratio + cfg.steps_offset);
        break;
      }
      default:
        timesteps = npArange(lastTimestep, 0, -T / numSteps).map((v) => roundHalfEven(v) - 1);
    }
    const train = this.trainSigmas;
    let sigmas: Float64Array;
    const cosine = cfg.beta_schedule === 'squaredcos_cap_v2';
    // Karras / exponential bounds: the model config's (hidden) sigma_min / sigma_max, else the training sigmas'
    // ends (not the spaced ones, unlike Euler and Heun).
    const converted = convertSigmas(NAME, cfg, numSteps, train, {
      configured: this.hidden,
      defaultMin: train[0]!,
      defaultMax: train[T - 1]!,
    });
    if (converted) {
      sigmas = converted.sigmas;
      timesteps = cfg.use_karras_sigmas && !cosine ? converted.timesteps.map(roundHalfEven) : converted.timesteps;
    } else if (cfg.use_lu_lambdas) {
      // Uniform in log σ between the training extremes (diffusers calls these "lambdas").
      const logSigmas = npLogF32(train);
      const lambdaMin = logSigmas[0]!;
      const lambdaMax = logSigmas[T - 1]!;
      const ramp = npLinspace(0, 1, numSteps);
      sigmas = ramp.map((r) => Math.exp(lambdaMax + r * (lambdaMin - lambdaMax)));
      const ts = sigmas.map((s) => sigmaToT(s, logSigmas));
      timesteps = cosine ? ts : ts.map(roundHalfEven);
    } else {
      sigmas = npInterpIndex(timesteps, train);
    }
    // The timestep tensor is int64: fractional values are truncated toward zero.
    timesteps = timesteps.map(Math.trunc);
    checkTrainRange(NAME, timesteps, T);
    this.sigmas = withFinalSigma(sigmas, cfg.final_sigmas_type === 'sigma_min' ? train[0]! : 0);
    this.timesteps = timesteps;
    this.numInferenceSteps = timesteps.length;
    this.modelOutputs = new Array<Float32Array | null>(cfg.solver_order).fill(null);
    this.lowerOrderNums = 0;
    this.predOriginalSample = null;
  }

  scaleModelInput(sample: Float32Array, stepIndex: number): Float32Array {
    checkStepIndex(NAME, stepIndex, this.timesteps);
    return sample.slice();
  }

  /** diffusers' `convert_model_output`: x₀ for the ++ variants, ε for plain DPM-Solver. */
  private convertModelOutput(
    modelOutput: Float32Array,
    stepIndex: number,
    sample: Float32Array,
    shape: readonly number[],
  ): Float32Array {
    const { alpha, sigmaT } = alphaSigma(this.sigmas[stepIndex]!);
    const cfg = this.config;
    if (this.algorithm === 'dpmsolver++' || this.algorithm === 'sde-dpmsolver++') {
      const x0 = vpPredOriginal(this.prediction, alpha, sigmaT, modelOutput, sample);
      return cfg.thresholding ? thresholdSample(x0, shape, cfg.dynamic_thresholding_ratio, cfg.sample_max_value) : x0;
    }
    const eps = vpPredEpsilon(this.prediction, alpha, sigmaT, modelOutput, sample);
    if (!cfg.thresholding) return eps;
    // Threshold x₀ recovered from ε, then convert back.
    const x0 = vpPredOriginal('epsilon', alpha, sigmaT, eps, sample);
    const clipped = thresholdSample(x0, shape, cfg.dynamic_thresholding_ratio, cfg.sample_max_value);
    return vpPredEpsilon('sample', alpha, sigmaT, clipped, sample);
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
    const count = this.timesteps.length;
    // Lower-order steps at the end stabilise few-step sampling (and a final σ of 0 forces first order).
    const lowerOrderFinal =
      stepIndex === count - 1 &&
      (cfg.euler_at_final || (cfg.lower_order_final && count < 15) || cfg.final_sigmas_type === 'zero');
    const lowerOrderSecond = stepIndex === count - 2 && cfg.lower_order_final && count < 15;
    const converted = this.convertModelOutput(modelOutput, stepIndex, sample, dims);
    this.modelOutputs.shift();
    this.modelOutputs.push(converted);
    this.predOriginalSample = this.algorithm.endsWith('++') ? converted : null;
    const z = this.algorithm.startsWith('sde') ? drawNoise(NAME, noise, dims) : null;
    let out: Float32Array;
    const k = this.modelOutputs.length;
    const history = (back: number): Float32Array => this.modelOutputs[k - 1 - back]!;
    if (cfg.solver_order === 1 || this.lowerOrderNums < 1 || lowerOrderFinal) {
      out = dpmFirstOrder(this.algorithm, this.sigmas, stepIndex, converted, sample, z);
    } else if (cfg.solver_order === 2 || this.lowerOrderNums < 2 || lowerOrderSecond) {
      const midpoint = cfg.solver_type === 'midpoint';
      out = dpmSecondOrder(this.algorithm, midpoint, this.sigmas, stepIndex, history(0), history(1), sample, z);
    } else {
      if (this.algorithm !== 'dpmsolver++' && this.algorithm !== 'dpmsolver') {
        unsupported(NAME, 'third-order SDE steps');
      }
      out = dpmThirdOrder(this.algorithm, this.sigmas, stepIndex, history(0), history(1), history(2), sample);
    }
    if (this.lowerOrderNums < cfg.solver_order) this.lowerOrderNums++;
    return out;
  }

  /** DPM-Solver's `add_noise`: α_t·x + σ_t·ε at σ = sigmas[stepIndex]. */
  addNoise(original: Float32Array, noise: Float32Array, stepIndex: number): Float32Array {
    checkStepArgs(NAME, this.timesteps, stepIndex, original, noise);
    const { alpha, sigmaT } = alphaSigma(this.sigmas[stepIndex]!);
    return vpAddNoise(original, noise, alpha, sigmaT);
  }
}
