/**
 * Gradient rules: one flat table keyed by ONNX op type. Each differentiable op has a small
 * function from its output gradients to its input gradients (`null` where an input gets none)
 * and says which input slots carry gradients at all (`diff`); ops whose outputs are piecewise
 * constant or structural (Shape, comparisons, ConstantOfShape, Range…) are marked
 * `NOT_DIFFERENTIABLE`. Backward graphs use standard opset-17 ops only.
 */
import { attr, attrNumber, attrNumbers, attrString, GraphError, isFloatDType, type Dim, type Node } from '../graph';
import { type Emitter } from './emitter';

export type GradContext = {
  node: Node;
  e: Emitter;
  /** Gradient of each output, or undefined where none reached it. */
  dy: (string | undefined)[];
  /** Whether input i needs a gradient (on a path from a `wrt` input). */
  wants: boolean[];
};

export type GradRule = {
  /** Input slots that can carry gradients (default: all). */
  diff?: (node: Node) => number[];
  grad: (ctx: GradContext) => (string | null)[];
};

export const NOT_DIFFERENTIABLE = 'not differentiable';

const first = () => [0];
const range = (a: number, b: number) => Array.from({ length: Math.max(b - a, 0) }, (_, i) => a + i);
const normAxis = (axis: number, rank: number) => (axis < 0 ? axis + rank : axis);

/** dy[0], which every single-output rule needs. */
function g0(c: GradContext): string {
  const g = c.dy[0];
  if (g === undefined) throw new GraphError(`autodiff: no gradient reached '${c.node.name}'`, { node: c.node.name });
  return g;
}

function fail(node: Node, why: string): never {
  throw new GraphError(`autodiff: ${node.opType} '${node.name}': ${why}`, { node: node.name });
}

/** Output shape of the node (its first output). */
const outShape = (c: GradContext, i = 0) => c.e.shape(c.node.outputs[i]!);

/** g unbroadcast to input i's shape, when input i wants a gradient. */
function toInput(c: GradContext, i: number, g: () => string, from: Dim[] = outShape(c)): string | null {
  if (!c.wants[i]) return null;
  return c.e.unbroadcast(g(), from, c.e.shape(c.node.inputs[i]!));
}

const scalarOf = (c: GradContext, v: number) => c.e.scalar(v, c.e.dtype(c.node.outputs[0]!));

/** A unary elementwise rule: dx = f(g, x, y). */
function unary(f: (c: GradContext, g: string, x: string, y: string) => string): GradRule {
  return { diff: first, grad: (c) => [f(c, g0(c), c.node.inputs[0]!, c.node.outputs[0]!)] };
}

/** The reduction axes of a Reduce* node (attribute or input 1), normalized; all axes when empty. */
function reduceAxes(c: GradContext): number[] {
  const { node, e } = c;
  const rank = e.shape(node.inputs[0]!).length;
  let axes = attrNumbers(node, 'axes');
  if (axes === undefined && node.inputs[1]) {
    axes = e.constValues(node.inputs[1]);
    if (axes === undefined) fail(node, 'reduction axes must be constant');
  }
  if (!axes || axes.length === 0) {
    if ((attrNumber(node, 'noop_with_empty_axes') ?? 0) !== 0) return [];
    return range(0, rank);
  }
  return axes.map((a) => normAxis(a, rank)).sort((a, b) => a - b);
}

/** The reduced gradient broadcast back to x's shape. */
function expandReduced(c: GradContext, axes: number[]): string {
  const { node, e } = c;
  let g = g0(c);
  if ((attrNumber(node, 'keepdims') ?? 1) === 0 && axes.length > 0) g = e.op('Unsqueeze', [g, e.ints(axes)]);
  return e.op('Expand', [g, e.op('Shape', [node.inputs[0]!])]);
}

/**
 * Normalization backward over `axes` with the statistics recomputed from x:
 * dx = rstd · (dx̂ − mean(dx̂) − x̂ · mean(dx̂ · x̂)). Returns [dx, x̂] (x̂ for the affine grads).
 */
