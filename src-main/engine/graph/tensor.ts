/**
 * Tensor contents: creating tensors, reading their bytes (from memory or a file) and converting
 * between dtypes. Conversions through float32 round half-precision results to nearest even.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import {
  allocArray,
  arrayBytes,
  DTYPES,
  dtypeSize,
  viewArray,
  type AnyTypedArray,
  type DType,
  type DTypeArrays,
} from './dtype';
import { GraphError } from './errors';
import {
  bfloat16ToFloat32Array,
  float16ToFloat32Array,
  float32ToBfloat16Array,
  float32ToFloat16Array,
} from './float16';
import { type ExternalData, type Tensor, type TensorData } from './ir';

/** Number of elements of a shape (1 for a scalar). */
export function numel(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

/** Bytes the tensor's elements take. */
export function tensorByteLength(tensor: Pick<Tensor, 'dtype' | 'dims'>): number {
  return numel(tensor.dims) * dtypeSize(tensor.dtype);
}

export function isExternal(data: TensorData): data is ExternalData {
  return !ArrayBuffer.isView(data);
}

/**
 * A tensor from values. `values` may be the dtype's typed array (kept, not copied), raw bytes, a
 * number/bigint list (converted: float16/bfloat16 rounded to nearest even), or external data.
 * Throws if the element count does not match `dims`.
 */
export function createTensor(
  name: string,
  dtype: DType,
  dims: readonly number[],
  values: TensorData | readonly number[] | readonly bigint[],
): Tensor {
  let data: TensorData;
  if (Array.isArray(values)) data = fromNumbers(dtype, values as readonly (number | bigint)[]);
  else data = values as TensorData;
  const tensor: Tensor = { name, dtype, dims: [...dims], data };
  const want = tensorByteLength(tensor);
  const have = isExternal(data) ? externalByteLength(tensor, data) : data.byteLength;
  if (want !== have) {
    throw new GraphError(`tensor '${name}': ${dtype}[${dims.join(', ')}] needs ${want} bytes, data has ${have}`);
  }
  return tensor;
}

/** Bytes the tensor will have once external data in another dtype is converted. */
function externalByteLength(tensor: Tensor, ext: ExternalData): number {
  const src = ext.sourceDtype ?? tensor.dtype;
  return (ext.length / dtypeSize(src)) * dtypeSize(tensor.dtype);
}

function fromNumbers(dtype: DType, values: readonly (number | bigint)[]): AnyTypedArray {
  if (dtype === 'float16') return float32ToFloat16Array(values.map(Number));
  if (dtype === 'bfloat16') return float32ToBfloat16Array(values.map(Number));
  const out = allocArray(dtype, values.length);
  if (DTYPES[dtype].bigint) {
    const big = out as BigInt64Array | BigUint64Array;
    values.forEach((v, i) => (big[i] = typeof v === 'bigint' ? v : BigInt(Math.trunc(v))));
  } else {
    const num = out as Exclude<AnyTypedArray, BigInt64Array | BigUint64Array>;
    values.forEach((v, i) => (num[i] = Number(v)));
  }
  return out;
}

/** Reads `length` bytes at `offset` of a file (synchronously; used for modest, single tensors). */
export function readFileRange(path: string, offset: number, length: number): Uint8Array {
  const out = new Uint8Array(length);
  const fd = openSync(path, 'r');
  try {
    let done = 0;
    while (done < length) {
      const n = readSync(fd, out, done, length - done, offset + done);
      if (n === 0) throw new GraphError(`external data '${path}' ends before byte ${offset + length}`);
      done += n;
    }
  } finally {
    closeSync(fd);
  }
  return out;
}

/** The tensor's raw little-endian bytes in its own dtype (reads and converts external data). */
export function tensorBytes(tensor: Tensor): Uint8Array {
  const data = tensor.data;
  if (!isExternal(data)) return arrayBytes(data);
  const raw = readFileRange(data.path, data.offset, data.length);
  const src = data.sourceDtype ?? tensor.dtype;
  return src === tensor.dtype ? raw : convertBytes(raw, src, tensor.dtype);
}

/** The tensor's values as its dtype's typed array (a view when possible; float16: bit patterns). */
export function tensorArray<D extends DType>(tensor: Tensor & { dtype: D }): DTypeArrays[D] {
  const data = tensor.data;
  if (!isExternal(data) && data.constructor === DTYPES[tensor.dtype].array) return data as DTypeArrays[D];
  return viewArray(tensor.dtype, tensorBytes(tensor));
}

/** The tensor's values as float32 (float16/bfloat16 exact, float64 rounded, ints converted). */
export function tensorToFloat32(tensor: Tensor): Float32Array {
  return convertArray(tensorArray(tensor), tensor.dtype, 'float32');
}

/** The values as plain numbers (for small tensors: shapes, axes, scalars). */
export function tensorToNumbers(tensor: Tensor): number[] {
  const arr = tensorArray(tensor);
  if (tensor.dtype === 'float16' || tensor.dtype === 'bfloat16') return Array.from(tensorToFloat32(tensor));
  return Array.from(arr as ArrayLike<number | bigint>, Number);
}

/**
 * Converts an array of `from` values to `to`. float16/bfloat16 go through float32 (exact one
 * way, round-to-nearest-even the other); float → int truncates toward zero, as ONNX Cast does.
 */
export function convertArray<D extends DType>(src: AnyTypedArray, from: DType, to: D): DTypeArrays[D] {
  if (from === to) return src as DTypeArrays[D];
  let f32: Float32Array | undefined;
  if (from === 'float16') f32 = float16ToFloat32Array(src as Uint16Array);
  else if (from === 'bfloat16') f32 = bfloat16ToFloat32Array(src as Uint16Array);
  else if (from === 'float32') f32 = src as Float32Array;
  if (f32 && to === 'float32') return f32 as DTypeArrays[D];
  const values: ArrayLike<number | bigint> = f32 ?? src;
  if (to === 'float16') return float32ToFloat16Array(numbers(values)) as DTypeArrays[D];
  if (to === 'bfloat16') return float32ToBfloat16Array(numbers(values)) as DTypeArrays[D];
  const out = allocArray(to, values.length);
  if (DTYPES[to].bigint) {
    const big = out as BigInt64Array | BigUint64Array;
    for (let i = 0; i < values.length; i++) {
      const v = values[i]!;
      big[i] = typeof v === 'bigint' ? v : BigInt(Number.isFinite(v) ? Math.trunc(v) : 0);
    }
  } else {
    const num = out as Exclude<AnyTypedArray, BigInt64Array | BigUint64Array>;
    const toBool = to === 'bool';
    const trunc = !DTYPES[to].float;
    for (let i = 0; i < values.length; i++) {
      const v = Number(values[i]!);
      num[i] = toBool ? (v !== 0 ? 1 : 0) : trunc ? Math.trunc(v) : v;
    }
  }
  return out;
}

function numbers(values: ArrayLike<number | bigint>): ArrayLike<number> {
  if (values.length === 0 || typeof values[0] === 'number') return values as ArrayLike<number>;
  return Array.from(values, Number);
}

/** Raw bytes of `from` elements → raw bytes of `to` elements. */
export function convertBytes(bytes: Uint8Array, from: DType, to: DType): Uint8Array {
  if (from === to) return bytes;
  return arrayBytes(convertArray(viewArray(from, bytes), from, to));
}
