export { createStudio, libraryImageFile, type Studio, type StudioOptions, type MediaKind } from './create-studio';
