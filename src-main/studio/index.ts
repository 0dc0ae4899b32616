export { createStudio, libraryImageFile, type Studio, type StudioOptions, type MediaKind } from './create-studio';
export { normalizeTokenHost, HF_TOKEN_ENV, HF_HOSTS, type TokenStore, type TokenSource } from '../models/download';
export { conversionProgress, resolveModelSource } from '../generation';
