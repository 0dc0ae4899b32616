export { createStudio, type Studio, type StudioOptions, type MediaKind } from './create-studio';