function normBackward(c: GradContext, axes: number[], scale: string, epsilon: number, wantX: boolean) {
  const { e } = c;
  const x = c.node.inputs[0]!;
  const g = g0(c);
  const dtype = e.dtype(x);
  const xc = e.sub(x, e.reduceMean(x, axes));
  const variance = e.reduceMean(e.mul(xc, xc), axes);
  const rstd = e.div(e.scalar(1, dtype), e.op('Sqrt', [e.add(variance, e.scalar(epsilon, dtype))]));
  const xhat = e.mul(xc, rstd);
  let dx: string | null = null;
  if (wantX) {
    const dxh = e.mul(g, scale);
    const inner = e.sub(e.sub(dxh, e.reduceMean(dxh, axes)), e.mul(xhat, e.reduceMean(e.mul(dxh, xhat), axes)));
    dx = e.mul(rstd, inner);
  }
  return { dx, xhat, g };
}

function matmulGrad(c: GradContext): (string | null)[] {
  const { node, e } = c;
  const [a, b] = [node.inputs[0]!, node.inputs[1]!];
  const ra = e.shape(a).length;
  const rb = e.shape(b).length;
  let g = g0(c);
  let a2 = a;
  let b2 = b;
  let aShape = e.shape(a);
  let bShape = e.shape(b);
  let yShape = outShape(c);
  // Vectors become matrices ([K] → [1, K] or [K, 1]) and the gradient follows.
  if (rb === 1) {
    b2 = e.op('Unsqueeze', [b, e.ints([1])]);
    bShape = [bShape[0]!, 1];
    g = e.op('Unsqueeze', [g, e.ints([-1])]);
    yShape = [...yShape, 1];
  }
  if (ra === 1) {
    a2 = e.op('Unsqueeze', [a, e.ints([0])]);
    aShape = [1, aShape[0]!];
    g = e.op('Unsqueeze', [g, e.ints([-2])]);
    yShape = [...yShape.slice(0, -1), 1, yShape[yShape.length - 1]!];
  }
  const swap = (r: number) => [...range(0, r - 2), r - 1, r - 2];
  const batch = yShape.slice(0, -2);
  const out: (string | null)[] = [null, null];
  if (c.wants[0]) {
    const ga = e.op('MatMul', [g, e.transpose(b2, swap(bShape.length))]);
    const summed = e.unbroadcast(ga, [...batch, yShape[yShape.length - 2]!, aShape[aShape.length - 1]!], aShape);
    out[0] = ra === 1 ? e.reshapeLike(summed, a) : summed;
  }
  if (c.wants[1]) {
    const gb = e.op('MatMul', [e.transpose(a2, swap(aShape.length)), g]);
    const summed = e.unbroadcast(gb, [...batch, bShape[bShape.length - 2]!, yShape[yShape.length - 1]!], bShape);
    out[1] = rb === 1 ? e.reshapeLike(summed, b) : summed;
  }
  return out;
}

function gemmGrad(c: GradContext): (string | null)[] {
  const { node, e } = c;
  const [a, b, cIn] = node.inputs;
  const g = g0(c);
  const alpha = attrNumber(node, 'alpha') ?? 1;
  const beta = attrNumber(node, 'beta') ?? 1;
  const tA = (attrNumber(node, 'transA') ?? 0) !== 0;
  const tB = (attrNumber(node, 'transB') ?? 0) !== 0;
  const gemm = (x: string, y: string, ta: boolean, tb: boolean) =>
    e.op('Gemm', [x, y], { alpha: attr.float(alpha), transA: attr.int(ta ? 1 : 0), transB: attr.int(tb ? 1 : 0) });
  const out: (string | null)[] = [null, null, null];
  // Y = α·A'·B' + β·C; dA' = α·g·B'ᵀ, dB' = α·A'ᵀ·g.
  if (c.wants[0]) out[0] = tA ? gemm(b!, g, tB, true) : gemm(g, b!, false, !tB);
  if (c.wants[1]) out[1] = tB ? gemm(g, a!, true, tA) : gemm(a!, g, !tA, false);
  if (c.wants[2] && cIn) {
    const scaled = beta === 1 ? g : e.mul(g, scalarOf(c, beta));
    out[2] = e.unbroadcast(scaled, outShape(c), e.shape(cIn));
  }
  return out;
}

