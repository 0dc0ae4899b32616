/**
 * Op helpers for elementwise math, comparisons, matrix products, softmax and reductions. Shapes
 * follow ONNX (numpy broadcasting, numpy matmul); every helper's output is typed by inference,
 * so a mismatch throws at the call, naming the node.
 */
import { BuilderCore } from './builder-core';
import { DTYPES, type DType } from './dtype';
import { type Attribute } from './ir';
import { attr, type Operand, type Value } from './value';

export type GemmOptions = { alpha?: number; beta?: number; transA?: boolean; transB?: boolean };
export type ReduceOptions = { keepdims?: boolean };

/** Opset from which each reduction takes its axes as an input instead of an attribute. */
const AXES_INPUT_FROM: Record<string, number> = { ReduceSum: 13, ReduceMean: 18, ReduceMax: 18, ReduceMin: 18 };

export class MathOps extends BuilderCore {
  /** a + b (broadcasting; same dtype). */
  add(a: Operand, b: Operand): Value {
    return this.op('Add', this.operands(a, b));
  }

  /** a − b. */
  sub(a: Operand, b: Operand): Value {
    return this.op('Sub', this.operands(a, b));
  }

  /** a · b (elementwise). */
  mul(a: Operand, b: Operand): Value {
    return this.op('Mul', this.operands(a, b));
  }

  /** a / b (integer division truncates, as ONNX Div does). */
  div(a: Operand, b: Operand): Value {
    return this.op('Div', this.operands(a, b));
  }

  /** x ^ y. */
  pow(x: Value, y: Operand): Value {
    return this.op('Pow', this.operands(x, y));
  }

  /** Elementwise maximum of several tensors. */
  max(...xs: Operand[]): Value {
    return this.op('Max', this.operands(...xs));
  }

  /** Elementwise minimum of several tensors. */
  min(...xs: Operand[]): Value {
    return this.op('Min', this.operands(...xs));
  }

  neg(x: Value): Value {
    return this.op('Neg', [x]);
  }

  abs(x: Value): Value {
    return this.op('Abs', [x]);
  }

  sqrt(x: Value): Value {
    return this.op('Sqrt', [x]);
  }

  exp(x: Value): Value {
    return this.op('Exp', [x]);
  }

  log(x: Value): Value {
    return this.op('Log', [x]);
  }

  erf(x: Value): Value {
    return this.op('Erf', [x]);
  }

  sigmoid(x: Value): Value {
    return this.op('Sigmoid', [x]);
  }

  tanh(x: Value): Value {
    return this.op('Tanh', [x]);
  }

  relu(x: Value): Value {
    return this.op('Relu', [x]);
  }

  sin(x: Value): Value {
    return this.op('Sin', [x]);
  }

  cos(x: Value): Value {
    return this.op('Cos', [x]);
  }

  reciprocal(x: Value): Value {
    return this.op('Reciprocal', [x]);
  }

  floor(x: Value): Value {
    return this.op('Floor', [x]);
  }

  ceil(x: Value): Value {
    return this.op('Ceil', [x]);
  }

  identity(x: Value): Value {
    return this.op('Identity', [x]);
  }

  /** Clamps to [min, max]; either bound may be omitted. */
  clip(x: Value, min?: number, max?: number): Value {
    const bound = (v: number | undefined) => (v === undefined ? undefined : this.constant(v, x.dtype));
    return this.op('Clip', [x, bound(min), bound(max)]);
  }

  /** x · sigmoid(x) (SiLU / swish), as two ops every provider has. */
  silu(x: Value): Value {
    return this.mul(x, this.sigmoid(x));
  }

  /** Exact GELU: 0.5 · x · (1 + erf(x / √2)) (PyTorch's default, not the tanh approximation). */
  gelu(x: Value): Value {
    return this.mul(this.mul(x, 0.5), this.add(this.erf(this.mul(x, Math.SQRT1_2)), 1));
  }

  /** a == b → bool. */
  equal(a: Operand, b: Operand): Value {
    return this.op('Equal', this.operands(a, b));
  }

