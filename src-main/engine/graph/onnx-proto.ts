/**
 * ONNX `ModelProto` ↔ IR (`ir.ts`), wire-compatible with onnx/onnx.proto. Field numbers are those
 * of the schema; messages the engine cannot represent (model-local functions, sparse
 * initializers, training info, string tensors, non-tensor value types) are refused loudly rather
 * than silently dropped, so a re-encoded model never means something else.
 *
 * This file has the entry points and the writer; reading is in `onnx-proto-read.ts`, tensors
 * (both ways) in `onnx-proto-tensor.ts`. Written like protoc would (fields in number order,
 * unpacked lists where the schema does not say packed, empty optional strings omitted), so
 * decoding and re-encoding a torch-exported model gives back the same bytes.
 */
import { DTYPES } from './dtype';
import { ModelFormatError } from './errors';
import { type Attribute, type Graph, type Model, type Node, type Tensor, type ValueInfo } from './ir';
import { readModel } from './onnx-proto-read';
import { writeTensor, type ExternalPlacement } from './onnx-proto-tensor';
import { ProtoError, ProtoReader, ProtoWriter } from './protobuf';

export type { ExternalPlacement } from './onnx-proto-tensor';

export type DecodeOptions = {
  /** Directory external data locations are relative to (the model file's). */
  baseDir?: string | undefined;
  /** Name used in error messages. */
  file?: string | undefined;
};

/** Decodes a serialized `ModelProto`. Throws `ModelFormatError` naming the file on malformed input. */
export function decodeModel(bytes: Uint8Array, options: DecodeOptions = {}): Model {
  const file = options.file ?? 'model';
  try {
    return readModel(new ProtoReader(bytes), options.baseDir);
  } catch (error) {
    if (error instanceof ModelFormatError) throw new ModelFormatError(`${file}: ${error.message}`, { cause: error });
    if (error instanceof ProtoError || error instanceof RangeError) {
      throw new ModelFormatError(`${file}: not a valid ONNX model (${error.message})`, { cause: error });
    }
    throw error;
  }
}

/**
 * Encodes a model as chunks (large tensors referenced, not copied). `placement` may move
 * initializers to external data; external data not placed is read and inlined.
 */
export function encodeModelChunks(
  model: Model,
  placement?: (tensor: Tensor) => ExternalPlacement | undefined,
): Uint8Array[] {
  const w = new ProtoWriter();
  w.int(1, model.irVersion);
  w.string(2, model.producerName);
  if (model.producerVersion !== undefined) w.string(3, model.producerVersion);
  if (model.domain !== undefined) w.string(4, model.domain);
  if (model.modelVersion !== undefined) w.int(5, model.modelVersion);
  if (model.docString !== undefined) w.string(6, model.docString);
  w.message(7, (g) => writeGraph(g, model.graph, placement));
  for (const o of model.opsetImports) {
    w.message(8, (m) => {
      if (o.domain) m.string(1, o.domain);
      m.int(2, o.version);
    });
  }
  for (const [key, value] of model.metadataProps) {
    w.message(14, (m) => {
      m.string(1, key);
      m.string(2, value);
    });
  }
  return w.finish();
}

// ---------------------------------------------------------------- writing

function writeGraph(w: ProtoWriter, g: Graph, placement?: (tensor: Tensor) => ExternalPlacement | undefined): void {
  for (const node of g.nodes) w.message(1, (m) => writeNode(m, node));
  w.string(2, g.name);
  for (const t of g.initializers.values()) w.message(5, (m) => writeTensor(m, t, placement?.(t)));
  if (g.docString !== undefined) w.string(10, g.docString);
  for (const vi of g.inputs) w.message(11, (m) => writeValueInfo(m, vi));
  for (const vi of g.outputs) w.message(12, (m) => writeValueInfo(m, vi));
  for (const vi of g.valueInfo.values()) w.message(13, (m) => writeValueInfo(m, vi));
}

function writeNode(w: ProtoWriter, n: Node): void {
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  if (n.name) w.string(3, n.name);
  w.string(4, n.opType);
  for (const [name, attr] of Object.entries(n.attributes)) w.message(5, (m) => writeAttribute(m, name, attr));
  if (n.docString !== undefined) w.string(6, n.docString);
  if (n.domain) w.string(7, n.domain);
}

const ATTR_CODES: Record<Attribute['type'], number> = {
  float: 1,
  int: 2,
  string: 3,
  tensor: 4,
  graph: 5,
  floats: 6,
  ints: 7,
  strings: 8,
  tensors: 9,
  graphs: 10,
};

function writeAttribute(w: ProtoWriter, name: string, a: Attribute): void {
  w.string(1, name);
  switch (a.type) {
    case 'float':
      w.float(2, a.value);
      break;
    case 'int':
      w.int(3, a.value);
      break;
    case 'string':
      w.string(4, a.value);
      break;
    case 'tensor':
      w.message(5, (m) => writeTensor(m, a.value, undefined));
      break;
    case 'graph':
      w.message(6, (m) => writeGraph(m, a.value));
      break;
    // Attribute lists are not declared packed in onnx.proto: one element per field, as protoc writes them.
    case 'floats':
      for (const v of a.value) w.float(7, v);
      break;
    case 'ints':
      for (const v of a.value) w.int(8, v);
      break;
    case 'strings':
      for (const v of a.value) w.string(9, v);
      break;
    case 'tensors':
      for (const t of a.value) w.message(10, (m) => writeTensor(m, t, undefined));
      break;
    case 'graphs':
      for (const g of a.value) w.message(11, (m) => writeGraph(m, g));
      break;
  }
  w.int(20, ATTR_CODES[a.type]);
}

function writeValueInfo(w: ProtoWriter, vi: ValueInfo): void {
  w.string(1, vi.name);
  if (vi.dtype !== undefined) {
    const dtype = vi.dtype;
    w.message(2, (type) =>
      type.message(1, (t) => {
        t.int(1, DTYPES[dtype].onnx);
        if (vi.shape) {
          const shape = vi.shape;
          t.message(2, (s) => {
            for (const d of shape) {
              s.message(1, (dim) => {
                if (typeof d === 'number') dim.int(1, d);
                else if (typeof d === 'string') dim.string(2, d);
              });
            }
          });
        }
      }),
    );
  }
  if (vi.docString !== undefined) w.string(3, vi.docString);
}