function convGrad(c: GradContext): (string | null)[] {
  const { node, e } = c;
  const [x, w, bias] = [node.inputs[0]!, node.inputs[1]!, node.inputs[2]];
  const autoPad = attrString(node, 'auto_pad') ?? 'NOTSET';
  if (autoPad !== 'NOTSET') fail(node, `auto_pad ${autoPad} is not supported (use explicit pads)`);
  const xs = e.staticShape(x);
  const ws = e.staticShape(w);
  const ys = e.staticShape(node.outputs[0]!);
  const sp = xs.length - 2;
  const kernel = ws.slice(2);
  const strides = attrNumbers(node, 'strides') ?? new Array<number>(sp).fill(1);
  const dilations = attrNumbers(node, 'dilations') ?? new Array<number>(sp).fill(1);
  const pads = attrNumbers(node, 'pads') ?? new Array<number>(2 * sp).fill(0);
  const group = attrNumber(node, 'group') ?? 1;
  const g = g0(c);
  const spatial = range(2, 2 + sp);
  const out: (string | null)[] = [null, null, null];
  if (c.wants[0]) {
    // dx: the transposed convolution of g with the same weight, padded out to x's size.
    const outputPadding = range(0, sp).map(
      (i) =>
        xs[2 + i]! - (strides[i]! * (ys[2 + i]! - 1) + dilations[i]! * (kernel[i]! - 1) + 1 - pads[i]! - pads[sp + i]!),
    );
    out[0] = e.op('ConvTranspose', [g, w], {
      kernel_shape: attr.ints(kernel),
      strides: attr.ints(strides),
      dilations: attr.ints(dilations),
      pads: attr.ints(pads),
      group: attr.int(group),
      output_padding: attr.ints(outputPadding),
    });
  }
  if (c.wants[1]) {
    // dw: a convolution of x (channels as batch) with g (batch as channels), strides and
    // dilations swapped, per group; cropped to the kernel size.
    const [n, ch] = [xs[0]!, xs[1]!];
    const [m, cg] = [ws[0]!, ch / group];
    const mg = m / group;
    const tail = (k: number) => range(3, 3 + sp).map((i) => i + k);
    const xr = e.reshape(e.transpose(e.reshape(x, [n, group, cg, ...xs.slice(2)]), [2, 1, 0, ...tail(0)]), [
      cg,
      group * n,
      ...xs.slice(2),
    ]);
    const gr = e.reshape(e.transpose(e.reshape(g, [n, group, mg, ...ys.slice(2)]), [1, 2, 0, ...tail(0)]), [
      group * mg,
      n,
      ...ys.slice(2),
    ]);
    let dw = e.op('Conv', [xr, gr], {
      strides: attr.ints(dilations),
      dilations: attr.ints(strides),
      pads: attr.ints(pads),
      group: attr.int(group),
    });
    const full = range(0, sp).map((i) =>
      Math.floor((xs[2 + i]! + pads[i]! + pads[sp + i]! - strides[i]! * (ys[2 + i]! - 1) - 1) / dilations[i]! + 1),
    );
    if (full.some((k, i) => k !== kernel[i])) {
      dw = e.op('Slice', [dw, e.ints(new Array<number>(sp).fill(0)), e.ints(kernel), e.ints(spatial)]);
    }
    out[1] = e.transpose(dw, [1, 0, ...spatial]);
  }
  if (c.wants[2] && bias) out[2] = e.reduceSum(g, [0, ...spatial], false);
  return out;
}

function resizeGrad(c: GradContext): (string | null)[] {
  const { node, e } = c;
  const mode = attrString(node, 'mode') ?? 'nearest';
  const ctm = attrString(node, 'coordinate_transformation_mode') ?? 'half_pixel';
  const nearest = attrString(node, 'nearest_mode') ?? 'round_prefer_floor';
  const repeats =
    (ctm === 'asymmetric' && nearest === 'floor') ||
    ((ctm === 'half_pixel' || ctm === 'pytorch_half_pixel') && nearest.startsWith('round_prefer'));
  if (mode !== 'nearest' || !repeats) {
    fail(node, `only nearest upsampling by whole factors is differentiable (mode ${mode}, ${ctm}, ${nearest})`);
  }
  const xs = e.staticShape(node.inputs[0]!);
  const ys = e.staticShape(node.outputs[0]!);
  const factors = xs.map((d, i) => ys[i]! / d);
  if (!factors.every((f) => Number.isInteger(f) && f >= 1))
    fail(node, `scale factors [${factors.join(', ')}] are not whole`);
  // Each input element was repeated f times per axis: sum those blocks.
  const split = e.reshape(
    g0(c),
    xs.flatMap((d, i) => [d, factors[i]!]),
  );
  return [
    e.reduceSum(
      split,
      xs.map((_, i) => 2 * i + 1),
      false,
    ),
    null,
    null,
    null,
  ];
}

