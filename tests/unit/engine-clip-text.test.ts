/**
 * The CLIP text-encoder builder on a tiny random model: names, outputs, pooling rules, hooks,
 * config checks. Numerics against real exports are in tests/integration/engine-clip-text.test.ts.
 */
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { PinholeError } from '../../src-shared/errors';
import { createTensor, encodeModel, float32ToFloat16Array, type Model, type Tensor } from '../../src-main/engine/graph';
import { buildClipTextModel, memoryWeights, type ClipTextConfig, type ModuleCall } from '../../src-main/engine/models';

const D = 8;
const T = 8;
const VOCAB = 49410; // CLIP's 49408 plus two added tokens (textual-inversion style ids above <|endoftext|>)
const LAYERS = 2;

function rand(dims: number[], seed: number, scale = 0.5): Float32Array {
  let s = seed;
  const n = dims.reduce((a, b) => a * b, 1);
  return new Float32Array(n).map(() => (((s = (s * 16807) % 2147483647) / 2147483647) * 2 - 1) * scale);
}

function tinyWeights(options: { projection?: boolean; half?: boolean } = {}): Map<string, Tensor> {
  const m = new Map<string, Tensor>();
  let seed = 1;
  const add = (name: string, dims: number[], ones = false) => {
    const data = ones ? new Float32Array(dims[0]!).fill(1) : rand(dims, seed++);
    m.set(
      name,
      options.half
        ? createTensor(name, 'float16', dims, float32ToFloat16Array(data))
        : createTensor(name, 'float32', dims, data),
    );
  };
  add('text_model.embeddings.token_embedding.weight', [VOCAB, D]);
  add('text_model.embeddings.position_embedding.weight', [T, D]);
  for (let i = 0; i < LAYERS; i++) {
    const p = `text_model.encoder.layers.${i}`;
    for (const proj of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) {
      add(`${p}.self_attn.${proj}.weight`, [D, D]);
      add(`${p}.self_attn.${proj}.bias`, [D]);
    }
    add(`${p}.mlp.fc1.weight`, [12, D]);
    add(`${p}.mlp.fc1.bias`, [12]);
    add(`${p}.mlp.fc2.weight`, [D, 12]);
    add(`${p}.mlp.fc2.bias`, [D]);
    for (const ln of ['layer_norm1', 'layer_norm2']) {
      add(`${p}.${ln}.weight`, [D], true);
      add(`${p}.${ln}.bias`, [D]);
    }
  }
  add('text_model.final_layer_norm.weight', [D], true);
  add('text_model.final_layer_norm.bias', [D]);
  if (options.projection) add('text_projection.weight', [6, D]);
  return m;
}

const CONFIG: ClipTextConfig = {
  hidden_size: D,
  intermediate_size: 12,
  num_attention_heads: 2,
  num_hidden_layers: LAYERS,
  max_position_embeddings: T,
  vocab_size: VOCAB,
  hidden_act: 'quick_gelu',
  layer_norm_eps: 1e-5,
  eos_token_id: 49407,
};

async function run(model: Model, rows: number[][]): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(encodeModel(model), { executionProviders: ['cpu'] });
  try {
    const ids = new ort.Tensor('int32', Int32Array.from(rows.flat()), [rows.length, rows[0]!.length]);
    return await session.run({ input_ids: ids });
  } finally {
    await session.release();
  }
}

/** The row of last_hidden_state each pooler_output row equals. */
function pooledPositions(out: Record<string, ort.Tensor>): number[] {
  const last = out.last_hidden_state!.data as Float32Array;
  const pooled = out.pooler_output!.data as Float32Array;
  const [batch, length] = out.last_hidden_state!.dims as [number, number, number];
  return Array.from({ length: batch }, (_, r) => {
    const want = pooled.subarray(r * D, r * D + D);
    return Array.from({ length }, (_, t) => t).find((t) => want.every((v, c) => v === last[(r * length + t) * D + c]))!;
  });
}

const PADDED_EOS = [49406, 5, 7, 49407, 49407, 49407, 49407, 49407]; // EOS at 3, padded with EOS
const ADDED_TOKEN = [49406, 49409, 3, 49407, 0, 0, 0, 0]; // an added id above EOS at 1, EOS at 3

