/**
 * What a shape-inference rule sees of one node: its inputs' dtypes, shapes and (for small
 * constant or shape-derived tensors) values, its attributes and the opset — plus helpers that
 * raise errors naming the node.
 */
import { isFloatDType, type DType } from './dtype';
import { GraphError } from './errors';
import { attrNumber, attrNumbers, attrString, type Dim, type Node, type Shape } from './ir';
import { broadcastShapes, formatShape, normalizeAxis } from './shape';

/**
 * What inference knows of a value. `value`: the elements of a small (≤ 64 elements) tensor when
 * known — constants, and shapes computed by Shape/Gather/Concat… where entries may be symbolic.
 */
export interface ValueMeta {
  dtype: DType;
  /** null: rank unknown. */
  shape: Shape | null;
  value?: Dim[] | undefined;
}

/** Tensors up to this many elements carry their values through inference. */
export const MAX_KNOWN_VALUES = 64;

export class InferContext {
  constructor(
    readonly node: Node,
    readonly inputs: readonly (ValueMeta | undefined)[],
    readonly opset: number,
  ) {}

  /** An error naming the node: `MatMul 'attn/MatMul_1': …`. */
  fail(message: string): never {
    throw new GraphError(`${this.node.opType} '${this.node.name}': ${message}`, { node: this.node.name });
  }

  /** Required input `i`. */
  in(i: number): ValueMeta {
    const v = this.inputs[i];
    if (!v) this.fail(`input ${i} is missing or has no known type`);
    return v;
  }

  /** Optional input `i` (absent → undefined). */
  opt(i: number): ValueMeta | undefined {
    return this.node.inputs[i] ? this.inputs[i] : undefined;
  }

  /** Whether optional input `i` is given. */
  has(i: number): boolean {
    return Boolean(this.node.inputs[i]);
  }

  int(name: string, fallback: number): number {
    return attrNumber(this.node, name) ?? fallback;
  }

  ints(name: string): number[] | undefined {
    return attrNumbers(this.node, name);
  }

  str(name: string, fallback: string): string {
    return attrString(this.node, name) ?? fallback;
  }

  /** Normalized axis for a tensor of `rank`, or a failure naming the attribute. */
  axis(axis: number, rank: number, what = 'axis'): number {
    const a = normalizeAxis(axis, rank);
    if (a === undefined) this.fail(`${what} ${axis} is out of range for rank ${rank}`);
    return a;
  }

  /** The known numeric values of input `i` (e.g. axes, starts), or undefined. */
  numbers(i: number): number[] | undefined {
    const v = this.node.inputs[i] ? this.inputs[i]?.value : undefined;
    if (!v || v.some((d) => typeof d !== 'number')) return undefined;
    return v as number[];
  }

  /** All inputs given must share one dtype; returns it. */
  sameDType(indices: number[]): DType {
    const metas = indices.map((i) => this.in(i));
    const dtype = metas[0]!.dtype;
    const other = metas.find((m) => m.dtype !== dtype);
    if (other) this.fail(`input dtypes differ: ${metas.map((m) => m.dtype).join(' vs ')}`);
    return dtype;
  }

  requireFloat(i: number): DType {
    const d = this.in(i).dtype;
    if (!isFloatDType(d)) this.fail(`input ${i} must be a float tensor, got ${d}`);
    return d;
  }

  requireInt(i: number): DType {
    const d = this.in(i).dtype;
    if (d !== 'int64' && d !== 'int32') this.fail(`input ${i} must be int64 or int32, got ${d}`);
    return d;
  }

  /** `[…]` of input `i` for messages. */
  fmt(i: number): string {
    return formatShape(this.inputs[i]?.shape);
  }
}

/** A shape rule: a node's context → its outputs. */
export type Rule = (c: InferContext) => ValueMeta[];

/** Output metadata; values longer than `MAX_KNOWN_VALUES` are dropped. */
export const meta = (dtype: DType, shape: Shape | null, value?: Dim[]): ValueMeta =>
  value && value.length <= MAX_KNOWN_VALUES ? { dtype, shape, value } : { dtype, shape };

/** A shape of `n` unknown dims (rank known), or unknown rank. */
export const unknownDims = (n: Dim | undefined): Shape | null =>
  typeof n === 'number' ? new Array<Dim>(n).fill(null) : null;

/** The broadcast shape of some inputs (null if any rank is unknown); fails naming the node. */
export function broadcastInputs(c: InferContext, indices: number[]): Shape | null {
  const shapes = indices.map((i) => c.in(i).shape);
  if (shapes.some((s) => s === null)) return null;
  const out = broadcastShapes(shapes as Shape[]);
  if (typeof out === 'string') c.fail(out);
  return out;
}
