/**
 * The engine's graph toolkit: an in-memory ONNX model (IR), its protobuf codec with external
 * data, a builder with shape inference, and tensor/dtype utilities. Other modules import from
 * here only.
 */
export {
  allocArray,
  arrayBytes,
  viewArray,
  dtypeFromOnnx,
  dtypeSize,
  DTYPES,
  isDType,
  isFloatDType,
  isIntDType,
  type AnyTypedArray,
  type DType,
  type DTypeArrays,
} from './dtype';
export { GraphError, ModelFormatError } from './errors';
export { ProtoError, ProtoReader, WIRE_LEN } from './protobuf';
export {
  bf16ToF32,
  bfloat16ToFloat32Array,
  f16ToF32,
  f32ToBf16,
  f32ToF16,
  float16ToFloat32Array,
  float32ToBfloat16Array,
  float32ToFloat16Array,
} from './float16';
export {
  attrNumber,
  attrNumbers,
  attrString,
  consumerMap,
  createGraph,
  extractSubgraph,
  findConsumers,
  findProducer,
  nodeDependencies,
  opsetVersion,
  outerReferences,
  producerMap,
  topologicalOrder,
  valueInfoOf,
  type Attribute,
  type Dim,
  type ExternalData,
  type Graph,
  type Model,
  type Node,
  type OpsetImport,
  type Shape,
  type Tensor,
  type TensorData,
  type ValueInfo,
} from './ir';
export {
  convertArray,
  convertBytes,
  createTensor,
  isExternal,
  numel,
  readFileRange,
  tensorArray,
  tensorByteLength,
  tensorBytes,
  tensorToFloat32,
  tensorToNumbers,
} from './tensor';
export { decodeModel, encodeModelChunks, type DecodeOptions, type ExternalPlacement } from './onnx-proto';
export {
  encodeModel,
  loadModel,
  PROTOBUF_LIMIT,
  saveModel,
  writeTensorData,
  type SaveModelOptions,
  type SaveModelResult,
} from './model-file';
export { hasShapeRule, inferNode, inferShapes, tensorMeta, type InferShapesOptions, type ValueMeta } from './infer';
export { broadcastShapes, canonicalDim, dimDiv, dimMul, formatShape, shapeNumel } from './shape';
export { attr, Value, type Operand } from './value';
export { type BuildOptions, type GraphBuilderOptions, type NodeOptions } from './builder-core';
export { type GemmOptions, type ReduceOptions } from './builder-math';
export {
  GraphBuilder,
  type ConvOptions,
  type GroupNormOptions,
  type LayerNormOptions,
  type NormOptions,
  type PadOptions,
  type ResizeOptions,
} from './builder';
