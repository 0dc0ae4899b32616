import type { TensorType } from './types';

/**
 * Hand-encoded one-node ONNX models the runtime itself needs (the provider probe, the device upload), written as
 * a few protobuf fields so the runtime needs no file on disk and no dependency on the graph toolkit.
 */

function varint(value: number): number[] {
  const out: number[] = [];
  let v = value;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v = Math.floor(v / 128);
  }
  out.push(v);
  return out;
}

/** A varint field (wire type 0). */
export function intField(field: number, value: number): number[] {
  return [...varint(field << 3), ...varint(value)];
}

/** A length-delimited field (wire type 2): a string or an embedded message. */
export function bytesField(field: number, payload: number[] | string): number[] {
  const bytes = typeof payload === 'string' ? [...Buffer.from(payload, 'utf8')] : payload;
  return [...varint((field << 3) | 2), ...varint(bytes.length), ...bytes];
}

/** ONNX's `TensorProto.DataType` codes. */
const ELEMENT_TYPE: Readonly<Record<TensorType, number>> = {
  float32: 1,
  uint8: 2,
  int8: 3,
  int32: 6,
  int64: 7,
  bool: 9,
  float16: 10,
  float64: 11,
};

/**
 * ValueInfoProto { name, type: TypeProto { tensor_type { elem_type, shape? } } }: with `dims` a fixed shape,
 * without it a tensor of any rank and size.
 */
export function tensorValueInfo(name: string, type: TensorType, dims?: readonly number[]): number[] {
  const shape = dims
    ? bytesField(
        2,
        dims.flatMap((d) => bytesField(1, intField(1, d))),
      )
    : [];
  const tensorType = [...intField(1, ELEMENT_TYPE[type]), ...shape];
  return [...bytesField(1, name), ...bytesField(2, bytesField(1, tensorType))];
}

/** A one-node ModelProto (IR version 7, default opset 13). */
export function oneNodeModel(
  op: string,
  inputs: readonly number[][],
  outputs: readonly number[][],
  inputNames: readonly string[],
  outputNames: readonly string[],
): Uint8Array {
  const node = [
    ...inputNames.flatMap((n) => bytesField(1, n)),
    ...outputNames.flatMap((n) => bytesField(2, n)),
    ...bytesField(4, op),
  ];
  const graph = [
    ...bytesField(1, node),
    ...bytesField(2, `pinhole-${op.toLowerCase()}`),
    ...inputs.flatMap((v) => bytesField(11, v)),
    ...outputs.flatMap((v) => bytesField(12, v)),
  ];
  const opset = [...bytesField(1, ''), ...intField(2, 13)];
  const model = [...intField(1, 7), ...bytesField(2, 'pinhole'), ...bytesField(7, graph), ...bytesField(8, opset)];
  return Uint8Array.from(model);
}

/**
 * `y = Identity(x)` for tensors of `type`, any shape. Run on a GPU provider with its output placed on the device,
 * it is an upload: ORT copies the host input to the device and leaves the result there.
 */
export function identityModelBytes(type: TensorType): Uint8Array {
  return oneNodeModel('Identity', [tensorValueInfo('x', type)], [tensorValueInfo('y', type)], ['x'], ['y']);
}
