/**
 * The UNet's convolutional pieces, as diffusers builds them: `ResnetBlock2D` (pre-norm, additive
 * time conditioning), `Downsample2D` (3×3 conv, stride 2) and `Upsample2D` (nearest 2× to the
 * skip connection's size, then 3×3 conv). Every Conv and Linear goes through `Layers`, so LoRA
 * hooks see them by module path (`down_blocks.0.resnets.1.conv1`).
 */
import { type GraphBuilder, type Value } from '../graph';
import { type Layers } from './layers';

/** What every UNet piece needs: the layers, the shared conditioning and the norm settings. */
export type UNetContext = {
  L: Layers;
  b: GraphBuilder;
  /**
   * SiLU(time embedding), float32 [B, timeEmbedDim]. Every resnet applies SiLU to the same
   * embedding before its `time_emb_proj`, so it is computed once.
   */
  tembAct: Value;
  /** The text conditioning, float32 [B, seq, cross_attention_dim]. */
  context: Value;
  normGroups: number;
  normEps: number;
  groupNormMethod: 'instance' | 'reduce';
};

/** torch.nn.GroupNorm(groups, C, eps) with affine weights `name.weight` / `name.bias`. x [N, C, …]. */
export function groupNorm(ctx: UNetContext, name: string, x: Value, epsilon: number): Value {
  const { b, L } = ctx;
  return b.scope(name, () =>
    b.groupNorm(x, ctx.normGroups, L.param('weight'), L.param('bias'), { epsilon, method: ctx.groupNormMethod }),
  );
}

/**
 * `ResnetBlock2D` with `time_embedding_norm = "default"`:
 * `h = conv1(silu(norm1(x))) + time_emb_proj(silu(temb))[:, :, None, None]`,
 * `h = conv2(silu(norm2(h)))`, `out = (shortcut(x) + h) / outputScale`, where the shortcut is a
 * 1×1 `conv_shortcut` when the channel count changes.
 * x [B, Cin, H, W] → [B, outChannels, H, W].
 */
export function resnetBlock(ctx: UNetContext, name: string, x: Value, outChannels: number, outputScale = 1): Value {
  const { b, L } = ctx;
  return b.scope(name, () => {
    let h = L.conv2d('conv1', b.silu(groupNorm(ctx, 'norm1', x, ctx.normEps)));
    const temb = b.unsqueeze(L.linear('time_emb_proj', ctx.tembAct), [2, 3]);
    h = b.add(h, temb);
    h = L.conv2d('conv2', b.silu(groupNorm(ctx, 'norm2', h, ctx.normEps)));
    const shortcut = x.dim(1) !== outChannels ? L.conv2d('conv_shortcut', x) : x;
    const out = b.add(shortcut, h);
    return outputScale === 1 ? out : b.div(out, outputScale);
  });
}

/**
 * `Downsample2D(use_conv=True)` as `downsamplers.0`: a 3×3 conv with stride 2. With
 * `downsample_padding = 0` diffusers pads one zero row/column at the bottom/right first.
 * x [B, C, H, W] → [B, C, ⌈H/2⌉, ⌈W/2⌉] (padding 1).
 */
export function downsample(ctx: UNetContext, x: Value, padding: number): Value {
  const { b, L } = ctx;
  return b.scope('downsamplers.0', () => {
    if (padding !== 0) return L.conv2d('conv', x, { stride: 2, padding });
    // F.pad(x, (0, 1, 0, 1)): right of W and bottom of H; ONNX pads are [begins…, ends…].
    return L.conv2d('conv', b.pad(x, [0, 0, 0, 0, 0, 0, 1, 1]), { stride: 2, padding: 0 });
  });
}

/**
 * `Upsample2D(use_conv=True)` as `upsamplers.0`: nearest-neighbour resize, then a 3×3 conv.
 * diffusers resizes by exactly 2× unless the latent size is not divisible by the overall up
 * factor, in which case it resizes to the next skip connection's size; resizing to that size
 * always is the same thing (it is exactly 2× whenever the sizes divide), so the graph does that
 * and works for every latent size. Nearest with asymmetric/floor coordinates is torch's
 * `F.interpolate(mode="nearest")`. x [B, C, h, w], target [B, *, H, W] → [B, C, H, W].
 */
export function upsample(ctx: UNetContext, x: Value, target: Value): Value {
  const { b, L } = ctx;
  return b.scope('upsamplers.0', () => {
    const sizes = b.concat([b.shape(x, { end: 2 }), b.shape(target, { start: 2 })], 0);
    const resized = b.resize(x, { sizes, mode: 'nearest' });
    return L.conv2d('conv', resized);
  });
}
