/**
 * The few tensor rearrangements key mapping needs, done without reading what need not be read:
 * row slices of a contiguous file reference stay references (OpenCLIP's fused q‖k‖v), reshapes
 * only relabel dims (1×1 conv ↔ Linear), and only small tensors (`text_projection`) are transposed
 * in memory. Results keep the source dtype; `withDtype` picks the dtype a builder reads them in.
 */
import { PinholeError } from '../../../src-shared/errors';
import { convertBytes, dtypeSize, numel, tensorBytes, viewArray, type DType, type Tensor } from '../graph';

/** Rows `start … start + count − 1` of a tensor's first axis, renamed `name`. */
export function sliceRows(t: Tensor, start: number, count: number, name: string): Tensor {
  const rows = t.dims[0] ?? 0;
  if (start + count > rows)
    throw new PinholeError('IMPORT_REJECTED', `${t.name}: has ${rows} rows, not ${start + count}`);
  const rowBytes = (numel(t.dims) / Math.max(rows, 1)) * dtypeSize(sourceDtype(t));
  const dims = [count, ...t.dims.slice(1)];
  const data = t.data;
  if (ArrayBuffer.isView(data)) {
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    return {
      name,
      dtype: t.dtype,
      dims,
      data: viewArray(t.dtype, bytes.slice(start * rowBytes, (start + count) * rowBytes)),
    };
  }
  return {
    name,
    dtype: t.dtype,
    dims,
    data: { ...data, offset: data.offset + start * rowBytes, length: count * rowBytes },
  };
}

/** The same bytes under new dims (element counts must agree). */
export function reshape(t: Tensor, dims: readonly number[], name = t.name): Tensor {
  if (numel(dims) !== numel(t.dims)) {
    throw new PinholeError(
      'IMPORT_REJECTED',
      `${t.name}: [${t.dims.join(', ')}] cannot be seen as [${dims.join(', ')}]`,
    );
  }
  return { ...t, name, dims: [...dims] };
}

/** A 2-D tensor transposed (read into memory; for small matrices). */
export function transpose2d(t: Tensor, name: string): Tensor {
  const [rows = 0, cols = 0] = t.dims;
  if (t.dims.length !== 2)
    throw new PinholeError('IMPORT_REJECTED', `${t.name}: expected a matrix, got [${t.dims.join(', ')}]`);
  const size = dtypeSize(t.dtype);
  const src = tensorBytes(t);
  const out = new Uint8Array(src.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++)
      out.set(src.subarray((r * cols + c) * size, (r * cols + c + 1) * size), (c * rows + r) * size);
  }
  return { name, dtype: t.dtype, dims: [cols, rows], data: viewArray(t.dtype, out) };
}

/** The tensor as `dtype`: references convert when written or run, in-memory data converts now. */
export function withDtype(t: Tensor, dtype: DType): Tensor {
  if (t.dtype === dtype) return t;
  const data = t.data;
  if (ArrayBuffer.isView(data)) {
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    return { ...t, dtype, data: viewArray(dtype, convertBytes(bytes, t.dtype, dtype)) };
  }
  return { ...t, dtype, data: { ...data, sourceDtype: data.sourceDtype ?? t.dtype } };
}

/** The dtype the tensor's bytes are stored in. */
function sourceDtype(t: Tensor): DType {
  return ArrayBuffer.isView(t.data) ? t.dtype : (t.data.sourceDtype ?? t.dtype);
}
