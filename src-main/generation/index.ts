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
  TRAIN_JOB_KIND,
  type TrainJobParams,
  type TrainJobResult,
} from './train-job';
export { storeInlineImages } from './inline-images';
export { listModelFolders, modelRoots } from './model-folders';
