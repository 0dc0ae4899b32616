/**
 * Gradient rules checked against central finite differences (tests/helpers/autodiff-fd.ts) on
 * hand-picked shapes: float64 where ORT has float64 CPU kernels, float32 (tolerance 1e-2) for
 * Conv, ConvTranspose, Erf, InstanceNormalization, Resize. Random shapes are in
 * engine-autodiff-random.test.ts. What a rule does exactly at a tie or a bound (where the
 * derivative is a choice: torch's and ORT's) is checked with exact values; whole structures last.
 */
import { describe, expect, it } from 'vitest';
import { differentiate } from '../../src-main/engine/autodiff';
import { attr, type Value } from '../../src-main/engine/graph';
import { analytic, checkGradients, fd, Harness } from '../helpers/autodiff-fd';

describe('autodiff rules against finite differences (float64)', () => {
  it('Add, Sub with broadcasting', async () => {
    await fd('float64', (h) => h.b.add(h.input('a', [2, 3, 4]), h.input('b', [3, 1])));
    await fd('float64', (h) => h.b.sub(h.input('a', [3, 1, 5]), h.input('b', [4, 5])));
  });
  it('Mul, Div with broadcasting; a value read twice', async () => {
    await fd('float64', (h) => h.b.mul(h.input('a', [2, 3]), h.input('b', [3])));
    await fd('float64', (h) => h.b.div(h.input('a', [2, 3]), h.input('b', [2, 1], 0.5, 2)));
    await fd('float64', (h) => {
      const x = h.input('x', [3, 2]);
      return h.b.add(h.b.mul(x, x), h.b.exp(x));
    });
  });
  it('Neg, Exp, Tanh, Sigmoid, Relu, SiLU', async () => {
    await fd('float64', (h) => {
      const x = h.input('x', [3, 5]);
      const b = h.b;
      return b.add(b.add(b.neg(b.exp(x)), b.tanh(x)), b.add(b.relu(x), b.silu(b.sigmoid(x))));
    });
  });
  it('Pow with a scalar exponent, Sqrt, Log', async () => {
    await fd('float64', (h) => {
      const x = h.input('x', [2, 3], 0.5, 2);
      const b = h.b;
      return b.add(b.pow(x, 3), b.add(b.sqrt(x), b.log(x)));
    });
  });
  it('MatMul: batched with broadcasting, vectors', async () => {
    await fd('float64', (h) => h.b.matmul(h.input('a', [2, 1, 3, 4]), h.input('b', [5, 4, 2])));
    await fd('float64', (h) => h.b.matmul(h.input('a', [4]), h.input('b', [2, 4, 3])));
    await fd('float64', (h) => h.b.matmul(h.input('a', [3, 4]), h.input('b', [4])));
  });
  it('Gemm with transA, transB, alpha, beta', async () => {
    await fd('float64', (h) =>
      h.b.gemm(h.input('a', [4, 3]), h.input('b', [5, 4]), h.input('c', [5]), {
        transA: true,
        transB: true,
        alpha: 0.7,
        beta: 1.3,
      }),
    );
    await fd('float64', (h) => h.b.gemm(h.input('a', [3, 4]), h.input('b', [4, 2]), h.input('c', [3, 1])));
  });
  it('ReduceSum, ReduceMean', async () => {
    await fd('float64', (h) => h.b.reduceSum(h.input('x', [2, 3, 4]), [1], { keepdims: false }));
    await fd('float64', (h) => h.b.reduceMean(h.input('x', [2, 3, 4]), [0, -1]));
  });
  it('Softmax', async () => {
    await fd('float64', (h) => h.b.softmax(h.input('x', [2, 5, 3]), 1));
  });
  it('LayerNormalization (x, scale, bias)', async () => {
    await fd('float64', (h) =>
      h.b.layerNorm(h.input('x', [2, 3, 5]), h.input('scale', [5]), h.input('bias', [5]), { epsilon: 1e-5 }),
    );
    await fd('float64', (h) =>
      h.b.layerNorm(h.input('x', [2, 3, 4]), h.input('scale', [3, 4]), undefined, { axis: 1 }),
    );
  });
  it('Reshape, Transpose, Squeeze, Unsqueeze, Flatten, Identity', async () => {
    await fd('float64', (h) => {
      const b = h.b;
      const x = h.input('x', [2, 3, 4]);
      const t = b.transpose(b.reshape(x, [2, 1, 12]), [2, 0, 1]);
      return b.identity(b.flatten(b.unsqueeze(b.squeeze(t, [2]), [0]), 2));
    });
  });
  it('Concat, Split, Slice', async () => {
    await fd('float64', (h) => {
      const b = h.b;
      const cat = b.concat([h.input('a', [2, 3]), h.input('b', [2, 2])], 1);
      const [p, q] = b.split(cat, [1, 4], 1);
      return b.add(b.slice(q!, [1], [100], [1]), b.mul(p!, 2));
    });
    await fd('float64', (h) => h.b.slice(h.input('x', [5, 4]), [-4, 1], [-1, 3]));
  });
  it('Gather (embedding, repeated and negative indices)', async () => {
    await fd('float64', (h) => {
      const ids = h.b.constant([1, 4, 1, -1, 0, 6], 'int64', [2, 3]);
      return h.b.gather(h.input('table', [7, 3]), ids);
    });
  });
  it('Expand, Where, Cast', async () => {
    await fd('float64', (h) => h.b.expand(h.input('x', [3, 1]), [2, 3, 4]));
    await fd('float64', (h) => {
      const cond = h.b.constant([1, 0, 1, 0, 0, 1], 'bool', [2, 3]);
      return h.b.where(cond, h.input('x', [2, 3]), h.input('y', [3]));
    });
    await fd('float32', (h) => h.b.mul(h.b.cast(h.input('x', [2, 3]), 'float64'), 3));
  });
});

