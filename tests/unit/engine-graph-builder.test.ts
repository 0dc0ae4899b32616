import path from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  consumerMap,
  createTensor,
  encodeModel,
  extractSubgraph,
  findConsumers,
  findProducer,
  GraphBuilder,
  GraphError,
  inferShapes,
  loadModel,
  producerMap,
  topologicalOrder,
  type Tensor,
} from '../../src-main/engine/graph';
import { FIXTURES } from '../helpers/fixtures';

function rand(name: string, dims: number[], seed = 1): Tensor {
  let s = seed;
  const n = dims.reduce((a, b) => a * b, 1);
  const data = new Float32Array(n).map(() => ((s = (s * 16807) % 2147483647) / 2147483647) * 2 - 1);
  return createTensor(name, 'float32', dims, data);
}

/** A small transformer-ish block: everything named by scope. */
function buildBlock(): GraphBuilder {
  const b = new GraphBuilder({ name: 'block' });
  const x = b.input('x', 'float32', ['batch', 'seq', 16]);
  const y = b.scope('down_blocks.0', () =>
    b.scope('attentions.1', () => {
      const q = b.matmul(x, b.initializer('to_q.weight', rand('', [16, 16], 1)));
      const k = b.matmul(x, b.initializer('to_k.weight', rand('', [16, 16], 2)));
      const heads = (t: typeof q) => b.transpose(b.reshape(t, [0, 0, 2, 8]), [0, 2, 1, 3]);
      const scores = b.mul(b.matmul(heads(q), b.transpose(heads(k), [0, 1, 3, 2])), 1 / Math.sqrt(8));
      const attn = b.softmax(scores, -1);
      const out = b.reshape(b.transpose(b.matmul(attn, heads(q)), [0, 2, 1, 3]), [0, 0, 16]);
      return b.layerNorm(
        out,
        b.initializer('norm.weight', rand('', [16], 3)),
        b.initializer('norm.bias', rand('', [16], 4)),
      );
    }),
  );
  b.output(y, 'y');
  return b;
}

