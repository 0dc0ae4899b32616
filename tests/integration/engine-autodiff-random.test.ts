/**
 * Every gradient rule on seeded random shapes, against central finite differences
 * (tests/helpers/autodiff-fd.ts): six draws per check of ranks 1–4, sizes 1–5 (size-1 and odd axes
 * are common), mutual broadcasting, random axes, keepdims, pads, permutations and opsets 17/18.
 * float64 (h = 1e-5, tolerance 1e-6) where ORT has float64 CPU kernels; float32 (h = 1e-2, tolerance
 * 1e-2) for Conv, Erf, InstanceNormalization, Resize and Cast's float32 side. Data stays away from kinks (Abs, Relu, Max/Min,
 * Clip, ReduceMax/Min) so the differences never straddle one; ties and bounds are checked exactly in
 * engine-autodiff.test.ts. A failure names the check, the draw and its shapes. The last check
 * fails when a rule of the table has no random-shape check here.
 */
import { describe, expect, it } from 'vitest';
import { NOT_DIFFERENTIABLE, RULES } from '../../src-main/engine/autodiff';
import { attr, type Attribute, type GraphBuilder, type Value } from '../../src-main/engine/graph';
import { checkGradients, Harness, numel, type FloatType } from '../helpers/autodiff-fd';

/**
 * Seeded draws of shapes, axes and pads for the random-shape checks (ranks 1–4, sizes 1–5, so
 * size-1 and odd axes are common), from mulberry32 seeded by a hash of the check's name and draw.
 */
class Draw {
  private s: number;

  constructor(label: string, index: number) {
    let hash = 2166136261;
    for (const ch of `${label}#${index}`) hash = Math.imul(hash ^ ch.charCodeAt(0), 16777619);
    this.s = hash >>> 0;
  }

  /** uniform [0, 1). */
  rand(): number {
    this.s = (this.s + 0x6d2b79f5) >>> 0;
    let t = this.s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  int(lo: number, hi: number): number {
    return lo + Math.floor(this.rand() * (hi - lo + 1));
  }

  pick<T>(xs: readonly T[]): T {
    return xs[this.int(0, xs.length - 1)]!;
  }

  /** A shape of rank lo…hi with at most `max` elements. */
  shape(lo = 1, hi = 4, max = 40): number[] {
    for (;;) {
      const s = Array.from({ length: this.int(lo, hi) }, () => this.int(1, 5));
      if (numel(s) <= max) return s;
    }
  }

  /** A shape that broadcasts to `full` (numpy rules): leading axes dropped, some sizes 1. */
  broadcastTo(full: readonly number[]): number[] {
    return full.slice(this.int(0, full.length - 1)).map((d) => (this.rand() < 0.35 ? 1 : d));
  }

  /** A non-empty subset of the axes of a rank-`rank` tensor, some written negative. */
  axes(rank: number): number[] {
    const some = Array.from({ length: rank }, (_, i) => i).filter(() => this.rand() < 0.5);
    return (some.length > 0 ? some : [this.int(0, rank - 1)]).map((a) => (this.rand() < 0.3 ? a - rank : a));
  }
}

/** Draws per check. */
const DRAWS = 6;

/**
 * Values on a 1/32 grid shifted by `offset`/32: two inputs with different offsets are never
 * closer than the offsets' gap, and a value is never within 1/64 of a bound on the grid, so the
 * finite differences (h = 1e-5) never cross a kink of Abs, Max/Min, Clip.
 */
const gridded = (h: Harness, offset: number) => () => (Math.round((h.rand() * 2 - 1) * 32) + offset) / 32;

/** n distinct values in (−1, 1), shuffled: reductions to a maximum have no ties. */
function distinct(h: Harness, n: number): () => number {
  const values = Array.from({ length: n }, (_, k) => ((k + 0.5) / n) * 2 - 1);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(h.rand() * (i + 1));
    [values[i], values[j]] = [values[j]!, values[i]!];
  }
  let k = 0;
  return () => values[k++]!;
}

