/**
 * diffusers' `Transformer2DModel` over continuous inputs, as the UNet's cross-attention blocks
 * use it: GroupNorm (eps 1e-6), `proj_in` (1×1 Conv, or Linear with `use_linear_projection`),
 * `BasicTransformerBlock`s (self-attention, cross-attention, GEGLU feed-forward, each pre-norm
 * with a residual), `proj_out`, plus the block's input.
 *
 * Module paths are diffusers' (`….attentions.0.transformer_blocks.0.attn2.to_k`,
 * `….ff.net.0.proj`, `….proj_in`), which kohya's LoRA names are derived from.
 */
import { type Value } from '../graph';
import { type UNetAttentionSpec } from './unet-config';
import { groupNorm, type UNetContext } from './unet-resnet';

/** Transformer2DModel's own GroupNorm epsilon (fixed in diffusers, not `norm_eps`). */
const TRANSFORMER_NORM_EPS = 1e-6;
/** BasicTransformerBlock's LayerNorm epsilon (`norm_eps` default of the transformer). */
const BLOCK_NORM_EPS = 1e-5;

/**
 * diffusers' `Attention` with the default processor: `to_out.0(sdpa(to_q(x), to_k(c), to_v(c)))`.
 * x [B, T, dim], c [B, S, Cc] → [B, T, dim]. Softmax is float32 here, so `upcast_attention`
 * changes nothing.
 */
function attention(ctx: UNetContext, name: string, x: Value, c: Value, heads: number): Value {
  const { b, L } = ctx;
  return b.scope(name, () => {
    const q = L.linear('to_q', x);
    const k = L.linear('to_k', c);
    const v = L.linear('to_v', c);
    return L.linear('to_out.0', L.attention(q, k, v, heads));
  });
}

/**
 * `FeedForward(activation_fn="geglu")`: `net.0.proj` projects to 2·inner, the first half is the
 * value and the second the gate, `hidden · gelu(gate)` (exact erf GELU), then `net.2` back.
 * x [B, T, dim] → [B, T, dim].
 */
function feedForward(ctx: UNetContext, x: Value): Value {
  const { b, L } = ctx;
  return b.scope('ff', () => {
    const [hidden, gate] = b.split(L.linear('net.0.proj', x), 2, -1);
    return L.linear('net.2', b.mul(hidden!, b.gelu(gate!)));
  });
}

/**
 * `BasicTransformerBlock` (norm_type "layer_norm"): attn1 (self-attention, or attention to the
 * text with `only_cross_attention`), attn2 (cross-attention), feed-forward; each on a LayerNorm
 * of the running state, added back. x [B, T, dim] → [B, T, dim].
 */
function transformerBlock(ctx: UNetContext, name: string, x: Value, spec: UNetAttentionSpec): Value {
  const { b, L } = ctx;
  return b.scope(name, () => {
    let h = x;
    let n = L.layerNorm('norm1', h, BLOCK_NORM_EPS);
    h = b.add(attention(ctx, 'attn1', n, spec.onlyCrossAttention ? ctx.context : n, spec.heads), h);
    n = L.layerNorm('norm2', h, BLOCK_NORM_EPS);
    h = b.add(attention(ctx, 'attn2', n, ctx.context, spec.heads), h);
    n = L.layerNorm('norm3', h, BLOCK_NORM_EPS);
    return b.add(feedForward(ctx, n), h);
  });
}

/**
 * `Transformer2DModel` named `name` (`attentions.j`) with `layers` transformer blocks.
 * x [B, C, H, W] → [B, C, H, W]. Tokens are the H·W positions in row-major order, as diffusers'
 * `permute(0, 2, 3, 1).reshape(B, H·W, C)` gives them.
 */
export function transformer2d(
  ctx: UNetContext,
  name: string,
  x: Value,
  spec: UNetAttentionSpec,
  layers: number,
): Value {
  const { b, L } = ctx;
  return b.scope(name, () => {
    const channels = x.dim(1);
    if (typeof channels !== 'number') throw new Error(`${b.scopeName}: the channel count must be known`);
    // inner = heads · ⌊C / heads⌋, diffusers' head width; equal to C in every released config.
    const inner = spec.heads * Math.floor(channels / spec.heads);
    const toTokens = (v: Value, c: number) => b.transpose(b.reshape(v, [0, c, -1]), [0, 2, 1]);
    const normed = groupNorm(ctx, 'norm', x, TRANSFORMER_NORM_EPS);
    let h = spec.linearProjection
      ? L.linear('proj_in', toTokens(normed, channels))
      : toTokens(L.conv2d('proj_in', normed), inner);
    for (let i = 0; i < layers; i++) h = transformerBlock(ctx, `transformer_blocks.${i}`, h, spec);
    // [B, T, c] → [B, c, H, W], H and W taken from the input at run time.
    const toImage = (v: Value, c: number) =>
      b.reshape(
        b.transpose(v, [0, 2, 1]),
        b.concat([b.shape(x, { end: 1 }), b.ints([c]), b.shape(x, { start: 2 })], 0),
      );
    const out = spec.linearProjection
      ? toImage(L.linear('proj_out', h), channels)
      : L.conv2d('proj_out', toImage(h, inner));
    return b.add(out, x);
  });
}