describe('buildClipTextModel', () => {
  it('names initializers by the transformers state dict and types the outputs', () => {
    const weights = tinyWeights({ projection: true });
    const model = buildClipTextModel(CONFIG, memoryWeights(weights));
    const names = [...model.graph.initializers.keys()].filter((n) => !n.includes('/'));
    expect(names.sort()).toEqual([...weights.keys()].sort());
    expect(model.graph.inputs).toEqual([{ name: 'input_ids', dtype: 'int32', shape: ['batch', T] }]);
    expect(model.graph.outputs.map((o) => [o.name, o.shape])).toEqual([
      ['text_embeds', ['batch', 6]],
      ['last_hidden_state', ['batch', T, D]],
      ['pooler_output', ['batch', D]],
      ['hidden_states.0', ['batch', T, D]],
      ['hidden_states.1', ['batch', T, D]],
      ['hidden_states.2', ['batch', T, D]],
    ]);
    const plain = buildClipTextModel(CONFIG, memoryWeights(weights), { withProjection: false, hiddenStates: 'none' });
    expect(plain.graph.outputs.map((o) => o.name)).toEqual(['last_hidden_state', 'pooler_output']);
  });

  it('pools at the first EOS for eos_token_id 49407, also past an added token', async () => {
    const out = await run(buildClipTextModel(CONFIG, memoryWeights(tinyWeights())), [PADDED_EOS, ADDED_TOKEN]);
    expect(pooledPositions(out)).toEqual([3, 3]);
  });

  it('pools at the highest id for legacy eos_token_id 2 configs, as transformers did', async () => {
    const model = buildClipTextModel({ ...CONFIG, eos_token_id: 2 }, memoryWeights(tinyWeights()));
    expect(pooledPositions(await run(model, [PADDED_EOS, ADDED_TOKEN]))).toEqual([3, 1]);
  });

  it('follows current transformers for other eos ids: argmax only when every row’s maximum is 49407', async () => {
    const model = buildClipTextModel({ ...CONFIG, eos_token_id: 5 }, memoryWeights(tinyWeights()));
    expect(pooledPositions(await run(model, [PADDED_EOS]))).toEqual([3]);
    // ADDED_TOKEN's maximum is 49409: the whole batch looks for id 5 (ADDED_TOKEN has none: position 0).
    expect(pooledPositions(await run(model, [PADDED_EOS, ADDED_TOKEN]))).toEqual([1, 0]);
  });

  it('hidden_states.N is the final layer norm’s input; a shorter sequence uses the first positions', async () => {
    const weights = memoryWeights(tinyWeights());
    const out = await run(buildClipTextModel(CONFIG, weights), [PADDED_EOS]);
    const last = out.last_hidden_state!.data as Float32Array;
    const h = out[`hidden_states.${LAYERS}`]!.data as Float32Array;
    // final_layer_norm has weight 1: each row of last is h's row standardized.
    const row = Array.from(h.subarray(0, D));
    const mean = row.reduce((a, b) => a + b, 0) / D;
    const std = Math.sqrt(row.reduce((a, b) => a + (b - mean) ** 2, 0) / D + 1e-5);
    const bias = tinyWeights().get('text_model.final_layer_norm.bias')!.data as Float32Array;
    row.forEach((v, c) => expect(last[c]).toBeCloseTo((v - mean) / std + bias[c]!, 5));

    const short = await run(buildClipTextModel(CONFIG, weights, { sequenceLength: 4 }), [PADDED_EOS.slice(0, 4)]);
    // Causal attention: the first 4 positions do not see the rest.
    const full = out.last_hidden_state!.data as Float32Array;
    const part = short.last_hidden_state!.data as Float32Array;
    part.forEach((v, i) => expect(v).toBeCloseTo(full[i]!, 5));
  });

  it('int64 ids and float16 weights', async () => {
    const model = buildClipTextModel(CONFIG, memoryWeights(tinyWeights({ half: true })), { inputIdsType: 'int64' });
    expect(model.graph.inputs[0]!.dtype).toBe('int64');
    // The float16 token table is gathered first, then cast: no Cast of the whole table.
    const gather = model.graph.nodes.find(
      (n) => n.opType === 'Gather' && n.inputs[0]!.endsWith('token_embedding.weight'),
    );
    expect(gather).toBeDefined();
    const session = await ort.InferenceSession.create(encodeModel(model), { executionProviders: ['cpu'] });
    const ids = new ort.Tensor('int64', BigInt64Array.from(PADDED_EOS.map(BigInt)), [1, T]);
    const out = await session.run({ input_ids: ids });
    await session.release();
    expect((out.last_hidden_state!.data as Float32Array).every(Number.isFinite)).toBe(true);
  });

  it('routes every Linear through the hooks, in module order, and uses what a hook returns', async () => {
    const calls: ModuleCall[] = [];
    const weights = memoryWeights(tinyWeights({ projection: true }));
    const doubled = buildClipTextModel(CONFIG, weights, {
      hooks: {
        module: (call, b) => {
          calls.push(call);
          return call.path.endsWith('fc2') ? b.mul(call.base(), 2) : call.base();
        },
      },
    });
    const perLayer = [
      'self_attn.q_proj',
      'self_attn.k_proj',
      'self_attn.v_proj',
      'self_attn.out_proj',
      'mlp.fc1',
      'mlp.fc2',
    ];
    expect(calls.map((c) => c.path)).toEqual([
      ...[0, 1].flatMap((i) => perLayer.map((m) => `text_model.encoder.layers.${i}.${m}`)),
      'text_projection',
    ]);
    expect(calls.every((c) => c.kind === 'linear' && c.input.shape?.at(-1) !== undefined)).toBe(true);
    const [a, b] = await Promise.all([
      run(doubled, [PADDED_EOS]),
      run(buildClipTextModel(CONFIG, weights), [PADDED_EOS]),
    ]);
    expect(a['hidden_states.0']!.data).toEqual(b['hidden_states.0']!.data);
    expect(a['hidden_states.1']!.data).not.toEqual(b['hidden_states.1']!.data);
  });

  it('rejects configs that disagree with the weights', () => {
    const weights = memoryWeights(tinyWeights());
    const expectRejected = (config: ClipTextConfig, match: RegExp) => {
      const attempt = () => buildClipTextModel(config, weights);
      expect(attempt).toThrow(PinholeError);
      expect(attempt).toThrow(match);
    };
    expectRejected({ ...CONFIG, hidden_size: 16 }, /hidden_size 16/);
    expectRejected({ ...CONFIG, num_hidden_layers: 3 }, /layers\.2\.self_attn\.q_proj\.weight/);
    expectRejected({ ...CONFIG, hidden_act: 'swiglu' }, /hidden_act "swiglu"/);
    expectRejected({ ...CONFIG, num_attention_heads: 3 }, /3 heads/);
    expectRejected({ ...CONFIG, vocab_size: 49408 }, /vocab_size 49408/);
    expect(() => buildClipTextModel(CONFIG, weights, { sequenceLength: T + 1 })).toThrow(RangeError);
    // A full CLIPConfig nests the text settings.
    expect(() => buildClipTextModel({ text_config: CONFIG }, weights)).not.toThrow();
  });
});
