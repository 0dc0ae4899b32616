/**
 * A minimal ONNX model for probing execution providers: `c = a + b` on float32 [4]. Encoded here by hand (a few
 * protobuf fields) so probing needs no file on disk and no dependency on the graph toolkit.
 */

/** The probe's inputs and the output they must give. */
export const PROBE_INPUT_A = new Float32Array([1, 2, 3, 4]);
export const PROBE_INPUT_B = new Float32Array([10, 20, 30, 40]);
export const PROBE_EXPECTED = new Float32Array([11, 22, 33, 44]);

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
function intField(field: number, value: number): number[] {
  return [...varint(field << 3), ...varint(value)];
}

/** A length-delimited field (wire type 2): a string or an embedded message. */
function bytesField(field: number, payload: number[] | string): number[] {
  const bytes = typeof payload === 'string' ? [...Buffer.from(payload, 'utf8')] : payload;
  return [...varint((field << 3) | 2), ...varint(bytes.length), ...bytes];
}

/** ValueInfoProto { name, type: TypeProto { tensor_type { elem_type: FLOAT, shape { dim { dim_value: 4 } } } } }. */
function floatVector(name: string, length: number): number[] {
  const shape = bytesField(1, intField(1, length)); // TensorShapeProto.dim
  const tensorType = [...intField(1, 1), ...bytesField(2, shape)]; // elem_type 1 = FLOAT
  const type = bytesField(1, tensorType); // TypeProto.tensor_type
  return [...bytesField(1, name), ...bytesField(2, type)];
}

/** The serialized ModelProto (IR version 7, default opset 13). */
export function probeModelBytes(): Uint8Array {
  const node = [...bytesField(1, 'a'), ...bytesField(1, 'b'), ...bytesField(2, 'c'), ...bytesField(4, 'Add')];
  const graph = [
    ...bytesField(1, node),
    ...bytesField(2, 'pinhole-probe'),
    ...bytesField(11, floatVector('a', 4)),
    ...bytesField(11, floatVector('b', 4)),
    ...bytesField(12, floatVector('c', 4)),
  ];
  const opset = [...bytesField(1, ''), ...intField(2, 13)];
  const model = [...intField(1, 7), ...bytesField(2, 'pinhole'), ...bytesField(7, graph), ...bytesField(8, opset)];
  return Uint8Array.from(model);
}