/** Op types the checks below built graphs with. */
const exercised = new Set<string>();

/**
 * Checks `build` on DRAWS seeded draws (shapes, axes, pads… from `Draw(label, k)`; the data from
 * the harness's own seed), differentiating with respect to every input. `opsets`: the builder's
 * opset is drawn from these (18 moves reduction axes to inputs and gives Pad its `axes`).
 */
async function fdDrawn(
  dtype: FloatType,
  label: string,
  build: (h: Harness, d: Draw) => { y: Value; shapes: Record<string, unknown> },
  opsets: readonly number[] = [17],
): Promise<void> {
  for (let k = 0; k < DRAWS; k++) {
    const d = new Draw(label, k);
    const opset = d.pick(opsets);
    const h = new Harness(dtype, 101 + k, opset);
    const { y, shapes } = build(h, d);
    const what = `${label} #${k} ${JSON.stringify({ ...shapes, opset })}: `;
    const model = h.finish(y);
    // The last two nodes are the loss (Mul by R, ReduceSum), not the op under test.
    for (const n of model.graph.nodes.slice(0, -2)) exercised.add(n.opType);
    await checkGradients(h, model, Object.keys(h.feeds), what);
  }
}

/** ±[0.5, 2): away from 0 (Reciprocal's pole, a divisor). */
const awayFromZero = (h: Harness) => () => (h.rand() < 0.5 ? -1 : 1) * (0.5 + 1.5 * h.rand());

