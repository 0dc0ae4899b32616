/**
 * Stable Diffusion pipelines over ONNX model folders (optimum layout): SD 1.x, SD 2.x (epsilon and
 * v-prediction), SDXL, SD-Turbo/SDXL-Turbo and LCM; txt2img, img2img and inpainting, reproducing diffusers'
 * numbers with the torch-compatible generator and schedulers.
 */
export { Engine, type EngineOptions } from './engine';
export { StableDiffusionPipeline, type GenerateOptions, type LoraSessions } from './pipeline';
export {
  addnetHash,
  findComponentWeights,
  inspectLora,
  LORA_MODEL_BUILD_VERSION,
  loraHashesInfotext,
  networkInfotext,
  planLoras,
  type LoraInfo,
  type LoraPlan,
  type LoraRequest,
  type PlannedLora,
} from './lora-models';
export type { ComponentWeightFiles } from './component-weights';
export { loraName, resolvePromptLoras, withLoraTags, type PromptNetworks } from './prompt-networks';
export {
  embeddingHashesInfotext,
  planEmbeddings,
  type EmbeddingPlan,
  type PlannedEmbedding,
  type TextComponent,
} from './embedding-plan';
export {
  resolveRequest,
  seedForIteration,
  type GeneratedImage,
  type GenerateMode,
  type GenerateProgress,
  type GenerateRequest,
  type GenerateResult,
  type GenerateTimings,
  type ResolvedRequest,
} from './request';
export {
  loadModelFolder,
  type ModelFiles,
  type ModelFolder,
  type VaeSettings,
  type VaeWeightFiles,
} from './model-folder';
export {
  chooseVaeEncoder,
  openVaeEncoder,
  vaeEncoderBuild,
  VAE_ENCODER_BUILD_VERSION,
  type VaeEncoderSource,
} from './vae-encoder-source';
export { detectTraits, type FamilySources, type ModelFamily, type ModelTraits, type ModelVariant } from './family';
export { PromptEncoder, padToSameLength, zerosLike, type Conditioning, type EncoderPart } from './conditioning';
export { TextEncoder, layerNorm, type EncoderOutput, type LayerChoice } from './text-encoder';
export { UNetRunner, guidanceScaleEmbedding, type UNetConditioning } from './unet';
export { VaeDecoder, VaeEncoder, imageLatents, type EncodedImage } from './vae';
export { applyGuidance, blendKnown, denoise, type DenoiseParams, type MaskBlend, type StepCallback } from './denoise';
export {
  startIndexFor,
  img2imgStart,
  inpaintStart,
  txt2imgStart,
  type InpaintInputs,
  type StartLatents,
} from './start-latents';
export { readFinalLayerNorm, type LayerNormParams } from './onnx-initializers';
export { textEncoderBuild, TEXT_ENCODER_BUILD_VERSION, type TextEncoderComponent } from './text-encoder-source';
export { countFixedUpsamplers, unsupportedSizeError } from './unet-upsampling';
