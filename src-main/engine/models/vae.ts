/**
 * diffusers' `AutoencoderKL` as two ONNX graphs, from its diffusers-layout weights
 * (`vae/diffusion_pytorch_model.safetensors`): the decoder the pipeline runs after denoising and
 * the encoder img2img, inpainting and training use. Inputs and outputs are named as optimum
 * exports them. Scaling by `scaling_factor` stays with the pipeline, as in diffusers.
 */
import { GraphBuilder, type Model } from '../graph';
import { Layers, type ModuleHooks } from './layers';
import { decoderBody, encoderBody } from './vae-blocks';
import { resolveVaeConfig, vaeWeights, type AutoencoderKLConfig } from './vae-config';
import { type WeightSource } from './weight-source';

export type VaeOptions = {
  /** Module hooks called for every Linear and Conv (paths `decoder.up_blocks.0.resnets.0.conv1`, …). */
  hooks?: ModuleHooks;
  /** Graph name. Default 'vae_decoder' / 'vae_encoder'. */
  name?: string;
};

/** diffusers' `DiagonalGaussianDistribution` clamps the log-variance to this range before exp. */
export const LOGVAR_RANGE = [-30, 20] as const;

/**
 * The decoder: `post_quant_conv` (when the config uses it), then diffusers' `Decoder`.
 *
 * Input: `latent_sample` float32 [batch, latent_channels, height, width], already divided by
 * `scaling_factor`. Output: `sample` float32 [batch, out_channels, height·f, width·f], f =
 * 2^(levels − 1) (8 for Stable Diffusion), in [−1, 1] for a trained VAE.
 *
 * @param config diffusers' `AutoencoderKL` config (`vae/config.json`).
 * @param weights tensors by diffusers name; the legacy attention names (`query`, `key`, `value`,
 *   `proj_attn`) are accepted.
 * @throws PinholeError `IMPORT_REJECTED` for an unsupported config or a missing weight.
 */
export function buildVaeDecoder(config: AutoencoderKLConfig, weights: WeightSource, options: VaeOptions = {}): Model {
  const spec = resolveVaeConfig(config);
  const b = new GraphBuilder({ name: options.name ?? 'vae_decoder' });
  const layers = vaeLayers(b, weights, options.hooks);
  let z = b.input('latent_sample', 'float32', ['batch', spec.latentChannels, 'height', 'width']);
  if (spec.usePostQuantConv) z = layers.conv2d('post_quant_conv', z);
  b.output(decoderBody(layers, spec, z), 'sample');
  return b.build({ metadata: { architecture: 'AutoencoderKL.decoder' } });
}

/**
 * The encoder: diffusers' `Encoder`, then `quant_conv` (when the config uses it), giving the
 * latent distribution's parameters with the log-variance clamped as `DiagonalGaussianDistribution` does.
 *
 * Input: `sample` float32 [batch, in_channels, H, W], pixels in [−1, 1]. Output:
 * `latent_parameters` float32 [batch, 2·latent_channels, ⌊H / f⌋, ⌊W / f⌋] = mean ‖ logvar along
 * channels, logvar ∈ [−30, 20], so std = exp(½·logvar); the mean is the distribution's mode.
 *
 * @param config diffusers' `AutoencoderKL` config (`vae/config.json`).
 * @param weights tensors by diffusers name (legacy attention names accepted).
 * @throws PinholeError `IMPORT_REJECTED` for an unsupported config or a missing weight.
 */
export function buildVaeEncoder(config: AutoencoderKLConfig, weights: WeightSource, options: VaeOptions = {}): Model {
  const spec = resolveVaeConfig(config);
  const b = new GraphBuilder({ name: options.name ?? 'vae_encoder' });
  const layers = vaeLayers(b, weights, options.hooks);
  const x = b.input('sample', 'float32', ['batch', spec.inChannels, 'height', 'width']);
  let moments = encoderBody(layers, spec, x);
  if (spec.useQuantConv) moments = layers.conv2d('quant_conv', moments);
  const parameters = b.scope('latent_dist', () => {
    const [mean, logvar] = b.split(moments, [spec.latentChannels, spec.latentChannels], 1);
    return b.concat([mean!, b.clip(logvar!, LOGVAR_RANGE[0], LOGVAR_RANGE[1])], 1);
  });
  b.output(parameters, 'latent_parameters');
  return b.build({ metadata: { architecture: 'AutoencoderKL.encoder' } });
}

function vaeLayers(b: GraphBuilder, weights: WeightSource, hooks: ModuleHooks | undefined): Layers {
  return new Layers({ b, weights: vaeWeights(weights), ...(hooks ? { hooks } : {}) });
}