function sliceGrad(c: GradContext): (string | null)[] {
  const { node, e } = c;
  const x = node.inputs[0]!;
  const shape = e.shape(x);
  const rank = shape.length;
  const starts = e.constValues(node.inputs[1]!);
  const ends = e.constValues(node.inputs[2]!);
  const axes = node.inputs[3] ? e.constValues(node.inputs[3]) : starts?.map((_, i) => i);
  const steps = node.inputs[4] ? e.constValues(node.inputs[4]) : starts?.map(() => 1);
  if (!starts || !ends || !axes || !steps) fail(node, 'starts, ends, axes and steps must be constant');
  if (steps.some((s) => s !== 1)) fail(node, 'only steps of 1 are differentiable');
  const pads = new Array<number>(2 * rank).fill(0);
  axes.forEach((a0, i) => {
    const a = normAxis(a0, rank);
    const d = shape[a];
    if (typeof d !== 'number') fail(node, `sliced axis ${a} of '${x}' must have a static size`);
    const clamp = (v: number) => Math.min(Math.max(v < 0 ? v + d : v, 0), d);
    const s = clamp(starts[i]!);
    const t = Math.max(clamp(ends[i]!), s);
    pads[a] = s;
    pads[rank + a] = d - t;
  });
  return [e.op('Pad', [g0(c), e.ints(pads)]), null, null, null, null];
}

function gatherGrad(c: GradContext): (string | null)[] {
  const { node, e } = c;
  const [x, idx] = [node.inputs[0]!, node.inputs[1]!];
  const xs = e.shape(x);
  if (normAxis(attrNumber(node, 'axis') ?? 0, xs.length) !== 0) fail(node, 'only Gather on axis 0 is differentiable');
  const v = xs[0];
  if (typeof v !== 'number') fail(node, `the gathered axis of '${x}' must have a static size`);
  const rest = xs.slice(1);
  if (!rest.every((d): d is number => typeof d === 'number')) fail(node, `'${x}' must have a static shape`);
  const d = rest.reduce((p, q) => p * q, 1);
  // Embedding gradient as a one-hot product: onehot(idx)ᵀ · g, summing repeated indices. The index
  // arithmetic is int32 (sizes < 2³¹), which WebGPU implements; its int64 Less/Where/Equal fall back to the CPU.
  let ids = e.cast(idx, 'int32');
  ids = e.op('Where', [e.op('Less', [ids, e.scalar(0, 'int32')]), e.add(ids, e.scalar(v, 'int32')), ids]);
  const classes = e.op('Range', [e.scalar(0, 'int32'), e.scalar(v, 'int32'), e.scalar(1, 'int32')]);
  const hot = e.cast(e.op('Equal', [e.op('Unsqueeze', [ids, e.ints([-1])]), classes]), e.dtype(x));
  const dx = e.op('MatMul', [e.transpose(e.reshape(hot, [-1, v]), [1, 0]), e.reshape(g0(c), [-1, d])]);
  return [e.reshape(dx, [v, ...rest]), null];
}

/**
 * Max / Min (variadic, broadcasting): the gradient goes to the inputs equal to the output; ties
 * split it evenly (each of k equal inputs gets g/k), as torch's `maximum`/`minimum` (g/2 each) and
 * ORT's training Min/Max gradient (g / number of inputs equal to y) do.
 */
function extremumGrad(c: GradContext): (string | null)[] {
  const { node, e } = c;
  const g = g0(c);
  if (node.inputs.length === 1) return [g];
  const y = node.outputs[0]!;
  const masks = node.inputs.map((x) => e.cast(e.op('Equal', [x, y]), e.dtype(y)));
  const count = masks.length === 2 ? e.add(masks[0]!, masks[1]!) : e.op('Sum', masks);
  const share = e.div(g, count);
  return node.inputs.map((_, i) => toInput(c, i, () => e.mul(share, masks[i]!)));
}

/**
 * Clip(x, min, max): x gets g where min ≤ x ≤ max (both bounds inclusive, as torch's `clamp`
 * and ORT's Clip gradient); a tensor bound gets g where it is the one that applies: min where
 * x < min < max, max where x > max or max < min (ONNX Clip gives max when min > max, as torch
 * does), summed down to the bound's shape.
 */
