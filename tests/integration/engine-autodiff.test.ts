/**
 * Gradient rules checked against central finite differences in onnxruntime-node (CPU): each test
 * builds a small forward graph, differentiates `loss = Σ y · R` (R random, so every output element
 * matters), runs forward + backward once, and compares with (L(w + h) − L(w − h)) / 2h per element.
 * float64 (h = 1e-5, tolerance 1e-6 relative to 1 + |fd|) where ORT has float64 CPU kernels;
 * float32 (h = 1e-2, tolerance 1e-2) for Conv, ConvTranspose, Erf, InstanceNormalization, Resize.
 */
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { differentiate, gradName } from '../../src-main/engine/autodiff';
import { encodeModel, GraphBuilder, type DType, type Model, type Value } from '../../src-main/engine/graph';

// 'basic': no fusions into com.microsoft ops (QuickGelu…), which are float-only.
const OPTIONS: ort.InferenceSession.SessionOptions = {
  executionProviders: ['cpu'],
  intraOpNumThreads: 1,
  graphOptimizationLevel: 'basic',
};

type FloatType = 'float32' | 'float64';
const TOL: Record<FloatType, { h: number; tol: number }> = {
  float64: { h: 1e-5, tol: 1e-6 },
  float32: { h: 1e-2, tol: 1e-2 },
};

function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

const numel = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);

class Harness {
  readonly b = new GraphBuilder({ name: 'fd' });
  readonly feeds: Record<string, Float64Array | Float32Array> = {};
  readonly dims: Record<string, number[]> = {};
  readonly types: Record<string, FloatType> = {};
  readonly rand: () => number;

  constructor(
    readonly dtype: FloatType,
    seed = 1,
  ) {
    this.rand = rng(seed);
  }

  /** A random graph input in [lo, hi). */
  input(name: string, dims: number[], lo = -1, hi = 1, dtype: FloatType = this.dtype): Value {
    const data = (dtype === 'float64' ? new Float64Array(numel(dims)) : new Float32Array(numel(dims))).map(
      () => lo + (hi - lo) * this.rand(),
    );
    this.feeds[name] = data;
    this.dims[name] = dims;
    this.types[name] = dtype;
    return this.b.input(name, dtype, dims);
  }

  /** A random constant (frozen weight or loss weights). */
  constant(dims: number[], dtype: DType = this.dtype): Value {
    const values = Array.from({ length: numel(dims) }, () => this.rand() * 2 - 1);
    return this.b.constant(values, dtype, dims);
  }

  /** loss = Σ y · R as the graph's 'loss' output. */
  finish(y: Value): Model {
    const shape = y.shape!.map(Number);
    const weighted = this.b.mul(y, this.constant(shape, y.dtype));
    const loss = this.b.reduceSum(
      weighted,
      shape.map((_, i) => i),
      { keepdims: false },
    );
    this.b.output(loss, 'loss');
    return this.b.build();
  }

  tensors(overrides: Record<string, Float64Array | Float32Array> = {}): Record<string, ort.Tensor> {
    return Object.fromEntries(
      Object.keys(this.feeds).map((k) => [
        k,
        new ort.Tensor(this.types[k]!, overrides[k] ?? this.feeds[k]!, this.dims[k]),
      ]),
    );
  }
}

async function session(model: Model): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(encodeModel(model), OPTIONS);
}

/** Analytic gradients of the differentiated model, by wrt name. */
async function analytic(h: Harness, model: Model, wrt: string[]): Promise<Record<string, Float64Array>> {
  const s = await session(differentiate(model, { loss: 'loss', wrt }));
  try {
    const out = await s.run(h.tensors());
    return Object.fromEntries(wrt.map((w) => [w, Float64Array.from(out[gradName(w)]!.data as Float64Array)]));
  } finally {
    await s.release();
  }
}

/** Checks the analytic gradient of every wrt element against central differences. */
async function checkGradients(h: Harness, model: Model, wrt: string[]): Promise<void> {
  const grads = await analytic(h, model, wrt);
  const s = await session(model);
  const { h: step, tol } = TOL[h.dtype];
  try {
    const lossAt = async (name: string, data: Float64Array | Float32Array) => {
      const out = await s.run(h.tensors({ [name]: data }));
      return Number((out.loss!.data as Float64Array)[0]);
    };
    for (const w of wrt) {
      const base = h.feeds[w]!;
      const g = grads[w]!;
      expect(g.length, w).toBe(base.length);
      let worst = 0;
      for (let i = 0; i < base.length; i++) {
        const plus = base.slice();
        const minus = base.slice();
        plus[i] = base[i]! + step;
        minus[i] = base[i]! - step;
        const hp = plus[i]! - base[i]!;
        const hm = base[i]! - minus[i]!;
        const fd = ((await lossAt(w, plus)) - (await lossAt(w, minus))) / (hp + hm);
        worst = Math.max(worst, Math.abs(g[i]! - fd) / (1 + Math.abs(fd)));
      }
      expect(worst, `gradient of ${w}`).toBeLessThan(tol);
    }
  } finally {
    await s.release();
  }
}

/** Builds with `build`, differentiates with respect to every input, checks. */
async function fd(dtype: FloatType, build: (h: Harness) => Value, seed = 1, wrt?: string[]): Promise<void> {
  const h = new Harness(dtype, seed);
  const model = h.finish(build(h));
  await checkGradients(h, model, wrt ?? Object.keys(h.feeds));
}

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