describe('autodiff rules against finite differences (float32: float-only kernels, tolerance 1e-2)', () => {
  it('Erf and the erf GELU', async () => {
    await fd('float32', (h) => h.b.gelu(h.input('x', [3, 4])));
  });
  it('Conv with groups, strides, padding, dilations and bias', async () => {
    await fd('float32', (h) =>
      h.b.conv(h.input('x', [2, 4, 7, 6]), h.input('w', [6, 2, 3, 3]), h.input('bias', [6]), {
        group: 2,
        strides: [2, 1],
        pads: [1, 0, 1, 1],
        dilations: [1, 2],
      }),
    );
    await fd('float32', (h) => h.b.conv(h.input('x', [1, 3, 5, 5]), h.input('w', [2, 3, 1, 1])), 3);
  });
  it('GroupNorm (InstanceNormalization form)', async () => {
    await fd('float32', (h) =>
      h.b.groupNorm(h.input('x', [2, 4, 3, 3]), 2, h.input('scale', [4]), h.input('bias', [4]), { epsilon: 1e-5 }),
    );
  });
  it('Resize nearest 2× upsampling', async () => {
    await fd('float32', (h) => h.b.resize(h.input('x', [1, 2, 3, 4]), { scales: [1, 1, 2, 2] }));
  });
});

/** A fill that yields `values` one after the other. */
function inOrder(values: readonly number[]): () => number {
  let k = 0;
  return () => values[k++]!;
}

/** Gradients of loss = Σ y (every output element weighs 1), for exact checks at ties. */
async function sumGradients(build: (h: Harness) => Value, wrt: string[]): Promise<Record<string, number[]>> {
  const h = new Harness('float64');
  const y = build(h);
  const all = y.shape!.map((_, i) => i);
  h.b.output(all.length > 0 ? h.b.reduceSum(y, all, { keepdims: false }) : y, 'loss');
  const grads = await analytic(h, h.b.build(), wrt);
  return Object.fromEntries(wrt.map((w) => [w, [...grads[w]!]]));
}

describe('autodiff at ties and bounds (where the derivative is a choice)', () => {
  it('Max/Min split the gradient evenly among equal inputs (torch.maximum, ORT Min/Max grad)', async () => {
    const at = (name: string, values: number[]) => (h: Harness) => h.inputOf(name, [values.length], inOrder(values));
    const g = await sumGradients(
      (h) => h.b.max(at('a', [1, 2, 3, 0])(h), at('b', [1, 5, 3, 0])(h), at('c', [0, 0, 3, 0])(h)),
      ['a', 'b', 'c'],
    );
    expect(g).toEqual({ a: [0.5, 0, 1 / 3, 1 / 3], b: [0.5, 1, 1 / 3, 1 / 3], c: [0, 0, 1 / 3, 1 / 3] });
    const m = await sumGradients((h) => h.b.min(at('a', [1, 2])(h), at('b', [1, 5])(h)), ['a', 'b']);
    expect(m).toEqual({ a: [0.5, 1], b: [0.5, 0] });
  });

  it('ReduceMax/ReduceMin split the gradient evenly among tied maxima (torch.amax/amin)', async () => {
    const values = [1, 3, 3, 2, -1, -1];
    const fill = (h: Harness) => h.inputOf('x', [2, 3], inOrder(values));
    expect(await sumGradients((h) => h.b.reduceMax(fill(h), [1]), ['x'])).toEqual({ x: [0, 0.5, 0.5, 1, 0, 0] });
    expect(await sumGradients((h) => h.b.reduceMin(fill(h), [1], { keepdims: false }), ['x'])).toEqual({
      x: [1, 0, 0, 0, 0.5, 0.5],
    });
  });

  it('Clip passes the gradient to x at the bounds (inclusive, torch.clamp); a bound gets it only past itself', async () => {
    const values = [-2, -1, 0, 1, 2];
    const g = await sumGradients(
      (h) =>
        h.b.node('Clip', [
          h.inputOf('x', [5], inOrder(values)),
          h.inputOf('min', [], () => -1),
          h.inputOf('max', [], () => 1),
        ])[0]!,
      ['x', 'min', 'max'],
    );
    expect(g).toEqual({ x: [0, 1, 1, 1, 0], min: [1], max: [1] });
  });

  it('refuses Pad in wrap mode, naming the node', () => {
    const h = new Harness('float64', 1, 19);
    const y = h.b.node('Pad', [h.input('x', [3]), h.b.ints([1, 1])], { mode: attr.string('wrap') })[0]!;
    expect(() => differentiate(h.finish(y), { loss: 'loss', wrt: ['x'] })).toThrow(
      /Pad '.*': mode wrap has no gradient rule/,
    );
  });
});