function clipGrad(c: GradContext): (string | null)[] {
  const { node, e } = c;
  const x = node.inputs[0]!;
  const g = g0(c);
  const zero = () => scalarOf(c, 0);
  // Opset < 11 takes the bounds as attributes; they are constants then.
  const bound = (slot: number, name: string): string | undefined => {
    const input = node.inputs[slot];
    if (input) return input;
    const v = attrNumber(node, name);
    return v === undefined ? undefined : scalarOf(c, v);
  };
  const lo = bound(1, 'min');
  const hi = bound(2, 'max');
  const out: (string | null)[] = [null, null, null];
  if (c.wants[0]) {
    const aboveLo = lo && e.op('GreaterOrEqual', [x, lo]);
    const belowHi = hi && e.op('LessOrEqual', [x, hi]);
    const inside = aboveLo && belowHi ? e.op('And', [aboveLo, belowHi]) : (aboveLo ?? belowHi);
    out[0] = inside ? e.op('Where', [inside, g, zero()]) : g;
  }
  if (c.wants[1] && lo) {
    let applies = e.op('Less', [x, lo]);
    if (hi) applies = e.op('And', [applies, e.op('Less', [lo, hi])]);
    out[1] = toInput(c, 1, () => e.op('Where', [applies, g, zero()]));
  }
  if (c.wants[2] && hi) {
    let applies = e.op('Greater', [x, hi]);
    if (lo) applies = e.op('Or', [applies, e.op('Less', [hi, lo])]);
    out[2] = toInput(c, 2, () => e.op('Where', [applies, g, zero()]));
  }
  return out;
}

/**
 * ReduceMax / ReduceMin: the gradient goes to the elements equal to the result, split evenly
 * among ties (torch's `amax`/`amin`; `max(dim)` would pick one index instead). ORT has no
 * training gradient for these ops; this matches its Min/Max rule.
 */
function reduceExtremumGrad(c: GradContext): (string | null)[] {
  const { node, e } = c;
  const axes = reduceAxes(c);
  const g = g0(c);
  if (axes.length === 0) return [g, null]; // noop_with_empty_axes: the identity
  const x = node.inputs[0]!;
  const dropped = (attrNumber(node, 'keepdims') ?? 1) === 0;
  const kept = (v: string) => (dropped ? e.op('Unsqueeze', [v, e.ints(axes)]) : v);
  const mask = e.cast(e.op('Equal', [x, kept(node.outputs[0]!)]), e.dtype(x));
  const count = e.reduceSum(mask, axes, true);
  return [e.mul(kept(g), e.div(mask, count)), null];
}

/** Slice end meaning "to the end of the axis" (Slice clamps it). */
const TO_END = Number.MAX_SAFE_INTEGER;

/**
 * Pad: constant mode (the builders' only one) is the slice of g that x landed in, then zeros
 * where negative pads cropped x; `constant_value` gets the sum of g over the padding. Edge and
 * reflect fold the padding's gradient back onto the elements it copied, axis by axis (both
 * paddings are separable); they need static sizes on the padded axes. Wrap is refused.
 */
