/**
 * TensorProto ↔ `Tensor`. Writing always uses `raw_data` (float16 included, as the spec allows
 * for every non-string type) or external data; reading accepts raw_data, every typed field
 * (float_data, int32_data — where float16 arrives as bit patterns —, int64_data, double_data,
 * uint64_data) and external data, which stays a reference until its bytes are needed.
 */
import { isAbsolute, join } from 'node:path';
import { DTYPES, dtypeFromOnnx, type AnyTypedArray, type DType } from './dtype';
import { ModelFormatError } from './errors';
import { type Tensor } from './ir';
import { type ProtoReader, type ProtoWriter } from './protobuf';
import { numel, tensorByteLength, tensorBytes } from './tensor';

/** Where an initializer's bytes were written instead of inline (see `saveModel`). */
export type ExternalPlacement = { location: string; offset: number; length: number };

/** A StringStringEntryProto. */
export function readStringPair(r: ProtoReader): [string, string] {
  let key = '';
  let value = '';
  while (!r.done) {
    const [field, wire] = r.tag();
    if (field === 1) key = r.string();
    else if (field === 2) value = r.string();
    else r.skip(wire);
  }
  return [key, value];
}

/** Reads a TensorProto; external locations resolve against `baseDir`. */
export function readTensor(r: ProtoReader, baseDir: string | undefined): Tensor {
  const dims: (number | bigint)[] = [];
  let code = 0,
    name = '',
    docString: string | undefined,
    raw: Uint8Array | undefined,
    external = false;
  const floats: number[] = [],
    doubles: number[] = [],
    ints: (number | bigint)[] = [];
  const ext = new Map<string, string>();
  let typed: 'float' | 'int32' | 'int64' | 'double' | 'uint64' | undefined;
  while (!r.done) {
    const [field, wire] = r.tag();
    switch (field) {
      case 1:
        r.repeatedInt64(wire, dims);
        break;
      case 2:
        code = r.uint();
        break;
      case 3:
        throw new ModelFormatError(`tensor '${name}': segmented tensors are not supported`);
      case 4:
        r.repeatedFloat(wire, floats);
        typed = 'float';
        break;
      case 5:
        r.repeatedInt64(wire, ints);
        typed = 'int32';
        break;
      case 6:
        throw new ModelFormatError(`tensor '${name}': string tensors are not supported`);
      case 7:
        r.repeatedInt64(wire, ints);
        typed = 'int64';
        break;
      case 8:
        name = r.string();
        break;
      case 9:
        raw = r.bytes();
        break;
      case 10:
        r.repeatedDouble(wire, doubles);
        typed = 'double';
        break;
      case 11:
        r.repeatedInt64(wire, ints);
        typed = 'uint64';
        break;
      case 12:
        docString = r.string();
        break;
      case 13: {
        const [k, v] = readStringPair(r.message());
        ext.set(k, v);
        break;
      }
      case 14:
        external = r.uint() === 1;
        break;
      default:
        r.skip(wire);
    }
  }
  const dtype = dtypeFromOnnx(code);
  if (!dtype) throw new ModelFormatError(`tensor '${name}': unsupported data type ${code}`);
  const shape = dims.map(Number);
  if (shape.some((d) => !Number.isSafeInteger(d) || d < 0))
    throw new ModelFormatError(`tensor '${name}': invalid dims [${shape.join(', ')}]`);
  const tensor: Tensor = { name, dtype, dims: shape, data: new Uint8Array(0) };
  if (docString !== undefined) tensor.docString = docString;
  const byteLength = tensorByteLength(tensor);
  if (external) {
    const location = ext.get('location');
    if (!location) throw new ModelFormatError(`tensor '${name}': external data without a location`);
    const offset = Number(ext.get('offset') ?? 0);
    const length = ext.has('length') ? Number(ext.get('length')) : byteLength;
    if (!Number.isSafeInteger(offset) || offset < 0 || length !== byteLength) {
      throw new ModelFormatError(
        `tensor '${name}': external data offset ${offset} / length ${length} do not fit ${byteLength} bytes`,
      );
    }
    const path = isAbsolute(location) || baseDir === undefined ? location : join(baseDir, location);
    tensor.data = { kind: 'external', path, offset, length };
    return tensor;
  }
  if (raw) {
    if (raw.length !== byteLength)
      throw new ModelFormatError(
        `tensor '${name}': raw_data has ${raw.length} bytes, ${dtype}[${shape.join(', ')}] needs ${byteLength}`,
      );
    tensor.data = raw;
    return tensor;
  }
  const count = numel(shape);
  const values: number[] | (number | bigint)[] = typed === 'float' ? floats : typed === 'double' ? doubles : ints;
  if (values.length !== count)
    throw new ModelFormatError(`tensor '${name}': ${values.length} values for ${count} elements`);
  tensor.data = typedData(dtype, typed, values, name);
  return tensor;
}

/** Values from a typed field → the dtype's array (float16 arrives in int32_data as bit patterns). */
function typedData(dtype: DType, field: string | undefined, values: (number | bigint)[], name: string): AnyTypedArray {
  const expected: Partial<Record<DType, string>> = {
    float32: 'float',
    float64: 'double',
    int64: 'int64',
    uint64: 'uint64',
    uint32: 'uint64',
  };
  if (values.length > 0 && field !== (expected[dtype] ?? 'int32')) {
    throw new ModelFormatError(`tensor '${name}': ${dtype} data stored in the ${field} field`);
  }
  const out = new DTYPES[dtype].array(values.length);
  if (DTYPES[dtype].bigint) values.forEach((v, i) => ((out as BigInt64Array)[i] = BigInt(v)));
  else values.forEach((v, i) => ((out as Float64Array)[i] = Number(v)));
  return out;
}

/** Writes a TensorProto: raw_data, or external_data entries when `placed`. */
export function writeTensor(w: ProtoWriter, t: Tensor, placed: ExternalPlacement | undefined): void {
  for (const d of t.dims) w.int(1, d);
  w.int(2, DTYPES[t.dtype].onnx);
  if (t.name) w.string(8, t.name);
  if (t.docString !== undefined) w.string(12, t.docString);
  if (placed) {
    const entries: [string, string][] = [
      ['location', placed.location],
      ['offset', String(placed.offset)],
      ['length', String(placed.length)],
    ];
    for (const [k, v] of entries) {
      w.message(13, (m) => {
        m.string(1, k);
        m.string(2, v);
      });
    }
    w.int(14, 1);
    return;
  }
  w.bytes(9, tensorBytes(t));
}
