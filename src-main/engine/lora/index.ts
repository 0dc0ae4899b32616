/**
 * kohya-compatible LoRAs: naming, reading and writing files, fresh LoRAs for a model, and the
 * `ModuleHooks` that inject them into a build (graph inputs for training, weights for generation).
 */
export { isTextEncoderTarget, isUNetTarget, kohyaKeys, kohyaModuleOf, kohyaName, type LoraPart } from './naming';
export {
  cloneLora,
  kohyaMetadata,
  kohyaTensors,
  loraRank,
  readKohyaLora,
  writeKohyaLora,
  type KohyaMetadata,
  type LoraSaveDtype,
  type LoraModule,
  type LoraWeights,
} from './file';
export { loraHooks, type LoraHookOptions, type LoraInjection } from './hooks';
export {
  createLora,
  findTargets,
  textEncoderLoraTargets,
  unetLoraTargets,
  type CreateLoraOptions,
  type LoraTarget,
} from './create';
export {
  LORA_COMPONENT_PREFIXES,
  loraComponentOf,
  loraScale,
  matchLoraModules,
  mergeCheckHooks,
  mergedWeightSource,
  mergeLoraModule,
  mergeLoras,
  unmatchedError,
  type LoraComponent,
  type WeightedLora,
} from './merge';
export { parseLoraTags, stripNetworkTags, type PromptLoraTag } from './prompt-tags';
export { peftKeyOf, peftKohyaName, readPeftLora, type PeftKey } from './peft';
export { readLora, unsupportedLoraKinds } from './read-lora';
export { layersPerBlockOf, ldmToDiffusersRest } from './ldm-names';
