/**
 * Finite-difference checks of gradient rules in onnxruntime-node (CPU): a `Harness` builds a small
 * forward graph with random inputs, `finish` adds `loss = Σ y · R` (R random, so every output element
 * matters), and `checkGradients` runs forward + backward once and compares each element of each
 * differentiated input with (L(w + h) − L(w − h)) / 2h. float64: h = 1e-5, tolerance 1e-6 relative to
 * 1 + |fd| (ORT has float64 CPU kernels); float32: h = 1e-2, tolerance 1e-2 (Conv, ConvTranspose,
 * Erf, InstanceNormalization, Resize have float kernels only).
 */
import * as ort from 'onnxruntime-node';
import { expect } from 'vitest';
import { differentiate, gradName } from '../../src-main/engine/autodiff';
import { encodeModel, GraphBuilder, type DType, type Model, type Value } from '../../src-main/engine/graph';

// 'basic': no fusions into com.microsoft ops (QuickGelu…), which are float-only.
const OPTIONS: ort.InferenceSession.SessionOptions = {
  executionProviders: ['cpu'],
  intraOpNumThreads: 1,
  graphOptimizationLevel: 'basic',
};

/** The float types the checks run in. */
export type FloatType = 'float32' | 'float64';
/** Step and tolerance (relative to 1 + |fd|) per float type. */
export const TOL: Record<FloatType, { h: number; tol: number }> = {
  float64: { h: 1e-5, tol: 1e-6 },
  float32: { h: 1e-2, tol: 1e-2 },
};

/** A seeded uniform [0, 1) stream (LCG) for test data. */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 4294967296;
  };
}

/** Elements of a shape. */
export const numel = (dims: readonly number[]) => dims.reduce((a, b) => a * b, 1);

/** A forward graph under construction with its random inputs (the feeds) and constants. */
export class Harness {
  readonly b: GraphBuilder;
  readonly feeds: Record<string, Float64Array | Float32Array> = {};
  readonly dims: Record<string, number[]> = {};
  readonly types: Record<string, FloatType> = {};
  readonly rand: () => number;

  constructor(
    readonly dtype: FloatType,
    seed = 1,
    opset = 17,
  ) {
    this.rand = rng(seed);
    this.b = new GraphBuilder({ name: 'fd', opset });
  }

  /** A random graph input in [lo, hi). */
  input(name: string, dims: number[], lo = -1, hi = 1, dtype: FloatType = this.dtype): Value {
    return this.inputOf(name, dims, () => lo + (hi - lo) * this.rand(), dtype);
  }

  /** A graph input whose elements are `fill()` in order (values chosen away from kinks). */
  inputOf(name: string, dims: number[], fill: () => number, dtype: FloatType = this.dtype): Value {
    const data = (dtype === 'float64' ? new Float64Array(numel(dims)) : new Float32Array(numel(dims))).map(fill);
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

/** A CPU session for `model` (basic optimizations: no float-only fused ops). */
export async function session(model: Model): Promise<ort.InferenceSession> {
  return ort.InferenceSession.create(encodeModel(model), OPTIONS);
}

/** Analytic gradients of the differentiated model, by wrt name. */
export async function analytic(h: Harness, model: Model, wrt: string[]): Promise<Record<string, Float64Array>> {
  const s = await session(differentiate(model, { loss: 'loss', wrt }));
  try {
    const out = await s.run(h.tensors());
    return Object.fromEntries(wrt.map((w) => [w, Float64Array.from(out[gradName(w)]!.data as Float64Array)]));
  } finally {
    await s.release();
  }
}

/** Checks the analytic gradient of every wrt element against central differences. */
export async function checkGradients(h: Harness, model: Model, wrt: string[], label = ''): Promise<void> {
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
      expect(worst, `${label}gradient of ${w}`).toBeLessThan(tol);
    }
  } finally {
    await s.release();
  }
}

/** Builds with `build`, differentiates with respect to every input, checks. */
export async function fd(dtype: FloatType, build: (h: Harness) => Value, seed = 1, wrt?: string[]): Promise<void> {
  const h = new Harness(dtype, seed);
  const model = h.finish(build(h));
  await checkGradients(h, model, wrt ?? Object.keys(h.feeds));
}
