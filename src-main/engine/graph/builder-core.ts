/**
 * The builder's core: inputs, initializers, constants, name scopes, generic nodes with shape
 * inference, outputs and `build()`. Op helpers live in the subclasses (`builder-math.ts`,
 * `builder.ts`).
 *
 * Naming is deterministic — the same calls give the same graph, byte for byte:
 * - scopes join with '.', following the module path (`down_blocks.0.attentions.1`);
 * - initializers are `scope.name` (`down_blocks.0.attentions.1.proj_in.weight`, the state-dict key);
 * - nodes are `scope/OpType`, then `scope/OpType_1`, …; a node's single output has the node's name,
 *   several outputs are `node:0`, `node:1`, …;
 * - constants are initializers named `scope/Constant`, `scope/Constant_1`, ….
 */
import { type DType } from './dtype';
import { GraphError } from './errors';
import { type Attribute, type Graph, type Model, type Node, type Tensor, type ValueInfo } from './ir';
import { inferNode, tensorMeta, type ValueMeta } from './infer';
import { canonicalDim } from './shape';
import { createTensor } from './tensor';
import { Value, type Operand } from './value';

export type GraphBuilderOptions = {
  /** Graph name. Default 'main'. */
  name?: string;
  /** ai.onnx opset. Default 17 (LayerNormalization needs ≥ 17); 18+ moves reduction axes to inputs. */
  opset?: number;
  producerName?: string;
};

export type BuildOptions = {
  /** Record inferred types of intermediate values in `graph.valueInfo` (and the file). Default true. */
  valueInfo?: boolean;
  /** `ModelProto.metadata_props`. */
  metadata?: Record<string, string>;
  docString?: string;
};

export type NodeOptions = {
  /** Number of outputs (default 1; ops with optional outputs produce only these). */
  outputs?: number;
  domain?: string;
  /** Output types for ops without a shape rule (custom domains). */
  outputMetas?: ValueMeta[];
};

/** ONNX IR version that goes with an opset (the oldest that supports it). */
function irVersionFor(opset: number): number {
  if (opset <= 15) return 8;
  if (opset <= 19) return 9;
  if (opset <= 21) return 10;
  return 11;
}

export class BuilderCore {
  readonly opset: number;
  private readonly graphName: string;
  private readonly producerName: string;
  private readonly inputs: ValueInfo[] = [];
  private readonly outputs: Value[] = [];
  private readonly nodes: Node[] = [];
  private readonly initializers = new Map<string, Tensor>();
  private readonly values = new Map<string, Value>();
  private readonly nodeNames = new Set<string>();
  private readonly counters = new Map<string, number>();
  private readonly domains = new Set<string>();
  private readonly scopes: string[] = [];

  constructor(options: GraphBuilderOptions = {}) {
    this.opset = options.opset ?? 17;
    this.graphName = options.name ?? 'main';
    this.producerName = options.producerName ?? 'pinhole-studio';
  }

  /** The current scope path ('' at the root). */
  get scopeName(): string {
    return this.scopes.join('.');
  }

  /** Runs `fn` with `name` appended to the scope path (`'down_blocks.0'`, then `'attentions.1'`…). */
  scope<T>(name: string, fn: () => T): T {
    this.scopes.push(name);
    try {
      return fn();
    } finally {
      this.scopes.pop();
    }
  }

  /** A graph input. `shape`: numbers and symbolic names (`['batch', 4, 'height', 'width']`). Not scoped. */
  input(name: string, dtype: DType, shape: readonly (number | string | null)[]): Value {
    this.claim(name);
    const v = new Value(name, dtype, shape.map(canonicalDim));
    this.values.set(name, v);
    this.inputs.push({ name, dtype, shape: [...v.shape!] });
    return v;
  }

  /** A weight: `tensor` stored as initializer `scope.name` (the tensor's own name is replaced). */
  initializer(name: string, tensor: Tensor): Value {
    const full = this.scopeName ? `${this.scopeName}.${name}` : name;
    this.claim(full);
    const t: Tensor = { ...tensor, name: full, dims: [...tensor.dims] };
    this.initializers.set(full, t);
    const m = tensorMeta(t);
    const v = new Value(full, m.dtype, m.shape, m.value);
    this.values.set(full, v);
    return v;
  }

