/**
 * Diffusion schedulers matching diffusers: pure float32 math over flat `Float32Array` tensors, with diffusers'
 * dtypes reproduced (float32 tensor arithmetic, float64 NumPy schedules) so a seeded run gives diffusers' numbers.
 */
export type { BetaSchedule, NoiseSource, PredictionType, Scheduler, TimestepSpacing } from './types';
export { createScheduler, isSamplerName, SAMPLER_NAMES, type SamplerName } from './factory';
export { resolveConfig, type ResolvedConfig, type SchedulerConfigSource } from './config';
export { EulerDiscreteScheduler, EULER_DISCRETE_DEFAULTS, type EulerDiscreteConfig } from './euler';
export {
  EulerAncestralDiscreteScheduler,
  EULER_ANCESTRAL_DEFAULTS,
  type EulerAncestralConfig,
} from './euler-ancestral';
export { DDIMScheduler, DDIM_DEFAULTS, type DDIMConfig, type DDIMOptions } from './ddim';
export {
  DPMSolverMultistepScheduler,
  DPM_SOLVER_MULTISTEP_DEFAULTS,
  type DPMSolverMultistepConfig,
} from './dpm-multistep';
export { LCMScheduler, LCM_DEFAULTS, type LCMConfig } from './lcm';
export { HeunDiscreteScheduler, HEUN_DISCRETE_DEFAULTS, type HeunDiscreteConfig } from './heun';