describe('autodiff rules on seeded random shapes (float64; float32 where ORT has float-only kernels)', () => {
  /** Where a unary op's input is drawn: anywhere in ±1, off a kink at 0, away from 0, or in [0.5, 2]. */
  type Domain = 'any' | 'kink' | 'nonzero' | 'positive';
  const unaries: [string, (b: GraphBuilder, x: Value) => Value, Domain, FloatType][] = [
    ['Sin', (b, x) => b.sin(x), 'any', 'float64'],
    ['Cos', (b, x) => b.cos(x), 'any', 'float64'],
    ['Abs', (b, x) => b.abs(x), 'kink', 'float64'],
    ['Reciprocal', (b, x) => b.reciprocal(x), 'nonzero', 'float64'],
    ['Neg', (b, x) => b.neg(x), 'any', 'float64'],
    ['Identity', (b, x) => b.identity(x), 'any', 'float64'],
    ['Exp', (b, x) => b.exp(x), 'any', 'float64'],
    ['Tanh', (b, x) => b.tanh(x), 'any', 'float64'],
    ['Sigmoid', (b, x) => b.sigmoid(x), 'any', 'float64'],
    ['Relu', (b, x) => b.relu(x), 'kink', 'float64'],
    ['Sqrt', (b, x) => b.sqrt(x), 'positive', 'float64'],
    ['Log', (b, x) => b.log(x), 'positive', 'float64'],
    ['Erf', (b, x) => b.erf(x), 'any', 'float32'],
  ];
  it.each(unaries)('%s (%s inputs, %s)', async (op, f, domain, dtype) => {
    await fdDrawn(dtype, op, (h, d) => {
      const dims = d.shape();
      const fills: Record<Domain, () => number> = {
        any: () => h.rand() * 2 - 1,
        // On a grid that misses 0 by 1/64 or more.
        kink: gridded(h, 0.5),
        nonzero: awayFromZero(h),
        positive: () => 0.5 + 1.5 * h.rand(),
      };
      return { y: f(h.b, h.inputOf('x', dims, fills[domain])), shapes: { x: dims } };
    });
  });

  const binaries: [string, (b: GraphBuilder, x: Value, y: Value) => Value][] = [
    ['Add', (b, x, y) => b.add(x, y)],
    ['Sub', (b, x, y) => b.sub(x, y)],
    ['Mul', (b, x, y) => b.mul(x, y)],
    ['Div', (b, x, y) => b.div(x, y)],
    ['Pow', (b, x, y) => b.pow(x, y)],
  ];
  it.each(binaries)('%s with mutual broadcasting (Pow: a tensor exponent)', async (op, f) => {
    await fdDrawn('float64', op, (h, d) => {
      const full = d.shape();
      const [as, bs] = d.rand() < 0.3 ? [full, d.broadcastTo(full)] : [d.broadcastTo(full), d.broadcastTo(full)];
      const a = op === 'Pow' ? h.input('a', as, 0.5, 2) : h.input('a', as);
      const b =
        op === 'Div'
          ? h.inputOf('b', bs, awayFromZero(h))
          : op === 'Pow'
            ? h.input('b', bs, -1.5, 2.5)
            : h.input('b', bs);
      return { y: f(h.b, a, b), shapes: { a: as, b: bs } };
    });
  });

  it.each(['Sum', 'Max', 'Min'])('%s of 1–3 broadcast inputs', async (op) => {
    await fdDrawn('float64', op, (h, d) => {
      const full = d.shape(1, 3, 30);
      const count = d.pick([1, 2, 2, 3, 3]);
      const shapes = Array.from({ length: count }, (_, i) => (i === 0 && d.rand() < 0.3 ? full : d.broadcastTo(full)));
      // Input i on the grid offset (i + 1)/4: inputs of Max/Min never tie.
      const xs = shapes.map((s, i) => h.inputOf(`x${i}`, s, gridded(h, (i + 1) / 4)));
      return { y: h.b.node(op, xs)[0]!, shapes: { inputs: shapes } };
    });
  });

  it('Clip with constant bounds (both, min only, max only) and differentiated tensor bounds (also min > max)', async () => {
    await fdDrawn('float64', 'Clip', (h, d) => {
      const kind = d.pick(['both', 'min', 'max', 'inputs', 'crossed'] as const);
      const dims = d.shape();
      const x = h.inputOf('x', dims, gridded(h, 0.5));
      const [lo, hi] = [d.int(-20, 0) / 32, d.int(1, 20) / 32];
      let y: Value;
      if (kind === 'inputs' || kind === 'crossed') {
        // Scalar bounds as inputs; 'crossed' has min > max, where Clip gives max everywhere.
        const [a, b] = kind === 'crossed' ? [hi, lo] : [lo, hi];
        y = h.b.node('Clip', [x, h.inputOf('min', [], () => a), h.inputOf('max', [], () => b)])[0]!;
      } else {
        y = h.b.clip(x, kind === 'max' ? undefined : lo, kind === 'min' ? undefined : hi);
      }
      return { y, shapes: { kind, x: dims, lo, hi } };
    });
  });

  const reductions: [string, (b: GraphBuilder, x: Value, axes: number[], o: { keepdims: boolean }) => Value][] = [
    ['ReduceSum', (b, x, axes, o) => b.reduceSum(x, axes, o)],
    ['ReduceMean', (b, x, axes, o) => b.reduceMean(x, axes, o)],
    ['ReduceMax', (b, x, axes, o) => b.reduceMax(x, axes, o)],
    ['ReduceMin', (b, x, axes, o) => b.reduceMin(x, axes, o)],
  ];
  it.each(reductions)('%s over several axes, keepdims 0/1, axes as attribute or input', async (op, f) => {
    await fdDrawn(
      'float64',
      op,
      (h, d) => {
        const dims = d.shape();
        const axes = d.rand() < 0.2 ? dims.map((_, i) => i) : d.axes(dims.length);
        const keepdims = d.rand() < 0.5;
        // Distinct values: a maximum is never tied (ties are checked exactly below).
        const x = h.inputOf('x', dims, distinct(h, numel(dims)));
        return { y: f(h.b, x, axes, { keepdims }), shapes: { x: dims, axes, keepdims } };
      },
      [17, 18],
    );
  });

  it.each(['constant', 'edge', 'reflect'] as const)(
    'Pad in %s mode (constant: negative pads, the value differentiated)',
    async (mode) => {
      await fdDrawn(
        'float64',
        `Pad ${mode}`,
        (h, d) => {
          const dims = d.shape(1, 4, 30);
          const rank = dims.length;
          const axes = h.b.opset >= 18 && d.rand() < 0.6 ? d.axes(rank) : dims.map((_, i) => i);
          const size = (a: number) => dims[a < 0 ? a + rank : a]!;
          const side = (a: number) =>
            mode === 'reflect' ? d.int(0, Math.min(2, size(a) - 1)) : d.int(mode === 'edge' ? 0 : -1, 2);
          const begins = axes.map(side);
          // Constant mode may crop (negative pads) as long as an element is left.
          const ends = axes.map((a, i) => Math.max(side(a), 1 - size(a) - begins[i]!));
          const pads = [...begins, ...ends];
          const x = h.input('x', dims);
          const value = mode === 'constant' && d.rand() < 0.7 ? h.input('value', []) : undefined;
          const axesIn = axes.length < rank || (h.b.opset >= 18 && d.rand() < 0.5) ? h.b.ints(axes) : undefined;
          const attrs: Record<string, Attribute> =
            mode === 'constant' && d.rand() < 0.5 ? {} : { mode: attr.string(mode) };
          const y = h.b.node('Pad', [x, h.b.ints(pads), value, axesIn], attrs)[0]!;
          return { y, shapes: { x: dims, pads, axes: axesIn ? axes : 'all', value: value !== undefined } };
        },
        [17, 18],
      );
    },
  );

  it('Softmax on any axis', async () => {
    await fdDrawn('float64', 'Softmax', (h, d) => {
      const dims = d.shape();
      const axis = d.int(-dims.length, dims.length - 1);
      return { y: h.b.softmax(h.input('x', dims), axis), shapes: { x: dims, axis } };
    });
  });

  it('Transpose with any permutation', async () => {
    await fdDrawn('float64', 'Transpose', (h, d) => {
      const dims = d.shape(2, 4);
      const perm = dims
        .map((_, i) => [d.rand(), i] as const)
        .sort((p, q) => p[0] - q[0])
        .map(([, i]) => i);
      return { y: h.b.transpose(h.input('x', dims), perm), shapes: { x: dims, perm } };
    });
  });

  it('Expand and Where with broadcasting', async () => {
    await fdDrawn('float64', 'Expand', (h, d) => {
      const full = d.shape();
      const dims = d.broadcastTo(full);
      return { y: h.b.expand(h.input('x', dims), full), shapes: { x: dims, to: full } };
    });
    await fdDrawn('float64', 'Where', (h, d) => {
      const full = d.shape();
      const [cs, xs, ys] = [d.broadcastTo(full), d.broadcastTo(full), d.broadcastTo(full)];
      const cond = h.b.constant(
        Array.from({ length: numel(cs) }, () => (d.rand() < 0.5 ? 1 : 0)),
        'bool',
        cs,
      );
      return { y: h.b.where(cond, h.input('x', xs), h.input('y', ys)), shapes: { cond: cs, x: xs, y: ys } };
    });
  });

  it('MatMul with broadcast batches and vectors', async () => {
    await fdDrawn('float64', 'MatMul', (h, d) => {
      const [m, k, n] = [d.int(1, 4), d.int(1, 4), d.int(1, 4)];
      const batch = Array.from({ length: d.int(0, 2) }, () => d.int(1, 3));
      const side = (rows: number, cols: number, vector: number) =>
        d.rand() < 0.15 ? [vector] : [...d.broadcastTo([...batch, 1]).slice(0, -1), rows, cols];
      const [as, bs] = [side(m, k, k), side(k, n, k)];
      return { y: h.b.matmul(h.input('a', as), h.input('b', bs)), shapes: { a: as, b: bs } };
    });
  });

  it('Gemm with transA/transB, alpha, beta and a broadcast C', async () => {
    await fdDrawn('float64', 'Gemm', (h, d) => {
      const [m, k, n] = [d.int(1, 4), d.int(1, 4), d.int(1, 4)];
      const [transA, transB] = [d.rand() < 0.5, d.rand() < 0.5];
      const [alpha, beta] = [d.pick([1, 0.7, -1.3]), d.pick([1, 0.5, -2])];
      const as = transA ? [k, m] : [m, k];
      const bs = transB ? [n, k] : [k, n];
      const cs = d.rand() < 0.2 ? undefined : d.broadcastTo([m, n]);
      const c = cs && h.input('c', cs);
      const y = h.b.gemm(h.input('a', as), h.input('b', bs), c, { transA, transB, alpha, beta });
      return { y, shapes: { a: as, b: bs, c: cs ?? 'none', transA, transB, alpha, beta } };
    });
  });

  it('LayerNormalization on any axis, with and without bias', async () => {
    await fdDrawn('float64', 'LayerNormalization', (h, d) => {
      const dims = d.shape(1, 4);
      const axis = d.int(-dims.length, dims.length - 1);
      const normalized = dims.slice(axis < 0 ? axis + dims.length : axis);
      const bias = d.rand() < 0.7 ? h.input('bias', normalized) : undefined;
      const y = h.b.layerNorm(h.input('x', dims), h.input('scale', normalized, 0.5, 1.5), bias, { axis });
      return { y, shapes: { x: dims, axis, bias: bias !== undefined } };
    });
  });

  it('Concat, Split (some outputs unused), Slice (negative and clamped bounds)', async () => {
    await fdDrawn('float64', 'Concat', (h, d) => {
      const dims = d.shape(1, 3, 20);
      const axis = d.int(-dims.length, dims.length - 1);
      const a = axis < 0 ? axis + dims.length : axis;
      const shapes = Array.from({ length: d.int(2, 3) }, () => dims.map((s, i) => (i === a ? d.int(1, 3) : s)));
      const y = h.b.concat(
        shapes.map((s, i) => h.input(`x${i}`, s)),
        axis,
      );
      return { y, shapes: { inputs: shapes, axis } };
    });
    await fdDrawn('float64', 'Split', (h, d) => {
      const dims = d.shape(1, 3, 30).map((s) => s + 1);
      const a = d.int(0, dims.length - 1);
      const cut = d.int(1, dims[a]! - 1);
      const sizes = [cut, dims[a]! - cut];
      const parts = h.b.split(h.input('x', dims), sizes, a);
      // An unused part gets no gradient: the rule fills zeros for it.
      const used = d.pick([[0], [1], [0, 1], [1, 0]]);
      const y =
        used.length === 1
          ? parts[used[0]!]!
          : h.b.concat(
              used.map((i) => parts[i]!),
              a,
            );
      return { y, shapes: { x: dims, axis: a, sizes, used } };
    });
    await fdDrawn('float64', 'Slice', (h, d) => {
      const dims = d.shape(1, 4);
      const axes = d.axes(dims.length);
      const starts: number[] = [];
      const ends: number[] = [];
      for (const ax of axes) {
        // A non-empty range [s, t), written with negative indices or a clamped end at random.
        const n = dims[ax < 0 ? ax + dims.length : ax]!;
        const s = d.int(0, n - 1);
        const t = d.int(s + 1, n);
        starts.push(d.rand() < 0.4 ? s - n : s);
        ends.push(t === n ? d.pick([n, 1000]) : d.rand() < 0.4 ? t - n : t);
      }
      const y = h.b.slice(h.input('x', dims), starts, ends, axes);
      return { y, shapes: { x: dims, starts, ends, axes } };
    });
  });

  it('Gather on axis 0 with repeated and negative indices of any rank', async () => {
    await fdDrawn('float64', 'Gather', (h, d) => {
      const rows = d.int(1, 6);
      const rest = d.shape(0, 2, 6);
      const idxDims = d.shape(0, 2, 6);
      const ids = Array.from({ length: numel(idxDims) }, () => d.int(-rows, rows - 1));
      const y = h.b.gather(h.input('table', [rows, ...rest]), h.b.constant(ids, 'int64', idxDims));
      return { y, shapes: { table: [rows, ...rest], indices: idxDims, ids } };
    });
  });

  it('Reshape, Flatten, Squeeze, Unsqueeze', async () => {
    await fdDrawn('float64', 'Reshape', (h, d) => {
      const dims = d.shape(1, 4);
      const rank = dims.length;
      const x = h.input('x', dims);
      const b = h.b;
      const ones = dims.flatMap((s, i) => (s === 1 ? [i] : []));
      const ops: [string, () => Value][] = [
        ['Reshape to the reversed shape', () => b.reshape(x, [...dims].reverse())],
        ['Flatten', () => b.flatten(x, d.int(0, rank))],
        ['Unsqueeze', () => b.unsqueeze(x, [d.int(0, rank)])],
        ['Squeeze', () => (ones.length > 0 ? b.squeeze(x, ones) : b.squeeze(b.unsqueeze(x, [0]), [0]))],
      ];
      const [op, make] = d.pick(ops);
      return { y: make(), shapes: { op, x: dims } };
    });
  });

  it('InstanceNormalization with scale and bias (float32: float-only kernel, tolerance 1e-2)', async () => {
    await fdDrawn('float32', 'InstanceNormalization', (h, d) => {
      const dims = [d.int(1, 2), d.int(1, 3), ...d.shape(1, 2, 12).map((s) => Math.max(s, 2))];
      const c = dims[1]!;
      const y = h.b.instanceNorm(h.input('x', dims), h.input('scale', [c], 0.5, 1.5), h.input('bias', [c]));
      return { y, shapes: { x: dims } };
    });
  });
  it('Conv 1-D and 2-D with groups, strides, dilations, asymmetric pads, bias (float32, tolerance 1e-2)', async () => {
    await fdDrawn('float32', 'Conv', (h, d) => {
      const sp = d.int(1, 2);
      const group = d.int(1, 2);
      const [cin, cout] = [group * d.int(1, 2), group * d.int(1, 2)];
      const kernel = Array.from({ length: sp }, () => d.int(1, 3));
      const strides = kernel.map(() => d.int(1, 2));
      const dilations = kernel.map(() => d.int(1, 2));
      const pads = [...kernel, ...kernel].map(() => d.int(0, 1));
      // Each spatial size leaves at least one output position.
      const spatial = kernel.map((k, i) => Math.max(d.int(3, 5), dilations[i]! * (k - 1) + 1));
      const xs = [d.int(1, 2), cin, ...spatial];
      const ws = [cout, cin / group, ...kernel];
      const bias = d.rand() < 0.6 ? h.input('bias', [cout]) : undefined;
      const y = h.b.conv(h.input('x', xs), h.input('w', ws), bias, { group, strides, dilations, pads });
      return { y, shapes: { x: xs, w: ws, group, strides, dilations, pads, bias: bias !== undefined } };
    });
  });

  it('Resize: nearest upsampling by whole factors per axis (float32, tolerance 1e-2)', async () => {
    await fdDrawn('float32', 'Resize', (h, d) => {
      const dims = [d.int(1, 2), d.int(1, 3), d.int(1, 4), d.int(1, 4)];
      const factors = [1, 1, d.int(1, 3), d.int(1, 3)];
      const y = h.b.resize(h.input('x', dims), { scales: factors });
      return { y, shapes: { x: dims, factors } };
    });
  });
  it('Cast to float64 and back into float32 arithmetic (float32, tolerance 1e-2)', async () => {
    await fdDrawn('float32', 'Cast', (h, d) => {
      const dims = d.shape();
      const y = h.b.cast(h.b.mul(h.b.cast(h.input('x', dims), 'float64'), 3), 'float32');
      return { y, shapes: { x: dims } };
    });
  });

  it('left no rule of the table without a random-shape check', () => {
    const rules = Object.entries(RULES).flatMap(([op, rule]) => (rule === NOT_DIFFERENTIABLE ? [] : [op]));
    expect(rules.filter((op) => !exercised.has(op))).toEqual([]);
  });
});
