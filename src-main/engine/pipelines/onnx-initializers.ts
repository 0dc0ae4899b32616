import { open, readFile } from 'node:fs/promises';
import path from 'node:path';
import { PinholeError } from '../../../src-shared/errors';
import { float16ToFloat32 } from '../runtime';

/**
 * Reading a few named weights out of an ONNX file: clip skip on SD 1.x/2.x applies the text encoder's final
 * layer norm to an inner hidden state (as A1111 and diffusers do), and an exported encoder only applies it to
 * its last layer. A forward-only protobuf walk (ModelProto.graph → GraphProto.initializer → TensorProto) is all
 * that takes, so this does not depend on a full ONNX toolkit.
 */

/** A varint at `pos` (values past 2^53 lose precision, which lengths and offsets never reach). */
function readVarint(buf: Uint8Array, pos: number): [value: number, next: number] {
  let value = 0;
  let scale = 1;
  for (let i = pos; i < buf.length; i++) {
    const byte = buf[i]!;
    value += (byte & 0x7f) * scale;
    if ((byte & 0x80) === 0) return [value, i + 1];
    scale *= 128;
  }
  throw new PinholeError('IMPORT_REJECTED', 'truncated protobuf varint');
}

/** Calls `visit(field, wireType, start, end)` for every field of the message in `buf[start, end)`. */
function walk(
  buf: Uint8Array,
  start: number,
  end: number,
  visit: (field: number, wire: number, s: number, e: number) => void,
): void {
  let pos = start;
  while (pos < end) {
    const [tag, afterTag] = readVarint(buf, pos);
    const field = Math.floor(tag / 8);
    const wire = tag & 7;
    let s = afterTag;
    let e: number;
    if (wire === 0) e = readVarint(buf, s)[1];
    else if (wire === 1) e = s + 8;
    else if (wire === 5) e = s + 4;
    else if (wire === 2) {
      const [length, next] = readVarint(buf, s);
      s = next;
      e = s + length;
    } else throw new PinholeError('IMPORT_REJECTED', `unsupported protobuf wire type ${wire}`);
    if (e > end) throw new PinholeError('IMPORT_REJECTED', 'truncated protobuf message');
    visit(field, wire, s, e);
    pos = e;
  }
}

interface TensorRecord {
  name: string;
  dataType: number;
  raw?: Uint8Array;
  floats?: Uint8Array;
  int32s?: Uint8Array;
  external: Record<string, string>;
}

function parseTensor(buf: Uint8Array, start: number, end: number): TensorRecord {
  const record: TensorRecord = { name: '', dataType: 0, external: {} };
  const decoder = new TextDecoder();
  walk(buf, start, end, (field, wire, s, e) => {
    if (field === 8 && wire === 2) record.name = decoder.decode(buf.subarray(s, e));
    else if (field === 2 && wire === 0) record.dataType = readVarint(buf, s)[0];
    else if (field === 9 && wire === 2) record.raw = buf.subarray(s, e);
    else if (field === 4 && wire === 2) record.floats = buf.subarray(s, e);
    else if (field === 5 && wire === 2) record.int32s = buf.subarray(s, e);
    else if (field === 13 && wire === 2) {
      let key = '';
      let value = '';
      walk(buf, s, e, (f, _w, ks, ke) => {
        if (f === 1) key = decoder.decode(buf.subarray(ks, ke));
        if (f === 2) value = decoder.decode(buf.subarray(ks, ke));
      });
      record.external[key] = value;
    }
  });
  return record;
}

async function tensorValues(record: TensorRecord, baseDir: string): Promise<Float32Array> {
  let raw = record.raw;
  if (!raw && record.external['location']) {
    const file = await open(path.join(baseDir, record.external['location']), 'r');
    try {
      const offset = Number(record.external['offset'] ?? 0);
      const length = Number(record.external['length'] ?? 0);
      raw = new Uint8Array(length);
      await file.read(raw, 0, length, offset);
    } finally {
      await file.close();
    }
  }
  if (record.dataType === 1) {
    const bytes = raw ?? record.floats ?? new Uint8Array(0);
    return new Float32Array(Uint8Array.from(bytes).buffer);
  }
  if (record.dataType === 10) {
    if (raw) return float16ToFloat32(new Uint16Array(Uint8Array.from(raw).buffer));
    // float16 without raw_data is stored one value per int32_data varint.
    const bits: number[] = [];
    const packed = record.int32s ?? new Uint8Array(0);
    for (let pos = 0; pos < packed.length;) {
      const [v, next] = readVarint(packed, pos);
      bits.push(v);
      pos = next;
    }
    return float16ToFloat32(Uint16Array.from(bits));
  }
  throw new PinholeError('IMPORT_REJECTED', `initializer "${record.name}" has data type ${record.dataType}, not float`);
}

