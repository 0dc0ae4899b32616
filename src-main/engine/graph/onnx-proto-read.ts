/**
 * Reading a `ModelProto` into the IR. Unknown fields are skipped (newer ONNX additions that do
 * not change meaning: overloads, metadata on nodes); features that would change meaning if
 * dropped are refused with a `ModelFormatError`.
 */
import { dtypeFromOnnx } from './dtype';
import { ModelFormatError } from './errors';
import {
  type Attribute,
  type Dim,
  type Graph,
  type Model,
  type Node,
  type OpsetImport,
  type Tensor,
  type ValueInfo,
} from './ir';
import { readTensor, readStringPair } from './onnx-proto-tensor';
import { type ProtoReader } from './protobuf';

/** Reads a ModelProto message. */
export function readModel(r: ProtoReader, baseDir: string | undefined): Model {
  const model: Model = {
    irVersion: 0,
    opsetImports: [],
    producerName: '',
    graph: undefined as unknown as Graph,
    metadataProps: new Map(),
  };
  while (!r.done) {
    const [field, wire] = r.tag();
    switch (field) {
      case 1:
        model.irVersion = Number(r.int64());
        break;
      case 2:
        model.producerName = r.string();
        break;
      case 3:
        model.producerVersion = r.string();
        break;
      case 4:
        model.domain = r.string();
        break;
      case 5:
        model.modelVersion = Number(r.int64());
        break;
      case 6:
        model.docString = r.string();
        break;
      case 7:
        model.graph = readGraph(r.message(), baseDir);
        break;
      case 8:
        model.opsetImports.push(readOpset(r.message()));
        break;
      case 14: {
        const [k, v] = readStringPair(r.message());
        model.metadataProps.set(k, v);
        break;
      }
      case 20:
        throw new ModelFormatError('training_info is not supported');
      case 25:
        throw new ModelFormatError('model-local functions are not supported (export with them inlined)');
      default:
        r.skip(wire);
    }
  }
  if (!model.graph) throw new ModelFormatError('the model has no graph');
  return model;
}

function readOpset(r: ProtoReader): OpsetImport {
  const o: OpsetImport = { domain: '', version: 0 };
  while (!r.done) {
    const [field, wire] = r.tag();
    if (field === 1) o.domain = r.string();
    else if (field === 2) o.version = Number(r.int64());
    else r.skip(wire);
  }
  return o;
}

function readGraph(r: ProtoReader, baseDir: string | undefined): Graph {
  const g: Graph = { name: '', inputs: [], outputs: [], nodes: [], initializers: new Map(), valueInfo: new Map() };
  while (!r.done) {
    const [field, wire] = r.tag();
    switch (field) {
      case 1:
        g.nodes.push(readNode(r.message(), baseDir));
        break;
      case 2:
        g.name = r.string();
        break;
      case 5: {
        const t = readTensor(r.message(), baseDir);
        g.initializers.set(t.name, t);
        break;
      }
      case 10:
        g.docString = r.string();
        break;
      case 11:
        g.inputs.push(readValueInfo(r.message()));
        break;
      case 12:
        g.outputs.push(readValueInfo(r.message()));
        break;
      case 13: {
        const vi = readValueInfo(r.message());
        g.valueInfo.set(vi.name, vi);
        break;
      }
      case 15:
        throw new ModelFormatError('sparse initializers are not supported');
      default:
        r.skip(wire);
    }
  }
  return g;
}

function readNode(r: ProtoReader, baseDir: string | undefined): Node {
  const n: Node = { name: '', opType: '', domain: '', inputs: [], outputs: [], attributes: {} };
  while (!r.done) {
    const [field, wire] = r.tag();
    switch (field) {
      case 1:
        n.inputs.push(r.string());
        break;
      case 2:
        n.outputs.push(r.string());
        break;
      case 3:
        n.name = r.string();
        break;
      case 4:
        n.opType = r.string();
        break;
      case 5: {
        const [name, attr] = readAttribute(r.message(), baseDir);
        n.attributes[name] = attr;
        break;
      }
      case 6:
        n.docString = r.string();
        break;
      case 7:
        n.domain = r.string();
        break;
      default:
        r.skip(wire);
    }
  }
  return n;
}

/** AttributeProto.AttributeType → our tag. */
const ATTR_TYPES: Record<number, Attribute['type']> = {
  1: 'float',
  2: 'int',
  3: 'string',
  4: 'tensor',
  5: 'graph',
  6: 'floats',
  7: 'ints',
  8: 'strings',
  9: 'tensors',
  10: 'graphs',
};

