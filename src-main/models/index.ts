export { ModelLibrary, type ModelLibraryOptions, type ResolvedModel } from './model-library';
export type { ModelRecord } from './model-store';
export type { ModelFileInfo, ModelInspector } from './model-file-info';
export { KIND_FOLDERS, MODEL_EXTENSIONS } from './model-file-info';
export {
  createModelsImportJobHandler,
  expandModelPaths,
  MODELS_IMPORT_JOB_KIND,
  type ModelsImportParams,
} from './import-job';
export { createDownloadSink } from './download-sink';
export { trainedLoraName, type TrainedLoraInput } from './trained-lora';
