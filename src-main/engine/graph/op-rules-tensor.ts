/**
 * Shape rules for ops that move, cut and join tensors or compute shapes (Reshape, Transpose,
 * Concat, Split, Slice, Gather, Squeeze/Unsqueeze, Expand, Flatten, Shape, ConstantOfShape,
 * Range, Constant). These also carry small tensors' values, row-major, so a shape computed in
 * the graph (as torch exports `x.shape[0]`) stays known — symbols included — down to the Reshape
 * or Expand that uses it.
 */
import { type Dim, type Shape } from './ir';
import { meta, unknownDims, type InferContext, type Rule, type ValueMeta, MAX_KNOWN_VALUES } from './infer-context';
import { broadcastShapes, dimAdd, dimDiv, formatShape, sameDim, shapeNumel, unifyDim } from './shape';
import { tensorToNumbers } from './tensor';

function reshape(c: InferContext): ValueMeta[] {
  const x = c.in(0);
  c.requireInt(1);
  const target = c.in(1).value;
  const s1 = c.in(1).shape;
  if (!target) return [meta(x.dtype, unknownDims(s1?.[0] ?? undefined))];
  const allowZero = c.int('allowzero', 0) === 1;
  let inferAt = -1;
  const out: Shape = target.map((d, i) => {
    if (d === -1) {
      if (inferAt >= 0) c.fail(`shape ${formatShape(target)} has more than one -1`);
      inferAt = i;
      return null;
    }
    if (d === 0 && !allowZero) {
      if (!x.shape) return null;
      if (i >= x.shape.length)
        c.fail(`shape ${formatShape(target)}: 0 at axis ${i} copies a dim the input ${c.fmt(0)} lacks`);
      return x.shape[i]!;
    }
    if (typeof d === 'number' && d < 0) c.fail(`shape ${formatShape(target)} has invalid size ${d}`);
    return d;
  });
  const total = x.shape ? shapeNumel(x.shape) : null;
  if (inferAt >= 0) {
    const rest = shapeNumel(out.filter((_, i) => i !== inferAt));
    const q = dimDiv(total, rest);
    if (typeof total === 'number' && typeof rest === 'number' && (rest === 0 || total % rest !== 0)) {
      c.fail(`cannot reshape ${c.fmt(0)} (${total} elements) to ${formatShape(target)}`);
    }
    out[inferAt] = q;
  } else if (typeof total === 'number') {
    const n = shapeNumel(out);
    if (typeof n === 'number' && n !== total)
      c.fail(`cannot reshape ${c.fmt(0)} (${total} elements) to ${formatShape(out)} (${n})`);
  }
  return [meta(x.dtype, out, x.value)];
}

function transpose(c: InferContext): ValueMeta[] {
  const x = c.in(0);
  if (!x.shape) return [meta(x.dtype, null)];
  const rank = x.shape.length;
  const perm = c.ints('perm') ?? x.shape.map((_, i) => rank - 1 - i);
  if (perm.length !== rank || [...perm].sort((a, b) => a - b).some((p, i) => p !== i)) {
    c.fail(`perm [${perm.join(', ')}] is not a permutation of ${rank} axes (input ${c.fmt(0)})`);
  }
  const out = perm.map((p) => x.shape![p]!);
  const dims = numericDims(x.shape);
  const value =
    x.value && dims
      ? pickValues(
          x.value,
          dims,
          perm.map((p) => range0(dims[p]!)),
          perm,
        )
      : undefined;
  return [meta(x.dtype, out, value)];
}

const range0 = (n: number) => Array.from({ length: n }, (_, i) => i);

function numericDims(shape: Shape): number[] | undefined {
  return shape.every((d) => typeof d === 'number') ? shape : undefined;
}

/**
 * Elements of a row-major tensor of `dims`: output axis j walks `indices[j]` along input axis
 * `axes[j]` (Slice keeps the axis order, Transpose permutes it).
 */
function pickValues(value: Dim[], dims: number[], indices: number[][], axes: number[]): Dim[] {
  const strides = dims.map((_, i) => dims.slice(i + 1).reduce((a, b) => a * b, 1));
  const out: Dim[] = [];
  const walk = (j: number, offset: number): void => {
    if (j === indices.length) {
      out.push(value[offset]!);
      return;
    }
    for (const i of indices[j]!) walk(j + 1, offset + i * strides[axes[j]!]!);
  };
  walk(0, 0);
  return out;
}

