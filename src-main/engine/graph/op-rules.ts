/**
 * Shape and dtype inference, one flat table keyed by op type (ai.onnx, opsets 13–18+, the
 * differences noted where they matter). Each rule checks its inputs — a mismatch fails with the
 * node's name — and returns its outputs' dtype, shape and, for small tensors, values (so that
 * shapes computed in the graph by Shape → Gather → Concat → Reshape stay known). The rules for
 * shape-manipulating ops are in `op-rules-tensor.ts`.
 */
import { dtypeFromOnnx, isFloatDType, type DType } from './dtype';
import { type Dim, type Shape } from './ir';
import { broadcastInputs, meta, unknownDims, type InferContext, type Rule, type ValueMeta } from './infer-context';
import { TENSOR_RULES } from './op-rules-tensor';
import { broadcastShapes, convDim, dimAdd, dimDiv, dimMul, formatShape, sameDim } from './shape';

/** Elementwise arithmetic on known values (ints, shapes): broadcasting of rank ≤ 1 only. */
function arith(c: InferContext, f: (a: Dim, b: Dim) => Dim): Dim[] | undefined {
  const a = c.in(0).value;
  const b = c.in(1).value;
  if (!a || !b || (a.length !== b.length && a.length !== 1 && b.length !== 1)) return undefined;
  const n = Math.max(a.length, b.length);
  return Array.from({ length: n }, (_, i) => f(a[a.length === 1 ? 0 : i]!, b[b.length === 1 ? 0 : i]!));
}

const num =
  (f: (a: number, b: number) => number) =>
  (a: Dim, b: Dim): Dim =>
    typeof a === 'number' && typeof b === 'number' ? f(a, b) : null;

function binary(f?: (a: Dim, b: Dim, dtype: DType) => Dim): Rule {
  return (c) => {
    const dtype = c.sameDType([0, 1]);
    return [meta(dtype, broadcastInputs(c, [0, 1]), f ? arith(c, (a, b) => f(a, b, dtype)) : undefined)];
  };
}

const INTEGER_DIV = (a: Dim, b: Dim, dtype: DType): Dim => {
  if (dtype !== 'int64' && dtype !== 'int32') return num((x, y) => x / y)(a, b);
  if (typeof a === 'number' && typeof b === 'number') return b === 0 ? null : Math.trunc(a / b);
  return dimDiv(a, b);
};

const unary: Rule = (c) => [meta(c.in(0).dtype, c.in(0).shape)];

const floatUnary: Rule = (c) => [meta(c.requireFloat(0), c.in(0).shape)];

function compare(f: (a: number, b: number) => boolean): Rule {
  return (c) => {
    c.sameDType([0, 1]);
    return [
      meta(
        'bool',
        broadcastInputs(c, [0, 1]),
        arith(
          c,
          num((a, b) => (f(a, b) ? 1 : 0)),
        ),
      ),
    ];
  };
}

function logical(c: InferContext): ValueMeta[] {
  if (c.in(0).dtype !== 'bool' || c.in(1).dtype !== 'bool') c.fail('inputs must be bool');
  return [meta('bool', broadcastInputs(c, [0, 1]))];
}

function variadic(c: InferContext): ValueMeta[] {
  const all = c.node.inputs.map((_, i) => i);
  return [meta(c.sameDType(all), broadcastInputs(c, all))];
}

function matmul(c: InferContext): ValueMeta[] {
  const dtype = c.sameDType([0, 1]);
  const a = c.in(0).shape;
  const b = c.in(1).shape;
  if (!a || !b) return [meta(dtype, null)];
  if (a.length === 0 || b.length === 0) c.fail(`inputs must not be scalars: ${c.fmt(0)} × ${c.fmt(1)}`);
  const aa = a.length === 1 ? [1, a[0]!] : a;
  const bb = b.length === 1 ? [b[0]!, 1] : b;
  const k1 = aa[aa.length - 1]!;
  const k2 = bb[bb.length - 2]!;
  if (sameDim(k1, k2) === false) c.fail(`inner dimensions differ: ${c.fmt(0)} × ${c.fmt(1)} (${k1} ≠ ${k2})`);
  const batch = broadcastShapes([aa.slice(0, -2), bb.slice(0, -2)]);
  if (typeof batch === 'string') c.fail(`batch dimensions: ${batch}`);
  const out = [...batch];
  if (a.length > 1) out.push(aa[aa.length - 2]!);
  if (b.length > 1) out.push(bb[bb.length - 1]!);
  return [meta(dtype, out)];
}

