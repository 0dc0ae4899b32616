/**
 * Gradient clipping by global norm (torch's `clip_grad_norm_`) against a hand computation, the
 * constant schedule, and the shuffled sample order.
 */
import { describe, expect, it } from 'vitest';
import { TorchGenerator } from '../../src-main/engine/random';
import {
  clipGradNorm,
  constantSchedule,
  globalGradNorm,
  ShuffledOrder,
  type TrainingExample,
} from '../../src-main/engine/training';

describe('clipGradNorm', () => {
  it('scales every gradient by max_norm / (‖g‖ + 1e-6) when the global norm exceeds it', () => {
    // ‖[3, 4]‖ = 5, ‖[12]‖ = 12: global √(25 + 144) = 13.
    const grads = [Float32Array.of(3, 4), Float32Array.of(12)];
    expect(globalGradNorm(grads)).toBe(13);
    const total = clipGradNorm(grads, 6.5);
    expect(total).toBe(13);
    const coef = Math.fround(6.5 / Math.fround(13 + 1e-6));
    expect(coef).toBeCloseTo(0.5, 6);
    expect([...grads[0]!]).toEqual([Math.fround(3 * coef), Math.fround(4 * coef)]);
    expect([...grads[1]!]).toEqual([Math.fround(12 * coef)]);
    expect(globalGradNorm(grads)).toBeCloseTo(6.5, 4);
  });

  it('leaves gradients alone under the limit, and when off (0)', () => {
    const grads = [Float32Array.of(3, 4), Float32Array.of(12)];
    expect(clipGradNorm(grads, 100)).toBe(13);
    expect(clipGradNorm(grads, 0)).toBe(13);
    expect([...grads[0]!, ...grads[1]!]).toEqual([3, 4, 12]);
  });

  it('a zero gradient stays zero', () => {
    const grads = [new Float32Array(3)];
    expect(clipGradNorm(grads, 1)).toBe(0);
    expect([...grads[0]!]).toEqual([0, 0, 0]);
  });
});

describe('training schedule and order', () => {
  it('constant schedule', () => {
    const s = constantSchedule(2e-3);
    expect([s(0), s(1), s(999)]).toEqual([2e-3, 2e-3, 2e-3]);
  });

  const examples = ['a', 'b', 'c'].map((file) => ({ file }) as TrainingExample);

  it('without shuffle, file-name order cycling and no draws', () => {
    const g = new TorchGenerator(5n);
    const before = g.clone().randn([4]);
    const order = new ShuffledOrder(examples, false, g);
    order.prepare(10);
    expect([0, 1, 2, 3, 4].map((i) => order.at(i).file)).toEqual(['a', 'b', 'c', 'a', 'b']);
    expect([...g.randn([4])]).toEqual([...before]);
  });

  it('with shuffle, one permutation per pass, reproducible from the seed', () => {
    const a = new ShuffledOrder(examples, true, new TorchGenerator(5n));
    const b = new ShuffledOrder(examples, true, new TorchGenerator(5n));
    const seqA = Array.from({ length: 9 }, (_, i) => a.at(i).file);
    expect(Array.from({ length: 9 }, (_, i) => b.at(i).file)).toEqual(seqA);
    for (let pass = 0; pass < 3; pass++)
      expect([...seqA.slice(pass * 3, pass * 3 + 3)].sort()).toEqual(['a', 'b', 'c']);
  });
});