function concat(c: InferContext): ValueMeta[] {
  const all = c.node.inputs.map((_, i) => i);
  const dtype = c.sameDType(all);
  const shapes = all.map((i) => c.in(i).shape);
  const known = shapes.find((s) => s !== null);
  if (!known) return [meta(dtype, null)];
  const rank = known.length;
  const axis = c.axis(c.int('axis', 0), rank);
  const out: Shape = [...known];
  out[axis] = 0;
  for (const [j, s] of shapes.entries()) {
    if (!s) {
      out[axis] = null;
      continue;
    }
    if (s.length !== rank)
      c.fail(`input ${j} ${formatShape(s)} has rank ${s.length}, input 0 ${formatShape(known)} has ${rank}`);
    for (let i = 0; i < rank; i++) {
      if (i === axis) continue;
      if (sameDim(out[i]!, s[i]!) === false)
        c.fail(`input ${j} ${formatShape(s)} differs from ${formatShape(known)} on axis ${i} (concat axis ${axis})`);
      out[i] = unifyDim(out[i]!, s[i]!);
    }
    out[axis] = dimAdd(out[axis], s[axis]!);
  }
  const values = all.map((i) => c.in(i).value);
  let value: Dim[] | undefined;
  const inner = numericDims(out.slice(axis + 1));
  const outer = numericDims(out.slice(0, axis));
  if (values.every((v) => v) && inner && outer && shapes.every((s) => typeof s?.[axis] === 'number')) {
    // Row-major concat: for each outer index, each input's block of (its axis size × inner) elements.
    const innerN = inner.reduce((a, b) => a * b, 1);
    const outerN = outer.reduce((a, b) => a * b, 1);
    value = [];
    for (let o = 0; o < outerN; o++) {
      for (const [j, v] of values.entries()) {
        const block = (shapes[j]![axis] as number) * innerN;
        value.push(...v!.slice(o * block, (o + 1) * block));
      }
    }
  }
  return [meta(dtype, out, value)];
}

function split(c: InferContext): ValueMeta[] {
  const x = c.in(0);
  const n = c.node.outputs.length;
  if (!x.shape) return c.node.outputs.map(() => meta(x.dtype, null));
  const axis = c.axis(c.int('axis', 0), x.shape.length);
  const dim = x.shape[axis]!;
  const sizes: Dim[] | undefined = c.has(1) ? c.numbers(1) : c.ints('split');
  if (c.has(1) && !sizes)
    return c.node.outputs.map(() =>
      meta(
        x.dtype,
        x.shape!.map((d, i) => (i === axis ? null : d)),
      ),
    );
  let parts: Dim[];
  if (sizes) {
    if (sizes.length !== n) c.fail(`split has ${sizes.length} sizes for ${n} outputs`);
    const sum = (sizes as number[]).reduce((a, b) => a + b, 0);
    if (typeof dim === 'number' && sum !== dim)
      c.fail(`split sizes [${sizes.join(', ')}] sum to ${sum}, axis ${axis} of ${c.fmt(0)} is ${dim}`);
    parts = sizes;
  } else if (typeof dim === 'number') {
    const chunk = Math.ceil(dim / n);
    if (dim % n !== 0 && c.opset < 18) c.fail(`axis ${axis} of size ${dim} does not split evenly into ${n}`);
    parts = Array.from({ length: n }, (_, i) => Math.max(0, Math.min(chunk, dim - i * chunk)));
  } else parts = new Array<Dim>(n).fill(dimDiv(dim, n));
  return parts.map((p) =>
    meta(
      x.dtype,
      x.shape!.map((d, i) => (i === axis ? p : d)),
    ),
  );
}

/** INT64_MAX/MIN as ONNX exporters write them for "to the end". */
const HUGE = 2 ** 53;

