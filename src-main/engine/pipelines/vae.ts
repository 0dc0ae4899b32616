import { PinholeError } from '../../../src-shared/errors';
import type { NoiseSource } from '../schedulers';
import { float32Tensor, type ModelSession } from '../runtime';
import type { VaeSettings } from './model-folder';

/**
 * The VAE halves. The decoder maps latents to pixels in [−1, 1]; the encoder comes in two exports: optimum's
 * current `latent_parameters` (the distribution: mean ‖ log-variance along channels) or a legacy
 * `latent_sample` (one latent, used as it is — the export already chose the distribution's mode or a sample).
 */

/** What an encoder gave for one image. */
export type EncodedImage =
  /** float32 [1, C, h, w] each; `logvar` already clamped to [−30, 20] as diffusers does. */
  | {
      readonly kind: 'distribution';
      readonly mean: Float32Array;
      readonly logvar: Float32Array;
      readonly dims: readonly number[];
    }
  /** float32 [1, C, h, w]. */
  | { readonly kind: 'latent'; readonly latent: Float32Array; readonly dims: readonly number[] };

export class VaeDecoder {
  private readonly inputName: string;
  private readonly outputName: string;

  constructor(readonly session: ModelSession) {
    this.inputName = session.input('latent_sample')?.name ?? session.inputs[0]!.name;
    this.outputName = session.output('sample')?.name ?? session.outputs[0]!.name;
  }

  /**
   * Decodes model-space latents of one image: divides by the scaling factor and adds the shift, then runs the
   * decoder, as diffusers' `vae.decode(latents / scaling_factor)` does.
   * @param latents float32 [1, C, h, w], the sampler's latents.
   * @returns float32 [1, 3, H, W] in about [−1, 1], with its dims.
   */
  async decode(
    latents: Float32Array,
    dims: readonly number[],
    vae: VaeSettings,
  ): Promise<{ data: Float32Array; dims: readonly number[] }> {
    const scale = Math.fround(vae.scalingFactor);
    const input = new Float32Array(latents.length);
    for (let i = 0; i < latents.length; i++) input[i] = Math.fround(latents[i]! / scale) + vae.shiftFactor;
    const out = await this.session.runFloat({ [this.inputName]: float32Tensor(input, dims) }, [this.outputName]);
    return out[this.outputName]!;
  }
}

export class VaeEncoder {
  private readonly inputName: string;
  private readonly outputName: string;
  /** Whether the export gives the distribution (`latent_parameters`) rather than one latent. */
  readonly givesDistribution: boolean;

  constructor(readonly session: ModelSession) {
    this.inputName = session.input('sample')?.name ?? session.inputs[0]!.name;
    const params = session.output('latent_parameters');
    const latent = session.output('latent_sample');
    const output = params ?? latent ?? session.outputs[0];
    if (!output) throw new PinholeError('IMPORT_REJECTED', `${session.modelPath} declares no output`);
    this.outputName = output.name;
    this.givesDistribution = output === params;
  }

  /**
   * Encodes one image.
   * @param image float32 [1, 3, H, W] in [−1, 1].
   */
  async encode(image: Float32Array, dims: readonly number[]): Promise<EncodedImage> {
    const out = (await this.session.runFloat({ [this.inputName]: float32Tensor(image, dims) }, [this.outputName]))[
      this.outputName
    ]!;
    if (!this.givesDistribution) return { kind: 'latent', latent: out.data, dims: out.dims };
    const [n = 1, c2 = 0, h = 0, w = 0] = out.dims;
    if (n !== 1 || c2 % 2 !== 0) {
      throw new PinholeError(
        'IMPORT_REJECTED',
        `${this.session.modelPath}: latent_parameters of shape [${out.dims.join(', ')}] is not mean ‖ logvar`,
      );
    }
    const half = (c2 / 2) * h * w;
    const mean = out.data.slice(0, half);
    const logvar = out.data.slice(half, 2 * half);
    for (let i = 0; i < logvar.length; i++) logvar[i] = Math.min(20, Math.max(-30, logvar[i]!));
    return { kind: 'distribution', mean, logvar, dims: [1, c2 / 2, h, w] };
  }
}

/**
 * Model-space latents of an encoded image: `(mean + std · randn(generator)) · scaling_factor` for a
 * distribution, with `std = exp(½·logvar)` — drawing from the generator, as diffusers' `latent_dist.sample(g)`
 * does — or `latent · scaling_factor` for a legacy encoder (no draw). A shift factor is subtracted first.
 * @returns float32 [1, C, h, w].
 */
export function imageLatents(encoded: EncodedImage, generator: NoiseSource, vae: VaeSettings): Float32Array {
  let latent: Float32Array;
  if (encoded.kind === 'distribution') {
    const noise = generator.randn(encoded.dims);
    latent = new Float32Array(encoded.mean.length);
    for (let i = 0; i < latent.length; i++) {
      const std = Math.fround(Math.exp(Math.fround(0.5 * encoded.logvar[i]!)));
      latent[i] = Math.fround(encoded.mean[i]! + Math.fround(std * noise[i]!));
    }
  } else {
    latent = Float32Array.from(encoded.latent);
  }
  const scale = Math.fround(vae.scalingFactor);
  for (let i = 0; i < latent.length; i++) latent[i] = Math.fround(Math.fround(latent[i]! - vae.shiftFactor) * scale);
  return latent;
}
