export {
  createGenerateJobHandler,
  GENERATE_JOB_KIND,
  toEngineRequest,
  type GenerateJobParams,
  type GenerateJobResult,
} from './generate-job';
export {
  createTrainJobHandler,
  toEngineTrainRequest,
  trainRunId,
  trainRunPaths,
  TRAIN_JOB_KIND,
  TrainJobParams,
  type TrainDirs,
  type TrainJobResult,
} from './train-job';
export { jobArtifacts, trainingMediaFile, useTrainCheckpoint } from './train-artifacts';
export { continueCanceledRun } from './train-continue';
export { keepTrainedLora, trainedLoraNameFor, type TrainedLora, type TrainedLoraKeeper } from './train-output';
export { storeInlineImages } from './inline-images';
export { conversionProgress, CONVERTING_METRIC } from './train-model';
export { listModelFolders, modelRoots } from './model-folders';
export { convertedModelsDir, resolveModelSource } from './model-source';
export {
  createModelSourceResolver,
  type ConversionProgress,
  type ModelConverter,
  type ModelSourceResolver,
  type ResolvedModelSource,
} from './library-source';
export {
  createNetworkResolver,
  listNetworkFolders,
  networkFolderEntries,
  promptNetworks,
  type NamedNetworkFile,
  type NetworkKind,
  type NetworkResolver,
} from './network-resolver';
export { countPromptTokens } from './prompt-token-count';