function gemm(c: InferContext): ValueMeta[] {
  const dtype = c.sameDType(c.has(2) ? [0, 1, 2] : [0, 1]);
  const a = c.in(0).shape;
  const b = c.in(1).shape;
  if (!a || !b) return [meta(dtype, null)];
  if (a.length !== 2 || b.length !== 2) c.fail(`A and B must be 2-D, got ${c.fmt(0)} and ${c.fmt(1)}`);
  const [m, k1] = c.int('transA', 0) ? [a[1]!, a[0]!] : [a[0]!, a[1]!];
  const [k2, n] = c.int('transB', 0) ? [b[1]!, b[0]!] : [b[0]!, b[1]!];
  if (sameDim(k1, k2) === false) c.fail(`inner dimensions differ: ${c.fmt(0)} × ${c.fmt(1)} (${k1} ≠ ${k2})`);
  const cs = c.opt(2)?.shape;
  if (cs) {
    const bc = broadcastShapes([[m, n], cs]);
    if (typeof bc === 'string' || bc.length !== 2 || sameDim(bc[0]!, m) === false || sameDim(bc[1]!, n) === false) {
      c.fail(`C ${c.fmt(2)} does not broadcast to [${m}, ${n}]`);
    }
  }
  return [meta(dtype, [m, n])];
}

function conv(c: InferContext): ValueMeta[] {
  const dtype = c.sameDType(c.has(2) ? [0, 1, 2] : [0, 1]);
  const x = c.in(0).shape;
  const w = c.in(1).shape;
  if (!x || !w) return [meta(dtype, unknownDims(x?.length ?? w?.length))];
  if (x.length < 3 || w.length !== x.length)
    c.fail(`X ${c.fmt(0)} and W ${c.fmt(1)} must both be [N, C, …spatial] with the same rank`);
  const sp = x.length - 2;
  const group = c.int('group', 1);
  const kernel = c.ints('kernel_shape') ?? w.slice(2).map((d) => (typeof d === 'number' ? d : NaN));
  const strides = c.ints('strides') ?? new Array<number>(sp).fill(1);
  const dil = c.ints('dilations') ?? new Array<number>(sp).fill(1);
  const pads = c.ints('pads') ?? new Array<number>(2 * sp).fill(0);
  const autoPad = c.str('auto_pad', 'NOTSET');
  if (kernel.length !== sp || strides.length !== sp || dil.length !== sp || pads.length !== 2 * sp) {
    c.fail(`kernel_shape/strides/dilations/pads do not match ${sp} spatial dims`);
  }
  const [n, cin] = [x[0]!, x[1]!];
  const [m, wc] = [w[0]!, w[1]!];
  if (typeof cin === 'number' && typeof wc === 'number' && cin !== wc * group) {
    c.fail(`X has ${cin} channels but W ${c.fmt(1)} with group ${group} expects ${wc * group}`);
  }
  if (typeof m === 'number' && m % group !== 0) c.fail(`${m} output channels are not divisible by group ${group}`);
  const bias = c.opt(2)?.shape;
  if (bias && (bias.length !== 1 || sameDim(bias[0]!, m) === false)) c.fail(`bias ${c.fmt(2)} must be [${m}]`);
  const out: Shape = [n, m];
  for (let i = 0; i < sp; i++) {
    const k = kernel[i]!;
    const s = strides[i]!;
    const d = dil[i]!;
    const input = x[i + 2]!;
    if (Number.isNaN(k)) {
      out.push(null);
      continue;
    }
    if (autoPad === 'SAME_UPPER' || autoPad === 'SAME_LOWER') {
      out.push(typeof input === 'number' ? Math.ceil(input / s) : dimDiv(input, s));
      continue;
    }
    const [p0, p1] = autoPad === 'VALID' ? [0, 0] : [pads[i]!, pads[i + sp]!];
    const o = convDim(input, k, s, d, p0, p1);
    if (o === undefined)
      c.fail(
        `spatial axis ${i}: input ${input} is smaller than the dilated kernel ${d * (k - 1) + 1} with pads ${p0}+${p1}`,
      );
    out.push(o);
  }
  return [meta(dtype, out)];
}

function pad(c: InferContext): ValueMeta[] {
  const x = c.in(0);
  const pads = c.numbers(1) ?? c.ints('pads');
  if (!x.shape) return [meta(x.dtype, null)];
  const rank = x.shape.length;
  const axes = c.numbers(3)?.map((a) => c.axis(a, rank)) ?? x.shape.map((_, i) => i);
  if (!pads) return [meta(x.dtype, unknownDims(rank))];
  if (pads.length !== 2 * axes.length) c.fail(`pads has ${pads.length} values for ${axes.length} axes`);
  const out = [...x.shape];
  axes.forEach((a, i) => (out[a] = dimAdd(out[a]!, pads[i]! + pads[i + axes.length]!)));
  return [meta(x.dtype, out)];
}