function padGrad(c: GradContext): (string | null)[] {
  const { node, e } = c;
  const x = node.inputs[0]!;
  const xs = e.shape(x);
  const rank = xs.length;
  const mode = attrString(node, 'mode') ?? 'constant';
  const pads = node.inputs[1] ? e.constValues(node.inputs[1]) : attrNumbers(node, 'pads');
  if (!pads) fail(node, 'pads must be constant');
  const axesIn = node.inputs[3] ? e.constValues(node.inputs[3]) : range(0, rank);
  if (!axesIn) fail(node, 'axes must be constant');
  const axes = axesIn.map((a) => normAxis(a, rank));
  if (pads.length !== 2 * axes.length) fail(node, `${pads.length} pads for ${axes.length} axes`);
  const sides = axes.map((axis, i) => ({ axis, begin: pads[i]!, end: pads[axes.length + i]! }));
  const g = g0(c);
  const padAxis = (v: string, axis: number, begin: number, end: number) => {
    const p = new Array<number>(2 * rank).fill(0);
    p[axis] = begin;
    p[rank + axis] = end;
    return e.op('Pad', [v, e.ints(p)]);
  };
  const slice = (v: string, axis: number, start: number, end: number, step = 1) =>
    e.op('Slice', [v, e.ints([start]), e.ints([end]), e.ints([axis]), e.ints([step])]);

  if (mode === 'constant') {
    const grown = sides.filter((s) => s.begin > 0 || s.end > 0);
    let inner = g;
    if (grown.length > 0) {
      inner = e.op('Slice', [
        g,
        e.ints(grown.map((s) => Math.max(s.begin, 0))),
        e.ints(grown.map((s) => (s.end > 0 ? -s.end : TO_END))),
        e.ints(grown.map((s) => s.axis)),
      ]);
    }
    let dx = inner;
    const crop = new Array<number>(2 * rank).fill(0);
    for (const s of sides) {
      crop[s.axis] = Math.max(-s.begin, 0);
      crop[rank + s.axis] = Math.max(-s.end, 0);
    }
    if (crop.some((p) => p > 0)) dx = e.op('Pad', [inner, e.ints(crop)]);
    const value = node.inputs[2];
    let dValue: string | null = null;
    if (c.wants[2] && value) {
      const all = range(0, rank);
      const outside = e.sub(e.reduceSum(g, all, false), e.reduceSum(inner, all, false));
      dValue = e.reshapeLike(outside, value);
    }
    return [c.wants[0] ? dx : null, null, dValue, null];
  }
  if (mode !== 'edge' && mode !== 'reflect') fail(node, `mode ${mode} has no gradient rule (constant, edge, reflect)`);
  let dx = g;
  for (const { axis, begin, end } of sides) {
    if (begin === 0 && end === 0) continue;
    const d = xs[axis];
    if (typeof d !== 'number') fail(node, `padded axis ${axis} of '${x}' needs a static size in ${mode} mode`);
    if (begin < 0 || end < 0) fail(node, `negative pads in ${mode} mode have no gradient rule`);
    if (mode === 'reflect' && (begin >= d || end >= d)) fail(node, `reflect pads must be below the axis size ${d}`);
    let acc = slice(dx, axis, begin, begin + d);
    if (mode === 'edge') {
      // Every padded element copied the first (last) one.
      if (begin > 0) acc = e.add(acc, padAxis(e.reduceSum(slice(dx, axis, 0, begin), [axis], true), axis, 0, d - 1));
      if (end > 0) {
        const right = e.reduceSum(slice(dx, axis, begin + d, begin + d + end), [axis], true);
        acc = e.add(acc, padAxis(right, axis, d - 1, 0));
      }
    } else {
      // out[begin − 1 − k] copied x[1 + k] and out[begin + d + k] copied x[d − 2 − k]: reversed, they line up.
      if (begin > 0) acc = e.add(acc, padAxis(slice(dx, axis, begin - 1, -TO_END, -1), axis, 1, d - 1 - begin));
      if (end > 0) {
        const right = slice(dx, axis, begin + d + end - 1, begin + d - 1, -1);
        acc = e.add(acc, padAxis(right, axis, d - 1 - end, 1));
      }
    }
    dx = acc;
  }
  return [dx, null, null, null];
}

const elementwiseBinary = (ga: (c: GradContext, g: string) => string, gb: (c: GradContext, g: string) => string) =>
  ({
    grad: (c) => {
      const g = g0(c);
      return [toInput(c, 0, () => ga(c, g)), toInput(c, 1, () => gb(c, g))];
    },
  }) satisfies GradRule;

const reshapeLike: GradRule = { diff: first, grad: (c) => [c.e.reshapeLike(g0(c), c.node.inputs[0]!), null] };