function slice(c: InferContext): ValueMeta[] {
  const x = c.in(0);
  if (!x.shape) return [meta(x.dtype, null)];
  const rank = x.shape.length;
  const starts = c.numbers(1);
  const ends = c.numbers(2);
  const axes = c.has(3) ? c.numbers(3) : starts?.map((_, i) => i);
  const steps = c.has(4) ? c.numbers(4) : starts?.map(() => 1);
  if (!starts || !ends || !axes || !steps) {
    const touched = axes?.map((a) => c.axis(a, rank, 'axes'));
    return [
      meta(
        x.dtype,
        x.shape.map((d, i) => (touched && !touched.includes(i) ? d : null)),
      ),
    ];
  }
  if (ends.length !== starts.length || axes.length !== starts.length || steps.length !== starts.length) {
    c.fail('starts, ends, axes and steps differ in length');
  }
  const out = [...x.shape];
  const picks: (number[] | undefined)[] = x.shape.map((d) => (typeof d === 'number' ? range0(d) : undefined));
  axes.forEach((a0, i) => {
    const a = c.axis(a0, rank, 'axes');
    const [start, end, step] = [starts[i]!, ends[i]!, steps[i]!];
    if (step === 0) c.fail('step 0');
    const dim = x.shape![a]!;
    if (typeof dim !== 'number') {
      out[a] = start === 0 && end >= HUGE / 2 && step === 1 ? dim : null;
      return;
    }
    picks[a] = sliceRange(dim, start, end, step);
    out[a] = picks[a].length;
  });
  const dims = numericDims(x.shape);
  const value = x.value && dims ? pickValues(x.value, dims, picks as number[][], range0(rank)) : undefined;
  return [meta(x.dtype, out, value)];
}

/** The indices a Slice keeps along an axis of size `dim`, with ONNX's clamping. */
function sliceRange(dim: number, start: number, end: number, step: number): number[] {
  const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
  let s = start < 0 ? start + dim : start;
  let e = end < 0 ? end + dim : end;
  if (step > 0) {
    s = clamp(s, 0, dim);
    e = clamp(e, 0, dim);
  } else {
    s = clamp(s, 0, dim - 1);
    e = clamp(e, -1, dim - 1);
  }
  const out: number[] = [];
  for (let i = s; step > 0 ? i < e : i > e; i += step) out.push(i);
  return out;
}

function gather(c: InferContext): ValueMeta[] {
  const x = c.in(0);
  const idx = c.in(1);
  c.requireInt(1);
  if (!x.shape || !idx.shape) return [meta(x.dtype, null)];
  const axis = c.axis(c.int('axis', 0), x.shape.length);
  const dim = x.shape[axis]!;
  const indices = c.numbers(1);
  if (indices && typeof dim === 'number') {
    const bad = indices.find((i) => i < -dim || i >= dim);
    if (bad !== undefined) c.fail(`index ${bad} is out of range for axis ${axis} of ${c.fmt(0)}`);
  }
  const out = [...x.shape.slice(0, axis), ...idx.shape, ...x.shape.slice(axis + 1)];
  let value: Dim[] | undefined;
  if (x.value && indices && x.shape.length === 1) {
    value = indices.map((i) => x.value![i < 0 ? i + x.value!.length : i]!);
  }
  return [meta(x.dtype, out, value)];
}

function axesOf(c: InferContext, input: number): number[] | undefined {
  return c.opset >= 13 && c.has(input) ? c.numbers(input) : c.ints('axes');
}

function squeeze(c: InferContext): ValueMeta[] {
  const x = c.in(0);
  if (!x.shape) return [meta(x.dtype, null)];
  const rank = x.shape.length;
  const given = c.opset >= 13 ? c.has(1) : c.ints('axes') !== undefined;
  const axes = axesOf(c, 1)?.map((a) => c.axis(a, rank, 'axes'));
  if (given && !axes) return [meta(x.dtype, null)];
  if (!axes) {
    if (x.shape.some((d) => typeof d !== 'number')) return [meta(x.dtype, null)];
    return [
      meta(
        x.dtype,
        x.shape.filter((d) => d !== 1),
        x.value,
      ),
    ];
  }
  for (const a of axes) {
    const d = x.shape[a]!;
    if (typeof d === 'number' && d !== 1) c.fail(`cannot squeeze axis ${a} of ${c.fmt(0)}: size ${d}`);
  }
  return [
    meta(
      x.dtype,
      x.shape.filter((_, i) => !axes.includes(i)),
      x.value,
    ),
  ];
}