function instanceNorm(c: InferContext): ValueMeta[] {
  const dtype = c.sameDType([0, 1, 2]);
  const x = c.in(0).shape;
  if (x && x.length < 3) c.fail(`input ${c.fmt(0)} must be [N, C, …]`);
  for (const i of [1, 2]) {
    const s = c.in(i).shape;
    if (x && s && (s.length !== 1 || sameDim(s[0]!, x[1]!) === false))
      c.fail(`input ${i} ${c.fmt(i)} must be [${x[1]}]`);
  }
  return [meta(dtype, x)];
}

function layerNorm(c: InferContext): ValueMeta[] {
  const dtype = c.sameDType(c.has(2) ? [0, 1, 2] : [0, 1]);
  const x = c.in(0).shape;
  if (!x) return [meta(dtype, null), meta('float32', null), meta('float32', null)];
  const axis = c.axis(c.int('axis', -1), x.length);
  const normalized = x.slice(axis);
  for (const i of c.has(2) ? [1, 2] : [1]) {
    const s = c.in(i).shape;
    const bc = s ? broadcastShapes([normalized, s]) : normalized;
    if (typeof bc === 'string' || bc.length !== normalized.length)
      c.fail(`input ${i} ${c.fmt(i)} does not broadcast to the normalized shape ${formatShape(normalized)}`);
  }
  const stats = [...x.slice(0, axis), ...normalized.map(() => 1)];
  return [meta(dtype, x), meta('float32', stats), meta('float32', stats)];
}

function softmax(c: InferContext): ValueMeta[] {
  const x = c.in(0);
  if (x.shape) c.axis(c.int('axis', -1), x.shape.length);
  return [meta(c.requireFloat(0), x.shape)];
}

function where(c: InferContext): ValueMeta[] {
  if (c.in(0).dtype !== 'bool') c.fail(`condition must be bool, got ${c.in(0).dtype}`);
  const shape = broadcastInputs(c, [0, 1, 2]);
  const [cond, x, y] = [c.in(0).value, c.in(1).value, c.in(2).value];
  let value: Dim[] | undefined;
  if (cond && x && y && shape && shape.length <= 1) {
    const n = Math.max(cond.length, x.length, y.length);
    const at = (v: Dim[], i: number) => v[v.length === 1 ? 0 : i]!;
    if ([cond, x, y].every((v) => v.length === 1 || v.length === n))
      value = Array.from({ length: n }, (_, i) => (at(cond, i) ? at(x, i) : at(y, i)));
  }
  return [meta(c.sameDType([1, 2]), shape, value)];
}

function cast(c: InferContext): ValueMeta[] {
  const to = dtypeFromCode(c, c.int('to', 0));
  const x = c.in(0);
  const value = x.value?.map((d) => (typeof d === 'number' && to !== 'bool' && !isFloatDType(to) ? Math.trunc(d) : d));
  return [meta(to, x.shape, value)];
}

function dtypeFromCode(c: InferContext, code: number): DType {
  return dtypeFromOnnx(code) ?? c.fail(`unsupported element type ${code}`);
}

function reduce(axesInputFrom: number): Rule {
  return (c) => {
    const x = c.in(0);
    const keep = c.int('keepdims', 1) === 1;
    if (!x.shape) return [meta(x.dtype, null)];
    const rank = x.shape.length;
    const fromInput = c.opset >= axesInputFrom;
    if (fromInput ? c.has(1) && !c.numbers(1) : false) return [meta(x.dtype, keep ? unknownDims(rank) : null)];
    const raw = fromInput ? c.numbers(1) : c.ints('axes');
    let axes = raw?.map((a) => c.axis(a, rank, 'axes'));
    if (!axes || axes.length === 0) axes = c.int('noop_with_empty_axes', 0) ? [] : x.shape.map((_, i) => i);
    const out = x.shape.flatMap((d, i) => (axes.includes(i) ? (keep ? [1] : []) : [d]));
    return [meta(x.dtype, out)];
  };
}

