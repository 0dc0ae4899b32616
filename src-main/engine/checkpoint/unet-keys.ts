/**
 * The LDM UNet of a single-file checkpoint (`model.diffusion_model.*`: `input_blocks`, `middle_block`,
 * `output_blocks`, …) as diffusers' `UNet2DConditionModel`: every weight renamed as diffusers'
 * `convert_ldm_unet_checkpoint` does, and the config worked out from key indices and tensor shapes
 * (levels, layers per level, widths, transformer depths, cross-attention width, SDXL's `label_emb`).
 * Heads follow the family's convention (CONTRACTS): 8 per block for SD 1.x, 64-wide for SD 2.x and SDXL.
 */
import { PinholeError } from '../../../src-shared/errors';
import { type Tensor } from '../graph';
import type { CheckpointFamily } from './family';

export const UNET_PREFIX = 'model.diffusion_model.';

/** Resnet parts: LDM name → diffusers name. */
const RESNET_PARTS: readonly [string, string][] = [
  ['in_layers.0.', 'norm1.'],
  ['in_layers.2.', 'conv1.'],
  ['emb_layers.1.', 'time_emb_proj.'],
  ['out_layers.0.', 'norm2.'],
  ['out_layers.3.', 'conv2.'],
  ['skip_connection.', 'conv_shortcut.'],
];

const TOP_LEVEL: readonly [string, string][] = [
  ['time_embed.0.', 'time_embedding.linear_1.'],
  ['time_embed.2.', 'time_embedding.linear_2.'],
  ['label_emb.0.0.', 'add_embedding.linear_1.'],
  ['label_emb.0.2.', 'add_embedding.linear_2.'],
  ['input_blocks.0.0.', 'conv_in.'],
  ['out.0.', 'conv_norm_out.'],
  ['out.2.', 'conv_out.'],
];

function renameResnet(rest: string): string {
  for (const [from, to] of RESNET_PARTS) if (rest.startsWith(from)) return to + rest.slice(from.length);
  return rest;
}

/** The UNet's shape, read from its weights (LDM names without the prefix). */
export type LdmUNetLayout = {
  inChannels: number;
  outChannels: number;
  levels: number;
  layersPerBlock: number;
  blockOutChannels: number[];
  /** Transformer depth per level (0: no attention at that level). */
  depths: number[];
  midDepth: number;
  crossAttentionDim: number;
  linearProjection: boolean;
  timeEmbedDim: number;
  /** SDXL: input width of `label_emb` (pooled text embeds ‖ time-id features). */
  addEmbedInput: number | undefined;
};

function reject(file: string, reason: string): never {
  throw new PinholeError('IMPORT_REJECTED', `${file}: ${reason}`);
}

/** Transformer blocks under `prefix` (`input_blocks.1.1.`): 0 when there is no attention there. */
function transformerDepth(keys: ReadonlySet<string>, prefix: string): number {
  let depth = 0;
  while (keys.has(`${prefix}transformer_blocks.${depth}.attn1.to_q.weight`)) depth++;
  return depth;
}

/** Reads the layout from LDM UNet weights (names relative to `model.diffusion_model.`). */
export function readUNetLayout(unet: ReadonlyMap<string, Tensor>, file: string): LdmUNetLayout {
  const keys = new Set(unet.keys());
  const dims = (name: string): number[] => unet.get(name)?.dims ?? reject(file, `the UNet weight '${name}' is missing`);
  const [modelChannels = 0, inChannels = 0] = dims('input_blocks.0.0.weight');
  const [outChannels = 0] = dims('out.2.weight');
  let last = 0;
  while (keys.has(`input_blocks.${last + 1}.0.in_layers.0.weight`) || keys.has(`input_blocks.${last + 1}.0.op.weight`))
    last++;
  const downsamples: number[] = [];
  for (let i = 1; i <= last; i++) if (keys.has(`input_blocks.${i}.0.op.weight`)) downsamples.push(i);
  const layersPerBlock = downsamples.length > 0 ? downsamples[0]! - 1 : last;
  const levels = downsamples.length + 1;
  if (layersPerBlock < 1 || last !== levels * layersPerBlock + levels - 1) {
    reject(file, `the UNet's input blocks (${last}) do not form levels of equal depth: an unknown architecture`);
  }
  const blockOutChannels: number[] = [];
  const depths: number[] = [];
  let crossAttentionDim = 0;
  let linearProjection = false;
  for (let level = 0; level < levels; level++) {
    const first = 1 + level * (layersPerBlock + 1);
    blockOutChannels.push(dims(`input_blocks.${first}.0.out_layers.3.weight`)[0]!);
    const depth = transformerDepth(keys, `input_blocks.${first}.1.`);
    depths.push(depth);
    if (depth > 0) {
      crossAttentionDim = dims(`input_blocks.${first}.1.transformer_blocks.0.attn2.to_k.weight`)[1]!;
      linearProjection = dims(`input_blocks.${first}.1.proj_in.weight`).length === 2;
    }
  }
  if (blockOutChannels[0] !== modelChannels) reject(file, 'the UNet widths are inconsistent (corrupt file?)');
  const midDepth = transformerDepth(keys, 'middle_block.1.');
  if (midDepth === 0) reject(file, 'the UNet has no attention in its middle block: an unknown architecture');
  if (crossAttentionDim === 0) crossAttentionDim = dims('middle_block.1.transformer_blocks.0.attn2.to_k.weight')[1]!;
  const [timeEmbedDim = 0] = dims('time_embed.0.weight');
  const addEmbedInput = unet.get('label_emb.0.0.weight')?.dims[1];
  return {
    inChannels,
    outChannels,
    levels,
    layersPerBlock,
    blockOutChannels,
    depths,
    midDepth,
    crossAttentionDim,
    linearProjection,
    timeEmbedDim,
    addEmbedInput,
  };
}

