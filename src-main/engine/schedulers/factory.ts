import { PinholeError } from '../../../src-shared/errors';
import type { SchedulerConfigSource } from './config';
import { DDIMScheduler } from './ddim';
import { DPMSolverMultistepScheduler } from './dpm-multistep';
import { EulerDiscreteScheduler } from './euler';
import { EulerAncestralDiscreteScheduler } from './euler-ancestral';
import { HeunDiscreteScheduler } from './heun';
import { LCMScheduler } from './lcm';
import type { Scheduler } from './types';

/** The samplers the engine offers, by their user-facing names. */
export const SAMPLER_NAMES = ['euler', 'euler_a', 'ddim', 'dpmpp_2m', 'dpmpp_2m_karras', 'lcm', 'heun'] as const;

export type SamplerName = (typeof SAMPLER_NAMES)[number];

/** Whether `value` names one of the engine's samplers. */
export function isSamplerName(value: unknown): value is SamplerName {
  return typeof value === 'string' && (SAMPLER_NAMES as readonly string[]).includes(value);
}

/**
 * The scheduler for a sampler, configured as diffusers' `SamplerClass.from_config(model_config, **options)`:
 * the class's own defaults, overridden by the keys of the model's `scheduler_config.json` the class accepts
 * (others, like `_class_name` or PNDM's `skip_prk_steps`, are ignored), overridden by `overrides` and finally by
 * the sampler's own option (`dpmpp_2m_karras` → `use_karras_sigmas: true`).
 *
 * Because defaults are per class, one SD 1.5 config gives Euler linspace spacing and DDIM leading spacing.
 * `dpmpp_2m` is `DPMSolverMultistepScheduler` as configured (its defaults are DPM-Solver++, order 2, midpoint);
 * a model config that names another order or algorithm keeps it, as it would in diffusers.
 *
 * @param modelSchedulerConfig the model's parsed `scheduler/scheduler_config.json` (or `{}` for class defaults).
 * @param overrides extra keyword arguments, e.g. `{ prediction_type: 'v_prediction' }`.
 * @throws PinholeError `INVALID_PARAMS` for an unknown sampler or a malformed config value, `NOT_IMPLEMENTED`
 *   for a diffusers option the engine does not reproduce (beta sigmas, flow sigmas, learned variance).
 */
export function createScheduler(
  samplerName: SamplerName,
  modelSchedulerConfig: SchedulerConfigSource,
  overrides: SchedulerConfigSource = {},
): Scheduler {
  switch (samplerName) {
    case 'euler':
      return EulerDiscreteScheduler.fromConfig(modelSchedulerConfig, overrides);
    case 'euler_a':
      return EulerAncestralDiscreteScheduler.fromConfig(modelSchedulerConfig, overrides);
    case 'ddim':
      return DDIMScheduler.fromConfig(modelSchedulerConfig, overrides);
    case 'dpmpp_2m':
      return DPMSolverMultistepScheduler.fromConfig(modelSchedulerConfig, overrides);
    case 'dpmpp_2m_karras':
      return DPMSolverMultistepScheduler.fromConfig(modelSchedulerConfig, { ...overrides, use_karras_sigmas: true });
    case 'lcm':
      return LCMScheduler.fromConfig(modelSchedulerConfig, overrides);
    case 'heun':
      return HeunDiscreteScheduler.fromConfig(modelSchedulerConfig, overrides);
    default:
      throw new PinholeError(
        'INVALID_PARAMS',
        `Unknown sampler "${String(samplerName)}"; expected one of ${SAMPLER_NAMES.join(', ')}`,
      );
  }
}
