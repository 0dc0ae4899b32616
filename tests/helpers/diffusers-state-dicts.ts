/**
 * Independent listings of diffusers' state dicts (names → shapes), written from the libraries' `__init__`s
 * rather than from the engine's builders, and the configs they are read with. The unit tests compare the
 * builders against them; the engine bench (scripts/bench) fills them with random weights.
 */
import type { AutoencoderKLConfig } from '../../src-main/engine/models';
import type { UNetConfig } from '../../src-main/engine/models/unet';

/** A state dict's names → shapes. */
export type Shapes = Map<string, number[]>;

/** SD 1.5's UNet config, as diffusers saves it. */
export const SD15_UNET_CONFIG: UNetConfig = {
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

/** Every parameter of diffusers' UNet2DConditionModel for `c`, in `__init__` order. */
export function unetStateDictShapes(c: Record<string, unknown>): Shapes {
  const p: Shapes = new Map();
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

/**
 * The state dict diffusers' AutoencoderKL has for `config` (names → shapes), written from
 * diffusers' Encoder/Decoder independently of the builder.
 */
export function vaeStateDictShapes(
  config: Required<Pick<AutoencoderKLConfig, 'block_out_channels' | 'layers_per_block'>> & AutoencoderKLConfig,
): Shapes {
  const shapes: Shapes = new Map();
  const latent = config.latent_channels ?? 4;
  const ch = config.block_out_channels;
  const top = ch[ch.length - 1]!;
  const conv = (p: string, out: number, inp: number, k = 3) => {
    shapes.set(`${p}.weight`, [out, inp, k, k]);
    shapes.set(`${p}.bias`, [out]);
  };
  const norm = (p: string, c: number) => (shapes.set(`${p}.weight`, [c]), shapes.set(`${p}.bias`, [c]));
  const resnet = (p: string, inp: number, out: number) => {
    norm(`${p}.norm1`, inp);
    conv(`${p}.conv1`, out, inp);
    norm(`${p}.norm2`, out);
    conv(`${p}.conv2`, out, out);
    if (inp !== out) conv(`${p}.conv_shortcut`, out, inp, 1);
  };
  const mid = (p: string) => {
    resnet(`${p}.resnets.0`, top, top);
    if (config.mid_block_add_attention !== false) {
      norm(`${p}.attentions.0.group_norm`, top);
      for (const n of ['to_q', 'to_k', 'to_v', 'to_out.0']) {
        shapes.set(`${p}.attentions.0.${n}.weight`, [top, top]);
        shapes.set(`${p}.attentions.0.${n}.bias`, [top]);
      }
    }
    resnet(`${p}.resnets.1`, top, top);
  };
  conv('encoder.conv_in', ch[0]!, 3);
  let prev = ch[0]!;
  ch.forEach((c, i) => {
    for (let j = 0; j < config.layers_per_block; j++)
      resnet(`encoder.down_blocks.${i}.resnets.${j}`, j === 0 ? prev : c, c);
    if (i < ch.length - 1) conv(`encoder.down_blocks.${i}.downsamplers.0.conv`, c, c);
    prev = c;
  });
  mid('encoder.mid_block');
  norm('encoder.conv_norm_out', top);
  conv('encoder.conv_out', 2 * latent, top);
  if (config.use_quant_conv !== false) conv('quant_conv', 2 * latent, 2 * latent, 1);
  if (config.use_post_quant_conv !== false) conv('post_quant_conv', latent, latent, 1);
  conv('decoder.conv_in', top, latent);
  mid('decoder.mid_block');
  prev = top;
  [...ch].reverse().forEach((c, i) => {
    for (let j = 0; j <= config.layers_per_block; j++)
      resnet(`decoder.up_blocks.${i}.resnets.${j}`, j === 0 ? prev : c, c);
    if (i < ch.length - 1) conv(`decoder.up_blocks.${i}.upsamplers.0.conv`, c, c);
    prev = c;
  });
  norm('decoder.conv_norm_out', ch[0]!);
  conv('decoder.conv_out', 3, ch[0]!);
  return shapes;
}
