/**
 * The in-memory model: plain data, no protobuf. `onnx-proto.ts` maps it to and from ONNX's wire
 * format; `builder.ts` creates it; autodiff and checkpointing walk it with the helpers below.
 * Names follow ONNX: values (tensors flowing between nodes) and nodes have separate namespaces,
 * and an empty string in `Node.inputs` is an absent optional input.
 */
import { type AnyTypedArray, type DType } from './dtype';
import { GraphError } from './errors';

/** One dimension: a size, a symbol (`'batch'`, or a product such as `'2*height*width'`), or unknown. */
export type Dim = number | string | null;

/** A tensor shape. `[]` is a scalar. */
export type Shape = Dim[];

/**
 * Tensor bytes kept in a file until needed: `length` bytes at `offset` in `path`, little-endian
 * elements of `sourceDtype` (default: the tensor's dtype; when different, they are converted as
 * they are copied). Lets a 3.4 GB UNet go from safetensors to `model.onnx.data` without holding it.
 */
export type ExternalData = {
  readonly kind: 'external';
  readonly path: string;
  readonly offset: number;
  readonly length: number;
  readonly sourceDtype?: DType | undefined;
};

/**
 * Tensor contents: the dtype's typed array (`DTypeArrays`; float16/bfloat16 as bit patterns), a
 * `Uint8Array` of raw little-endian bytes (any dtype), or bytes in a file.
 */
export type TensorData = AnyTypedArray | ExternalData;

/** A constant tensor: an initializer or an attribute value. Row-major, `dims` all known. */
export interface Tensor {
  name: string;
  dtype: DType;
  dims: number[];
  data: TensorData;
  docString?: string | undefined;
}

/** Node attributes, typed as in `AttributeProto`. int64 values beyond 2^53 stay exact as bigint. */
export type Attribute =
  | { type: 'float'; value: number }
  | { type: 'int'; value: number | bigint }
  | { type: 'string'; value: string }
  | { type: 'tensor'; value: Tensor }
  | { type: 'graph'; value: Graph }
  | { type: 'floats'; value: number[] }
  | { type: 'ints'; value: (number | bigint)[] }
  | { type: 'strings'; value: string[] }
  | { type: 'tensors'; value: Tensor[] }
  | { type: 'graphs'; value: Graph[] };

/** A tensor-typed value's declaration. `dtype` undefined: type not declared; `shape` undefined: rank unknown. */
export interface ValueInfo {
  name: string;
  dtype?: DType | undefined;
  shape?: Shape | undefined;
  docString?: string | undefined;
}

export interface Node {
  name: string;
  opType: string;
  /** '' is the default ONNX domain (`ai.onnx`). */
  domain: string;
  /** Value names; '' marks an absent optional input. */
  inputs: string[];
  /** Value names; '' marks an unused optional output. */
  outputs: string[];
  attributes: Record<string, Attribute>;
  docString?: string | undefined;
}

export interface Graph {
  name: string;
  inputs: ValueInfo[];
  outputs: ValueInfo[];
  /** In topological order when built or decoded from a valid model. */
  nodes: Node[];
  /** Constant tensors by name, in file order. */
  initializers: Map<string, Tensor>;
  /** Declared types of intermediate values, by name. */
  valueInfo: Map<string, ValueInfo>;
  docString?: string | undefined;
}

export interface OpsetImport {
  domain: string;
  version: number;
}

export interface Model {
  irVersion: number;
  opsetImports: OpsetImport[];
  producerName: string;
  producerVersion?: string | undefined;
  domain?: string | undefined;
  modelVersion?: number | undefined;
  docString?: string | undefined;
  graph: Graph;
  metadataProps: Map<string, string>;
}

/** An empty graph. */
export function createGraph(name: string): Graph {
  return { name, inputs: [], outputs: [], nodes: [], initializers: new Map(), valueInfo: new Map() };
}

/** The opset version a model imports for `domain` ('' = ai.onnx), or undefined. */
export function opsetVersion(model: Model, domain = ''): number | undefined {
  const norm = (d: string) => (d === 'ai.onnx' ? '' : d);
  return model.opsetImports.find((o) => norm(o.domain) === norm(domain))?.version;
}

