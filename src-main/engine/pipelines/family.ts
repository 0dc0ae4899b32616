import type { PredictionType } from '../schedulers';

/**
 * What a model folder is, decided from its configs: the architecture family, the distillation variant, what
 * the UNet predicts, and the settings that suit it.
 */

/** SD 1.x (CLIP ViT-L, 768), SD 2.x (OpenCLIP ViT-H, 1024), SDXL (two encoders, text_time conditioning). */
export type ModelFamily = 'sd1' | 'sd2' | 'sdxl';

/** `turbo`: adversarially distilled (SD-Turbo / SDXL-Turbo); `lcm`: latent consistency; `base` otherwise. */
export type ModelVariant = 'base' | 'turbo' | 'lcm';

/** Settings a model works best with (the UI's defaults for it). */
export interface RecommendedSettings {
  readonly sampler: 'euler_a' | 'lcm' | 'euler';
  readonly steps: number;
  readonly cfgScale: number;
}

export interface ModelTraits {
  readonly family: ModelFamily;
  readonly variant: ModelVariant;
  readonly predictionType: PredictionType;
  /** A dedicated inpainting UNet: 9 input channels (latents, mask, masked-image latents). */
  readonly inpainting: boolean;
  /** SDXL: an empty negative prompt gives zero embeddings (diffusers' default for SDXL is true). */
  readonly forceZerosForEmptyPrompt: boolean;
  /** Human-readable, e.g. `SDXL-Turbo`, `SD 2.x (v-prediction)`. */
  readonly label: string;
  readonly recommended: RecommendedSettings;
}

/** The configs family detection reads; any may be empty when its file is absent. */
export interface FamilySources {
  readonly modelIndex: Readonly<Record<string, unknown>>;
  readonly schedulerConfig: Readonly<Record<string, unknown>>;
  readonly unetConfig: Readonly<Record<string, unknown>>;
  readonly textEncoderConfig: Readonly<Record<string, unknown>>;
  /** Whether `text_encoder_2/model.onnx` exists. */
  readonly hasSecondEncoder: boolean;
}

function str(value: unknown): string {
  return typeof value === 'string' ? value : '';
}

/** Euler or Euler ancestral with trailing spacing, not zero-terminal-SNR (see `detectTraits`). */
function isTurboScheduler(schedulerClass: string, config: Readonly<Record<string, unknown>>): boolean {
  return (
    (schedulerClass === 'EulerDiscreteScheduler' || schedulerClass === 'EulerAncestralDiscreteScheduler') &&
    config['timestep_spacing'] === 'trailing' &&
    config['rescale_betas_zero_snr'] !== true
  );
}

/**
 * Detects the family and variant:
 * - The family our converter recorded (`pinhole_family` in `model_index.json`, from the checkpoint's key names)
 *   when present: a model's widths cannot tell SD 2.x from SD 1.x at tiny sizes. Otherwise
 *   SDXL when the pipeline class says so, the UNet has `text_time` added conditioning, or a second encoder
 *   exists; SD 2.x when the cross-attention (or text encoder) width is 1024; SD 1.x otherwise.
 * - LCM when the scheduler is `LCMScheduler` or the UNet takes a guidance embedding (`time_cond_proj_dim`);
 *   Turbo when the scheduler is Euler or Euler ancestral with trailing spacing: SD-Turbo ships
 *   `EulerDiscreteScheduler` + `trailing`, SDXL-Turbo `EulerAncestralDiscreteScheduler` + `trailing` (their
 *   `scheduler_config.json` on the Hub). Zero-terminal-SNR models also use trailing spacing, but with
 *   `rescale_betas_zero_snr`, and are ordinary many-step models, so that flag rules Turbo out.
 * - The prediction type is the scheduler config's (`epsilon` when absent), as diffusers uses it.
 */
export function detectTraits(sources: FamilySources): ModelTraits {
  const { modelIndex, schedulerConfig, unetConfig, textEncoderConfig } = sources;
  const pipelineClass = str(modelIndex['_class_name']);
  const schedulerClass = str(schedulerConfig['_class_name']);
  const crossAttention = unetConfig['cross_attention_dim'];
  const declared = modelIndex['pinhole_family'];
  const family: ModelFamily =
    declared === 'sd1' || declared === 'sd2' || declared === 'sdxl'
      ? declared
      : /XL/.test(pipelineClass) || unetConfig['addition_embed_type'] === 'text_time' || sources.hasSecondEncoder
        ? 'sdxl'
        : crossAttention === 1024 || textEncoderConfig['hidden_size'] === 1024
          ? 'sd2'
          : 'sd1';
  const timeCond = unetConfig['time_cond_proj_dim'];
  const variant: ModelVariant =
    schedulerClass === 'LCMScheduler' || (typeof timeCond === 'number' && timeCond > 0)
      ? 'lcm'
      : isTurboScheduler(schedulerClass, schedulerConfig)
        ? 'turbo'
        : 'base';
  const prediction = str(schedulerConfig['prediction_type']);
  const predictionType: PredictionType =
    prediction === 'v_prediction' || prediction === 'sample' ? prediction : 'epsilon';
  const inpainting = unetConfig['in_channels'] === 9;
  const forceZeros = family === 'sdxl' && modelIndex['force_zeros_for_empty_prompt'] !== false;

  const base = family === 'sd1' ? 'SD 1.x' : family === 'sd2' ? 'SD 2.x' : 'SDXL';
  const named =
    variant === 'turbo' ? (family === 'sdxl' ? 'SDXL-Turbo' : 'SD-Turbo') : variant === 'lcm' ? `${base} LCM` : base;
  const label = `${named}${inpainting ? ' inpainting' : ''}${predictionType === 'v_prediction' ? ' (v-prediction)' : ''}`;
  const recommended: RecommendedSettings =
    variant === 'turbo'
      ? // The sampler the model ships with (diffusers' default for it); at 1 step both are the same.
        { sampler: schedulerClass === 'EulerDiscreteScheduler' ? 'euler' : 'euler_a', steps: 1, cfgScale: 0 }
      : variant === 'lcm'
        ? // With a guidance embedding the scale is fed to the UNet (LCM's default 8.5), without it CFG stays off.
          { sampler: 'lcm', steps: 4, cfgScale: typeof timeCond === 'number' ? 8.5 : 1 }
        : { sampler: 'euler_a', steps: family === 'sdxl' ? 30 : 20, cfgScale: family === 'sdxl' ? 5 : 7 };
  return { family, variant, predictionType, inpainting, forceZerosForEmptyPrompt: forceZeros, label, recommended };
}