  /**
   * A constant tensor (stored as an initializer). A single number gives a scalar; a list gives a
   * 1-D tensor unless `dims` says otherwise. int64 by default for lists of integers used as
   * shapes/axes — pass `dtype` for anything else.
   */
  constant(
    values: number | readonly number[] | readonly bigint[],
    dtype: DType = 'float32',
    dims?: readonly number[],
  ): Value {
    const list = typeof values === 'number' ? [values] : values;
    const shape = dims ?? (typeof values === 'number' ? [] : [list.length]);
    const name = this.uniqueName(this.scoped('Constant'));
    const t = createTensor(name, dtype, shape, list);
    this.initializers.set(name, t);
    const m = tensorMeta(t);
    const v = new Value(name, m.dtype, m.shape, m.value);
    this.values.set(name, v);
    return v;
  }

  /** An int64 1-D constant (shapes, axes, indices). */
  ints(values: readonly number[]): Value {
    return this.constant(values, 'int64');
  }

  /** Marks `value` as a graph output, renamed to `name` when given. */
  output(value: Value, name?: string): Value {
    this.own(value);
    let out = value;
    const fixed =
      this.inputs.some((i) => i.name === value.name) ||
      this.initializers.has(value.name) ||
      this.outputs.includes(value);
    if (name !== undefined && name !== value.name) {
      if (fixed) {
        // An input, weight or existing output keeps its name; the new output is a copy.
        this.claim(name);
        out = this.addNode('Identity', [value], {}, {}, name)[0]!;
      } else {
        this.renameProduced(value, name);
      }
    }
    this.outputs.push(out);
    return out;
  }

  /**
   * A node of any op. Outputs are typed by the op's shape rule (or `options.outputMetas`); a
   * wiring mistake throws `GraphError` naming the node.
   */
  node(
    opType: string,
    inputs: readonly (Value | undefined)[],
    attributes: Record<string, Attribute> = {},
    options: NodeOptions = {},
  ): Value[] {
    return this.addNode(opType, inputs, attributes, options);
  }

  /** Looks up a value created by this builder. */
  value(name: string): Value | undefined {
    return this.values.get(name);
  }

  /** The model. May be called again after adding more; each call returns a fresh copy. */
  build(options: BuildOptions = {}): Model {
    if (this.outputs.length === 0) throw new GraphError(`graph '${this.graphName}' has no outputs`);
    const outputNames = new Set(this.outputs.map((o) => o.name));
    const valueInfo = new Map<string, ValueInfo>();
    if (options.valueInfo ?? true) {
      for (const n of this.nodes) {
        for (const o of n.outputs) {
          const v = this.values.get(o);
          if (v && !outputNames.has(o)) valueInfo.set(o, info(v));
        }
      }
    }
    const graph: Graph = {
      name: this.graphName,
      inputs: this.inputs.map((i) => ({ ...i, shape: i.shape ? [...i.shape] : undefined })),
      outputs: this.outputs.map(info),
      nodes: this.nodes.map((n) => ({
        ...n,
        inputs: [...n.inputs],
        outputs: [...n.outputs],
        attributes: { ...n.attributes },
      })),
      initializers: new Map(this.initializers),
      valueInfo,
    };
    if (options.docString !== undefined) graph.docString = options.docString;
    const opsetImports = [
      { domain: '', version: this.opset },
      ...[...this.domains].sort().map((domain) => ({ domain, version: 1 })),
    ];
    return {
      irVersion: irVersionFor(this.opset),
      opsetImports,
      producerName: this.producerName,
      graph,
      metadataProps: new Map(Object.entries(options.metadata ?? {})),
    };
  }

  // ------------------------------------------------------------ for op helpers

