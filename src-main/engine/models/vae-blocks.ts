/**
 * diffusers' VAE `Encoder` and `Decoder` (models/autoencoders/vae.py) and the blocks they are made
 * of: `ResnetBlock2D` without time embedding, the mid block's single-head `Attention` with its
 * GroupNorm, `Downsample2D` (asymmetric padding) and `Upsample2D` (nearest ×2, then a conv).
 * Scopes follow the state-dict names (`decoder.up_blocks.0.resnets.1.conv2`).
 */
import { type Value } from '../graph';
import { type Layers } from './layers';
import { VAE_EPS, type VaeSpec } from './vae-config';

/**
 * `ResnetBlock2D` (temb None, pre-norm, output_scale_factor 1) under `name`:
 * shortcut(x) + conv2(silu(norm2(conv1(silu(norm1(x)))))).
 * @param x float32 [B, Cin, H, W] → [B, outChannels, H, W]; the 1×1 `conv_shortcut` exists when Cin ≠ outChannels.
 */
export function resnetBlock(layers: Layers, name: string, x: Value, outChannels: number, groups: number): Value {
  const { b } = layers;
  return b.scope(name, () => {
    let h = b.silu(layers.groupNorm('norm1', x, groups, VAE_EPS));
    h = layers.conv2d('conv1', h);
    h = b.silu(layers.groupNorm('norm2', h, groups, VAE_EPS));
    // Dropout is the identity at inference.
    h = layers.conv2d('conv2', h);
    const shortcut =
      x.dim(1) !== outChannels || layers.has('conv_shortcut.weight') ? layers.conv2d('conv_shortcut', x) : x;
    return b.add(shortcut, h);
  });
}

/**
 * The mid block's `Attention` (residual_connection, rescale_output_factor 1) under `name`:
 * x + to_out.0(attention(to_q/k/v(group_norm(x) as [B, H·W, C]))). Heads = C / attention_head_dim,
 * which diffusers sets to C: a single head scaled by 1/√C.
 * @param x float32 [B, C, H, W] → [B, C, H, W].
 */
export function attentionBlock(layers: Layers, name: string, x: Value, groups: number, headDim: number): Value {
  const { b } = layers;
  return b.scope(name, () => {
    const channels = x.dim(1);
    if (typeof channels !== 'number') throw new Error(`${b.scopeName}: the channel count must be known`);
    // GroupNorm over [B, C, H·W] (what diffusers normalizes) equals GroupNorm over [B, C, H, W].
    const normed = layers.groupNorm('group_norm', x, groups, VAE_EPS);
    const tokens = b.transpose(b.reshape(normed, [0, 0, -1]), [0, 2, 1]); // [B, H·W, C]
    const q = layers.linear('to_q', tokens);
    const k = layers.linear('to_k', tokens);
    const v = layers.linear('to_v', tokens);
    const attended = layers.attention(q, k, v, channels / headDim);
    const out = layers.linear('to_out.0', attended); // to_out.1 is Dropout
    const spatial = b.reshape(b.transpose(out, [0, 2, 1]), b.shape(x)); // back to [B, C, H, W]
    return b.add(spatial, x);
  });
}

/**
 * `UNetMidBlock2D` under `mid_block`: resnets.0, then (attentions.0, resnets.1).
 * @param x float32 [B, C, H, W] → [B, C, H, W], C = block_out_channels[-1].
 */
export function midBlock(layers: Layers, spec: VaeSpec, x: Value): Value {
  const { b } = layers;
  const channels = spec.blockOutChannels[spec.blockOutChannels.length - 1]!;
  return b.scope('mid_block', () => {
    let h = resnetBlock(layers, 'resnets.0', x, channels, spec.groups);
    if (spec.midBlockAttention) h = attentionBlock(layers, 'attentions.0', h, spec.groups, channels);
    return resnetBlock(layers, 'resnets.1', h, channels, spec.groups);
  });
}

/**
 * diffusers' `Encoder` under `encoder`: conv_in, DownEncoderBlock2D per level (layers_per_block
 * resnets, then a stride-2 downsampler on all but the last), mid block, norm_out, SiLU, conv_out.
 * @param x float32 [B, in_channels, H, W] → [B, 2·latent_channels, ⌊H / f⌋, ⌊W / f⌋], f = 2^(levels−1)
 */
export function encoderBody(layers: Layers, spec: VaeSpec, x: Value): Value {
  const { b } = layers;
  const last = spec.blockOutChannels.length - 1;
  return b.scope('encoder', () => {
    let h = layers.conv2d('conv_in', x);
    spec.blockOutChannels.forEach((channels, i) => {
      h = b.scope(`down_blocks.${i}`, () => {
        let y = h;
        for (let j = 0; j < spec.layersPerBlock; j++) y = resnetBlock(layers, `resnets.${j}`, y, channels, spec.groups);
        if (i === last) return y;
        // Downsample2D with padding 0 pads right and bottom by one first (F.pad (0, 1, 0, 1)): the
        // 3×3 windows start at the top-left pixel and each level gives ⌊H / 2⌋ × ⌊W / 2⌋.
        const padded = b.pad(y, [0, 0, 0, 0, 0, 0, 1, 1]);
        return layers.conv2d('downsamplers.0.conv', padded, { stride: 2, padding: 0 });
      });
    });
    h = midBlock(layers, spec, h);
    h = b.silu(layers.groupNorm('conv_norm_out', h, spec.groups, VAE_EPS));
    return layers.conv2d('conv_out', h);
  });
}

/**
 * diffusers' `Decoder` under `decoder` (norm_type "group"): conv_in, mid block, UpDecoderBlock2D
 * per level coarsest first (layers_per_block + 1 resnets, then nearest ×2 and a conv on all but
 * the last), norm_out, SiLU, conv_out.
 * @param z float32 [B, latent_channels, h, w] → [B, out_channels, h·2^(levels−1), w·2^(levels−1)]
 */
export function decoderBody(layers: Layers, spec: VaeSpec, z: Value): Value {
  const { b } = layers;
  const reversed = [...spec.blockOutChannels].reverse();
  return b.scope('decoder', () => {
    let h = layers.conv2d('conv_in', z);
    h = midBlock(layers, spec, h);
    reversed.forEach((channels, i) => {
      h = b.scope(`up_blocks.${i}`, () => {
        let y = h;
        for (let j = 0; j <= spec.layersPerBlock; j++)
          y = resnetBlock(layers, `resnets.${j}`, y, channels, spec.groups);
        if (i === reversed.length - 1) return y;
        const upsampled = b.resize(y, { scales: [1, 1, 2, 2], mode: 'nearest' }); // F.interpolate(scale_factor=2.0)
        return layers.conv2d('upsamplers.0.conv', upsampled);
      });
    });
    h = b.silu(layers.groupNorm('conv_norm_out', h, spec.groups, VAE_EPS));
    return layers.conv2d('conv_out', h);
  });
}