/** The table. Keys are ONNX op types (default domain). */
export const RULES: Readonly<Record<string, GradRule | typeof NOT_DIFFERENTIABLE>> = {
  Add: elementwiseBinary(
    (_, g) => g,
    (_, g) => g,
  ),
  Sub: elementwiseBinary(
    (_, g) => g,
    (c, g) => c.e.neg(g),
  ),
  Mul: elementwiseBinary(
    (c, g) => c.e.mul(g, c.node.inputs[1]!),
    (c, g) => c.e.mul(g, c.node.inputs[0]!),
  ),
  Div: elementwiseBinary(
    (c, g) => c.e.div(g, c.node.inputs[1]!),
    // d(a/b)/db = −y/b
    (c, g) => c.e.neg(c.e.div(c.e.mul(g, c.node.outputs[0]!), c.node.inputs[1]!)),
  ),
  Pow: elementwiseBinary(
    (c, g) => {
      const [x, p] = [c.node.inputs[0]!, c.node.inputs[1]!];
      const pm1 = c.e.sub(p, c.e.scalar(1, c.e.dtype(p)));
      return c.e.mul(g, c.e.mul(c.e.cast(p, c.e.dtype(x)), c.e.op('Pow', [x, pm1])));
    },
    (c, g) => c.e.mul(c.e.mul(g, c.node.outputs[0]!), c.e.op('Log', [c.node.inputs[0]!])),
  ),
  Sum: { grad: (c) => c.node.inputs.map((_, i) => toInput(c, i, () => g0(c))) },
  Max: { grad: extremumGrad },
  Min: { grad: extremumGrad },
  Clip: { grad: clipGrad },
  Neg: unary((c, g) => c.e.neg(g)),
  Identity: unary((_, g) => g),
  Sqrt: unary((c, g, _x, y) => c.e.div(c.e.mul(g, scalarOf(c, 0.5)), y)),
  Exp: unary((c, g, _x, y) => c.e.mul(g, y)),
  Log: unary((c, g, x) => c.e.div(g, x)),
  Reciprocal: unary((c, g, _x, y) => c.e.neg(c.e.mul(g, c.e.mul(y, y)))),
  Tanh: unary((c, g, _x, y) => c.e.mul(g, c.e.sub(scalarOf(c, 1), c.e.mul(y, y)))),
  Sigmoid: unary((c, g, _x, y) => c.e.mul(g, c.e.mul(y, c.e.sub(scalarOf(c, 1), y)))),
  Erf: unary((c, g, x) =>
    c.e.mul(g, c.e.mul(scalarOf(c, 2 / Math.sqrt(Math.PI)), c.e.op('Exp', [c.e.neg(c.e.mul(x, x))]))),
  ),
  Relu: unary((c, g, x) => c.e.op('Where', [c.e.op('Greater', [x, scalarOf(c, 0)]), g, scalarOf(c, 0)])),
  Abs: unary((c, g, x) => c.e.op('Where', [c.e.op('Less', [x, scalarOf(c, 0)]), c.e.neg(g), g])),
  Sin: unary((c, g, x) => c.e.mul(g, c.e.op('Cos', [x]))),
  Cos: unary((c, g, x) => c.e.neg(c.e.mul(g, c.e.op('Sin', [x])))),
  Cast: {
    diff: first,
    grad: (c) => {
      const x = c.node.inputs[0]!;
      const dtype = c.e.dtype(x);
      return [isFloatDType(dtype) ? c.e.cast(g0(c), dtype) : null];
    },
  },
  Where: {
    diff: () => [1, 2],
    grad: (c) => {
      const cond = c.node.inputs[0]!;
      const zero = () => scalarOf(c, 0);
      return [
        null,
        toInput(c, 1, () => c.e.op('Where', [cond, g0(c), zero()])),
        toInput(c, 2, () => c.e.op('Where', [cond, zero(), g0(c)])),
      ];
    },
  },
  Expand: { diff: first, grad: (c) => [toInput(c, 0, () => g0(c)), null] },
  MatMul: { grad: matmulGrad },
  Gemm: { grad: gemmGrad },
  ReduceSum: { diff: first, grad: (c) => [expandReduced(c, reduceAxes(c)), null] },
  ReduceMean: {
    diff: first,
    grad: (c) => {
      const axes = reduceAxes(c);
      const shape = c.e.shape(c.node.inputs[0]!);
      const count = axes.reduce<number>((n, a) => {
        const d = shape[a];
        if (typeof d !== 'number') fail(c.node, `reduced axis ${a} must have a static size`);
        return n * d;
      }, 1);
      return [c.e.mul(expandReduced(c, axes), scalarOf(c, 1 / count)), null];
    },
  },
  ReduceMax: { diff: first, grad: reduceExtremumGrad },
  ReduceMin: { diff: first, grad: reduceExtremumGrad },
  Softmax: unary((c, g, _x, y) => {
    const axis = normAxis(attrNumber(c.node, 'axis') ?? -1, c.e.shape(y).length);
    return c.e.mul(y, c.e.sub(g, c.e.reduceSum(c.e.mul(g, y), [axis], true)));
  }),
  LayerNormalization: {
    grad: (c) => {
      const [x, scale, bias] = c.node.inputs;
      const rank = c.e.shape(x!).length;
      const axes = range(normAxis(attrNumber(c.node, 'axis') ?? -1, rank), rank);
      const epsilon = attrNumber(c.node, 'epsilon') ?? 1e-5;
      const { dx, xhat, g } = normBackward(c, axes, scale!, epsilon, c.wants[0]!);
      const xShape = c.e.shape(x!);
      return [
        dx,
        c.wants[1] ? c.e.unbroadcast(c.e.mul(g, xhat), xShape, c.e.shape(scale!)) : null,
        c.wants[2] && bias ? c.e.unbroadcast(g, xShape, c.e.shape(bias)) : null,
      ];
    },
  },
  InstanceNormalization: {
    grad: (c) => {
      const x = c.node.inputs[0]!;
      const rank = c.e.shape(x).length;
      const axes = range(2, rank);
      const epsilon = attrNumber(c.node, 'epsilon') ?? 1e-5;
      const perChannel = (v: string) => c.e.reshape(v, [-1, ...axes.map(() => 1)]);
      const scale = c.wants[0] ? perChannel(c.node.inputs[1]!) : '';
      const { dx, xhat, g } = normBackward(c, axes, scale, epsilon, c.wants[0]!);
      return [
        dx,
        c.wants[1] ? c.e.reduceSum(c.e.mul(g, xhat), [0, ...axes], false) : null,
        c.wants[2] ? c.e.reduceSum(g, [0, ...axes], false) : null,
      ];
    },
  },
  Reshape: reshapeLike,
  Squeeze: reshapeLike,
  Unsqueeze: reshapeLike,
  Flatten: reshapeLike,
  Transpose: unary((c, g, x) => {
    const rank = c.e.shape(x).length;
    const perm = attrNumbers(c.node, 'perm') ?? range(0, rank).reverse();
    const inverse = new Array<number>(rank);
    perm.forEach((p, i) => (inverse[p] = i));
    return c.e.transpose(g, inverse);
  }),
  Concat: {
    grad: (c) => {
      const g = g0(c);
      const rank = outShape(c).length;
      const axis = normAxis(attrNumber(c.node, 'axis') ?? 0, rank);
      let offset = 0;
      return c.node.inputs.map((x, i) => {
        const size = c.e.shape(x)[axis];
        if (typeof size !== 'number') fail(c.node, `input '${x}' needs a static size on axis ${axis}`);
        const start = offset;
        offset += size;
        if (!c.wants[i]) return null;
        return c.e.op('Slice', [g, c.e.ints([start]), c.e.ints([start + size]), c.e.ints([axis])]);
      });
    },
  },
  Split: {
    diff: first,
    grad: (c) => {
      const x = c.node.inputs[0]!;
      const axis = normAxis(attrNumber(c.node, 'axis') ?? 0, c.e.shape(x).length);
      const dtype = c.e.dtype(x);
      const parts = c.node.outputs.map((y, i) => c.dy[i] ?? c.e.zerosLike(y, dtype));
      return [c.e.op('Concat', parts, { axis: attr.int(axis) }), null];
    },
  },
  Slice: { diff: first, grad: sliceGrad },
  Pad: { diff: (node) => ((attrString(node, 'mode') ?? 'constant') === 'constant' ? [0, 2] : [0]), grad: padGrad },
  Gather: { diff: first, grad: gatherGrad },
  Conv: { grad: convGrad },
  Resize: { diff: first, grad: resizeGrad },

  Shape: NOT_DIFFERENTIABLE,
  Size: NOT_DIFFERENTIABLE,
  ConstantOfShape: NOT_DIFFERENTIABLE,
  Range: NOT_DIFFERENTIABLE,
  Equal: NOT_DIFFERENTIABLE,
  Less: NOT_DIFFERENTIABLE,
  LessOrEqual: NOT_DIFFERENTIABLE,
  Greater: NOT_DIFFERENTIABLE,
  GreaterOrEqual: NOT_DIFFERENTIABLE,
  Not: NOT_DIFFERENTIABLE,
  And: NOT_DIFFERENTIABLE,
  Or: NOT_DIFFERENTIABLE,
  Xor: NOT_DIFFERENTIABLE,
  ArgMax: NOT_DIFFERENTIABLE,
  ArgMin: NOT_DIFFERENTIABLE,
  Floor: NOT_DIFFERENTIABLE,
  Ceil: NOT_DIFFERENTIABLE,
  Round: NOT_DIFFERENTIABLE,
  Sign: NOT_DIFFERENTIABLE,
  IsNaN: NOT_DIFFERENTIABLE,
  IsInf: NOT_DIFFERENTIABLE,
  NonZero: NOT_DIFFERENTIABLE,
  OneHot: NOT_DIFFERENTIABLE,
  Constant: NOT_DIFFERENTIABLE,
};