  /** a < b → bool. */
  less(a: Operand, b: Operand): Value {
    return this.op('Less', this.operands(a, b));
  }

  lessOrEqual(a: Operand, b: Operand): Value {
    return this.op('LessOrEqual', this.operands(a, b));
  }

  greater(a: Operand, b: Operand): Value {
    return this.op('Greater', this.operands(a, b));
  }

  greaterOrEqual(a: Operand, b: Operand): Value {
    return this.op('GreaterOrEqual', this.operands(a, b));
  }

  and(a: Value, b: Value): Value {
    return this.op('And', [a, b]);
  }

  or(a: Value, b: Value): Value {
    return this.op('Or', [a, b]);
  }

  not(x: Value): Value {
    return this.op('Not', [x]);
  }

  /** cond ? x : y elementwise (cond bool; all three broadcast). */
  where(cond: Value, x: Operand, y: Operand): Value {
    const [vx, vy] = this.operands(x, y);
    return this.op('Where', [cond, vx, vy]);
  }

  /** Converts to `dtype` (float → int truncates toward zero). */
  cast(x: Value, dtype: DType): Value {
    return this.op('Cast', [x], { to: attr.int(DTYPES[dtype].onnx) });
  }

  /** Matrix product with numpy semantics: [..., M, K] × [..., K, N] → [..., M, N], batch dims broadcast. */
  matmul(a: Value, b: Value): Value {
    return this.op('MatMul', [a, b]);
  }

  /** alpha · A' · B' + beta · C for 2-D A [M, K], B [K, N] (transposed when asked), C broadcast to [M, N]. */
  gemm(a: Value, b: Value, c?: Value, options: GemmOptions = {}): Value {
    const attrs: Record<string, Attribute> = {};
    if (options.alpha !== undefined) attrs.alpha = attr.float(options.alpha);
    if (options.beta !== undefined) attrs.beta = attr.float(options.beta);
    if (options.transA) attrs.transA = attr.int(1);
    if (options.transB) attrs.transB = attr.int(1);
    return this.op('Gemm', [a, b, c], attrs);
  }

  /** Softmax along `axis` (opset ≥ 13 semantics: that axis only). */
  softmax(x: Value, axis = -1): Value {
    return this.op('Softmax', [x], { axis: attr.int(axis) });
  }

  logSoftmax(x: Value, axis = -1): Value {
    return this.op('LogSoftmax', [x], { axis: attr.int(axis) });
  }

  /** Mean over `axes` (kept as size-1 dims unless `keepdims: false`). */
  reduceMean(x: Value, axes: readonly number[], options: ReduceOptions = {}): Value {
    return this.reduce('ReduceMean', x, axes, options);
  }

  reduceSum(x: Value, axes: readonly number[], options: ReduceOptions = {}): Value {
    return this.reduce('ReduceSum', x, axes, options);
  }

  reduceMax(x: Value, axes: readonly number[], options: ReduceOptions = {}): Value {
    return this.reduce('ReduceMax', x, axes, options);
  }

  reduceMin(x: Value, axes: readonly number[], options: ReduceOptions = {}): Value {
    return this.reduce('ReduceMin', x, axes, options);
  }

  /** Index of the maximum along `axis` → int64. */
  argMax(x: Value, axis: number, options: ReduceOptions = {}): Value {
    return this.op('ArgMax', [x], { axis: attr.int(axis), keepdims: attr.int(options.keepdims === false ? 0 : 1) });
  }

  /** Axes go where the opset wants them: attribute before, input from the op's change onwards. */
  private reduce(opType: string, x: Value, axes: readonly number[], options: ReduceOptions): Value {
    const keepdims = { keepdims: attr.int(options.keepdims === false ? 0 : 1) };
    if (this.opset >= (AXES_INPUT_FROM[opType] ?? 18)) return this.op(opType, [x, this.ints(axes)], keepdims);
    return this.op(opType, [x], { ...keepdims, axes: attr.ints(axes) });
  }
}