describe('GraphBuilder: shapes', () => {
  it('infers MLP shapes with symbolic batch', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', ['batch', 8]);
    const h = b.add(b.matmul(x, b.initializer('w1', rand('', [8, 32]))), b.initializer('b1', rand('', [32])));
    expect(h.shape).toEqual(['batch', 32]);
    const g = b.gemm(b.relu(h), b.initializer('w2', rand('', [10, 32])), b.initializer('b2', rand('', [10])), {
      transB: true,
    });
    expect(g.shape).toEqual(['batch', 10]);
    expect(b.softmax(g, 1).shape).toEqual(['batch', 10]);
    expect(b.layerNorm(g, b.initializer('ln', rand('', [10]))).shape).toEqual(['batch', 10]);
  });

  it('follows numpy matmul batch broadcasting and 1-D promotion', () => {
    const b = new GraphBuilder();
    const a = b.input('a', 'float32', [2, 1, 'm', 4]);
    const c = b.input('c', 'float32', [3, 4, 5]);
    expect(b.matmul(a, c).shape).toEqual([2, 3, 'm', 5]);
    const v = b.input('v', 'float32', [4]);
    expect(b.matmul(a, v).shape).toEqual([2, 1, 'm']);
    expect(b.matmul(v, c).shape).toEqual([3, 5]);
  });

  it('computes Conv output sizes with groups, strides, padding and dilation', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [1, 4, 9, 10]);
    expect(
      b.conv(x, b.initializer('w', rand('', [8, 2, 3, 3])), undefined, { group: 2, strides: 2, pads: 1 }).shape,
    ).toEqual([1, 8, 5, 5]);
    expect(b.conv(x, b.initializer('w2', rand('', [6, 4, 3, 3])), undefined, { dilations: 2 }).shape).toEqual([
      1, 6, 5, 6,
    ]);
    expect(b.conv(x, b.initializer('w3', rand('', [6, 4, 1, 1]))).shape).toEqual([1, 6, 9, 10]);
    const s = b.input('s', 'float32', ['n', 4, 'h', 'w']);
    // Stride 1 "same" padding keeps the symbols; stride 2 of an even multiple halves them.
    expect(b.conv(s, b.initializer('w4', rand('', [8, 4, 3, 3])), undefined, { pads: 1 }).shape).toEqual([
      'n',
      8,
      'h',
      'w',
    ]);
    const up = b.resize(s, { scales: [1, 1, 2, 2] });
    expect(up.shape).toEqual(['n', 4, '2*h', '2*w']);
    expect(b.conv(up, b.initializer('w5', rand('', [4, 4, 3, 3])), undefined, { pads: 1, strides: 2 }).shape).toEqual([
      'n',
      4,
      'h',
      'w',
    ]);
  });

  it('resolves Reshape 0 and -1, symbolically too', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', ['b', 32, 'h', 'w']);
    const flat = b.reshape(x, [0, 32, -1]);
    expect(flat.shape).toEqual(['b', 32, 'h*w']);
    expect(b.reshape(flat, [0, 4, -1]).shape).toEqual(['b', 4, '8*h*w']);
    expect(b.reshape(b.input('y', 'float32', [2, 3, 4]), [-1, 4]).shape).toEqual([6, 4]);
    // Back to the original shape through a computed Shape: the symbols survive.
    expect(b.reshape(flat, b.shape(x)).shape).toEqual(['b', 32, 'h', 'w']);
    expect(() => b.reshape(b.input('z', 'float32', [2, 3]), [4, -1])).toThrow(
      /Reshape 'Reshape_\d+': cannot reshape \[2, 3\] \(6 elements\) to \[4, -1\]/,
    );
  });

  it('handles Transpose, Concat, Split, Slice, Gather, Squeeze/Unsqueeze, Expand, reductions, Resize, Range', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', ['n', 3, 8, 6]);
    expect(b.transpose(x, [0, 2, 3, 1]).shape).toEqual(['n', 8, 6, 3]);
    expect(b.transpose(x).shape).toEqual([6, 8, 3, 'n']);
    expect(b.concat([x, x, b.input('x2', 'float32', ['n', 3, 8, 6])], 1).shape).toEqual(['n', 9, 8, 6]);
    expect(b.concat([x, x], 0).shape).toEqual(['2*n', 3, 8, 6]);
    expect(b.split(x, [2, 6], 2).map((v) => v.shape)).toEqual([
      ['n', 3, 2, 6],
      ['n', 3, 6, 6],
    ]);
    expect(b.split(x, 2, 3).map((v) => v.shape)).toEqual([
      ['n', 3, 8, 3],
      ['n', 3, 8, 3],
    ]);
    expect(b.slice(x, [1, -4], [1000, 8], [2, 3]).shape).toEqual(['n', 3, 7, 4]);
    expect(b.slice(x, [7], [-100], [2], [-2]).shape).toEqual(['n', 3, 4, 6]);
    expect(b.gather(x, 1, 1).shape).toEqual(['n', 8, 6]);
    expect(b.gather(x, [0, 2], 1).shape).toEqual(['n', 2, 8, 6]);
    expect(() => b.gather(x, 3, 1)).toThrow(/Gather '.*': index 3 is out of range for axis 1/);
    expect(b.unsqueeze(x, [0, -1]).shape).toEqual([1, 'n', 3, 8, 6, 1]);
    expect(b.squeeze(b.unsqueeze(x, [1]), [1]).shape).toEqual(['n', 3, 8, 6]);
    expect(b.expand(b.input('e', 'float32', [3, 1]), [2, 3, 5]).shape).toEqual([2, 3, 5]);
    expect(b.reduceMean(x, [2, 3]).shape).toEqual(['n', 3, 1, 1]);
    expect(b.reduceSum(x, [-1], { keepdims: false }).shape).toEqual(['n', 3, 8]);
    expect(b.argMax(x, 1).dtype).toBe('int64');
    expect(b.resize(x, { scales: [1, 1, 0.5, 2] }).shape).toEqual(['n', 3, 4, 12]);
    expect(b.resize(x, { sizes: [1, 3, 16, 16] }).shape).toEqual([1, 3, 16, 16]);
    expect(b.range(0, 10, 3).shape).toEqual([4]);
    expect(b.constantOfShape(b.shape(x, { start: 2 }), 1).shape).toEqual([8, 6]);
    expect(b.flatten(x, 2).shape).toEqual(['3*n', 48]);
    expect(b.where(b.less(x, 0), x, 0).shape).toEqual(['n', 3, 8, 6]);
    expect(b.cast(x, 'float16').dtype).toBe('float16');
  });

  it('tracks computed shape values through Shape → Gather → Concat', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', ['batch', 4, 'h', 'w']);
    const s = b.shape(x);
    expect(s.value).toEqual(['batch', 4, 'h', 'w']);
    const target = b.concat([b.gather(s, [0]), b.ints([4]), b.mul(b.gather(s, [2]), b.gather(s, [3]))], 0);
    expect(target.value).toEqual(['batch', 4, 'h*w']);
    expect(b.reshape(x, target).shape).toEqual(['batch', 4, 'h*w']);
  });

  it('uses opset 18 signatures when asked (reduction axes and Split as inputs)', () => {
    const b = new GraphBuilder({ opset: 18 });
    const x = b.input('x', 'float32', [2, 4]);
    const m = b.reduceMean(x, [1]);
    expect(m.shape).toEqual([2, 1]);
    b.output(m);
    const model = b.build({ valueInfo: false });
    expect(model.graph.valueInfo.size).toBe(0);
    const node = model.graph.nodes.find((n) => n.opType === 'ReduceMean')!;
    expect(node.inputs).toHaveLength(2);
    expect(node.attributes.axes).toBeUndefined();
    expect(b.split(x, 2, 1).map((v) => v.shape)).toEqual([
      [2, 2],
      [2, 2],
    ]);
    expect(model.opsetImports).toEqual([{ domain: '', version: 18 }]);
  });
});

