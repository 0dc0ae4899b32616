import path from 'node:path';
import { PinholeError } from '../../../src-shared/errors';
import { saveModel } from '../graph';
import { buildVaeEncoder, safetensorsWeights, type AutoencoderKLConfig } from '../models';
import type { DerivedModel, Runtime } from '../runtime';
import type { ModelFolder, VaeWeightFiles } from './model-folder';
import { VaeEncoder } from './vae';
import { parseComponentConfig, readComponentSources, withComponentWeights } from './component-weights';

/**
 * Which VAE encoder img2img and inpainting run. diffusers samples the encoder's distribution
 * (`latent_dist.sample(generator)`), which needs its mean and log-variance:
 * 1. an ONNX `vae_encoder` that outputs `latent_parameters` (optimum's current export) is used as it is;
 * 2. otherwise, when the folder has diffusers weights (`vae/config.json` + `vae/diffusion_pytorch_model.safetensors`
 *    or its `.fp16` variant), the encoder is built from them with `buildVaeEncoder` (float32, `latent_parameters`),
 *    cached on disk in the runtime's cache folder (`<cacheDir>/vae-encoder/<key>/model.onnx`, keyed by the
 *    weights' and config's real path, size and mtime and by `VAE_ENCODER_BUILD_VERSION`) and run through the
 *    runtime's session cache like any model — a legacy ONNX encoder (`latent_sample` only: the export chose the
 *    mode) is then not used;
 * 3. only when there are no weights is a legacy encoder used as it is (CONTRACTS: "a legacy encoder that outputs
 *    one latent is used as it is"): no draw, results differ from diffusers' sampled ones.
 */

/** Bump when `buildVaeEncoder`'s output changes: cached encoders built by older code are then not reused. */
export const VAE_ENCODER_BUILD_VERSION = 1;

/** Where the encoder comes from. */
export type VaeEncoderSource =
  | { readonly kind: 'onnx'; readonly file: string }
  | { readonly kind: 'weights'; readonly weights: VaeWeightFiles }
  | { readonly kind: 'legacy'; readonly file: string };

/** Whether an ONNX encoder gives the distribution (`latent_parameters`), by loading it through the runtime. */
async function givesDistribution(runtime: Runtime, file: string): Promise<boolean> {
  return new VaeEncoder(await runtime.session(file)).givesDistribution;
}

/**
 * Chooses the encoder for a model folder (see the module comment).
 * @throws PinholeError `IMPORT_REJECTED` when the folder has neither an ONNX encoder nor the VAE's weights.
 */
export async function chooseVaeEncoder(runtime: Runtime, model: ModelFolder, mode: string): Promise<VaeEncoderSource> {
  const { vaeEncoder, vaeWeights } = model.files;
  if (vaeEncoder && (await givesDistribution(runtime, vaeEncoder))) return { kind: 'onnx', file: vaeEncoder };
  if (vaeWeights) {
    // The legacy encoder was loaded only to look at its outputs: free it, the built one replaces it.
    if (vaeEncoder) await runtime.dispose(vaeEncoder);
    return { kind: 'weights', weights: vaeWeights };
  }
  if (vaeEncoder) return { kind: 'legacy', file: vaeEncoder };
  throw new PinholeError(
    'IMPORT_REJECTED',
    `${model.dir} has no vae_encoder/model.onnx and no vae/diffusion_pytorch_model.safetensors, which ${mode} needs`,
  );
}

/** The derived-model description of an encoder built from diffusers weights (stamps read now). */
export async function vaeEncoderBuild(weights: VaeWeightFiles): Promise<DerivedModel> {
  const { configText, weights: weightsStamp, config } = await readComponentSources('VAE', weights);
  return {
    kind: 'vae-encoder',
    version: VAE_ENCODER_BUILD_VERSION,
    sources: { weights: weightsStamp, config },
    write: (dir) => writeVaeEncoder(weights, configText, path.join(dir, 'model.onnx')),
  };
}

/** Builds the encoder from the weights and saves it (float32 weights in `model.onnx.data` beside it). */
async function writeVaeEncoder(weights: VaeWeightFiles, configText: string, file: string): Promise<void> {
  const config = parseComponentConfig<AutoencoderKLConfig>(weights.config, configText, 'VAE');
  await withComponentWeights(weights, async (source) => {
    await saveModel(buildVaeEncoder(config, safetensorsWeights(source, 'float32')), file);
  });
}

/**
 * The encoder to run for a source, with the model file its session runs (the cached build for `weights`).
 */
export async function openVaeEncoder(
  runtime: Runtime,
  source: VaeEncoderSource,
): Promise<{ encoder: VaeEncoder; file: string }> {
  if (source.kind !== 'weights')
    return { encoder: new VaeEncoder(await runtime.session(source.file)), file: source.file };
  const { session, file } = await runtime.derivedSession(await vaeEncoderBuild(source.weights));
  const encoder = new VaeEncoder(session);
  if (!encoder.givesDistribution) {
    throw new PinholeError('INTERNAL', `${file}: the built VAE encoder does not output latent_parameters`);
  }
  return { encoder, file };
}
