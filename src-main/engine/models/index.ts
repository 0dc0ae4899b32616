export { Layers, type LayerOptions, type ModuleCall, type ModuleHooks } from './layers';
export { memoryWeights, safetensorsWeights, type WeightSource } from './weight-source';
export { buildClipTextModel, type ClipTextOptions } from './clip-text';
export {
  CLIP_EOS_TOKEN_ID,
  resolveClipTextConfig,
  type ClipActivation,
  type ClipPooling,
  type ClipTextConfig,
  type ClipTextSpec,
} from './clip-text-config';
export { buildVaeDecoder, buildVaeEncoder, LOGVAR_RANGE, type VaeOptions } from './vae';
export { resolveVaeConfig, VAE_EPS, vaeWeights, type AutoencoderKLConfig, type VaeSpec } from './vae-config';
export { buildUNet, parseUNetConfig, type UNetBuildOptions, type UNetConfig, type UNetSpec } from './unet';
