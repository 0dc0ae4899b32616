/**
 * LoRA merging (`W' = W + multiplier · alpha / rank · up · down`) against a direct computation: Linear, 1×1 Conv
 * (4-D and 2-D LoRA tensors), 3×3 Conv (LoCon), several LoRAs on one weight, and the errors for shapes that do
 * not fit and modules that match nothing.
 */
import { describe, expect, it } from 'vitest';
import {
  matchLoraModules,
  mergeLoraModule,
  mergeLoras,
  mergedWeightSource,
  type LoraModule,
  type LoraWeights,
} from '../../src-main/engine/lora';
import { memoryWeights } from '../../src-main/engine/models';
import type { Tensor } from '../../src-main/engine/graph';

function rand(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  });
}
const prod = (d: number[]) => d.reduce((a, b) => a * b, 1);
const mod = (name: string, downDims: number[], upDims: number[], alpha: number, seed: number): LoraModule => ({
  name,
  down: rand(prod(downDims), seed),
  downDims,
  up: rand(prod(upDims), seed + 1),
  upDims,
  alpha,
});

/** W[o, i, kh, kw] + m · alpha / r · Σ_r up[o, r] · down[r, i, kh, kw], element by element. */
function direct(base: Float32Array, out: number, inner: number, m: LoraModule, multiplier: number): Float64Array {
  const r = m.downDims[0]!;
  const res = new Float64Array(base.length);
  for (let o = 0; o < out; o++) {
    for (let i = 0; i < inner; i++) {
      let s = 0;
      for (let k = 0; k < r; k++) s += m.up[o * r + k]! * m.down[k * inner + i]!;
      res[o * inner + i] = base[o * inner + i]! + ((multiplier * m.alpha) / r) * s;
    }
  }
  return res;
}
const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let d = 0;
  for (let i = 0; i < a.length; i++) d = Math.max(d, Math.abs(a[i]! - b[i]!));
  return d;
};

describe('mergeLoraModule', () => {
  it('Linear: W + multiplier · alpha / rank · up · down', () => {
    const base = rand(6 * 5, 1);
    const m = mod('lora_unet_x', [3, 5], [6, 3], 1.5, 7);
    const merged = mergeLoraModule(base, [6, 5], m, 0.8);
    expect(maxDiff(merged, direct(base, 6, 5, m, 0.8))).toBeLessThan(1e-6);
    // A hand-computed entry: W[2, 4] + 0.8 · 1.5 / 3 · Σ_k up[2, k] down[k, 4].
    const s = m.up[6]! * m.down[4]! + m.up[7]! * m.down[9]! + m.up[8]! * m.down[14]!;
    expect(merged[2 * 5 + 4]).toBeCloseTo(base[14]! + 0.4 * s, 6);
  });

  it('1×1 Conv with 4-D or 2-D LoRA tensors, and a 3×3 Conv (LoCon)', () => {
    const base = rand(8 * 4, 2);
    const m4 = mod('lora_unet_proj_in', [2, 4, 1, 1], [8, 2, 1, 1], 2, 3);
    const m2 = { ...m4, downDims: [2, 4], upDims: [8, 2] };
    const want = direct(base, 8, 4, m4, -1.25);
    expect(maxDiff(mergeLoraModule(base, [8, 4, 1, 1], m4, -1.25), want)).toBeLessThan(1e-6);
    expect(maxDiff(mergeLoraModule(base, [8, 4, 1, 1], m2, -1.25), want)).toBeLessThan(1e-6);
    // A Linear base with a 1×1-conv-shaped LoRA (SD 2's linear proj_in) fits too.
    expect(maxDiff(mergeLoraModule(base, [8, 4], m4, -1.25), want)).toBeLessThan(1e-6);

    const conv = rand(4 * 3 * 9, 4);
    const m3 = mod('lora_unet_conv1', [2, 3, 3, 3], [4, 2, 1, 1], 1, 5);
    expect(maxDiff(mergeLoraModule(conv, [4, 3, 3, 3], m3, 1), direct(conv, 4, 27, m3, 1))).toBeLessThan(1e-6);
  });

  it('weight 0 leaves the weight as it is; shapes that do not fit are an error naming the module', () => {
    const base = rand(6 * 5, 1);
    const m = mod('lora_unet_x', [3, 5], [6, 3], 3, 7);
    expect(Array.from(mergeLoraModule(base, [6, 5], m, 0))).toEqual(Array.from(base));
    expect(() => mergeLoraModule(base, [5, 6], m, 1)).toThrow(/lora_unet_x.*\[5, 6\]/);
    const m3 = mod('lora_unet_c', [2, 3, 3, 3], [4, 2, 1, 1], 1, 5);
    expect(() => mergeLoraModule(rand(4 * 27, 1), [4, 27], m3, 1)).toThrow(/lora_unet_c/);
  });
});

describe('mergeLoras', () => {
  const weights = new Map<string, Tensor>([
    ['blocks.0.to_q.weight', { name: 'blocks.0.to_q.weight', dtype: 'float32', dims: [4, 3], data: rand(12, 9) }],
    ['blocks.0.to_q.bias', { name: 'blocks.0.to_q.bias', dtype: 'float32', dims: [4], data: rand(4, 10) }],
    ['blocks.0.norm.weight', { name: 'blocks.0.norm.weight', dtype: 'float32', dims: [3], data: rand(3, 11) }],
  ]);
  const lora = (modules: LoraModule[]): LoraWeights => ({
    modules: new Map(modules.map((m) => [m.name, m])),
    metadata: {},
  });

  it('adds every LoRA’s delta to the weight its kohya name matches', async () => {
    const a = mod('lora_unet_blocks_0_to_q', [2, 3], [4, 2], 1, 20);
    const b = mod('lora_unet_blocks_0_to_q', [1, 3], [4, 1], 4, 30);
    const te = mod('lora_te_text_model_x', [1, 3], [4, 1], 1, 40);
    const merged = await mergeLoras(
      [
        { lora: lora([a, te]), multiplier: 0.5, label: 'a' },
        { lora: lora([b]), multiplier: -2, label: 'b' },
      ],
      'unet',
      [...weights.keys()],
      (name) => Promise.resolve(weights.get(name)!),
    );
    expect([...merged.keys()]).toEqual(['blocks.0.to_q.weight']);
    const base = weights.get('blocks.0.to_q.weight')!.data as Float32Array;
    const want = direct(Float32Array.from(direct(base, 4, 3, a, 0.5)), 4, 3, b, -2);
    expect(maxDiff(merged.get('blocks.0.to_q.weight')!.data as Float32Array, want)).toBeLessThan(1e-6);
    const source = mergedWeightSource(memoryWeights(weights), merged);
    expect(source.get('blocks.0.to_q.weight')).toBe(merged.get('blocks.0.to_q.weight'));
    expect(source.get('blocks.0.to_q.bias')).toBe(weights.get('blocks.0.to_q.bias'));
  });

  it('names modules that match no weight', () => {
    expect(() =>
      matchLoraModules(['lora_unet_blocks_0_to_q', 'lora_unet_blocks_7_to_k'], 'unet', weights.keys(), 'x.safetensors'),
    ).toThrow(/x\.safetensors: LoRA modules match nothing in the model's unet: lora_unet_blocks_7_to_k/);
  });
});
