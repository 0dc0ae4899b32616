/**
 * `Value`: a builder's handle on a tensor flowing through the graph, with what inference knows
 * of it. Op helpers take and return Values, so wiring is checked as the graph is built.
 */
import { type DType } from './dtype';
import { type Attribute, type Dim, type Shape, type Tensor } from './ir';
import { type ValueMeta } from './infer-context';

export class Value implements ValueMeta {
  #name: string;

  /** @internal Created by `GraphBuilder` only. */
  constructor(
    name: string,
    readonly dtype: DType,
    /** null: rank unknown. Dims: number, symbol (`'batch'`, `'2*h*w'`) or null (unknown). */
    readonly shape: Shape | null,
    /** Elements of small tensors when known (constants, computed shapes). */
    readonly value?: Dim[] | undefined,
  ) {
    this.#name = name;
  }

  /** The value's name in the graph (final once the graph is built). */
  get name(): string {
    return this.#name;
  }

  /** Number of axes, or undefined when unknown. */
  get rank(): number | undefined {
    return this.shape?.length;
  }

  /** Dim `axis` (negative from the end); undefined when the rank is unknown. */
  dim(axis: number): Dim | undefined {
    if (!this.shape) return undefined;
    return this.shape[axis < 0 ? axis + this.shape.length : axis];
  }

  /** @internal The builder renames a value when it becomes a named graph output. */
  static rename(value: Value, name: string): void {
    value.#name = name;
  }
}

/** A tensor operand: a Value, or a number that becomes a scalar constant of the other operand's dtype. */
export type Operand = Value | number;

/** Typed attribute constructors for `GraphBuilder.node`. */
export const attr = {
  int: (value: number | bigint): Attribute => ({ type: 'int', value }),
  float: (value: number): Attribute => ({ type: 'float', value }),
  string: (value: string): Attribute => ({ type: 'string', value }),
  ints: (value: readonly (number | bigint)[]): Attribute => ({ type: 'ints', value: [...value] }),
  floats: (value: readonly number[]): Attribute => ({ type: 'floats', value: [...value] }),
  strings: (value: readonly string[]): Attribute => ({ type: 'strings', value: [...value] }),
  tensor: (value: Tensor): Attribute => ({ type: 'tensor', value }),
};
