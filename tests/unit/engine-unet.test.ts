/**
 * buildUNet without running anything: config parsing and refusals, and full-size SD 1.5, SD 2.1
 * and SDXL graphs built from shape-only weights. The weights' names and shapes come from an
 * independent listing written in the order of diffusers' `__init__` (the builder follows
 * `forward`), so a wrong channel count, a missed or extra module fails shape inference or the
 * name comparison.
 */
import { describe, expect, it } from 'vitest';
import { PinholeError } from '../../src-shared/errors';
import { type Tensor } from '../../src-main/engine/graph';
import { buildUNet, parseUNetConfig, type UNetConfig } from '../../src-main/engine/models/unet';
import { timestepFrequencies } from '../../src-main/engine/models/unet-embeddings';
import { type WeightSource } from '../../src-main/engine/models/weight-source';
import { SD15_UNET_CONFIG as SD15, unetStateDictShapes } from '../helpers/diffusers-state-dicts';

const SD21: UNetConfig = {
  ...SD15,
  attention_head_dim: [5, 10, 20, 20],
  cross_attention_dim: 1024,
  use_linear_projection: true,
  upcast_attention: true,
  dual_cross_attention: false,
  num_class_embeds: null,
  only_cross_attention: false,
  sample_size: 96,
};

const SDXL: UNetConfig = {
  ...SD15,
  addition_embed_type: 'text_time',
  addition_embed_type_num_heads: 64,
  addition_time_embed_dim: 256,
  attention_head_dim: [5, 10, 20],
  block_out_channels: [320, 640, 1280],
  class_embed_type: null,
  cross_attention_dim: 2048,
  down_block_types: ['DownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D'],
  mid_block_type: 'UNetMidBlock2DCrossAttn',
  projection_class_embeddings_input_dim: 2816,
  transformer_layers_per_block: [1, 2, 10],
  up_block_types: ['CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'UpBlock2D'],
  upcast_attention: null,
  use_linear_projection: true,
};

const SDXL_REFINER: UNetConfig = {
  ...SDXL,
  attention_head_dim: [6, 12, 24, 24],
  block_out_channels: [384, 768, 1536, 1536],
  cross_attention_dim: 1280,
  down_block_types: ['DownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
  up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'UpBlock2D'],
  projection_class_embeddings_input_dim: 2560,
  transformer_layers_per_block: 4,
};

const LCM: UNetConfig = { ...SD15, time_cond_proj_dim: 256 };

/** Shape-only weights (never read: building does not touch tensor data); records what is used. */
function shapeWeights(shapes: Map<string, number[]>): WeightSource & { used: Set<string> } {
  const used = new Set<string>();
  return {
    used,
    has: (n) => shapes.has(n),
    get: (n) => {
      const dims = shapes.get(n);
      if (!dims) throw new PinholeError('IMPORT_REJECTED', `the weight "${n}" is missing`);
      used.add(n);
      const length = dims.reduce((a, b) => a * b, 4);
      return {
        name: n,
        dtype: 'float32',
        dims: [...dims],
        data: { kind: 'external', path: '/nonexistent', offset: 0, length },
      } satisfies Tensor;
    },
    names: () => shapes.keys(),
  };
}

describe('buildUNet: full-size architectures from shape-only weights', () => {
  it.each([
    ['SD 1.5', SD15, 686, {}],
    ['SD 2.1', SD21, 686, {}],
    ['SDXL base', SDXL, 1680, {}],
    ['SDXL refiner', SDXL_REFINER, undefined, { timeIds: 5 }],
    ['LCM (SD 1.5)', LCM, 687, {}],
  ] as const)('%s: every diffusers weight used once, shapes consistent', (_, config, count, options) => {
    const shapes = unetStateDictShapes(config);
    if (count !== undefined) expect(shapes.size).toBe(count);
    const weights = shapeWeights(shapes);
    const model = buildUNet(config, weights, options);
    expect([...weights.used].sort()).toEqual([...shapes.keys()].sort());
    const out = model.graph.outputs[0]!;
    expect([out.name, out.shape]).toEqual(['out_sample', ['batch', 4, 'height', 'width']]);
    expect(new Set(model.graph.nodes.map((n) => n.domain))).toEqual(new Set(['']));
  });

  it('declares SDXL and LCM conditioning inputs', () => {
    const inputs = (config: UNetConfig, options = {}) =>
      buildUNet(config, shapeWeights(unetStateDictShapes(config)), options).graph.inputs.map((i) => [
        i.name,
        i.dtype,
        i.shape,
      ]);
    expect(inputs(SDXL)).toEqual([
      ['sample', 'float32', ['batch', 4, 'height', 'width']],
      ['timestep', 'float32', ['batch']],
      ['encoder_hidden_states', 'float32', ['batch', 'sequence', 2048]],
      ['text_embeds', 'float32', ['batch', 1280]],
      ['time_ids', 'float32', ['batch', 6]],
    ]);
    expect(inputs(SDXL_REFINER, { timeIds: 5 }).slice(3)).toEqual([
      ['text_embeds', 'float32', ['batch', 1280]],
      ['time_ids', 'float32', ['batch', 5]],
    ]);
    expect(inputs(LCM, { batch: 2, timestepInput: 'int64', timestepShape: 'scalar', sequence: 77 })).toEqual([
      ['sample', 'float32', [2, 4, 'height', 'width']],
      ['timestep', 'int64', []],
      ['encoder_hidden_states', 'float32', [2, 77, 768]],
      ['timestep_cond', 'float32', [2, 256]],
    ]);
  });
});

describe('parseUNetConfig', () => {
  it('reads SD 1.x attention_head_dim as head counts and mirrors the up path', () => {
    const spec = parseUNetConfig(SD15);
    expect(spec.down.map((d) => [d.type, d.inChannels, d.outChannels, d.attention?.heads])).toEqual([
      ['CrossAttnDownBlock2D', 320, 320, 8],
      ['CrossAttnDownBlock2D', 320, 640, 8],
      ['CrossAttnDownBlock2D', 640, 1280, 8],
      ['DownBlock2D', 1280, 1280, undefined],
    ]);
    expect(
      spec.up.map((u) => [u.type, u.prevOutputChannels, u.inChannels, u.outChannels, u.layers, u.addUpsample]),
    ).toEqual([
      ['UpBlock2D', 1280, 1280, 1280, 3, true],
      ['CrossAttnUpBlock2D', 1280, 640, 1280, 3, true],
      ['CrossAttnUpBlock2D', 1280, 320, 640, 3, true],
      ['CrossAttnUpBlock2D', 640, 320, 320, 3, false],
    ]);
    expect(spec.timeEmbedDim).toBe(1280);
    expect(spec.down[0]!.attention!.linearProjection).toBe(false);
  });

  it('resolves SDXL per-block heads and transformer depths, and num_attention_heads when given', () => {
    const spec = parseUNetConfig(SDXL);
    expect(spec.down.map((d) => d.attention && [d.attention.heads, d.attention.transformerLayers])).toEqual([
      undefined,
      [10, [2, 2]],
      [20, [10, 10]],
    ]);
    expect(spec.mid!.attention.transformerLayers).toEqual([10]);
    expect(spec.up.map((u) => u.attention?.transformerLayers)).toEqual([[10, 10, 10], [2, 2, 2], undefined]);
    expect(spec.textTime).toEqual({ timeEmbedDim: 256, projectionInputDim: 2816 });
    const heads = parseUNetConfig({ ...SDXL, attention_head_dim: 64, num_attention_heads: [5, 10, 20] });
    expect(heads.down.map((d) => d.attention?.heads)).toEqual([undefined, 10, 20]);
  });

  it.each([
    ['up_block_types', ['CrossAttnUpBlock2D', 'AttnUpBlock2D'], 'AttnUpBlock2D'],
    ['mid_block_type', 'UNetMidBlock2DSimpleCrossAttn', 'UNetMidBlock2DSimpleCrossAttn'],
    ['class_embed_type', 'timestep', 'timestep'],
    ['addition_embed_type', 'text_image', 'text_image'],
    ['time_embedding_type', 'fourier', 'fourier'],
    ['resnet_time_scale_shift', 'scale_shift', 'scale_shift'],
    ['act_fn', 'gelu', 'gelu'],
    ['encoder_hid_dim', 768, '768'],
    ['attention_type', 'gated', 'gated'],
    ['dual_cross_attention', true, 'true'],
    ['attention_head_dim', [8, 8, 8], '[8,8,8]'],
    ['norm_num_groups', null, 'null'],
    ['conv_in_kernel', 4, '4'],
  ])('refuses %s = %j with a message naming both', (key, value, shown) => {
    const attempt = () => parseUNetConfig({ ...SD15, [key]: value });
    expect(attempt).toThrow(PinholeError);
    expect(attempt).toThrow(key);
    expect(attempt).toThrow(shown);
  });
});

describe('timestepFrequencies', () => {
  it('are exp(−ln(10000)·k / (half − shift)) rounded to float32', () => {
    for (const [dim, shift] of [
      [320, 0],
      [256, 0],
      [33, 1],
    ] as const) {
      const f = timestepFrequencies(dim, shift);
      const half = Math.floor(dim / 2);
      expect(f.length).toBe(half);
      f.forEach((v, k) => {
        expect(v).toBe(Math.fround(v));
        expect(Math.abs(v - Math.exp((-Math.log(10000) * k) / (half - shift)))).toBeLessThan(1e-6);
      });
    }
  });
});
