/**
 * Image side of the engine: pixels ↔ tensors as diffusers prepares them, PNG text chunks (A1111's `parameters`),
 * the infotext format, and cheap latent previews.
 */
export {
  encodePng,
  loadMask,
  loadRgb,
  maskToLatentGrid,
  pasteOutsideMask,
  readRgb,
  rgbToTensor,
  roundHalfEven,
  tensorToRgb,
  type ImageInput,
} from './convert';
export {
  formatInfotext,
  parseInfotext,
  quoteInfotextValue,
  samplerDisplayName,
  SAMPLER_DISPLAY_NAMES,
  type InfotextFields,
  type ParsedInfotext,
} from './infotext';
export {
  latentToRgb,
  rgbToPngDataUrl,
  LATENT_RGB_SD,
  LATENT_RGB_SDXL,
  type LatentRgbFactors,
  type RgbImage,
} from './latent-preview';
export { encodePngChunk, insertPngText, listPngChunks, readPngText, textChunk, type PngChunk } from './png-text';