describe('GraphBuilder: errors name the node', () => {
  it('MatMul with mismatched inner dims', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', ['batch', 16]);
    const w = b.initializer('w', rand('', [8, 4]));
    expect(() => b.scope('mid_block.attn', () => b.matmul(x, w))).toThrow(GraphError);
    expect(() => b.scope('mid_block.attn', () => b.matmul(x, w))).toThrow(
      /^MatMul 'mid_block\.attn\/MatMul_1': inner dimensions differ: \[batch, 16\] × \[8, 4\] \(16 ≠ 8\)$/,
    );
  });

  it('Conv with the wrong channel count', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [1, 3, 8, 8]);
    const err = (() => {
      try {
        b.scope('conv_in', () => b.conv(x, b.initializer('weight', rand('', [8, 4, 3, 3]))));
      } catch (e) {
        return e as GraphError;
      }
      throw new Error('no error');
    })();
    expect(err.node).toBe('conv_in/Conv');
    expect(err.message).toMatch(/Conv 'conv_in\/Conv': X has 3 channels but W \[8, 4, 3, 3\] with group 1 expects 4/);
  });

  it('Concat with mismatched dims, Add with mismatched dtypes or shapes, Gemm, LayerNorm', () => {
    const b = new GraphBuilder();
    const a = b.input('a', 'float32', [2, 3, 4]);
    const c = b.input('c', 'float32', [2, 5, 4]);
    expect(() => b.concat([a, c], 2)).toThrow(
      /Concat 'Concat': input 1 \[2, 5, 4\] differs from \[2, 3, 4\] on axis 1 \(concat axis 2\)/,
    );
    expect(b.concat([a, c], 1).shape).toEqual([2, 8, 4]);
    expect(() => b.add(a, b.input('h', 'float16', [4]))).toThrow(/Add 'Add': input dtypes differ: float32 vs float16/);
    expect(() => b.mul(a, c)).toThrow(/Mul 'Mul': cannot broadcast \[2, 3, 4\] with \[2, 5, 4\]/);
    expect(() => b.gemm(a, c)).toThrow(/Gemm 'Gemm': A and B must be 2-D/);
    expect(() => b.layerNorm(a, b.initializer('s', rand('', [5])))).toThrow(
      /LayerNormalization 'LayerNormalization': input 1 \[5\] does not broadcast/,
    );
    expect(() => b.transpose(a, [0, 0, 1])).toThrow(/Transpose 'Transpose': perm \[0, 0, 1\] is not a permutation/);
    expect(() => b.softmax(a, 3)).toThrow(/Softmax 'Softmax': axis 3 is out of range for rank 3/);
  });

  it('refuses foreign values, duplicate names and ops without a rule', () => {
    const b = new GraphBuilder();
    const other = new GraphBuilder().input('x', 'float32', [1]);
    expect(() => b.relu(other)).toThrow(/does not belong to this builder/);
    b.input('x', 'float32', [1]);
    expect(() => b.input('x', 'float32', [1])).toThrow(/'x' is already used/);
    expect(() => b.node('NoSuchOp', [b.value('x')!])).toThrow(/NoSuchOp 'NoSuchOp': no shape inference rule/);
    const custom = b.node(
      'MyOp',
      [b.value('x')!],
      {},
      { domain: 'com.example', outputMetas: [{ dtype: 'float32', shape: [1] }] },
    );
    expect(custom[0]!.shape).toEqual([1]);
  });
});