describe('autodiff on whole structures', () => {
  it('a 2-layer MLP with LayerNorm and a softmax cross-entropy loss', async () => {
    const h = new Harness('float64', 7);
    const b = h.b;
    const x = h.input('x', [4, 6]);
    const w1 = h.input('w1', [8, 6]);
    const b1 = h.input('b1', [8]);
    const ln = h.input('ln.scale', [8], 0.5, 1.5);
    const w2 = h.input('w2', [5, 8]);
    const b2 = h.input('b2', [5]);
    let y = b.add(b.matmul(x, b.transpose(w1, [1, 0])), b1);
    y = b.relu(b.layerNorm(y, ln, undefined));
    y = b.gemm(y, w2, b2, { transB: true });
    const p = b.softmax(y, -1);
    const target = b.constant([1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1], 'float64', [4, 5]);
    const ce = b.neg(
      b.reduceMean(b.reduceSum(b.mul(b.log(p), target), [1], { keepdims: false }), [0], { keepdims: false }),
    );
    b.output(ce, 'loss');
    await checkGradients(h, b.build(), ['w1', 'b1', 'ln.scale', 'w2', 'b2']);
  });

  it('attention with LoRA on q: gradients for up/down only, nothing for frozen branches', async () => {
    const h = new Harness('float64', 11);
    const b = h.b;
    const [batch, seq, dim, heads, rank] = [2, 3, 4, 2, 2];
    const x = h.input('x', [batch, seq, dim]);
    const down = h.input('lora.down', [rank, dim]);
    const up = h.input('lora.up', [dim, rank]);
    const linear = (name: string, w: Value) => b.scope(name, () => b.matmul(x, b.transpose(w, [1, 0])));
    const wq = h.constant([dim, dim]);
    const q = b.scope('q', () =>
      b.add(linear('base', wq), b.mul(b.matmul(linear('down', down), b.transpose(up, [1, 0])), 0.5)),
    );
    const k = linear('k', h.constant([dim, dim]));
    const v = linear('v', h.constant([dim, dim]));
    const headsOf = (t: Value) => b.transpose(b.reshape(t, [batch, seq, heads, dim / heads]), [0, 2, 1, 3]);
    const scores = b.mul(b.matmul(headsOf(q), b.transpose(headsOf(k), [0, 1, 3, 2])), 1 / Math.sqrt(dim / heads));
    const attn = b.scope('attn', () => b.matmul(b.softmax(scores, -1), headsOf(v)));
    const merged = b.reshape(b.transpose(attn, [0, 2, 1, 3]), [batch, seq, dim]);
    const model = h.finish(b.scope('out', () => b.matmul(merged, b.transpose(h.constant([dim, dim]), [1, 0]))));
    const wrt = ['lora.down', 'lora.up'];
    await checkGradients(h, model, wrt);

    const grad = differentiate(model, { loss: 'loss', wrt });
    const backward = grad.graph.nodes.slice(model.graph.nodes.length);
    const names = backward.map((n) => n.name);
    // No backward for the k and v projections, the frozen base of q, or x.
    for (const frozen of ['grad/k/', 'grad/v/', 'grad/q.base/', 'grad/x']) {
      expect(
        names.filter((n) => n.startsWith(frozen)),
        frozen,
      ).toEqual([]);
    }
    expect(grad.graph.outputs.map((o) => o.name)).toEqual(['loss', 'grad.lora.down', 'grad.lora.up']);
    // Frozen weights are never read by backward MatMuls on their own side (no weight gradients).
    const frozenWeights = new Set([wq.name, k.name, v.name]);
    expect(backward.filter((n) => n.inputs.some((i) => frozenWeights.has(i)))).toEqual([]);
  });

  it('a conv block: GroupNorm, SiLU, Conv, Resize, Conv (float32)', async () => {
    const h = new Harness('float32', 5);
    const b = h.b;
    const x = h.input('x', [1, 4, 3, 3]);
    const scale = h.input('norm.scale', [4], 0.5, 1.5);
    const bias = h.input('norm.bias', [4]);
    const w = h.input('conv.weight', [4, 4, 3, 3], -0.3, 0.3);
    let y = b.silu(b.groupNorm(x, 2, scale, bias));
    y = b.conv(y, w, h.constant([4]), { pads: 1 });
    y = b.resize(y, { scales: [1, 1, 2, 2] });
    y = b.conv(y, h.input('out.weight', [2, 4, 1, 1]));
    await checkGradients(h, h.finish(y), ['x', 'norm.scale', 'norm.bias', 'conv.weight', 'out.weight']);
  });
});
