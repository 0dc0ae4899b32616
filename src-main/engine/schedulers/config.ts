import { PinholeError } from '../../../src-shared/errors';
import type { PredictionType, TimestepSpacing } from './types';

/** A model's `scheduler/scheduler_config.json`, or any dict of diffusers scheduler keyword arguments. */
export type SchedulerConfigSource = Readonly<Record<string, unknown>>;

/** A class's resolved configuration plus the keys it does not accept (diffusers' "hidden" config). */
export interface ResolvedConfig<T> {
  config: T;
  /**
   * The source's keys the class does not accept. diffusers' `from_config` registers them on the config anyway,
   * so code that probes `hasattr(self.config, "sigma_min")` (Karras sigmas in DPM-Solver and Heun) sees them.
   */
  hidden: Readonly<Record<string, unknown>>;
}

/**
 * diffusers' `SchedulerClass.from_config(source, **overrides)`: the class's defaults, overridden by the source's
 * keys the class accepts, overridden by `overrides`. Keys the class does not accept (`_class_name`, another
 * scheduler's options) are ignored, and keys listed in `_use_default_values` keep the class default, as in
 * diffusers' `extract_init_dict`.
 *
 * Values are checked against the default's type: a number default takes a number, a boolean a boolean, a
 * string a string, and null keeps the default; a null default (optional settings) takes anything, which the
 * class then checks.
 * @throws PinholeError `INVALID_PARAMS` naming the key when a value has the wrong type.
 */
export function resolveConfig<T extends object>(
  className: string,
  defaults: T,
  source: SchedulerConfigSource = {},
  overrides: SchedulerConfigSource = {},
): ResolvedConfig<T> {
  const useDefaults = new Set(
    Array.isArray(source['_use_default_values'])
      ? (source['_use_default_values'] as unknown[]).filter((k): k is string => typeof k === 'string')
      : [],
  );
  const out: Record<string, unknown> = { ...(defaults as Record<string, unknown>) };
  const hidden: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(source)) {
    if (useDefaults.has(key) || key === '_use_default_values') continue;
    if (key in defaults) out[key] = value;
    else hidden[key] = value;
  }
  // Like from_config's kwargs: an override the class does not take is ignored (diffusers returns it unused).
  for (const [key, value] of Object.entries(overrides)) {
    if (key in defaults) out[key] = value;
  }
  for (const [key, def] of Object.entries(defaults) as [string, unknown][]) {
    const value = out[key];
    if (def === null || value === def) continue;
    const expected = typeof def;
    // JSON cannot spell ±Infinity; diffusers writes them as strings in some configs, so accept those for numbers.
    if (expected === 'number' && typeof value === 'string' && /^[+-]?(inf|infinity)$/i.test(value)) {
      out[key] = value.startsWith('-') ? -Infinity : Infinity;
      continue;
    }
    // A null where the class has a real default (seen in hand-edited configs) means "not set".
    if (value === null || value === undefined) {
      out[key] = def;
      continue;
    }
    if (typeof value !== expected || (expected === 'number' && Number.isNaN(value))) {
      throw new PinholeError(
        'INVALID_PARAMS',
        `${className}: config key "${key}" must be a ${expected}, got ${JSON.stringify(value)}`,
      );
    }
  }
  return { config: out as T, hidden };
}

/** Throws `INVALID_PARAMS` unless `value` is one of `allowed`. */
export function checkChoice<T extends string>(className: string, key: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new PinholeError(
      'INVALID_PARAMS',
      `${className}: config key "${key}" must be one of ${allowed.join(', ')}, got "${value}"`,
    );
  }
  return value as T;
}

/** Throws `INVALID_PARAMS` unless `value` is an integer ≥ `min`. */
export function checkInteger(className: string, key: string, value: number, min: number): number {
  if (!Number.isInteger(value) || value < min) {
    throw new PinholeError(
      'INVALID_PARAMS',
      `${className}: config key "${key}" must be an integer ≥ ${min}, got ${value}`,
    );
  }
  return value;
}

/** Throws `NOT_IMPLEMENTED` for a diffusers option this engine does not reproduce. */
export function unsupported(className: string, what: string): never {
  throw new PinholeError('NOT_IMPLEMENTED', `${className}: ${what} is not supported`);
}

/** `prediction_type`, checked against the three parameterizations every scheduler here takes. */
export function checkPredictionType(className: string, value: string): PredictionType {
  return checkChoice(className, 'prediction_type', value, ['epsilon', 'v_prediction', 'sample'] as const);
}

/** `timestep_spacing` and `steps_offset`, checked. */
export function checkSpacing(
  className: string,
  config: { readonly timestep_spacing: string; readonly steps_offset: number },
): TimestepSpacing {
  const spacing = checkChoice(className, 'timestep_spacing', config.timestep_spacing, [
    'linspace',
    'leading',
    'trailing',
  ] as const);
  checkInteger(className, 'steps_offset', config.steps_offset, 0);
  return spacing;
}

/** Refuses beta sigmas and more than one sigma conversion (Euler, Heun and DPM-Solver take these keys). */
export function checkSigmaConversion(
  className: string,
  config: {
    readonly use_karras_sigmas: boolean;
    readonly use_exponential_sigmas: boolean;
    readonly use_beta_sigmas: boolean;
  },
): void {
  if (config.use_beta_sigmas) unsupported(className, 'use_beta_sigmas (needs scipy.stats.beta.ppf)');
  if (config.use_karras_sigmas && config.use_exponential_sigmas) {
    unsupported(className, 'more than one of use_karras_sigmas / use_exponential_sigmas');
  }
}

/**
 * `trained_betas` from a config: null, or a list of numbers (stored as float32 like diffusers' tensor).
 * @throws PinholeError `INVALID_PARAMS` for anything else.
 */
export function readTrainedBetas(className: string, value: unknown): Float32Array | null {
  if (value === null || value === undefined) return null;
  if (Array.isArray(value) && value.every((v) => typeof v === 'number' && Number.isFinite(v))) {
    return Float32Array.from(value as number[]);
  }
  throw new PinholeError('INVALID_PARAMS', `${className}: config key "trained_betas" must be a list of numbers`);
}

/** An optional number (`sigma_min`, `sigma_max`): null/undefined → null. */
export function readOptionalNumber(className: string, key: string, value: unknown): number | null {
  if (value === null || value === undefined) return null;
  if (typeof value === 'number' && Number.isFinite(value)) return value;
  throw new PinholeError('INVALID_PARAMS', `${className}: config key "${key}" must be a number or null`);
}
