/**
 * The engine's public face for the rest of the app: the client of the engine process, what a
 * generation request is, model folders and the tokenizer. Everything heavy runs in the engine
 * process (host/), never in the caller's.
 */
export {
  defaultHostEntry,
  EngineClient,
  EngineCrashedError,
  forkLauncher,
  type EngineChannel,
  type EngineGenerateResult,
  type EngineImage,
  type EngineLauncher,
} from './host';
export { loadModelFolder, type GenerateProgress, type GenerateRequest, type ModelFolder } from './pipelines';
export { type PromptNetworks } from './pipelines';
export { parseLoraTags, stripNetworkTags, type PromptLoraTag } from './lora';
export { chunkPrompt, cleanText, ClipTokenizer, readTextualInversion } from './text';
export {
  a1111ShortHash,
  cachedSha256,
  convertModel,
  inspectModelFile,
  precisionForProvider,
  readConvertedSource,
  readTorchFile,
  type ConvertOptions,
  type WeightPrecision,
  type ConvertProgress,
  type ModelFileInfo,
} from './checkpoint';
export type { PredictionType } from './checkpoint';
export type { TrainCheckpoint, TrainEvent, TrainItem, TrainRequest, TrainResult, TrainSample } from './training';
