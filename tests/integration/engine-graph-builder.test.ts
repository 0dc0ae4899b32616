import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createTensor,
  encodeModel,
  extractSubgraph,
  f16ToF32,
  float32ToFloat16Array,
  GraphBuilder,
  loadModel,
  saveModel,
  tensorArray,
  type Dim,
  type Model,
  type Tensor,
} from '../../src-main/engine/graph';
import { makeTempDir } from '../helpers/temp-dir';

const OPTIONS: ort.InferenceSession.SessionOptions = { executionProviders: ['cpu'], intraOpNumThreads: 1 };

function noise(n: number, seed: number): Float32Array {
  let s = seed;
  return new Float32Array(n).map(() => ((s = (s * 16807) % 2147483647) / 2147483647) * 2 - 1);
}

function weight(dims: number[], seed: number): Tensor {
  return createTensor(
    '',
    'float32',
    dims,
    noise(
      dims.reduce((a, b) => a * b, 1),
      seed,
    ),
  );
}

const values = (t: Tensor) => tensorArray(t) as Float32Array;

/**
 * Runs the model in onnxruntime, with every intermediate value exposed as an extra output so the
 * builder's inferred shapes can be checked against what ORT computes (`symbols` sizes the
 * symbolic dims). Returns the model's own outputs.
 */
async function runChecked(
  model: Model,
  feeds: Record<string, ort.Tensor>,
  symbols: Record<string, number> = {},
): Promise<Record<string, ort.Tensor>> {
  const probe: Model = {
    ...model,
    graph: { ...model.graph, outputs: [...model.graph.outputs, ...model.graph.valueInfo.values()] },
  };
  const session = await ort.InferenceSession.create(encodeModel(probe), OPTIONS);
  try {
    const out = await session.run(feeds);
    const size = (d: Dim): number | null => {
      if (typeof d === 'number' || d === null) return d;
      return d.split('*').reduce((n, part) => n * (/^\d+$/.test(part) ? Number(part) : symbols[part]!), 1);
    };
    for (const vi of [...model.graph.outputs, ...model.graph.valueInfo.values()]) {
      const t = out[vi.name]!;
      expect(t.type, vi.name).toBe(vi.dtype);
      if (vi.shape) expect(t.dims, vi.name).toEqual(vi.shape.map((d, i) => size(d) ?? t.dims[i]));
    }
    return Object.fromEntries(model.graph.outputs.map((o) => [o.name, out[o.name]!]));
  } finally {
    await session.release();
  }
}

function expectClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-5): void {
  expect(actual.length).toBe(expected.length);
  let worst = 0;
  for (let i = 0; i < expected.length; i++)
    worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!) / (1 + Math.abs(expected[i]!)));
  expect(worst).toBeLessThan(tol);
}

// ---------------------------------------------------------------- straightforward JS references

/** a [m, k] × b [k, n] (row-major). */
function jsMatmul(a: ArrayLike<number>, b: ArrayLike<number>, m: number, k: number, n: number): Float32Array {
  const out = new Float32Array(m * n);
  for (let i = 0; i < m; i++)
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += a[i * k + p]! * b[p * n + j]!;
      out[i * n + j] = s;
    }
  return out;
}

function jsSoftmaxRows(x: Float32Array, n: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let r = 0; r < x.length / n; r++) {
    const row = x.subarray(r * n, (r + 1) * n);
    const max = Math.max(...row);
    const e = Array.from(row, (v) => Math.exp(v - max));
    const sum = e.reduce((a, b) => a + b, 0);
    e.forEach((v, i) => (out[r * n + i] = v / sum));
  }
  return out;
}

function jsLayerNormRows(x: Float32Array, n: number, g: Float32Array, b: Float32Array, eps = 1e-5): Float32Array {
  const out = new Float32Array(x.length);
  for (let r = 0; r < x.length / n; r++) {
    const row = Array.from(x.subarray(r * n, (r + 1) * n));
    const mean = row.reduce((a, v) => a + v, 0) / n;
    const variance = row.reduce((a, v) => a + (v - mean) ** 2, 0) / n;
    row.forEach((v, i) => (out[r * n + i] = ((v - mean) / Math.sqrt(variance + eps)) * g[i]! + b[i]!));
  }
  return out;
}

type Dims4 = [number, number, number, number];