describe('GraphBuilder: naming and determinism', () => {
  it('names nodes, values and initializers after the module path', () => {
    const model = buildBlock().build();
    const names = model.graph.nodes.map((n) => n.name);
    expect(names).toContain('down_blocks.0.attentions.1/MatMul');
    expect(names).toContain('down_blocks.0.attentions.1/MatMul_1');
    expect(names).toContain('down_blocks.0.attentions.1/LayerNormalization');
    expect([...model.graph.initializers.keys()]).toEqual(
      expect.arrayContaining([
        'down_blocks.0.attentions.1.to_q.weight',
        'down_blocks.0.attentions.1.to_k.weight',
        'down_blocks.0.attentions.1.norm.weight',
        'down_blocks.0.attentions.1.norm.bias',
        'down_blocks.0.attentions.1/Constant',
      ]),
    );
    // The renamed output is produced directly by the last node (no Identity added).
    const last = model.graph.nodes.at(-1)!;
    expect(last.outputs).toEqual(['y']);
    expect(model.graph.outputs).toEqual([{ name: 'y', dtype: 'float32', shape: ['batch', 'seq', 16] }]);
    expect(model.graph.valueInfo.get('down_blocks.0.attentions.1/Softmax')).toEqual({
      name: 'down_blocks.0.attentions.1/Softmax',
      dtype: 'float32',
      shape: ['batch', 2, 'seq', 'seq'],
    });
    expect(model.opsetImports).toEqual([{ domain: '', version: 17 }]);
  });

  it('builds byte-identical models from the same calls', () => {
    const a = encodeModel(buildBlock().build());
    const b = encodeModel(buildBlock().build());
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
  });

  it('outputs an input or a weight through Identity, keeping its name', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [2]);
    b.output(x, 'same');
    b.output(x);
    const m = b.build();
    expect(m.graph.outputs.map((o) => o.name)).toEqual(['same', 'x']);
    expect(m.graph.nodes.map((n) => [n.opType, n.inputs, n.outputs])).toEqual([['Identity', ['x'], ['same']]]);
  });
});

