/** Models: the library of checkpoints, LoRAs, VAEs and embeddings; import and downloads. */
export { ModelsPage } from './models-page';
/** For the window-wide drop (src/app): start an import of dropped files, and say how it goes. */
export { useStartImport as useImportModelFiles } from './import-panel';
export { ModelImportStatus } from './import-status';
