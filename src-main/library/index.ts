/**
 * The library module: images, datasets, the gallery and search, and the import job.
 * Everything other modules use is exported from here.
 */
export {
  Library,
  type GalleryQuery,
  type GeneratedImageInput,
  type ImportCounts,
  type ImportOutcome,
  type ImportRecord,
  type NewImportedImage,
  type PageOf,
  type StoredFile,
} from './library';
export {
  createImportJobHandler,
  IMPORT_JOB_KIND,
  type ImportCheckpoint,
  type ImportJobOptions,
  type ImportJobResult,
  type ImportParams,
} from './import-job';
export {
  DEFAULT_INGEST_LIMITS,
  ingestImage,
  normalizeImage,
  readSourceFile,
  type IngestLimits,
  type NormalizedImage,
  type Outcome,
  type StoredFormat,
} from './ingest-image';
export { expandPaths, type ImportEntry } from './expand-paths';
export { countGeneratedImagesMatching } from './generated-images-count';
