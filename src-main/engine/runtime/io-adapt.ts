import { PinholeError } from '../../../src-shared/errors';
import { float16ToFloat32, float32ToFloat16 } from './float16';
import type { HostTensor, TensorArrays, TensorType, ValueSpec } from './types';

/**
 * Adapting engine tensors to what a model declares. The engine computes in float32 and int32; exported models
 * vary (int32 or int64 `input_ids`, float16 or float32 weights and activations, a float or int64 `timestep` as
 * a scalar, `[1]` or `[batch]`), so every feed is converted here, at the session boundary, and every output
 * comes back as float32.
 */

/** Product of the dimensions (1 for a scalar). */
export function elementCount(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

/** A host tensor, checking that `data` holds exactly the elements of `dims`. */
export function hostTensor<T extends TensorType>(
  type: T,
  data: TensorArrays[T],
  dims: readonly number[],
): HostTensor<T> {
  if (data.length !== elementCount(dims)) {
    throw new PinholeError(
      'INTERNAL',
      `a ${type} tensor of shape [${dims.join(', ')}] cannot hold ${data.length} values`,
    );
  }
  return { type, data, dims: [...dims] };
}

/** float32 tensor of `dims`. */
export function float32Tensor(data: Float32Array, dims: readonly number[]): HostTensor<'float32'> {
  return hostTensor('float32', data, dims);
}

/**
 * `tensor` converted to the element type `spec` declares, with its dimensions checked against the declared
 * rank and fixed sizes.
 * - float32 ↔ float16 ↔ float64 convert by value (float16 rounds to nearest even);
 * - int32 ↔ int64 widen or narrow (ids and integer timesteps fit both);
 * - float → integer truncates toward zero (torch's `.to(int64)`), which is what the contract prescribes for a
 *   UNet declaring an integer timestep; integer → float is exact for the values the engine feeds.
 * @throws PinholeError `INVALID_PARAMS` naming the input when its rank or a fixed dimension does not match, or
 *   when the model declares a type the engine cannot produce.
 */
export function adaptToSpec(spec: ValueSpec, tensor: HostTensor): HostTensor {
  checkDims(spec, tensor.dims);
  if (spec.type === 'other') {
    throw new PinholeError('INVALID_PARAMS', `model input "${spec.name}" is not a tensor type the engine can feed`);
  }
  return convertTensor(tensor, spec.type);
}

/** Throws unless `dims` has the declared rank and matches every fixed dimension. */
export function checkDims(spec: ValueSpec, dims: readonly number[]): void {
  const fits =
    spec.shape.length === dims.length && spec.shape.every((d, i) => typeof d === 'string' || d < 0 || d === dims[i]);
  if (!fits) {
    throw new PinholeError(
      'INVALID_PARAMS',
      `model input "${spec.name}" expects shape [${spec.shape.join(', ')}] but got [${dims.join(', ')}]`,
    );
  }
}

/** `tensor` with its elements converted to `type` (the same object when it already has that type). */
export function convertTensor(tensor: HostTensor, type: TensorType): HostTensor {
  if (tensor.type === type) return tensor;
  return { type, data: convertData(tensor, type), dims: tensor.dims };
}

function convertData(tensor: HostTensor, type: TensorType): TensorArrays[TensorType] {
  const values = toNumbers(tensor);
  const n = values.length;
  switch (type) {
    case 'float32':
      return values;
    case 'float16':
      return float32ToFloat16(values);
    case 'float64':
      return Float64Array.from(values);
    case 'int64': {
      const out = new BigInt64Array(n);
      for (let i = 0; i < n; i++) out[i] = BigInt(Math.trunc(values[i]!));
      return out;
    }
    case 'int32':
      return Int32Array.from(values, (v) => Math.trunc(v));
    case 'int8':
      return Int8Array.from(values, (v) => Math.trunc(v));
    case 'uint8':
    case 'bool':
      return Uint8Array.from(values, (v) => (type === 'bool' ? (v !== 0 ? 1 : 0) : Math.trunc(v)));
  }
}

/**
 * Elements as float32 (float16 widened exactly; int64 through Number, exact below 2^53). Int64 values are
 * rounded to float32 only where they exceed 2^24, which ids and timesteps never do.
 */
function toNumbers(tensor: HostTensor): Float32Array {
  switch (tensor.type) {
    case 'float32':
      return tensor.data as Float32Array;
    case 'float16':
      return float16ToFloat32(tensor.data as Uint16Array);
    case 'int64':
      return Float32Array.from(tensor.data as BigInt64Array, (v) => Number(v));
    default:
      return Float32Array.from(tensor.data as ArrayLike<number>);
  }
}

/**
 * An output as float32 values (float16 widened, others converted), whatever the model computed in. Integer
 * tensors are converted too, but the engine only reads float outputs this way.
 */
export function toFloat32(tensor: HostTensor): Float32Array {
  if (tensor.type === 'float32') return tensor.data as Float32Array;
  if (tensor.type === 'float64') return Float32Array.from(tensor.data as Float64Array);
  return toNumbers(tensor);
}

/**
 * The `timestep` feed for one UNet evaluation, shaped as the model declares it: a scalar (`[]`), `[1]`, or one
 * value per batch item when the dimension is dynamic or equals the batch. Integer types get the value truncated
 * toward zero; float types get it as is (rounded to the declared precision).
 * @param t the scheduler's timestep (fractional for Euler-family linspace schedules).
 * @param batch the UNet batch (2 × images with classifier-free guidance).
 */
export function timestepFeed(spec: ValueSpec, t: number, batch: number): HostTensor {
  let dims: number[];
  if (spec.shape.length === 0) dims = [];
  else if (spec.shape.length === 1) {
    const d = spec.shape[0]!;
    dims = [typeof d === 'number' && d >= 0 ? d : batch];
  } else {
    throw new PinholeError(
      'INVALID_PARAMS',
      `model input "${spec.name}" has shape [${spec.shape.join(', ')}]; a timestep is a scalar or a vector`,
    );
  }
  const values = new Float32Array(elementCount(dims)).fill(isIntegerType(spec.type) ? Math.trunc(t) : t);
  return adaptToSpec(spec, float32Tensor(values, dims));
}

/** Whether a declared type is an integer type (`int32`, `int64`, …). */
export function isIntegerType(type: TensorType | 'other'): boolean {
  return type === 'int32' || type === 'int64' || type === 'int8' || type === 'uint8';
}
