/**
 * The UNet's down, mid and up blocks (`DownBlock2D`, `CrossAttnDownBlock2D`,
 * `UNetMidBlock2DCrossAttn`, `UpBlock2D`, `CrossAttnUpBlock2D`): resnets, optional
 * Transformer2DModels, the resampler, and the skip connections between the two paths.
 */
import { type Value } from '../graph';
import { type UNetDownBlockSpec, type UNetMidBlockSpec, type UNetUpBlockSpec } from './unet-config';
import { downsample, resnetBlock, upsample, type UNetContext } from './unet-resnet';
import { transformer2d } from './unet-transformer';

/**
 * `down_blocks.{index}`: per layer a resnet then (cross-attn blocks) a transformer, each output
 * pushed onto `skips`; then the downsampler, whose output is pushed too.
 * h [B, Cin, H, W] → [B, Cout, H/2, W/2] (H, W without the downsampler on the last level).
 */
export function downBlock(
  ctx: UNetContext,
  index: number,
  spec: UNetDownBlockSpec,
  h: Value,
  skips: Value[],
  downsamplePadding: number,
): Value {
  return ctx.b.scope(`down_blocks.${index}`, () => {
    let x = h;
    for (let j = 0; j < spec.layers; j++) {
      x = resnetBlock(ctx, `resnets.${j}`, x, spec.outChannels);
      if (spec.attention)
        x = transformer2d(ctx, `attentions.${j}`, x, spec.attention, spec.attention.transformerLayers[j]!);
      skips.push(x);
    }
    if (spec.addDownsample) {
      x = downsample(ctx, x, downsamplePadding);
      skips.push(x);
    }
    return x;
  });
}

/** `mid_block`: resnet, transformer, resnet. h [B, C, h, w] → same shape. */
export function midBlock(ctx: UNetContext, spec: UNetMidBlockSpec, h: Value): Value {
  return ctx.b.scope('mid_block', () => {
    let x = resnetBlock(ctx, 'resnets.0', h, spec.channels, spec.outputScale);
    x = transformer2d(ctx, 'attentions.0', x, spec.attention, spec.attention.transformerLayers[0]!);
    return resnetBlock(ctx, 'resnets.1', x, spec.channels, spec.outputScale);
  });
}

/**
 * `up_blocks.{index}`: per layer, the hidden state concatenated (channels: hidden first) with
 * the most recent remaining skip, a resnet, then (cross-attn blocks) a transformer; then the
 * upsampler, resized to the size of the skip the next block consumes first.
 * h [B, Cprev, h, w] → [B, Cout, H, W].
 */
export function upBlock(ctx: UNetContext, index: number, spec: UNetUpBlockSpec, h: Value, skips: Value[]): Value {
  const { b } = ctx;
  return b.scope(`up_blocks.${index}`, () => {
    let x = h;
    for (let j = 0; j < spec.layers; j++) {
      const skip = skips.pop();
      if (!skip) throw new Error(`${b.scopeName}: no skip connection left for resnet ${j}`);
      x = resnetBlock(ctx, `resnets.${j}`, b.concat([x, skip], 1), spec.outChannels);
      if (spec.attention)
        x = transformer2d(ctx, `attentions.${j}`, x, spec.attention, spec.attention.transformerLayers[j]!);
    }
    if (spec.addUpsample) {
      const target = skips.at(-1);
      if (!target) throw new Error(`${b.scopeName}: no skip connection to size the upsampler`);
      x = upsample(ctx, x, target);
    }
    return x;
  });
}
