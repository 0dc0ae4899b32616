import { describe, expect, it } from 'vitest';
import { differentiate, RULES, NOT_DIFFERENTIABLE } from '../../src-main/engine/autodiff';
import { encodeModel, GraphBuilder, GraphError, type Model, type Value } from '../../src-main/engine/graph';

function model(build: (b: GraphBuilder) => Value): Model {
  const b = new GraphBuilder();
  const y = build(b);
  b.output(b.reduceSum(y, [0, 1], { keepdims: false }), 'loss');
  return b.build();
}

describe('autodiff structure and errors', () => {
  it('names an unknown op and its node', () => {
    const m = model((b) => {
      const x = b.input('x', 'float64', [2, 3]);
      const [y] = b.node('Frobnicate', [x], {}, { outputMetas: [{ dtype: 'float64', shape: [2, 3] }] });
      return b.mul(y!, 2);
    });
    expect(() => differentiate(m, { loss: 'loss', wrt: ['x'] })).toThrow(/Frobnicate.*'Frobnicate'/);
    expect(() => differentiate(m, { loss: 'loss', wrt: ['x'] })).toThrow(GraphError);
  });

  it('ignores an unknown op off the path to the loss', () => {
    const m = model((b) => {
      const x = b.input('x', 'float64', [2, 3]);
      const c = b.input('c', 'float64', [2, 3]);
      const [y] = b.node('Frobnicate', [c], {}, { outputMetas: [{ dtype: 'float64', shape: [2, 3] }] });
      return b.mul(y!, x);
    });
    expect(() => differentiate(m, { loss: 'loss', wrt: ['x'] })).not.toThrow();
  });

  it('raises for a non-differentiable op on the path, not for Shape feeding a Reshape', () => {
    const floor = model((b) => {
      const x = b.input('x', 'float64', [2, 3]);
      return b.mul(b.floor(x), x);
    });
    expect(() => differentiate(floor, { loss: 'loss', wrt: ['x'] })).toThrow(/Floor 'Floor' is not differentiable/);
    const toInt = model((b) => {
      const x = b.input('x', 'float64', [2, 3]);
      return b.cast(b.cast(x, 'int64'), 'float64');
    });
    expect(() => differentiate(toInt, { loss: 'loss', wrt: ['x'] })).toThrow(/int64.*integers/);
    const reshape = model((b) => {
      const x = b.input('x', 'float64', [2, 3]);
      const where = b.where(b.greater(x, 0), x, b.neg(x));
      return b.reshape(where, b.shape(x));
    });
    expect(() => differentiate(reshape, { loss: 'loss', wrt: ['x'] })).not.toThrow();
  });

  it('sums the contributions of a value with two consumers', () => {
    const m = model((b) => {
      const x = b.input('x', 'float64', [2, 3]);
      return b.add(b.exp(x), b.tanh(x));
    });
    const g = differentiate(m, { loss: 'loss', wrt: ['x'] });
    const identity = g.graph.nodes.find((n) => n.name === 'grad.x')!;
    const sum = g.graph.nodes.find((n) => n.outputs.includes(identity.inputs[0]!))!;
    expect(sum.opType).toBe('Add');
    expect(sum.name).toBe('grad/grad.x/Add');
  });

  it('computes nothing for frozen inputs and gives zeros for an unreachable wrt', () => {
    const m = model((b) => {
      const x = b.input('x', 'float64', [2, 3]);
      const w = b.input('w', 'float64', [2, 3]);
      const frozen = b.input('frozen', 'float64', [3, 3]);
      return b.add(b.mul(x, w), b.matmul(x, frozen));
    });
    const g = differentiate(m, { loss: 'loss', wrt: ['w'] });
    const backward = g.graph.nodes.slice(m.graph.nodes.length);
    expect(backward.some((n) => n.name.startsWith('grad/MatMul'))).toBe(false);
    expect(g.graph.outputs.map((o) => o.name)).toEqual(['loss', 'grad.w']);
    const b2 = new GraphBuilder();
    const x = b2.input('x', 'float64', [2]);
    b2.input('w', 'float64', [2]);
    b2.output(b2.reduceSum(x, [0], { keepdims: false }), 'loss');
    const z = differentiate(b2.build(), { loss: 'loss', wrt: ['w'] });
    expect(z.graph.nodes.find((n) => n.name === 'grad.w')).toBeDefined();
    expect(z.graph.nodes.some((n) => n.opType === 'ConstantOfShape')).toBe(true);
  });

  it('rejects a wrt that is not an input or initializer, and a non-scalar loss', () => {
    const m = model((b) => b.exp(b.input('x', 'float64', [2, 3])));
    expect(() => differentiate(m, { loss: 'loss', wrt: ['Exp'] })).toThrow(/neither a graph input/);
    const b = new GraphBuilder();
    const x = b.input('x', 'float64', [2]);
    b.output(b.exp(x), 'y');
    expect(() => differentiate(b.build(), { loss: 'y', wrt: ['x'] })).toThrow(/not a scalar/);
  });

  it('is deterministic and leaves the input model alone', () => {
    const make = () =>
      model((b) => {
        const x = b.input('x', 'float64', [2, 3]);
        return b.softmax(b.mul(x, b.input('w', 'float64', [3])), -1);
      });
    const m = make();
    const before = encodeModel(m);
    const a = encodeModel(differentiate(m, { loss: 'loss', wrt: ['w', 'x'] }));
    expect(encodeModel(m)).toEqual(before);
    expect(encodeModel(differentiate(make(), { loss: 'loss', wrt: ['w', 'x'] }))).toEqual(a);
  });

  it('has one flat table with explicit non-differentiable entries', () => {
    for (const op of ['Shape', 'Equal', 'Less', 'Greater', 'ConstantOfShape', 'Range']) {
      expect(RULES[op]).toBe(NOT_DIFFERENTIABLE);
    }
    for (const op of ['Add', 'MatMul', 'Gemm', 'Conv', 'LayerNormalization', 'InstanceNormalization', 'Resize']) {
      expect(typeof RULES[op]).toBe('object');
    }
  });
});
