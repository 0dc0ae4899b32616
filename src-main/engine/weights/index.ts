/** Weight files: safetensors reading (lazy, validated) and writing. */
export {
  MAX_HEADER_BYTES,
  SafetensorsFile,
  safetensorsDtypeSize,
  writeSafetensors,
  type ReadTensorOptions,
  type SafetensorsEntry,
} from './safetensors';
