/** Models: the library of checkpoints, LoRAs, VAEs and embeddings; import and downloads. */
export { ModelsPage } from './models-page';