function argReduce(c: InferContext): ValueMeta[] {
  const x = c.in(0);
  if (!x.shape) return [meta('int64', null)];
  const axis = c.axis(c.int('axis', 0), x.shape.length);
  const keep = c.int('keepdims', 1) === 1;
  return [
    meta(
      'int64',
      x.shape.flatMap((d, i) => (i === axis ? (keep ? [1] : []) : [d])),
    ),
  ];
}

function resize(c: InferContext): ValueMeta[] {
  const x = c.in(0);
  const mode = c.str('mode', 'nearest');
  if (!['nearest', 'linear', 'cubic'].includes(mode)) c.fail(`unknown mode '${mode}'`);
  if (!x.shape) return [meta(x.dtype, null)];
  const rank = x.shape.length;
  const axes = c.ints('axes')?.map((a) => c.axis(a, rank, 'axes')) ?? x.shape.map((_, i) => i);
  const out = [...x.shape];
  const sizes = c.has(3) ? c.in(3).value : undefined;
  const scales = c.has(2) ? c.numbers(2) : undefined;
  if (sizes) {
    if (sizes.length !== axes.length) c.fail(`sizes has ${sizes.length} values for ${axes.length} axes`);
    axes.forEach((a, i) => (out[a] = sizes[i]!));
  } else if (scales && scales.length > 0) {
    if (scales.length !== axes.length) c.fail(`scales has ${scales.length} values for ${axes.length} axes`);
    axes.forEach((a, i) => {
      const d = out[a]!;
      const s = scales[i]!;
      if (typeof d === 'number') out[a] = Math.floor(d * s);
      else if (Number.isInteger(s)) out[a] = dimMul(d, s);
      else if (Number.isInteger(1 / s)) out[a] = dimDiv(d, 1 / s);
      else out[a] = null;
    });
  } else if (c.has(2) || c.has(3)) {
    axes.forEach((a) => (out[a] = null));
  } else c.fail('needs scales or sizes');
  return [meta(x.dtype, out)];
}

function clip(c: InferContext): ValueMeta[] {
  for (const i of [1, 2])
    if (c.has(i) && c.in(i).dtype !== c.in(0).dtype)
      c.fail(`bound ${i} is ${c.in(i).dtype}, input is ${c.in(0).dtype}`);
  return unary(c);
}

function identity(c: InferContext): ValueMeta[] {
  const x = c.in(0);
  return [meta(x.dtype, x.shape, x.value)];
}

/** The table. Ops absent here have no rule: the builder refuses them unless told the outputs. */
export const OP_RULES: Readonly<Record<string, Rule>> = {
  ...TENSOR_RULES,
  Add: binary(dimAdd),
  Sub: binary(num((a, b) => a - b)),
  Mul: binary(dimMul),
  Div: binary(INTEGER_DIV),
  Pow: (c) => [meta(c.in(0).dtype, broadcastInputs(c, [0, 1]))],
  Max: variadic,
  Min: variadic,
  Sum: variadic,
  Mean: variadic,
  Equal: compare((a, b) => a === b),
  Less: compare((a, b) => a < b),
  LessOrEqual: compare((a, b) => a <= b),
  Greater: compare((a, b) => a > b),
  GreaterOrEqual: compare((a, b) => a >= b),
  And: logical,
  Or: logical,
  Xor: logical,
  Not: (c) => {
    if (c.in(0).dtype !== 'bool') c.fail('input must be bool');
    return unary(c);
  },
  Where: where,
  Sqrt: floatUnary,
  Exp: floatUnary,
  Log: floatUnary,
  Erf: floatUnary,
  Sigmoid: floatUnary,
  Tanh: floatUnary,
  Sin: floatUnary,
  Cos: floatUnary,
  Softplus: floatUnary,
  Reciprocal: floatUnary,
  Gelu: floatUnary,
  LeakyRelu: floatUnary,
  Relu: unary,
  Neg: unary,
  Abs: unary,
  Floor: floatUnary,
  Ceil: floatUnary,
  Round: floatUnary,
  Clip: clip,
  Identity: identity,
  Cast: cast,
  MatMul: matmul,
  Gemm: gemm,
  Conv: conv,
  Pad: pad,
  InstanceNormalization: instanceNorm,
  LayerNormalization: layerNorm,
  Softmax: softmax,
  LogSoftmax: softmax,
  Trilu: unary,
  ReduceMean: reduce(18),
  ReduceSum: reduce(13),
  ReduceMax: reduce(18),
  ReduceMin: reduce(18),
  ReduceProd: reduce(18),
  ReduceSumSquare: reduce(18),
  ReduceL2: reduce(18),
  ArgMax: argReduce,
  ArgMin: argReduce,
  Resize: resize,
};