function readAttribute(r: ProtoReader, baseDir: string | undefined): [string, Attribute] {
  let name = '';
  let type: Attribute['type'] | undefined;
  let f = 0,
    i: number | bigint = 0,
    s = '';
  let t: Tensor | undefined, g: Graph | undefined;
  const floats: number[] = [],
    ints: (number | bigint)[] = [],
    strings: string[] = [],
    tensors: Tensor[] = [],
    graphs: Graph[] = [];
  const seen = new Set<Attribute['type']>();
  while (!r.done) {
    const [field, wire] = r.tag();
    switch (field) {
      case 1:
        name = r.string();
        break;
      case 2:
        f = r.float();
        seen.add('float');
        break;
      case 3:
        i = r.int64();
        seen.add('int');
        break;
      case 4:
        s = r.string();
        seen.add('string');
        break;
      case 5:
        t = readTensor(r.message(), baseDir);
        seen.add('tensor');
        break;
      case 6:
        g = readGraph(r.message(), baseDir);
        seen.add('graph');
        break;
      case 7:
        r.repeatedFloat(wire, floats);
        seen.add('floats');
        break;
      case 8:
        r.repeatedInt64(wire, ints);
        seen.add('ints');
        break;
      case 9:
        strings.push(r.string());
        seen.add('strings');
        break;
      case 10:
        tensors.push(readTensor(r.message(), baseDir));
        seen.add('tensors');
        break;
      case 11:
        graphs.push(readGraph(r.message(), baseDir));
        seen.add('graphs');
        break;
      case 20: {
        const code = r.uint();
        type = ATTR_TYPES[code];
        if (!type) throw new ModelFormatError(`attribute '${name}': unsupported attribute type ${code}`);
        break;
      }
      case 21:
        throw new ModelFormatError(`attribute '${name}' refers to a function attribute (ref_attr_name)`);
      case 22:
      case 23:
        throw new ModelFormatError(`attribute '${name}': sparse tensors are not supported`);
      default:
        r.skip(wire);
    }
  }
  // IR v1 files have no type field: infer it from the field present.
  type ??= [...seen][0];
  switch (type) {
    case 'float':
      return [name, { type, value: f }];
    case 'int':
      return [name, { type, value: i }];
    case 'string':
      return [name, { type, value: s }];
    case 'tensor':
      if (!t) break;
      return [name, { type, value: t }];
    case 'graph':
      if (!g) break;
      return [name, { type, value: g }];
    case 'floats':
      return [name, { type, value: floats }];
    case 'ints':
      return [name, { type, value: ints }];
    case 'strings':
      return [name, { type, value: strings }];
    case 'tensors':
      return [name, { type, value: tensors }];
    case 'graphs':
      return [name, { type, value: graphs }];
    case undefined:
      break;
  }
  throw new ModelFormatError(`attribute '${name}' has no value`);
}

function readValueInfo(r: ProtoReader): ValueInfo {
  const vi: ValueInfo = { name: '' };
  while (!r.done) {
    const [field, wire] = r.tag();
    if (field === 1) vi.name = r.string();
    else if (field === 2) readType(r.message(), vi);
    else if (field === 3) vi.docString = r.string();
    else r.skip(wire);
  }
  return vi;
}

function readType(r: ProtoReader, vi: ValueInfo): void {
  while (!r.done) {
    const [field, wire] = r.tag();
    if (field === 1) {
      const t = r.message();
      while (!t.done) {
        const [tf, tw] = t.tag();
        if (tf === 1) {
          const code = t.uint();
          vi.dtype = dtypeFromOnnx(code);
          if (code !== 0 && !vi.dtype)
            throw new ModelFormatError(`value '${vi.name}': unsupported element type ${code}`);
        } else if (tf === 2) vi.shape = readShape(t.message());
        else t.skip(tw);
      }
    } else if (field === 4 || field === 5 || field === 8 || field === 9) {
      throw new ModelFormatError(`value '${vi.name}': only tensor-typed values are supported`);
    } else r.skip(wire);
  }
}

function readShape(r: ProtoReader): Dim[] {
  const dims: Dim[] = [];
  while (!r.done) {
    const [field, wire] = r.tag();
    if (field !== 1) {
      r.skip(wire);
      continue;
    }
    const d = r.message();
    let dim: Dim = null;
    while (!d.done) {
      const [df, dw] = d.tag();
      if (df === 1) dim = Number(d.int64());
      else if (df === 2) dim = d.string();
      else d.skip(dw);
    }
    dims.push(dim);
  }
  return dims;
}
