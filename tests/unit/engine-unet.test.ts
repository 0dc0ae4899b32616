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

const SD15: UNetConfig = {
  _class_name: 'UNet2DConditionModel',
  act_fn: 'silu',
  attention_head_dim: 8,
  block_out_channels: [320, 640, 1280, 1280],
  center_input_sample: false,
  cross_attention_dim: 768,
  down_block_types: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
  downsample_padding: 1,
  flip_sin_to_cos: true,
  freq_shift: 0,
  in_channels: 4,
  layers_per_block: 2,
  mid_block_scale_factor: 1,
  norm_eps: 1e-5,
  norm_num_groups: 32,
  out_channels: 4,
  sample_size: 64,
  up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
};

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

/** Every parameter of diffusers' UNet2DConditionModel for `c`, in `__init__` order. */
function diffusersParams(c: Record<string, unknown>): Map<string, number[]> {
  const p = new Map<string, number[]>();
  const linear = (n: string, i: number, o: number, bias = true) => {
    p.set(`${n}.weight`, [o, i]);
    if (bias) p.set(`${n}.bias`, [o]);
  };
  const conv = (n: string, i: number, o: number, k: number) => {
    p.set(`${n}.weight`, [o, i, k, k]);
    p.set(`${n}.bias`, [o]);
  };
  const norm = (n: string, ch: number) => {
    p.set(`${n}.weight`, [ch]);
    p.set(`${n}.bias`, [ch]);
  };
  const boc = c['block_out_channels'] as number[];
  const nb = boc.length;
  const list = <T>(v: unknown, d: T): T[] => (Array.isArray(v) ? (v as T[]) : new Array<T>(nb).fill((v ?? d) as T));
  const heads = list<number>(c['num_attention_heads'] ?? c['attention_head_dim'], 8);
  const tlpb = list<number>(c['transformer_layers_per_block'], 1);
  const cross = list<number>(c['cross_attention_dim'], 1280);
  const lpb = list<number>(c['layers_per_block'], 2);
  const linearProj = c['use_linear_projection'] === true;
  const temb = boc[0]! * 4;
  const resnet = (n: string, i: number, o: number) => {
    norm(`${n}.norm1`, i);
    conv(`${n}.conv1`, i, o, 3);
    linear(`${n}.time_emb_proj`, temb, o);
    norm(`${n}.norm2`, o);
    conv(`${n}.conv2`, o, o, 3);
    if (i !== o) conv(`${n}.conv_shortcut`, i, o, 1);
  };
  const transformer = (n: string, ch: number, h: number, layers: number, crossDim: number) => {
    const inner = h * Math.floor(ch / h);
    norm(`${n}.norm`, ch);
    if (linearProj) linear(`${n}.proj_in`, ch, inner);
    else conv(`${n}.proj_in`, ch, inner, 1);
    for (let l = 0; l < layers; l++) {
      const t = `${n}.transformer_blocks.${l}`;
      for (const [a, kv] of [
        ['attn1', inner],
        ['attn2', crossDim],
      ] as const) {
        linear(`${t}.${a}.to_q`, inner, inner, false);
        linear(`${t}.${a}.to_k`, kv, inner, false);
        linear(`${t}.${a}.to_v`, kv, inner, false);
        linear(`${t}.${a}.to_out.0`, inner, inner);
      }
      norm(`${t}.norm1`, inner);
      norm(`${t}.norm2`, inner);
      norm(`${t}.norm3`, inner);
      linear(`${t}.ff.net.0.proj`, inner, inner * 8);
      linear(`${t}.ff.net.2`, inner * 4, inner);
    }
    if (linearProj) linear(`${n}.proj_out`, inner, ch);
    else conv(`${n}.proj_out`, inner, ch, 1);
  };

  conv('conv_in', c['in_channels'] as number, boc[0]!, 3);
  const condDim = c['time_cond_proj_dim'] as number | undefined;
  if (condDim) linear('time_embedding.cond_proj', condDim, boc[0]!, false);
  linear('time_embedding.linear_1', boc[0]!, temb);
  linear('time_embedding.linear_2', temb, temb);
  if (c['addition_embed_type'] === 'text_time') {
    linear('add_embedding.linear_1', c['projection_class_embeddings_input_dim'] as number, temb);
    linear('add_embedding.linear_2', temb, temb);
  }
  let out = boc[0]!;
  (c['down_block_types'] as string[]).forEach((type, i) => {
    const input = out;
    out = boc[i]!;
    for (let j = 0; j < lpb[i]!; j++) {
      resnet(`down_blocks.${i}.resnets.${j}`, j === 0 ? input : out, out);
      if (type.startsWith('CrossAttn'))
        transformer(`down_blocks.${i}.attentions.${j}`, out, heads[i]!, tlpb[i]!, cross[i]!);
    }
    if (i < nb - 1) conv(`down_blocks.${i}.downsamplers.0.conv`, out, out, 3);
  });
  resnet('mid_block.resnets.0', boc[nb - 1]!, boc[nb - 1]!);
  transformer('mid_block.attentions.0', boc[nb - 1]!, heads[nb - 1]!, tlpb[nb - 1]!, cross[nb - 1]!);
  resnet('mid_block.resnets.1', boc[nb - 1]!, boc[nb - 1]!);
  const rev = [...boc].reverse();
  out = rev[0]!;
  (c['up_block_types'] as string[]).forEach((type, i) => {
    const prev = out;
    out = rev[i]!;
    const input = rev[Math.min(i + 1, nb - 1)]!;
    const layers = [...lpb].reverse()[i]! + 1;
    for (let j = 0; j < layers; j++) {
      const skip = j === layers - 1 ? input : out;
      resnet(`up_blocks.${i}.resnets.${j}`, (j === 0 ? prev : out) + skip, out);
      if (type.startsWith('CrossAttn')) {
        transformer(
          `up_blocks.${i}.attentions.${j}`,
          out,
          [...heads].reverse()[i]!,
          [...tlpb].reverse()[i]!,
          [...cross].reverse()[i]!,
        );
      }
    }
    if (i < nb - 1) conv(`up_blocks.${i}.upsamplers.0.conv`, out, out, 3);
  });
  norm('conv_norm_out', boc[0]!);
  conv('conv_out', boc[0]!, c['out_channels'] as number, 3);
  return p;
}

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
    const shapes = diffusersParams(config);
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
      buildUNet(config, shapeWeights(diffusersParams(config)), options).graph.inputs.map((i) => [
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
