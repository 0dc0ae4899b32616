/** What the model predicts: the noise (`epsilon`), the velocity (`v_prediction`) or the clean sample. */
export type PredictionType = 'epsilon' | 'v_prediction' | 'sample';

/** How betas run over the training timesteps (`exp` exists only for Heun, as in diffusers). */
export type BetaSchedule = 'linear' | 'scaled_linear' | 'squaredcos_cap_v2' | 'exp';

/** Table 2 of "Common Diffusion Noise Schedules and Sample Steps are Flawed". */
export type TimestepSpacing = 'linspace' | 'leading' | 'trailing';

/**
 * A source of standard normal noise. A torch-compatible generator (`TorchGenerator`) gives the same values as
 * `torch.randn(shape, generator=torch.manual_seed(seed))` on the CPU, which is what makes ancestral samplers
 * reproduce diffusers.
 */
export interface NoiseSource {
  /** A new float32 tensor of `shape` (row-major, `product(shape)` values) drawn from N(0, 1). */
  randn(shape: readonly number[]): Float32Array;
}

/**
 * The sampler protocol every scheduler implements. Tensors are flat row-major float32 arrays (usually latents of
 * shape `[batch, channels, height, width]`); each call returns a new array and never mutates its inputs.
 *
 * The denoising loop is diffusers' loop with step indices in place of timestep values:
 * ```
 * scheduler.setTimesteps(steps);
 * let latents = scale(noise, scheduler.initNoiseSigma);
 * for (let i = 0; i < scheduler.timesteps.length; i++) {
 *   const input = scheduler.scaleModelInput(latents, i);
 *   const output = unet(input, scheduler.timesteps[i]);
 *   latents = scheduler.step(output, i, latents, generator, shape);
 * }
 * ```
 * Heun evaluates the model twice per step, so its `timesteps` list has `2 × steps − 1` entries (every timestep
 * but the first doubled), exactly like diffusers; the loop above needs no special case.
 */
export interface Scheduler {
  /** diffusers' class name, e.g. `EulerDiscreteScheduler`. */
  readonly className: string;
  /** The resolved configuration (class defaults overridden by the model's config and the sampler's options). */
  readonly config: Readonly<Record<string, unknown>>;
  /** diffusers' `order`: model evaluations per step (2 for Heun, 1 otherwise). img2img skips `tStart × order`. */
  readonly order: number;
  /** The number of inference steps set by `setTimesteps` (0 before). */
  readonly numInferenceSteps: number;
  /**
   * The timesteps fed to the UNet, one per model evaluation, in order. Float32 values for the Euler family and
   * Heun (possibly fractional), integers for DDIM, DPM-Solver and LCM. Empty before `setTimesteps`.
   */
  readonly timesteps: Float64Array;
  /** Whether `timesteps` are integers in diffusers (an int64 tensor) rather than float32 values. */
  readonly integerTimesteps: boolean;
  /** The standard deviation of the initial noise: txt2img latents are `randn × initNoiseSigma` (float32). */
  readonly initNoiseSigma: number;
  /** `alphas_cumprod` over the training timesteps (float32, `num_train_timesteps` values). */
  readonly alphasCumprod: Float32Array;
  /** The model's prediction of the clean sample from the last `step` (LCM: its `denoised`), or null. */
  readonly predOriginalSample: Float32Array | null;

  /** Computes the timestep (and sigma) schedule for `numSteps` inference steps and resets all step state. */
  setTimesteps(numSteps: number): void;
  /** The UNet input for step `stepIndex` (Euler family: `sample / sqrt(σ² + 1)`; others: a copy). */
  scaleModelInput(sample: Float32Array, stepIndex: number): Float32Array;
  /**
   * One denoising step from `timesteps[stepIndex]` to the next.
   * @param modelOutput the UNet's output (after guidance), same length as `sample`.
   * @param noise the generator, required by the samplers that draw noise (Euler ancestral, LCM, DDIM with
   *   eta > 0, SDE DPM-Solver); they draw exactly when diffusers does, so the generator stays in step.
   * @param shape the tensor's shape, used for the noise draw and for dynamic thresholding (per batch item);
   *   defaults to `[sample.length]`, which draws the same values from a torch-compatible generator.
   * @returns the previous (less noisy) sample, float32.
   */
  step(
    modelOutput: Float32Array,
    stepIndex: number,
    sample: Float32Array,
    noise?: NoiseSource,
    shape?: readonly number[],
  ): Float32Array;
  /**
   * diffusers' `add_noise` at the noise level of `timesteps[stepIndex]` (img2img's start, inpainting's known
   * region): `x + σ·ε` for sigma schedulers, `√ᾱ·x + √(1−ᾱ)·ε` otherwise. The index is what diffusers'
   * `begin_index` / `step_index` point at, i.e. an index into `timesteps`.
   */
  addNoise(original: Float32Array, noise: Float32Array, stepIndex: number): Float32Array;
}