/** 2-D convolution, NCHW, pads [top, left, bottom, right]. */
function jsConv(
  x: Float32Array,
  [n, c, h, w]: Dims4,
  wt: Float32Array,
  [m, cg, kh, kw]: Dims4,
  bias: Float32Array | undefined,
  o: { stride: number[]; pads: number[]; dil: number[]; group: number },
): { data: Float32Array; dims: Dims4 } {
  const oh = Math.floor((h + o.pads[0]! + o.pads[2]! - o.dil[0]! * (kh - 1) - 1) / o.stride[0]!) + 1;
  const ow = Math.floor((w + o.pads[1]! + o.pads[3]! - o.dil[1]! * (kw - 1) - 1) / o.stride[1]!) + 1;
  const out = new Float32Array(n * m * oh * ow);
  const mg = m / o.group;
  for (let b = 0; b < n; b++)
    for (let oc = 0; oc < m; oc++)
      for (let y = 0; y < oh; y++)
        for (let xx = 0; xx < ow; xx++) {
          const g = Math.floor(oc / mg);
          let s = bias ? bias[oc]! : 0;
          for (let ic = 0; ic < cg; ic++)
            for (let ky = 0; ky < kh; ky++)
              for (let kx = 0; kx < kw; kx++) {
                const iy = y * o.stride[0]! - o.pads[0]! + ky * o.dil[0]!;
                const ix = xx * o.stride[1]! - o.pads[1]! + kx * o.dil[1]!;
                if (iy < 0 || iy >= h || ix < 0 || ix >= w) continue;
                s += x[((b * c + g * cg + ic) * h + iy) * w + ix]! * wt[((oc * cg + ic) * kh + ky) * kw + kx]!;
              }
          out[((b * m + oc) * oh + y) * ow + xx] = s;
        }
  return { data: out, dims: [n, m, oh, ow] };
}

/** PyTorch GroupNorm over NC… with per-channel affine. */
function jsGroupNorm(
  x: Float32Array,
  [n, c, ...sp]: [number, number, ...number[]],
  groups: number,
  g: Float32Array,
  b: Float32Array,
  eps: number,
): Float32Array {
  const hw = sp.reduce((a, v) => a * v, 1);
  const per = (c / groups) * hw;
  const out = new Float32Array(x.length);
  for (let i = 0; i < n * groups; i++) {
    const seg = Array.from(x.subarray(i * per, (i + 1) * per));
    const mean = seg.reduce((a, v) => a + v, 0) / per;
    const variance = seg.reduce((a, v) => a + (v - mean) ** 2, 0) / per;
    seg.forEach((v, j) => {
      const ch = (i % groups) * (c / groups) + Math.floor(j / hw);
      out[i * per + j] = ((v - mean) / Math.sqrt(variance + eps)) * g[ch]! + b[ch]!;
    });
  }
  return out;
}

// ---------------------------------------------------------------- tests