describe('graph queries', () => {
  it('finds producers and consumers, orders topologically, detects cycles', () => {
    const g = buildBlock().build().graph;
    const producers = producerMap(g);
    const consumers = consumerMap(g);
    expect(producers.get('y')!.opType).toBe('LayerNormalization');
    expect(findProducer(g, 'y')).toBe(producers.get('y'));
    expect(consumers.get('x')!.map((n) => n.name)).toEqual([
      'down_blocks.0.attentions.1/MatMul',
      'down_blocks.0.attentions.1/MatMul_1',
    ]);
    expect(findConsumers(g, 'x')).toEqual(consumers.get('x'));
    // Already sorted: unchanged. Reversed: any order where producers come first.
    expect(topologicalOrder(g)).toEqual(g.nodes);
    const sorted = topologicalOrder({ ...g, nodes: [...g.nodes].reverse() });
    const seen = new Set([...g.inputs.map((i) => i.name), ...g.initializers.keys()]);
    for (const n of sorted) {
      for (const i of n.inputs) expect(seen.has(i)).toBe(true);
      for (const o of n.outputs) seen.add(o);
    }
    expect(sorted).toHaveLength(g.nodes.length);
    const cyclic = { ...g, nodes: g.nodes.map((n, i) => (i === 0 ? { ...n, inputs: ['y', n.inputs[1]!] } : n)) };
    expect(() => topologicalOrder(cyclic)).toThrow(/has a cycle through/);
  });

  it('extracts the subgraph between values, turning requested weights into inputs', () => {
    const b = new GraphBuilder();
    const x = b.input('x', 'float32', [2, 3]);
    const w = b.initializer('w', rand('', [3, 3]));
    const h = b.matmul(x, w);
    const a = b.relu(h);
    const side = b.sigmoid(x);
    b.output(b.add(a, side), 'out');
    b.output(side, 'side');
    const g = b.build().graph;

    const sub = extractSubgraph(g, [h.name, 'x'], ['out']);
    expect(sub.nodes.map((n) => n.opType)).toEqual(['Relu', 'Sigmoid', 'Add']);
    expect(sub.inputs).toEqual([
      { name: h.name, dtype: 'float32', shape: [2, 3] },
      { name: 'x', dtype: 'float32', shape: [2, 3] },
    ]);
    expect(sub.initializers.size).toBe(0);
    expect(() => extractSubgraph(g, [h.name], ['out'])).toThrow(/'x' cannot be computed/);
    expect(() => extractSubgraph(g, ['w'], ['out'])).toThrow(/'x' cannot be computed from the given inputs/);

    const withWeight = extractSubgraph(g, ['x', 'w'], [a.name]);
    expect(withWeight.inputs).toEqual([
      { name: 'x', dtype: 'float32', shape: [2, 3] },
      { name: 'w', dtype: 'float32', shape: [3, 3] },
    ]);
    expect(withWeight.initializers.size).toBe(0);
    expect(withWeight.outputs).toEqual([{ name: a.name, dtype: 'float32', shape: [2, 3] }]);
    expect(withWeight.nodes.map((n) => n.opType)).toEqual(['MatMul', 'Relu']);
  });
});

describe('inferShapes on exported fixtures', () => {
  it.each([
    [
      'sd15-tiny/unet',
      { sample: [2, 4, 32, 32], timestep: [2], encoder_hidden_states: [2, 77, 32] },
      { out_sample: [2, 4, 32, 32] },
    ],
    ['sd15-tiny/text_encoder', { input_ids: [2, 77] }, { last_hidden_state: [2, 77, 32], pooler_output: [2, 32] }],
    ['sd15-tiny/vae_decoder', { latent_sample: [1, 4, 16, 16] }, { sample: [1, 3, 32, 32] }],
    ['sd15-tiny/vae_encoder', { sample: [1, 3, 32, 32] }, { latent_sample: [1, 4, 16, 16] }],
    [
      'sdxl-tiny/unet',
      {
        sample: [2, 4, 16, 24],
        timestep: [],
        encoder_hidden_states: [2, 77, 64],
        text_embeds: [2, 32],
        time_ids: [2, 6],
      },
      { out_sample: [2, 4, 16, 24] },
    ],
  ])('%s: every value typed, outputs sized', async (name, inputShapes, outputs) => {
    const m = await loadModel(path.join(FIXTURES, name, 'model.onnx'));
    const metas = inferShapes(m.graph, { opset: 14, inputShapes, strict: true });
    for (const n of m.graph.nodes)
      for (const o of n.outputs) expect(metas.get(o)?.shape?.every((d) => typeof d === 'number')).toBe(true);
    for (const [o, dims] of Object.entries(outputs)) expect(metas.get(o)!.shape).toEqual(dims);
  });

  it('keeps symbolic dims through an exported graph', async () => {
    const m = await loadModel(path.join(FIXTURES, 'sd15-tiny/vae_decoder/model.onnx'));
    expect(inferShapes(m.graph, { opset: 14 }).get('sample')!.shape).toEqual(['batch_size', 3, '2*height', '2*width']);
  });
});
