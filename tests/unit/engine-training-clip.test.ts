/**
 * Gradient clipping by global norm (torch's `clip_grad_norm_`) against a hand computation, the
 * constant schedule, and the (shuffled) sample order of the reference loop.
 */
import { describe, expect, it } from 'vitest';
import { TorchGenerator } from '../../src-main/engine/random';
import { clipGradNorm, constantSchedule, globalGradNorm, SampleOrder } from '../../src-main/engine/training';

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

  const names = ['a', 'b', 'c'];
  const files = (order: SampleOrder, steps: number) =>
    Array.from({ length: steps }, (_, step) => order.batch(step).map((i) => names[i]!)).flat();

  it('without shuffle, file-name order cycling and no draws', () => {
    const g = new TorchGenerator(5n);
    const before = g.clone().randn([4]);
    const order = new SampleOrder(3, 1, 1, false, g);
    order.prepare(10);
    expect(files(order, 5)).toEqual(['a', 'b', 'c', 'a', 'b']);
    expect([...g.randn([4])]).toEqual([...before]);
  });

  it('a batch spans passes as (step·B + j) mod N; repeats keep each image in a row', () => {
    expect(files(new SampleOrder(3, 1, 2, false, new TorchGenerator(0n)), 3)).toEqual(['a', 'b', 'c', 'a', 'b', 'c']);
    expect(files(new SampleOrder(3, 2, 1, false, new TorchGenerator(0n)), 7)).toEqual([
      'a',
      'a',
      'b',
      'b',
      'c',
      'c',
      'a',
    ]);
  });

  it('with shuffle, one permutation per pass, reproducible from the seed', () => {
    const seqA = files(new SampleOrder(3, 1, 1, true, new TorchGenerator(5n)), 9);
    expect(files(new SampleOrder(3, 1, 1, true, new TorchGenerator(5n)), 9)).toEqual(seqA);
    for (let pass = 0; pass < 3; pass++)
      expect([...seqA.slice(pass * 3, pass * 3 + 3)].sort()).toEqual(['a', 'b', 'c']);
  });

  it('a restored order continues exactly (checkpoints)', () => {
    const a = new SampleOrder(3, 1, 2, true, new TorchGenerator(7n));
    const full = files(a, 8);
    const g = new TorchGenerator(7n);
    const b = new SampleOrder(3, 1, 2, true, g);
    files(b, 4);
    const c = new SampleOrder(3, 1, 2, true, g.clone());
    c.restore(JSON.parse(JSON.stringify(b.state())) as ReturnType<SampleOrder['state']>);
    expect(Array.from({ length: 4 }, (_, k) => c.batch(4 + k).map((i) => names[i]!)).flat()).toEqual(full.slice(8));
  });
});