/** Node attribute as a number (int or float); bigint int64 extremes become ±Infinity-like finite numbers. */
export function attrNumber(node: Node, name: string): number | undefined {
  const a = node.attributes[name];
  if (!a) return undefined;
  if (a.type === 'int' || a.type === 'float') return Number(a.value);
  throw new GraphError(`${node.opType} '${node.name}': attribute ${name} is ${a.type}, expected a number`, {
    node: node.name,
  });
}

/** Node attribute as a list of numbers (ints or floats). */
export function attrNumbers(node: Node, name: string): number[] | undefined {
  const a = node.attributes[name];
  if (!a) return undefined;
  if (a.type === 'ints' || a.type === 'floats') return a.value.map(Number);
  throw new GraphError(`${node.opType} '${node.name}': attribute ${name} is ${a.type}, expected a list`, {
    node: node.name,
  });
}

/** Node attribute as a string. */
export function attrString(node: Node, name: string): string | undefined {
  const a = node.attributes[name];
  if (!a) return undefined;
  if (a.type === 'string') return a.value;
  throw new GraphError(`${node.opType} '${node.name}': attribute ${name} is ${a.type}, expected a string`, {
    node: node.name,
  });
}

/**
 * Names a node reads: its inputs plus values its subgraphs (If/Loop/Scan bodies) take from the
 * enclosing scope — needed so ordering and extraction see every dependency.
 */
export function nodeDependencies(node: Node): string[] {
  const deps = node.inputs.filter((n) => n !== '');
  for (const attr of Object.values(node.attributes)) {
    const graphs = attr.type === 'graph' ? [attr.value] : attr.type === 'graphs' ? attr.value : [];
    for (const g of graphs) deps.push(...outerReferences(g));
  }
  return deps;
}

/** Values a (sub)graph uses but neither defines nor takes as input: its captures from outer scopes. */
export function outerReferences(graph: Graph): string[] {
  const defined = new Set<string>([...graph.inputs.map((i) => i.name), ...graph.initializers.keys()]);
  for (const n of graph.nodes) for (const o of n.outputs) defined.add(o);
  const outer = new Set<string>();
  for (const n of graph.nodes) for (const d of nodeDependencies(n)) if (!defined.has(d)) outer.add(d);
  for (const o of graph.outputs) if (!defined.has(o.name)) outer.add(o.name);
  return [...outer];
}

/** Value name → the node producing it. */
export function producerMap(graph: Graph): Map<string, Node> {
  const map = new Map<string, Node>();
  for (const node of graph.nodes) for (const o of node.outputs) if (o !== '') map.set(o, node);
  return map;
}

/** Value name → the nodes reading it (in node order, a node once even if it reads the value twice). */
export function consumerMap(graph: Graph): Map<string, Node[]> {
  const map = new Map<string, Node[]>();
  for (const node of graph.nodes) {
    for (const i of new Set(nodeDependencies(node))) {
      const list = map.get(i);
      if (list) list.push(node);
      else map.set(i, [node]);
    }
  }
  return map;
}

/** The node producing `value`, or undefined for graph inputs, initializers and unknown names. */
export function findProducer(graph: Graph, value: string): Node | undefined {
  return graph.nodes.find((n) => n.outputs.includes(value));
}

/** The nodes reading `value`. */
export function findConsumers(graph: Graph, value: string): Node[] {
  return graph.nodes.filter((n) => nodeDependencies(n).includes(value));
}

/**
 * The graph's nodes in an order where each comes after the producers of what it reads. Stable:
 * an already-sorted graph keeps its order. Throws naming a node on a cycle or an undefined input.
 */
