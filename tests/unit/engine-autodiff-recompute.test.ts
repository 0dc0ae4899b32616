/**
 * Gradient checkpointing in autodiff (`recompute`): a float64 graph of two "blocks" (scopes `block.0`,
 * `block.1`) with a trained input inside each. With recomputation the gradients equal those with stored
 * activations (bit for bit: same ops, same inputs), and — what frees the memory — no backward node reads a
 * value produced inside a block except that block's boundary outputs; the copies read their boundary
 * inputs through `x + 0·g` with `g` a gradient, so they cannot run (or be merged) before the backward pass.
 */
import { describe, expect, it } from 'vitest';
import { differentiate, gradName, type SegmentOf } from '../../src-main/engine/autodiff';
import { encodeModel, GraphBuilder, type Model } from '../../src-main/engine/graph';
import { createOrtBackend } from '../../src-main/engine/runtime/ort-backend';

const segmentOf: SegmentOf = (node) => /^(block\.\d+)[./]/.exec(node.name)?.[1];

/** x [4, 6] → block.0: tanh(x·w0)·sigmoid(x) → block.1: softmax(h·w1) · h → loss = Σ y². */
function blocks(): Model {
  const b = new GraphBuilder();
  const x = b.input('x', 'float64', [4, 6]);
  const w0 = b.input('w0', 'float64', [6, 6]);
  const w1 = b.input('w1', 'float64', [6, 6]);
  const h = b.scope('block.0', () => b.mul(b.tanh(b.matmul(x, w0)), b.sigmoid(x)));
  const y = b.scope('block.1', () => b.mul(b.softmax(b.matmul(h, w1), -1), h));
  b.output(b.reduceSum(b.mul(y, y), [0, 1], { keepdims: false }), 'loss');
  return b.build();
}

const values = (n: number, seed: number) => Float64Array.from({ length: n }, (_, i) => Math.sin(seed * 7.1 + i * 1.3));

describe('autodiff recompute (gradient checkpointing)', () => {
  it('backward nodes read only block boundaries; the copies depend on a gradient', () => {
    const g = differentiate(blocks(), { loss: 'loss', wrt: ['w0', 'w1', 'x'], recompute: segmentOf });
    const forward = blocks().graph.nodes;
    const inside = new Map<string, string>();
    for (const n of forward) {
      const seg = segmentOf(n);
      if (seg) for (const o of n.outputs) inside.set(o, seg);
    }
    // Boundary outputs: read by a forward node of another segment (or none).
    const boundary = new Set(
      forward.flatMap((n) => n.inputs.filter((i) => inside.has(i) && inside.get(i) !== segmentOf(n))),
    );
    const backward = g.graph.nodes.slice(forward.length);
    const copies = backward.filter((n) => n.name.endsWith('/recompute'));
    // Every block node is copied once, except each block's last Mul: no rule reads its output, so
    // differentiate drops that copy (ORT would run it every step for nothing).
    const lastOf = (seg: string) => forward.filter((n) => segmentOf(n) === seg).at(-1)!.name;
    const tails = new Set([lastOf('block.0'), lastOf('block.1')]);
    expect(copies.map((n) => n.name.replace(/\/recompute(?:_\d+)?$/, '')).sort()).toEqual(
      forward
        .filter((n) => segmentOf(n) && !tails.has(n.name))
        .map((n) => n.name)
        .sort(),
    );
    for (const n of backward) {
      if (n.name.endsWith('/recompute')) continue;
      for (const i of n.inputs) if (inside.has(i)) expect(boundary.has(i), `${n.name} reads ${i}`).toBe(true);
    }
    // Every copy's first node reads x through Add(x, 0·g), never x itself.
    const firstCopy = copies.find((n) => n.name.startsWith('block.0') && n.opType === 'MatMul')!;
    const tie = g.graph.nodes.find((n) => n.outputs.includes(firstCopy.inputs[0]!))!;
    expect(tie.opType).toBe('Add');
    expect(tie.inputs[0]).toBe('x');
  });

  it('gives the same gradients as stored activations', async () => {
    const backend = createOrtBackend();
    const feeds = {
      x: { type: 'float64' as const, data: values(24, 1), dims: [4, 6] },
      w0: { type: 'float64' as const, data: values(36, 2), dims: [6, 6] },
      w1: { type: 'float64' as const, data: values(36, 3), dims: [6, 6] },
    };
    const wrt = ['w0', 'w1', 'x'];
    const run = async (recompute?: SegmentOf) => {
      const model = differentiate(blocks(), { loss: 'loss', wrt, ...(recompute ? { recompute } : {}) });
      const session = await backend.createSession(encodeModel(model), { executionProvider: 'cpu' });
      try {
        return await session.run(feeds, ['loss', ...wrt.map(gradName)]);
      } finally {
        await session.release();
      }
    };
    const stored = await run();
    const recomputed = await run(segmentOf);
    for (const name of ['loss', ...wrt.map(gradName)]) {
      expect(Array.from(recomputed[name]!.data as Float64Array)).toEqual(
        Array.from(stored[name]!.data as Float64Array),
      );
    }
  });
});
