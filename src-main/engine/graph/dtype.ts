/**
 * Element types of tensors and their storage: the ONNX `TensorProto.DataType` code, the width in
 * bytes and the typed array that holds decoded values. float16 and bfloat16 have no JS number
 * array, so their values live as raw bit patterns in a `Uint16Array` (see `float16.ts`).
 */

/** Element types the engine handles. `bool` is one byte per element (0 or 1), as ONNX stores it. */
export type DType =
  | 'float32'
  | 'float16'
  | 'bfloat16'
  | 'float64'
  | 'int64'
  | 'int32'
  | 'int16'
  | 'int8'
  | 'uint64'
  | 'uint32'
  | 'uint16'
  | 'uint8'
  | 'bool';

/** The typed array that holds each dtype's values (float16/bfloat16: bit patterns). */
export interface DTypeArrays {
  float32: Float32Array;
  float16: Uint16Array;
  bfloat16: Uint16Array;
  float64: Float64Array;
  int64: BigInt64Array;
  int32: Int32Array;
  int16: Int16Array;
  int8: Int8Array;
  uint64: BigUint64Array;
  uint32: Uint32Array;
  uint16: Uint16Array;
  uint8: Uint8Array;
  bool: Uint8Array;
}

/** Any array a tensor can hold; a `Uint8Array` also stands for raw little-endian bytes. */
export type AnyTypedArray = DTypeArrays[DType];

type ArrayCtor = {
  new (length: number): AnyTypedArray;
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): AnyTypedArray;
  readonly BYTES_PER_ELEMENT: number;
};

type DTypeInfo = {
  /** `TensorProto.DataType`. */
  readonly onnx: number;
  readonly bytes: number;
  readonly array: ArrayCtor;
  readonly float: boolean;
  /** Values are bigint in their typed array. */
  readonly bigint: boolean;
};

/** Flat table: one row per dtype. */
export const DTYPES: Readonly<Record<DType, DTypeInfo>> = {
  float32: { onnx: 1, bytes: 4, array: Float32Array, float: true, bigint: false },
  uint8: { onnx: 2, bytes: 1, array: Uint8Array, float: false, bigint: false },
  int8: { onnx: 3, bytes: 1, array: Int8Array, float: false, bigint: false },
  uint16: { onnx: 4, bytes: 2, array: Uint16Array, float: false, bigint: false },
  int16: { onnx: 5, bytes: 2, array: Int16Array, float: false, bigint: false },
  int32: { onnx: 6, bytes: 4, array: Int32Array, float: false, bigint: false },
  int64: { onnx: 7, bytes: 8, array: BigInt64Array, float: false, bigint: true },
  bool: { onnx: 9, bytes: 1, array: Uint8Array, float: false, bigint: false },
  float16: { onnx: 10, bytes: 2, array: Uint16Array, float: true, bigint: false },
  float64: { onnx: 11, bytes: 8, array: Float64Array, float: true, bigint: false },
  uint32: { onnx: 12, bytes: 4, array: Uint32Array, float: false, bigint: false },
  uint64: { onnx: 13, bytes: 8, array: BigUint64Array, float: false, bigint: true },
  bfloat16: { onnx: 16, bytes: 2, array: Uint16Array, float: true, bigint: false },
};

const BY_ONNX = new Map<number, DType>((Object.keys(DTYPES) as DType[]).map((d) => [DTYPES[d].onnx, d] as const));

/** The dtype for an ONNX `DataType` code, or undefined for one the engine does not handle. */
export function dtypeFromOnnx(code: number): DType | undefined {
  return BY_ONNX.get(code);
}

/** Bytes per element. */
export function dtypeSize(dtype: DType): number {
  return DTYPES[dtype].bytes;
}

/** float32/float16/bfloat16/float64. */
export function isFloatDType(dtype: DType): boolean {
  return DTYPES[dtype].float;
}

/** Signed or unsigned integer types (not bool). */
export function isIntDType(dtype: DType): boolean {
  return !DTYPES[dtype].float && dtype !== 'bool';
}

export function isDType(value: unknown): value is DType {
  return typeof value === 'string' && Object.hasOwn(DTYPES, value);
}

/** A fresh zero-filled array of `length` elements of `dtype`. */
export function allocArray<D extends DType>(dtype: D, length: number): DTypeArrays[D] {
  return new DTYPES[dtype].array(length) as DTypeArrays[D];
}

/**
 * `bytes` seen as an array of `dtype`: a view when aligned, else a copy (typed arrays need
 * element-aligned offsets; raw data inside a protobuf or safetensors buffer often is not).
 */
export function viewArray<D extends DType>(dtype: D, bytes: Uint8Array): DTypeArrays[D] {
  const { array, bytes: size } = DTYPES[dtype];
  if (bytes.byteLength % size !== 0) {
    throw new RangeError(`${bytes.byteLength} bytes is not a whole number of ${dtype} elements`);
  }
  const length = bytes.byteLength / size;
  if (bytes.byteOffset % size === 0) {
    return new array(bytes.buffer, bytes.byteOffset, length) as DTypeArrays[D];
  }
  const copy = new Uint8Array(bytes);
  return new array(copy.buffer, 0, length) as DTypeArrays[D];
}

/** The little-endian bytes of a typed array (a view, no copy). */
export function arrayBytes(array: ArrayBufferView): Uint8Array {
  return new Uint8Array(array.buffer, array.byteOffset, array.byteLength);
}

// Raw tensor bytes are little-endian on disk and in protobuf; typed arrays use the host order.
// Every platform we ship on is little-endian; fail loudly rather than corrupt weights elsewhere.
if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) {
  throw new Error('Pinhole engine requires a little-endian host');
}