  /** A node with one output. */
  protected op(
    opType: string,
    inputs: readonly (Value | undefined)[],
    attributes: Record<string, Attribute> = {},
  ): Value {
    return this.addNode(opType, inputs, attributes, {})[0]!;
  }

  /** Numbers become scalar constants of the dtype of the first Value among the operands. */
  protected operands(...xs: Operand[]): Value[] {
    const like = xs.find((x): x is Value => x instanceof Value);
    if (!like) throw new GraphError(`${this.scopeName || 'graph'}: an op needs at least one tensor operand`);
    return xs.map((x) => (x instanceof Value ? x : this.constant(x, like.dtype)));
  }

  /** An axes/shape argument: a list becomes an int64 constant, a Value is used as is. */
  protected intsOperand(x: readonly number[] | Value): Value {
    return x instanceof Value ? x : this.ints(x);
  }

  // ------------------------------------------------------------ internals

  private addNode(
    opType: string,
    inputs: readonly (Value | undefined)[],
    attributes: Record<string, Attribute>,
    options: NodeOptions,
    outputName?: string,
  ): Value[] {
    for (const i of inputs) if (i) this.own(i);
    // Absent optional inputs at the end are dropped, not written as ''.
    let given = inputs.length;
    while (given > 0 && !inputs[given - 1]) given--;
    inputs = inputs.slice(0, given);
    const name = this.uniqueNodeName(this.scoped(opType));
    const count = options.outputs ?? 1;
    const outputs = count === 1 ? [outputName ?? name] : Array.from({ length: count }, (_, i) => `${name}:${i}`);
    for (const o of outputs) if (o !== outputName) this.claim(o);
    const domain = options.domain ?? '';
    const node: Node = { name, opType, domain, inputs: inputs.map((i) => i?.name ?? ''), outputs, attributes };
    const metas = options.outputMetas ?? inferNode(node, inputs, this.opset);
    if (metas.length < count)
      throw new GraphError(`${opType} '${name}': has ${metas.length} outputs, ${count} requested`, { node: name });
    if (domain !== '') this.domains.add(domain);
    this.nodes.push(node);
    return outputs.map((o, i) => {
      const m = metas[i]!;
      const v = new Value(o, m.dtype, m.shape, m.value);
      this.values.set(o, v);
      return v;
    });
  }

  private scoped(base: string): string {
    return this.scopeName ? `${this.scopeName}/${base}` : base;
  }

  /** `base`, or `base_1`, `base_2`… — the first free among node and value names. */
  private uniqueNodeName(base: string): string {
    let n = this.counters.get(base) ?? 0;
    let name = n === 0 ? base : `${base}_${n}`;
    while (this.nodeNames.has(name) || this.values.has(name)) name = `${base}_${++n}`;
    this.counters.set(base, n + 1);
    this.nodeNames.add(name);
    return name;
  }

  private uniqueName(base: string): string {
    const name = this.uniqueNodeName(base);
    this.claim(name);
    return name;
  }

  private claim(name: string): void {
    if (!name) throw new GraphError('a value name must not be empty');
    if (this.values.has(name) || this.initializers.has(name))
      throw new GraphError(`value name '${name}' is already used`);
    // Reserve it now (replaced by the real Value right after) so nothing else takes it.
    this.values.set(name, new Value(name, 'float32', null));
  }

  private own(v: Value): void {
    if (this.values.get(v.name) !== v) throw new GraphError(`value '${v.name}' does not belong to this builder`);
  }

  /** Renames a node output and every reference to it. */
  private renameProduced(v: Value, name: string): void {
    this.claim(name);
    const old = v.name;
    for (const n of this.nodes) {
      n.inputs = n.inputs.map((i) => (i === old ? name : i));
      n.outputs = n.outputs.map((o) => (o === old ? name : o));
    }
    this.values.delete(old);
    Value.rename(v, name);
    this.values.set(name, v);
  }
}

function info(v: Value): ValueInfo {
  return v.shape ? { name: v.name, dtype: v.dtype, shape: [...v.shape] } : { name: v.name, dtype: v.dtype };
}