function unsqueeze(c: InferContext): ValueMeta[] {
  const x = c.in(0);
  const axes = axesOf(c, 1);
  if (!x.shape || !axes) return [meta(x.dtype, null)];
  const rank = x.shape.length + axes.length;
  const norm = axes.map((a) => c.axis(a, rank, 'axes'));
  if (new Set(norm).size !== norm.length) c.fail(`repeated axes [${axes.join(', ')}]`);
  const out: Shape = [];
  let j = 0;
  for (let i = 0; i < rank; i++) out.push(norm.includes(i) ? 1 : x.shape[j++]!);
  return [meta(x.dtype, out, x.value)];
}

function expand(c: InferContext): ValueMeta[] {
  const x = c.in(0);
  c.requireInt(1);
  const target = c.in(1).value;
  if (!target || !x.shape) return [meta(x.dtype, unknownDims(target?.length ?? undefined))];
  const out = broadcastShapes([x.shape, target]);
  if (typeof out === 'string') c.fail(out);
  return [meta(x.dtype, out)];
}

function flatten(c: InferContext): ValueMeta[] {
  const x = c.in(0);
  if (!x.shape) return [meta(x.dtype, [null, null])];
  const axis = c.int('axis', 1);
  const a = axis < 0 ? axis + x.shape.length : axis;
  if (a < 0 || a > x.shape.length) c.fail(`axis ${axis} is out of range for rank ${x.shape.length}`);
  return [meta(x.dtype, [shapeNumel(x.shape.slice(0, a)), shapeNumel(x.shape.slice(a))])];
}

function shapeOp(c: InferContext): ValueMeta[] {
  const x = c.in(0);
  if (!x.shape) return [meta('int64', [null])];
  const rank = x.shape.length;
  const norm = (v: number) => Math.min(Math.max(v < 0 ? v + rank : v, 0), rank);
  const dims = x.shape.slice(norm(c.int('start', 0)), norm(c.int('end', rank)));
  return [meta('int64', [dims.length], dims)];
}

function constantOfShape(c: InferContext): ValueMeta[] {
  const a = c.node.attributes.value;
  const t = a?.type === 'tensor' ? a.value : undefined;
  const dtype = t?.dtype ?? 'float32';
  const dims = c.in(0).value;
  if (!dims) return [meta(dtype, unknownDims(c.in(0).shape?.[0] ?? undefined))];
  const n = shapeNumel(dims);
  const fill = t ? (tensorToNumbers(t)[0] ?? 0) : 0;
  return [meta(dtype, dims, typeof n === 'number' && n <= MAX_KNOWN_VALUES ? new Array<Dim>(n).fill(fill) : undefined)];
}

function range(c: InferContext): ValueMeta[] {
  const dtype = c.sameDType([0, 1, 2]);
  const [s, l, d] = [c.numbers(0)?.[0], c.numbers(1)?.[0], c.numbers(2)?.[0]];
  if (s === undefined || l === undefined || d === undefined) return [meta(dtype, [null])];
  if (d === 0) c.fail('delta is 0');
  const n = Math.max(Math.ceil((l - s) / d), 0);
  return [meta(dtype, [n], n <= MAX_KNOWN_VALUES ? Array.from({ length: n }, (_, i) => s + i * d) : undefined)];
}

function constant(c: InferContext): ValueMeta[] {
  const [name, a] = Object.entries(c.node.attributes)[0] ?? c.fail('no value attribute');
  switch (a.type) {
    case 'tensor': {
      const n = a.value.dims.reduce((x, y) => x * y, 1);
      return [meta(a.value.dtype, [...a.value.dims], n <= MAX_KNOWN_VALUES ? tensorToNumbers(a.value) : undefined)];
    }
    case 'float':
      return [meta('float32', [], [a.value])];
    case 'int':
      return [meta('int64', [], [Number(a.value)])];
    case 'floats':
      return [meta('float32', [a.value.length], a.value)];
    case 'ints':
      return [meta('int64', [a.value.length], a.value.map(Number))];
    default:
      return c.fail(`unsupported value attribute ${name}`);
  }
}

/** Rules merged into `OP_RULES`. */
export const TENSOR_RULES: Readonly<Record<string, Rule>> = {
  Reshape: reshape,
  Transpose: transpose,
  Concat: concat,
  Split: split,
  Slice: slice,
  Gather: gather,
  Squeeze: squeeze,
  Unsqueeze: unsqueeze,
  Expand: expand,
  Flatten: flatten,
  Shape: shapeOp,
  ConstantOfShape: constantOfShape,
  Range: range,
  Constant: constant,
};
