/**
 * Random weights for the engine bench's mid-size model: the state dicts (names → shapes) of diffusers'
 * UNet2DConditionModel and AutoencoderKL and of transformers' CLIPTextModel for a config, written from the
 * libraries' `__init__`s (as the unit tests list them), filled with PyTorch-like default initialisation so
 * activations stay finite through the whole network (the timings are of real arithmetic, not NaN paths).
 */
import { createTensor, type Tensor } from '../../src-main/engine/graph';
import { memoryWeights, type WeightSource } from '../../src-main/engine/models';

export type Shapes = Map<string, number[]>;

/** Every parameter of diffusers' UNet2DConditionModel for an SD 1.x/2.x-style config (no SDXL/LCM extras). */
export function unetShapes(c: {
  in_channels: number;
  out_channels: number;
  block_out_channels: number[];
  layers_per_block: number;
  attention_head_dim: number;
  cross_attention_dim: number;
  down_block_types: string[];
  up_block_types: string[];
  use_linear_projection?: boolean;
}): Shapes {
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
  const boc = c.block_out_channels;
  const nb = boc.length;
  const heads = c.attention_head_dim; // SD 1.x: attention_head_dim is the head count
  const cross = c.cross_attention_dim;
  const lpb = c.layers_per_block;
  const linearProj = c.use_linear_projection === true;
  const temb = boc[0]! * 4;
  const resnet = (n: string, i: number, o: number) => {
    norm(`${n}.norm1`, i);
    conv(`${n}.conv1`, i, o, 3);
    linear(`${n}.time_emb_proj`, temb, o);
    norm(`${n}.norm2`, o);
    conv(`${n}.conv2`, o, o, 3);
    if (i !== o) conv(`${n}.conv_shortcut`, i, o, 1);
  };
  const transformer = (n: string, ch: number) => {
    const inner = heads * Math.floor(ch / heads);
    norm(`${n}.norm`, ch);
    if (linearProj) linear(`${n}.proj_in`, ch, inner);
    else conv(`${n}.proj_in`, ch, inner, 1);
    const t = `${n}.transformer_blocks.0`;
    for (const [a, kv] of [
      ['attn1', inner],
      ['attn2', cross],
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
    if (linearProj) linear(`${n}.proj_out`, inner, ch);
    else conv(`${n}.proj_out`, inner, ch, 1);
  };

  conv('conv_in', c.in_channels, boc[0]!, 3);
  linear('time_embedding.linear_1', boc[0]!, temb);
  linear('time_embedding.linear_2', temb, temb);
  let out = boc[0]!;
  c.down_block_types.forEach((type, i) => {
    const input = out;
    out = boc[i]!;
    for (let j = 0; j < lpb; j++) {
      resnet(`down_blocks.${i}.resnets.${j}`, j === 0 ? input : out, out);
      if (type.startsWith('CrossAttn')) transformer(`down_blocks.${i}.attentions.${j}`, out);
    }
    if (i < nb - 1) conv(`down_blocks.${i}.downsamplers.0.conv`, out, out, 3);
  });
  resnet('mid_block.resnets.0', boc[nb - 1]!, boc[nb - 1]!);
  transformer('mid_block.attentions.0', boc[nb - 1]!);
  resnet('mid_block.resnets.1', boc[nb - 1]!, boc[nb - 1]!);
  const rev = [...boc].reverse();
  out = rev[0]!;
  c.up_block_types.forEach((type, i) => {
    const prev = out;
    out = rev[i]!;
    const input = rev[Math.min(i + 1, nb - 1)]!;
    const layers = lpb + 1;
    for (let j = 0; j < layers; j++) {
      const skip = j === layers - 1 ? input : out;
      resnet(`up_blocks.${i}.resnets.${j}`, (j === 0 ? prev : out) + skip, out);
      if (type.startsWith('CrossAttn')) transformer(`up_blocks.${i}.attentions.${j}`, out);
    }
    if (i < nb - 1) conv(`up_blocks.${i}.upsamplers.0.conv`, out, out, 3);
  });
  norm('conv_norm_out', boc[0]!);
  conv('conv_out', boc[0]!, c.out_channels, 3);
  return p;
}

/** diffusers' AutoencoderKL state dict (mid-block attention on, quant convs on). */
export function vaeShapes(c: {
  block_out_channels: number[];
  layers_per_block: number;
  latent_channels: number;
}): Shapes {
  const shapes: Shapes = new Map();
  const latent = c.latent_channels;
  const ch = c.block_out_channels;
  const top = ch[ch.length - 1]!;
  const conv = (p: string, out: number, inp: number, k = 3) => {
    shapes.set(`${p}.weight`, [out, inp, k, k]);
    shapes.set(`${p}.bias`, [out]);
  };
  const norm = (p: string, n: number) => {
    shapes.set(`${p}.weight`, [n]);
    shapes.set(`${p}.bias`, [n]);
  };
  const resnet = (p: string, inp: number, out: number) => {
    norm(`${p}.norm1`, inp);
    conv(`${p}.conv1`, out, inp);
    norm(`${p}.norm2`, out);
    conv(`${p}.conv2`, out, out);
    if (inp !== out) conv(`${p}.conv_shortcut`, out, inp, 1);
  };
  const mid = (p: string) => {
    resnet(`${p}.resnets.0`, top, top);
    norm(`${p}.attentions.0.group_norm`, top);
    for (const n of ['to_q', 'to_k', 'to_v', 'to_out.0']) {
      shapes.set(`${p}.attentions.0.${n}.weight`, [top, top]);
      shapes.set(`${p}.attentions.0.${n}.bias`, [top]);
    }
    resnet(`${p}.resnets.1`, top, top);
  };
  conv('encoder.conv_in', ch[0]!, 3);
  let prev = ch[0]!;
  ch.forEach((n, i) => {
    for (let j = 0; j < c.layers_per_block; j++) resnet(`encoder.down_blocks.${i}.resnets.${j}`, j === 0 ? prev : n, n);
    if (i < ch.length - 1) conv(`encoder.down_blocks.${i}.downsamplers.0.conv`, n, n);
    prev = n;
  });
  mid('encoder.mid_block');
  norm('encoder.conv_norm_out', top);
  conv('encoder.conv_out', 2 * latent, top);
  conv('quant_conv', 2 * latent, 2 * latent, 1);
  conv('post_quant_conv', latent, latent, 1);
  conv('decoder.conv_in', top, latent);
  mid('decoder.mid_block');
  prev = top;
  [...ch].reverse().forEach((n, i) => {
    for (let j = 0; j <= c.layers_per_block; j++) resnet(`decoder.up_blocks.${i}.resnets.${j}`, j === 0 ? prev : n, n);
    if (i < ch.length - 1) conv(`decoder.up_blocks.${i}.upsamplers.0.conv`, n, n);
    prev = n;
  });
  norm('decoder.conv_norm_out', ch[0]!);
  conv('decoder.conv_out', 3, ch[0]!);
  return shapes;
}

/** transformers' CLIPTextModel state dict (no projection). */
export function clipTextShapes(c: {
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  max_position_embeddings: number;
}): Shapes {
  const m: Shapes = new Map();
  const d = c.hidden_size;
  const ff = c.intermediate_size;
  m.set('text_model.embeddings.token_embedding.weight', [c.vocab_size, d]);
  m.set('text_model.embeddings.position_embedding.weight', [c.max_position_embeddings, d]);
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const p = `text_model.encoder.layers.${i}`;
    for (const proj of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) {
      m.set(`${p}.self_attn.${proj}.weight`, [d, d]);
      m.set(`${p}.self_attn.${proj}.bias`, [d]);
    }
    m.set(`${p}.mlp.fc1.weight`, [ff, d]);
    m.set(`${p}.mlp.fc1.bias`, [ff]);
    m.set(`${p}.mlp.fc2.weight`, [d, ff]);
    m.set(`${p}.mlp.fc2.bias`, [d]);
    for (const ln of ['layer_norm1', 'layer_norm2']) {
      m.set(`${p}.${ln}.weight`, [d]);
      m.set(`${p}.${ln}.bias`, [d]);
    }
  }
  m.set('text_model.final_layer_norm.weight', [d]);
  m.set('text_model.final_layer_norm.bias', [d]);
  return m;
}

/** Parameters in a state dict. */
export function parameterCount(shapes: Shapes): number {
  let n = 0;
  for (const dims of shapes.values()) n += dims.reduce((a, b) => a * b, 1);
  return n;
}

/**
 * Weights for `shapes`: matrices and kernels uniform in ±1/√fan_in (PyTorch's default bound for Linear and
 * Conv), embedding tables ±0.02, norm scales 1 and biases 0.
 */
export function randomWeights(shapes: Shapes, seed = 1): WeightSource {
  let s = seed >>> 0 || 1;
  const next = () => {
    // xorshift32 → [-1, 1)
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 31 - 1;
  };
  const tensors = new Map<string, Tensor>();
  for (const [name, dims] of shapes) {
    const n = dims.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if (dims.length >= 2) {
      const bound = name.includes('embedding') ? 0.02 : 1 / Math.sqrt(n / dims[0]!);
      for (let i = 0; i < n; i++) data[i] = next() * bound;
    } else if (name.endsWith('.weight')) {
      data.fill(1); // norm scales (every 1-D weight here is a norm's)
    }
    tensors.set(name, createTensor(name, 'float32', dims, data));
  }
  return memoryWeights(tensors, 'random weights');
}
