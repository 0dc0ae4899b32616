/**
 * The VAE builders on tiny random AutoencoderKLs: state-dict names for several depths, config
 * variants, legacy attention names, output shapes in onnxruntime. Numerics against real exports
 * are in tests/integration/engine-vae.test.ts.
 */
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { PinholeError } from '../../src-shared/errors';
import { createTensor, encodeModel, type Model, type Tensor } from '../../src-main/engine/graph';
import {
  buildVaeDecoder,
  buildVaeEncoder,
  memoryWeights,
  vaeWeights,
  type AutoencoderKLConfig,
  type ModuleCall,
} from '../../src-main/engine/models';
import { vaeStateDictShapes } from '../helpers/diffusers-state-dicts';

function randomWeights(shapes: Map<string, number[]>): Map<string, Tensor> {
  let s = 7;
  const m = new Map<string, Tensor>();
  for (const [name, dims] of shapes) {
    const n = dims.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n).map(() => (((s = (s * 16807) % 2147483647) / 2147483647) * 2 - 1) * 0.2);
    m.set(name, createTensor(name, 'float32', dims, data));
  }
  return m;
}

async function run(model: Model, input: string, dims: number[]): Promise<ort.Tensor> {
  const session = await ort.InferenceSession.create(encodeModel(model), { executionProviders: ['cpu'] });
  try {
    const x = new ort.Tensor('float32', new Float32Array(dims.reduce((a, b) => a * b, 1)).fill(0.25), dims);
    const out = await session.run({ [input]: x });
    return out[session.outputNames[0]!]!;
  } finally {
    await session.release();
  }
}

const THREE_LEVELS = { block_out_channels: [8, 16, 16], layers_per_block: 2, norm_num_groups: 4 };

describe('buildVaeDecoder / buildVaeEncoder', () => {
  it('reads exactly diffusers’ state dict, three levels deep, and scales by 2^(levels − 1)', async () => {
    const shapes = vaeStateDictShapes(THREE_LEVELS);
    const weights = randomWeights(shapes);
    const decoder = buildVaeDecoder(THREE_LEVELS, memoryWeights(weights));
    const encoder = buildVaeEncoder(THREE_LEVELS, memoryWeights(weights));
    const used = new Set([...decoder.graph.initializers.keys(), ...encoder.graph.initializers.keys()]);
    expect([...shapes.keys()].filter((n) => !used.has(n))).toEqual([]);
    expect([...used].filter((n) => !n.includes('/') && !shapes.has(n))).toEqual([]);

    expect(decoder.graph.inputs[0]).toMatchObject({ name: 'latent_sample', shape: ['batch', 4, 'height', 'width'] });
    expect((await run(decoder, 'latent_sample', [2, 4, 3, 5])).dims).toEqual([2, 3, 12, 20]);
    expect(encoder.graph.outputs[0]).toMatchObject({ name: 'latent_parameters' });
    expect((await run(encoder, 'sample', [1, 3, 24, 20])).dims).toEqual([1, 8, 6, 5]);
    // Asymmetric padding: odd sizes round down at every level (diffusers' Downsample2D).
    expect((await run(encoder, 'sample', [1, 3, 23, 13])).dims).toEqual([1, 8, 5, 3]);
  });

  it('follows mid_block_add_attention and use_(post_)quant_conv', async () => {
    const config = {
      ...THREE_LEVELS,
      mid_block_add_attention: false,
      use_quant_conv: false,
      use_post_quant_conv: false,
    };
    const weights = memoryWeights(randomWeights(vaeStateDictShapes(config)));
    const calls: ModuleCall[] = [];
    const hooks = { module: (c: ModuleCall) => (calls.push(c), c.base()) };
    const encoder = buildVaeEncoder(config, weights, { hooks });
    const decoder = buildVaeDecoder(config, weights, { hooks });
    expect(calls.some((c) => c.kind === 'linear' || c.path.includes('quant_conv'))).toBe(false);
    expect((await run(encoder, 'sample', [1, 3, 16, 16])).dims).toEqual([1, 8, 4, 4]);
    expect((await run(decoder, 'latent_sample', [1, 4, 4, 4])).dims).toEqual([1, 3, 16, 16]);
  });

  it('accepts the legacy attention names (query/key/value/proj_attn), also as 1×1 convolutions', () => {
    const config = { block_out_channels: [8, 16], layers_per_block: 1, norm_num_groups: 4 };
    const current = randomWeights(vaeStateDictShapes(config));
    const legacy = new Map<string, Tensor>();
    const renames: Record<string, string> = { to_q: 'query', to_k: 'key', to_v: 'value', 'to_out.0': 'proj_attn' };
    for (const [name, t] of current) {
      const m = /^(.*\.attentions\.0)\.(to_q|to_k|to_v|to_out\.0)\.(weight|bias)$/.exec(name);
      if (!m) legacy.set(name, t);
      else {
        const dims = m[3] === 'weight' ? [...t.dims, 1, 1] : t.dims;
        legacy.set(`${m[1]}.${renames[m[2]!]}.${m[3]}`, { ...t, dims });
      }
    }
    for (const build of [buildVaeDecoder, buildVaeEncoder]) {
      const a = encodeModel(build(config, memoryWeights(current)));
      const b = encodeModel(build(config, memoryWeights(legacy)));
      expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
    }
    const view = vaeWeights(memoryWeights(legacy));
    expect(view.has('decoder.mid_block.attentions.0.to_out.0.weight')).toBe(true);
    expect(view.get('decoder.mid_block.attentions.0.to_out.0.weight').dims).toEqual([16, 16]);
    expect([...view.names()].filter((n) => n.includes('proj_attn'))).toEqual([]);
  });

  it('rejects what it cannot build', () => {
    const weights = memoryWeights(new Map());
    const rejected = (config: AutoencoderKLConfig, match: RegExp) => {
      expect(() => buildVaeDecoder(config, weights)).toThrow(PinholeError);
      expect(() => buildVaeDecoder(config, weights)).toThrow(match);
    };
    rejected(
      { block_out_channels: [8, 16], up_block_types: ['UpDecoderBlock2D', 'AttnUpDecoderBlock2D'] },
      /up_block_types/,
    );
    rejected({ block_out_channels: [8, 16], down_block_types: ['DownEncoderBlock2D'] }, /down_block_types/);
    rejected({ block_out_channels: [8, 16], norm_num_groups: 32 }, /norm_num_groups 32/);
    rejected({ act_fn: 'gelu' }, /act_fn "gelu"/);
    rejected({ block_out_channels: [32], norm_num_groups: 32 }, /post_quant_conv\.weight/);
  });
});
