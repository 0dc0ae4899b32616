/**
 * The backward graph's writer: appends nodes and constants to the graph being differentiated,
 * with deterministic names (`grad/<forward node>/<OpType>`, `_1`, `_2`… on repeats), and answers
 * what shape inference knows of forward values (dtype, static shape, constant contents).
 */
import {
  attr,
  createTensor,
  DTYPES,
  GraphError,
  type Attribute,
  type DType,
  type Dim,
  type Graph,
  type Node,
  type ValueMeta,
} from '../graph';

export class Emitter {
  /** Nodes appended so far, in order. */
  readonly nodes: Node[] = [];
  /** Names of the constant initializers added so far. */
  readonly constants: string[] = [];
  private readonly used = new Set<string>();
  private scope = 'grad';

  constructor(
    private readonly graph: Graph,
    private readonly metas: Map<string, ValueMeta>,
  ) {
    for (const n of graph.nodes) {
      this.used.add(n.name);
      for (const o of n.outputs) this.used.add(o);
    }
    for (const i of graph.inputs) this.used.add(i.name);
    for (const k of graph.initializers.keys()) this.used.add(k);
  }

  /** Runs `fn` with names under `grad/<node>`. */
  within<T>(node: string, fn: () => T): T {
    const saved = this.scope;
    this.scope = `grad/${node}`;
    try {
      return fn();
    } finally {
      this.scope = saved;
    }
  }

  /** A node with one output (named as the node); returns the output name. */
  op(opType: string, inputs: readonly string[], attributes: Record<string, Attribute> = {}): string {
    return this.opN(opType, inputs, 1, attributes)[0]!;
  }

  /** A node with `count` outputs (`node:0`, `node:1`…). */
  opN(opType: string, inputs: readonly string[], count: number, attributes: Record<string, Attribute> = {}): string[] {
    const name = this.unique(`${this.scope}/${opType}`);
    const outputs = count === 1 ? [name] : Array.from({ length: count }, (_, i) => this.unique(`${name}:${i}`));
    this.nodes.push({ name, opType, domain: '', inputs: [...inputs], outputs, attributes });
    return outputs;
  }

  /**
   * A copy of forward node `node` reading `inputs`, its outputs renamed `<output>/recompute`
   * (unique), with the forward outputs' types; returns the new output names.
   */
  copyNode(node: Node, inputs: readonly string[]): string[] {
    const name = this.unique(`${node.name}/recompute`);
    const outputs = node.outputs.map((o) => {
      if (o === '') return '';
      const renamed = this.unique(`${o}/recompute`);
      this.alias(renamed, o);
      return renamed;
    });
    this.nodes.push({ ...node, name, inputs: [...inputs], outputs });
    return outputs;
  }

  /** Declares that `name` has the type (and known contents) of `like`, for rules that ask. */
  alias(name: string, like: string): void {
    const m = this.metas.get(like);
    if (m) this.metas.set(name, m);
  }

  /** A constant initializer. */
  constant(values: readonly number[], dtype: DType, dims: readonly number[] = [values.length]): string {
    const name = this.unique(`${this.scope}/Constant`);
    this.graph.initializers.set(name, createTensor(name, dtype, dims, values));
    this.constants.push(name);
    return name;
  }

  scalar(value: number, dtype: DType): string {
    return this.constant([value], dtype, []);
  }

  ints(values: readonly number[]): string {
    return this.constant(values, 'int64');
  }

  // ------------------------------------------------------------------ common snippets

  add(a: string, b: string): string {
    return this.op('Add', [a, b]);
  }
  sub(a: string, b: string): string {
    return this.op('Sub', [a, b]);
  }
  mul(a: string, b: string): string {
    return this.op('Mul', [a, b]);
  }
  div(a: string, b: string): string {
    return this.op('Div', [a, b]);
  }
  neg(a: string): string {
    return this.op('Neg', [a]);
  }
  transpose(x: string, perm: readonly number[]): string {
    return this.op('Transpose', [x], { perm: attr.ints(perm) });
  }
  reshape(x: string, shape: readonly number[]): string {
    return this.op('Reshape', [x, this.ints(shape)]);
  }
  /** Reshape to the runtime shape of `like`. */
  reshapeLike(x: string, like: string): string {
    return this.op('Reshape', [x, this.op('Shape', [like])]);
  }
  reduceSum(x: string, axes: readonly number[], keepdims: boolean): string {
    return this.op('ReduceSum', [x, this.ints(axes)], { keepdims: attr.int(keepdims ? 1 : 0) });
  }
  /** ReduceMean (opset 17: axes as an attribute). */
  reduceMean(x: string, axes: readonly number[], keepdims = true): string {
    return this.op('ReduceMean', [x], { axes: attr.ints(axes), keepdims: attr.int(keepdims ? 1 : 0) });
  }
  cast(x: string, dtype: DType): string {
    return this.op('Cast', [x], { to: attr.int(DTYPES[dtype].onnx) });
  }
  zerosLike(x: string, dtype: DType): string {
    const fill = createTensor('', dtype, [1], [0]);
    return this.op('ConstantOfShape', [this.op('Shape', [x])], { value: attr.tensor(fill) });
  }

  /**
   * Sums a gradient `g` (shaped like `outShape`) down to `shape` after numpy
   * broadcasting: ReduceSum over the leading extra axes (dropped) and over axes where the target
   * has size 1 (kept).
   */
  unbroadcast(g: string, outShape: readonly Dim[], shape: readonly Dim[]): string {
    const extra = outShape.length - shape.length;
    if (extra < 0) throw new GraphError(`autodiff: cannot sum rank ${outShape.length} down to rank ${shape.length}`);
    let out = g;
    if (extra > 0) {
      out = this.reduceSum(
        out,
        Array.from({ length: extra }, (_, i) => i),
        false,
      );
    }
    const keep: number[] = [];
    shape.forEach((d, i) => {
      if (d === 1 && outShape[i + extra] !== 1) keep.push(i);
    });
    if (keep.length > 0) out = this.reduceSum(out, keep, true);
    return out;
  }

  // ------------------------------------------------------------------ what is known of values

  /** `base`, or `base_1`, `base_2`… — the first name not used in the graph. */
  private unique(base: string): string {
    let name = base;
    for (let n = 1; this.used.has(name); n++) name = `${base}_${n}`;
    this.used.add(name);
    return name;
  }

  meta(name: string): ValueMeta {
    const m = this.metas.get(name);
    if (!m) throw new GraphError(`autodiff: the type of '${name}' is unknown (no shape inference for it)`);
    return m;
  }

  dtype(name: string): DType {
    return this.meta(name).dtype;
  }

  /** The value's shape (rank must be known). */
  shape(name: string): Dim[] {
    const s = this.meta(name).shape;
    if (!s) throw new GraphError(`autodiff: the rank of '${name}' is unknown`);
    return [...s];
  }

  /** The value's shape with every dim a number (throws naming the value otherwise). */
  staticShape(name: string): number[] {
    const s = this.shape(name);
    if (!s.every((d): d is number => typeof d === 'number')) {
      throw new GraphError(`autodiff: '${name}' needs a static shape here, has [${s.join(', ')}]`);
    }
    return s;
  }

  /** The contents of a small constant int/float value (axes, shapes, scales), or undefined. */
  constValues(name: string): number[] | undefined {
    if (name === '') return undefined;
    const v = this.metas.get(name)?.value;
    if (!v || !v.every((d): d is number => typeof d === 'number')) return undefined;
    return v;
  }
}