describe('GraphBuilder graphs in onnxruntime', () => {
  let dir: string;
  let cleanup: () => void;
  beforeAll(() => ({ dir, cleanup } = makeTempDir('pinhole-builder-')));
  afterAll(() => cleanup());

  it('MLP: Gemm + Relu + MatMul + Add + LayerNorm + Softmax, symbolic batch, saved to disk', async () => {
    const w1 = weight([32, 8], 1); // [out, in], as torch Linear stores it
    const b1 = weight([32], 2);
    const w2 = weight([32, 10], 3);
    const b2 = weight([10], 4);
    const g = weight([10], 5);
    const beta = weight([10], 6);
    const b = new GraphBuilder({ name: 'mlp' });
    const x = b.input('x', 'float32', ['batch', 8]);
    const y = b.scope('mlp', () => {
      const h = b.scope('fc1', () =>
        b.gemm(x, b.initializer('weight', w1), b.initializer('bias', b1), { transB: true }),
      );
      const a = b.relu(h);
      const o = b.scope('fc2', () => b.add(b.matmul(a, b.initializer('weight', w2)), b.initializer('bias', b2)));
      const n = b.scope('norm', () => b.layerNorm(o, b.initializer('weight', g), b.initializer('bias', beta)));
      return b.softmax(n, -1);
    });
    b.output(y, 'probs');
    const model = b.build();
    const file = path.join(dir, 'mlp.onnx');
    await saveModel(model, file, { externalDataThreshold: 256 });

    const xs = noise(3 * 8, 7);
    const feeds = { x: new ort.Tensor('float32', xs, [3, 8]) };
    const out = await runChecked(await loadModel(file), feeds, { batch: 3 });
    const session = await ort.InferenceSession.create(file, OPTIONS);
    const fromDisk = (await session.run(feeds)).probs!.data as Float32Array;
    await session.release();

    // Reference: x·W1ᵀ + b1 → relu → ·W2 + b2 → layernorm → softmax.
    const w1t = new Float32Array(8 * 32);
    for (let i = 0; i < 32; i++) for (let j = 0; j < 8; j++) w1t[j * 32 + i] = values(w1)[i * 8 + j]!;
    const h = jsMatmul(xs, w1t, 3, 8, 32).map((v, i) => Math.max(0, v + values(b1)[i % 32]!));
    const o = jsMatmul(h, values(w2), 3, 32, 10).map((v, i) => v + values(b2)[i % 10]!);
    const expected = jsSoftmaxRows(jsLayerNormRows(o, 10, values(g), values(beta)), 10);
    expectClose(out.probs!.data as Float32Array, expected);
    expectClose(fromDisk, expected);
  });

  it('Conv with groups, strides, asymmetric padding and dilation', async () => {
    const w1 = weight([6, 2, 3, 3], 11);
    const bias1 = weight([6], 12);
    const w2 = weight([4, 6, 3, 2], 13);
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', ['n', 4, 9, 10]);
    const c1 = b.conv(x, b.initializer('c1.weight', w1), b.initializer('c1.bias', bias1), {
      group: 2,
      strides: [2, 1],
      pads: [1, 0, 1, 2],
    });
    const c2 = b.conv(c1, b.initializer('c2.weight', w2), undefined, { dilations: [2, 1], pads: 1 });
    b.output(c2, 'y');
    const xs = noise(2 * 4 * 9 * 10, 14);
    const out = await runChecked(b.build(), { x: new ort.Tensor('float32', xs, [2, 4, 9, 10]) }, { n: 2 });
    const r1 = jsConv(xs, [2, 4, 9, 10], values(w1), [6, 2, 3, 3], values(bias1), {
      stride: [2, 1],
      pads: [1, 0, 1, 2],
      dil: [1, 1],
      group: 2,
    });
    const r2 = jsConv(r1.data, r1.dims, values(w2), [4, 6, 3, 2], undefined, {
      stride: [1, 1],
      pads: [1, 1, 1, 1],
      dil: [2, 1],
      group: 1,
    });
    expect(out.y!.dims).toEqual(r2.dims);
    expectClose(out.y!.data as Float32Array, r2.data);
  });

  it('attention block: Reshape / Transpose / MatMul / Softmax over heads', async () => {
    const [batch, seq, dim, heads] = [2, 5, 8, 2];
    const hd = dim / heads;
    const wq = weight([dim, dim], 21);
    const wk = weight([dim, dim], 22);
    const wv = weight([dim, dim], 23);
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', ['batch', 'seq', dim]);
    const y = b.scope('attn1', () => {
      const split = (t: ReturnType<typeof b.matmul>) => b.transpose(b.reshape(t, [0, 0, heads, hd]), [0, 2, 1, 3]);
      const q = split(b.matmul(x, b.initializer('to_q.weight', wq)));
      const k = split(b.matmul(x, b.initializer('to_k.weight', wk)));
      const v = split(b.matmul(x, b.initializer('to_v.weight', wv)));
      const p = b.softmax(b.mul(b.matmul(q, b.transpose(k, [0, 1, 3, 2])), 1 / Math.sqrt(hd)), -1);
      return b.reshape(b.transpose(b.matmul(p, v), [0, 2, 1, 3]), [0, 0, dim]);
    });
    b.output(y, 'y');
    const xs = noise(batch * seq * dim, 24);
    const out = await runChecked(b.build(), { x: new ort.Tensor('float32', xs, [batch, seq, dim]) }, { batch, seq });

    const expected = new Float32Array(batch * seq * dim);
    for (let n = 0; n < batch; n++) {
      const xn = xs.subarray(n * seq * dim, (n + 1) * seq * dim);
      const [q, k, v] = [wq, wk, wv].map((w) => jsMatmul(xn, values(w), seq, dim, dim));
      for (let h = 0; h < heads; h++) {
        const scores = new Float32Array(seq * seq);
        for (let i = 0; i < seq; i++)
          for (let j = 0; j < seq; j++) {
            let s = 0;
            for (let d = 0; d < hd; d++) s += q![i * dim + h * hd + d]! * k![j * dim + h * hd + d]!;
            scores[i * seq + j] = s / Math.sqrt(hd);
          }
        const p = jsSoftmaxRows(scores, seq);
        for (let i = 0; i < seq; i++)
          for (let d = 0; d < hd; d++) {
            let s = 0;
            for (let j = 0; j < seq; j++) s += p[i * seq + j]! * v![j * dim + h * hd + d]!;
            expected[n * seq * dim + i * dim + h * hd + d] = s;
          }
      }
    }
    expectClose(out.y!.data as Float32Array, expected);
  });

  it.each(['instance', 'reduce'] as const)(
    'GroupNorm via %s matches PyTorch semantics, symbolic spatial dims',
    async (method) => {
      const dims: [number, number, number, number] = [2, 8, 5, 6];
      const g = weight([8], 31);
      const beta = weight([8], 32);
      const b = new GraphBuilder();
      const x = b.input('x', 'float32', ['n', 8, 'h', 'w']);
      const y = b.scope('norm1', () =>
        b.groupNorm(x, 4, b.initializer('weight', g), b.initializer('bias', beta), { epsilon: 1e-6, method }),
      );
      expect(y.shape).toEqual(['n', 8, 'h', 'w']);
      b.output(b.silu(y), 'y');
      const xs = noise(2 * 8 * 5 * 6, 33).map((v) => v * 3 + 1);
      const out = await runChecked(b.build(), { x: new ort.Tensor('float32', xs, dims) }, { n: 2, h: 5, w: 6 });
      const expected = jsGroupNorm(xs, dims, 4, values(g), values(beta), 1e-6).map((v) => v / (1 + Math.exp(-v)));
      expectClose(out.y!.data as Float32Array, expected, 1e-5);
    },
  );

  it('Resize nearest 2× (PyTorch interpolate semantics)', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [1, 2, 'h', 'w']);
    const up = b.resize(x, { scales: [1, 1, 2, 2] });
    expect(up.shape).toEqual([1, 2, '2*h', '2*w']);
    b.output(up, 'y');
    const xs = noise(2 * 3 * 4, 41);
    const out = await runChecked(b.build(), { x: new ort.Tensor('float32', xs, [1, 2, 3, 4]) }, { h: 3, w: 4 });
    const expected = new Float32Array(2 * 6 * 8);
    for (let c = 0; c < 2; c++)
      for (let i = 0; i < 6; i++)
        for (let j = 0; j < 8; j++) {
          expected[(c * 6 + i) * 8 + j] = xs[(c * 3 + Math.floor(i / 2)) * 4 + Math.floor(j / 2)]!;
        }
    expect(out.y!.dims).toEqual([1, 2, 6, 8]);
    expect(Array.from(out.y!.data as Float32Array)).toEqual(Array.from(expected));
  });

  it('float16 initializers: Cast to float32 in the graph, exact round trip through external data', async () => {
    const wValues = noise(8 * 4, 51).map((v) => v * 10);
    const bits = float32ToFloat16Array(wValues);
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', ['n', 8]);
    const w = b.initializer('proj.weight', createTensor('', 'float16', [8, 4], bits));
    const bias = b.initializer('proj.bias', createTensor('', 'float16', [4], [0.5, -1, 1 / 3, 1e-3]));
    expect(w.dtype).toBe('float16');
    expect(() => b.matmul(x, w)).toThrow(/MatMul 'MatMul': input dtypes differ: float32 vs float16/);
    const y = b.add(b.matmul(x, b.cast(w, 'float32')), b.cast(bias, 'float32'));
    b.output(b.cast(y, 'float16'), 'y16');
    b.output(y, 'y');
    const model = b.build();
    const file = path.join(dir, 'f16.onnx');
    await saveModel(model, file, { externalDataThreshold: 16 });
    const reloaded = await loadModel(file);
    const back = reloaded.graph.initializers.get('proj.weight')!;
    expect(back.dtype).toBe('float16');
    expect(Array.from(tensorArray(back) as Uint16Array)).toEqual(Array.from(bits));

    const xs = noise(3 * 8, 52);
    const session = await ort.InferenceSession.create(file, OPTIONS);
    const out = await session.run({ x: new ort.Tensor('float32', xs, [3, 8]) });
    await session.release();
    const wf = Array.from(bits, f16ToF32);
    const bf = Array.from(tensorArray(reloaded.graph.initializers.get('proj.bias')!) as Uint16Array, f16ToF32);
    const expected = jsMatmul(xs, wf, 3, 8, 4).map((v, i) => v + bf[i % 4]!);
    expectClose(out.y!.data as Float32Array, expected);
    expect(out.y16!.type).toBe('float16');
    const y16 = out.y16!.data as Uint16Array;
    for (let i = 0; i < expected.length; i++)
      expect(Math.abs(f16ToF32(y16[i]!) - expected[i]!)).toBeLessThanOrEqual(Math.abs(expected[i]!) * 2 ** -10 + 1e-6);
  });

  it('extractSubgraph: the extracted part computes the same values from an intermediate', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [2, 6]);
    const h = b.scope('a', () => b.tanh(b.matmul(x, b.initializer('w', weight([6, 6], 61)))));
    const y = b.scope('b', () => b.add(b.mul(h, b.initializer('scale', weight([6], 62))), b.sigmoid(h)));
    b.output(y, 'y');
    b.output(h, 'h');
    const model = b.build();
    const xs = noise(12, 63);
    const full = await runChecked(model, { x: new ort.Tensor('float32', xs, [2, 6]) });

    const sub = extractSubgraph(model.graph, ['h'], ['y']);
    expect(sub.nodes.every((n) => n.name.startsWith('b/'))).toBe(true);
    const part = await runChecked({ ...model, graph: sub }, { h: full.h! });
    expect(Array.from(part.y!.data as Float32Array)).toEqual(Array.from(full.y!.data as Float32Array));

    // Weights as inputs (how LoRA training feeds trainable tensors).
    const withWeight = extractSubgraph(model.graph, ['h', 'b.scale'], ['y']);
    const scale = new Float32Array(6).fill(2);
    const fed = await runChecked(
      { ...model, graph: withWeight },
      { h: full.h!, 'b.scale': new ort.Tensor('float32', scale, [6]) },
    );
    const hv = full.h!.data as Float32Array;
    expectClose(
      fed.y!.data as Float32Array,
      hv.map((v) => 2 * v + 1 / (1 + Math.exp(-v))),
    );
  });

  it('the same graphs run on the WebGPU provider without CPU fallback where an adapter exists, and refuse loudly where none does', async () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', ['n', 8, 'h', 'w']);
    const y = b.scope('block', () => {
      const n = b.groupNorm(
        x,
        4,
        b.initializer('norm.weight', weight([8], 71)),
        b.initializer('norm.bias', weight([8], 72)),
      );
      const c = b.conv(
        b.silu(n),
        b.initializer('conv.weight', weight([8, 8, 3, 3], 73)),
        b.initializer('conv.bias', weight([8], 74)),
        { pads: 1 },
      );
      const up = b.resize(c, { scales: [1, 1, 2, 2] });
      const seq = b.transpose(b.reshape(up, [0, 8, -1]), [0, 2, 1]);
      const q = b.matmul(seq, b.initializer('to_q.weight', weight([8, 8], 75)));
      const attn = b.softmax(b.mul(b.matmul(q, b.transpose(seq, [0, 2, 1])), 0.35), -1);
      const ln = b.layerNorm(
        b.matmul(attn, seq),
        b.initializer('ln.weight', weight([8], 76)),
        b.initializer('ln.bias', weight([8], 77)),
      );
      return b.reduceMean(b.gelu(ln), [1]);
    });
    b.output(y, 'y');
    const bytes = encodeModel(b.build());
    const feeds = { x: new ort.Tensor('float32', noise(2 * 8 * 4 * 4, 78), [2, 8, 4, 4]) };
    let gpu: ort.InferenceSession;
    try {
      gpu = await ort.InferenceSession.create(bytes, {
        executionProviders: ['webgpu'],
        extra: { session: { disable_cpu_ep_fallback: '1' } },
      });
    } catch (error) {
      // No GPU here (CI has none): the provider must refuse loudly, never run silently on the
      // CPU, so the engine's provider probe can record why WebGPU was skipped.
      expect(String(error)).toMatch(/adapter/i);
      return;
    }
    const cpu = await ort.InferenceSession.create(bytes, OPTIONS);
    const [a, c] = [(await gpu.run(feeds)).y!, (await cpu.run(feeds)).y!];
    await gpu.release();
    await cpu.release();
    // reduceMean keeps the reduced axis by default: [2, 8, 4, 4] → … → [2, 1, 8] on both providers.
    expect(a.dims).toEqual([2, 1, 8]);
    expect(c.dims).toEqual([2, 1, 8]);
    expectClose(a.data as Float32Array, c.data as Float32Array, 1e-3);
  });
});