export function topologicalOrder(graph: Graph): Node[] {
  const available = new Set<string>([...graph.inputs.map((i) => i.name), ...graph.initializers.keys()]);
  const producers = producerMap(graph);
  const waiting = new Map<Node, number>();
  const readers = new Map<string, Node[]>();
  const ready: Node[] = [];
  for (const node of graph.nodes) {
    let missing = 0;
    for (const dep of new Set(nodeDependencies(node))) {
      if (available.has(dep)) continue;
      if (!producers.has(dep)) {
        throw new GraphError(
          `${node.opType} '${node.name}' reads '${dep}', which no node, input or initializer defines`,
          {
            node: node.name,
          },
        );
      }
      missing++;
      const list = readers.get(dep);
      if (list) list.push(node);
      else readers.set(dep, [node]);
    }
    waiting.set(node, missing);
    if (missing === 0) ready.push(node);
  }
  // Kahn's algorithm; `ready` is consumed in order, so ties resolve by original position.
  const index = new Map(graph.nodes.map((n, i) => [n, i] as const));
  const order: Node[] = [];
  while (ready.length > 0) {
    ready.sort((a, b) => index.get(a)! - index.get(b)!);
    const node = ready.shift()!;
    order.push(node);
    for (const out of node.outputs) {
      for (const reader of readers.get(out) ?? []) {
        const left = waiting.get(reader)! - 1;
        waiting.set(reader, left);
        if (left === 0) ready.push(reader);
      }
    }
  }
  if (order.length !== graph.nodes.length) {
    const stuck = graph.nodes.find((n) => waiting.get(n)! > 0)!;
    throw new GraphError(`graph '${graph.name}' has a cycle through ${stuck.opType} '${stuck.name}'`, {
      node: stuck.name,
    });
  }
  return order;
}

/** The declared type of a value: graph input/output, value_info, or an initializer's. */
export function valueInfoOf(graph: Graph, name: string): ValueInfo | undefined {
  const init = graph.initializers.get(name);
  if (init) return { name, dtype: init.dtype, shape: [...init.dims] };
  return (
    graph.inputs.find((i) => i.name === name) ?? graph.valueInfo.get(name) ?? graph.outputs.find((o) => o.name === name)
  );
}

/**
 * The part of `graph` that computes `outputNames` from `inputNames`: the nodes on the way (in
 * topological order), the initializers they read, and `inputNames` as graph inputs — an
 * initializer named there becomes an input (a weight to differentiate or feed). Throws if an
 * output needs a value that is neither computed from the inputs nor an initializer.
 */
export function extractSubgraph(graph: Graph, inputNames: string[], outputNames: string[]): Graph {
  const inputs = new Set(inputNames);
  const producers = producerMap(graph);
  const needed = new Set<Node>();
  const usedInits = new Set<string>();
  const usedInputs = new Set<string>();
  const stack = [...outputNames];
  const seen = new Set<string>();
  while (stack.length > 0) {
    const value = stack.pop()!;
    if (seen.has(value)) continue;
    seen.add(value);
    if (inputs.has(value)) {
      usedInputs.add(value);
      continue;
    }
    if (graph.initializers.has(value)) {
      usedInits.add(value);
      continue;
    }
    const node = producers.get(value);
    if (!node) {
      throw new GraphError(
        `extractSubgraph: '${value}' cannot be computed from the given inputs [${inputNames.join(', ')}]`,
      );
    }
    if (!needed.has(node)) {
      needed.add(node);
      stack.push(...nodeDependencies(node));
    }
  }
  const info = (name: string): ValueInfo => {
    const found = valueInfoOf(graph, name);
    return found ? { ...found, name, shape: found.shape ? [...found.shape] : undefined } : { name };
  };
  const sub: Graph = {
    name: graph.name,
    inputs: inputNames.map(info),
    outputs: outputNames.map(info),
    nodes: graph.nodes.filter((n) => needed.has(n)),
    initializers: new Map([...graph.initializers].filter(([name]) => usedInits.has(name) && !inputs.has(name))),
    valueInfo: new Map(),
  };
  const internal = new Set(sub.nodes.flatMap((n) => n.outputs));
  for (const [name, vi] of graph.valueInfo) if (internal.has(name)) sub.valueInfo.set(name, vi);
  sub.nodes = topologicalOrder(sub);
  return sub;
}