/**
 * diffusers' config for the layout. `pooledDim` (SDXL: the second encoder's projection width) splits
 * `label_emb`'s input into the pooled embeds and six time-id features.
 */
export function unetConfigFor(
  layout: LdmUNetLayout,
  family: CheckpointFamily,
  sampleSize: number,
  pooledDim: number | undefined,
): Record<string, unknown> {
  const heads = family === 'sd1' ? 8 : layout.blockOutChannels.map((c) => Math.max(1, Math.floor(c / 64))); // 64-wide heads
  const config: Record<string, unknown> = {
    _class_name: 'UNet2DConditionModel',
    sample_size: sampleSize,
    in_channels: layout.inChannels,
    out_channels: layout.outChannels,
    down_block_types: layout.depths.map((d) => (d > 0 ? 'CrossAttnDownBlock2D' : 'DownBlock2D')),
    mid_block_type: 'UNetMidBlock2DCrossAttn',
    up_block_types: [...layout.depths].reverse().map((d) => (d > 0 ? 'CrossAttnUpBlock2D' : 'UpBlock2D')),
    block_out_channels: layout.blockOutChannels,
    layers_per_block: layout.layersPerBlock,
    cross_attention_dim: layout.crossAttentionDim,
    attention_head_dim: heads,
    use_linear_projection: layout.linearProjection,
    transformer_layers_per_block: layout.depths.map((d) => Math.max(d, 1)),
    norm_num_groups: 32,
    flip_sin_to_cos: true,
    freq_shift: 0,
  };
  if (layout.timeEmbedDim !== layout.blockOutChannels[0]! * 4) config['time_embedding_dim'] = layout.timeEmbedDim;
  if (layout.midDepth !== Math.max(layout.depths[layout.levels - 1]!, 1)) {
    // diffusers' mid block takes the deepest level's depth; an odd one out is an architecture it cannot describe.
    throw new PinholeError(
      'IMPORT_REJECTED',
      `the UNet's middle block has ${layout.midDepth} transformer layers, unlike its deepest level`,
    );
  }
  if (layout.addEmbedInput !== undefined) {
    if (pooledDim === undefined || (layout.addEmbedInput - pooledDim) % 6 !== 0 || layout.addEmbedInput <= pooledDim) {
      throw new PinholeError(
        'IMPORT_REJECTED',
        `the UNet's label_emb takes ${layout.addEmbedInput} inputs, which no text encoder here explains`,
      );
    }
    config['addition_embed_type'] = 'text_time';
    config['addition_time_embed_dim'] = (layout.addEmbedInput - pooledDim) / 6;
    config['projection_class_embeddings_input_dim'] = layout.addEmbedInput;
  }
  return config;
}

/** Renames one LDM UNet weight (name relative to the prefix) to diffusers'; undefined for keys that are not weights. */
export function diffusersUNetName(name: string, layout: LdmUNetLayout): string | undefined {
  for (const [from, to] of TOP_LEVEL) if (name.startsWith(from)) return to + name.slice(from.length);
  const per = layout.layersPerBlock + 1;
  let m = /^input_blocks\.(\d+)\.(\d+)\.(.*)$/.exec(name);
  if (m) {
    const i = Number(m[1]) - 1;
    const [block, layer] = [Math.floor(i / per), i % per];
    if (m[3]!.startsWith('op.')) return `down_blocks.${block}.downsamplers.0.conv.${m[3]!.slice(3)}`;
    return m[2] === '0'
      ? `down_blocks.${block}.resnets.${layer}.${renameResnet(m[3]!)}`
      : `down_blocks.${block}.attentions.${layer}.${m[3]!}`;
  }
  m = /^middle_block\.(\d)\.(.*)$/.exec(name);
  if (m) {
    if (m[1] === '1') return `mid_block.attentions.0.${m[2]!}`;
    return `mid_block.resnets.${m[1] === '0' ? 0 : 1}.${renameResnet(m[2]!)}`;
  }
  m = /^output_blocks\.(\d+)\.(\d+)\.(.*)$/.exec(name);
  if (m) {
    const i = Number(m[1]);
    const [block, layer] = [Math.floor(i / per), i % per];
    const rest = m[3]!;
    if (m[2] === '0') return `up_blocks.${block}.resnets.${layer}.${renameResnet(rest)}`;
    // The upsampler follows the resnet (index 1) or the attention (index 2).
    if (rest.startsWith('conv.')) return `up_blocks.${block}.upsamplers.0.${rest}`;
    return `up_blocks.${block}.attentions.${layer}.${rest}`;
  }
  return undefined;
}