interface NodeRecord {
  op: string;
  inputs: string[];
  outputs: string[];
  /** Float attributes (LayerNormalization's `epsilon`). */
  floats: Map<string, number>;
}

function parseNode(buf: Uint8Array, start: number, end: number): NodeRecord {
  const node: NodeRecord = { op: '', inputs: [], outputs: [], floats: new Map() };
  const decoder = new TextDecoder();
  walk(buf, start, end, (field, wire, s, e) => {
    if (field === 1 && wire === 2) node.inputs.push(decoder.decode(buf.subarray(s, e)));
    else if (field === 2 && wire === 2) node.outputs.push(decoder.decode(buf.subarray(s, e)));
    else if (field === 4 && wire === 2) node.op = decoder.decode(buf.subarray(s, e));
    else if (field === 5 && wire === 2) {
      let name = '';
      let value: number | undefined;
      walk(buf, s, e, (f, w, as, ae) => {
        if (f === 1 && w === 2) name = decoder.decode(buf.subarray(as, ae));
        if (f === 2 && w === 5) value = new DataView(buf.buffer, buf.byteOffset + as, 4).getFloat32(0, true);
      });
      if (value !== undefined) node.floats.set(name, value);
    }
  });
  return node;
}

/** A layer norm's affine parameters: `y = (x − mean) / √(var + ε) · weight + bias` over the last axis. */
export interface LayerNormParams {
  readonly weight: Float32Array;
  readonly bias: Float32Array;
  /** From a fused LayerNormalization node; undefined when the norm was exported as elementary ops. */
  readonly epsilon: number | undefined;
}

/**
 * The final layer norm of a text encoder: the normalization that produces `outputName` (`last_hidden_state`).
 * Found by structure rather than by name, because torch's exporter renames or deduplicates initializers: either
 * a `LayerNormalization` node, or the decomposed form ending in `Mul(·, weight)` then `Add(·, bias)`, with
 * `Identity` nodes followed back to the initializers.
 * @throws PinholeError `IMPORT_REJECTED` naming the file when the pattern is not there.
 */
export async function readFinalLayerNorm(
  modelPath: string,
  outputName = 'last_hidden_state',
): Promise<LayerNormParams> {
  const buf = new Uint8Array(await readFile(modelPath));
  const initializers = new Map<string, TensorRecord>();
  const producers = new Map<string, NodeRecord>();
  walk(buf, 0, buf.length, (field, wire, s, e) => {
    if (field !== 7 || wire !== 2) return;
    walk(buf, s, e, (gField, gWire, gs, ge) => {
      if (gWire !== 2) return;
      if (gField === 5) {
        const record = parseTensor(buf, gs, ge);
        initializers.set(record.name, record);
      } else if (gField === 1) {
        const node = parseNode(buf, gs, ge);
        for (const out of node.outputs) producers.set(out, node);
      }
    });
  });
  const resolve = (name: string | undefined): TensorRecord | undefined => {
    for (let hops = 0; name !== undefined && hops < 8; hops++) {
      const found = initializers.get(name);
      if (found) return found;
      const node = producers.get(name);
      name = node?.op === 'Identity' ? node.inputs[0] : undefined;
    }
    return undefined;
  };
  const fail = (): never => {
    throw new PinholeError(
      'IMPORT_REJECTED',
      `${modelPath}: cannot find the final layer norm that produces "${outputName}"`,
    );
  };
  const dir = path.dirname(modelPath);
  const last = producers.get(outputName) ?? fail();
  if (last.op === 'LayerNormalization') {
    const weight = resolve(last.inputs[1]) ?? fail();
    const bias = resolve(last.inputs[2]) ?? fail();
    return {
      weight: await tensorValues(weight, dir),
      bias: await tensorValues(bias, dir),
      epsilon: last.floats.get('epsilon') ?? 1e-5,
    };
  }
  if (last.op !== 'Add') fail();
  const biasIndex = last.inputs.findIndex((i) => resolve(i) !== undefined);
  const bias = resolve(last.inputs[biasIndex]) ?? fail();
  const mul = producers.get(last.inputs[1 - biasIndex] ?? '');
  if (mul?.op !== 'Mul') fail();
  const weight = resolve(mul!.inputs.find((i) => resolve(i) !== undefined)) ?? fail();
  return { weight: await tensorValues(weight, dir), bias: await tensorValues(bias, dir), epsilon: undefined };
}
