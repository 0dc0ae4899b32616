/**
 * Model files creators have, read without Python and without running anything inside them: the
 * restricted torch pickle reader, single-file checkpoints (SD 1.x, 2.x, SDXL, inpainting) and diffusers
 * folders mapped onto the engine's builders, conversion into cached model folders, and inspection.
 */
export { a1111ShortHash, inspectModelFile, type ModelFileInfo } from './inspect';
export {
  cachedSha256,
  CHECKPOINT_BUILD_VERSION,
  convertModel,
  precisionForProvider,
  sha256File,
  type ConvertOptions,
  type WeightPrecision,
} from './convert';
export type { ConvertProgress } from './write-folder';
export { readConvertedSource, type ConvertedSource } from './converted-source';
export { materialize, openTorchFile, readTorchFile, type TorchFile } from './torch-file';
export { openStateDict, type StateDict } from './state-dict';
export { singleFileComponents, vaeComponent, type ModelComponents } from './components';
export type { CheckpointFamily, PredictionType } from './family';
