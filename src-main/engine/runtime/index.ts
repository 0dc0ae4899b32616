/**
 * The engine's inference runtime: execution-provider selection with fallback, a session cache, and the
 * adaptation of engine tensors (float32, int32) to whatever each model declares. Only `ort-backend.ts` imports
 * onnxruntime-node.
 */
export type {
  DeviceRunResult,
  DeviceTensor,
  ExecutionProviderName,
  Feed,
  HostTensor,
  InferenceBackend,
  RawSession,
  SessionOptions,
  TensorArrays,
  TensorData,
  TensorType,
  ValueSpec,
} from './types';
export { fromHalfBits, toHalfBits, float16ToFloat32, float32ToFloat16 } from './float16';
export {
  adaptToSpec,
  checkDims,
  convertTensor,
  elementCount,
  float32Tensor,
  hostTensor,
  isIntegerType,
  timestepFeed,
  toFloat32,
} from './io-adapt';
export { ModelSession, type FloatOutput } from './model-session';
export { SessionCache, type SessionCacheOptions } from './session-cache';
export {
  describeSelection,
  hasGpuDevice,
  parseProviderName,
  probeProvider,
  providerPreference,
  selectExecutionProvider,
  PROVIDER_ENV,
  PROVIDER_PREFERENCE,
  type ProviderAttempt,
  type ProviderSelection,
  type SelectProviderOptions,
} from './providers';
export { probeModelBytes } from './probe-model';
export { Runtime, type RuntimeOptions } from './runtime';
export type { DeviceCounters } from './device-counters';
export { defaultCacheDir, fileStamp, ModelFileCache, type DerivedModel, type FileStamp } from './model-cache';
