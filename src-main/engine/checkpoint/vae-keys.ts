/**
 * The LDM autoencoder of a single-file checkpoint (`first_stage_model.*`, or a standalone VAE file
 * with the same names unprefixed) as diffusers' `AutoencoderKL`: renamed as diffusers'
 * `convert_ldm_vae_checkpoint` does, the mid-block attention's 1×1 convolutions seen as the Linear
 * weights they are, and the config from the shapes.
 */
import { PinholeError } from '../../../src-shared/errors';
import { type Tensor } from '../graph';
import { reshape } from './tensor-ops';

export const VAE_PREFIX = 'first_stage_model.';

const ATTENTION_PARTS: Readonly<Record<string, string>> = {
  norm: 'group_norm',
  q: 'to_q',
  k: 'to_k',
  v: 'to_v',
  proj_out: 'to_out.0',
};

/** The VAE's shape, read from LDM names (without the prefix). */
export type LdmVaeLayout = {
  inChannels: number;
  outChannels: number;
  latentChannels: number;
  blockOutChannels: number[];
  layersPerBlock: number;
};

/** Whether these (prefix-free) names are an LDM VAE. */
export function isLdmVae(names: ReadonlySet<string>): boolean {
  return names.has('encoder.down.0.block.0.conv1.weight') && names.has('decoder.conv_in.weight');
}

export function readVaeLayout(vae: ReadonlyMap<string, Tensor>, file: string): LdmVaeLayout {
  const dims = (name: string): number[] => {
    const t = vae.get(name);
    if (!t) throw new PinholeError('IMPORT_REJECTED', `${file}: the VAE weight '${name}' is missing`);
    return t.dims;
  };
  const blockOutChannels: number[] = [];
  while (vae.has(`encoder.down.${blockOutChannels.length}.block.0.conv2.weight`)) {
    blockOutChannels.push(dims(`encoder.down.${blockOutChannels.length}.block.0.conv2.weight`)[0]!);
  }
  let layersPerBlock = 0;
  while (vae.has(`encoder.down.0.block.${layersPerBlock}.conv1.weight`)) layersPerBlock++;
  return {
    inChannels: dims('encoder.conv_in.weight')[1]!,
    outChannels: dims('decoder.conv_out.weight')[0]!,
    latentChannels: dims('decoder.conv_in.weight')[1]!,
    blockOutChannels,
    layersPerBlock,
  };
}

export function vaeConfigFor(layout: LdmVaeLayout, scalingFactor: number): Record<string, unknown> {
  const levels = layout.blockOutChannels.length;
  return {
    _class_name: 'AutoencoderKL',
    in_channels: layout.inChannels,
    out_channels: layout.outChannels,
    down_block_types: new Array<string>(levels).fill('DownEncoderBlock2D'),
    up_block_types: new Array<string>(levels).fill('UpDecoderBlock2D'),
    block_out_channels: layout.blockOutChannels,
    layers_per_block: layout.layersPerBlock,
    act_fn: 'silu',
    latent_channels: layout.latentChannels,
    norm_num_groups: 32,
    scaling_factor: scalingFactor,
  };
}

function resnet(rest: string): string {
  return rest.replace(/^nin_shortcut\./, 'conv_shortcut.');
}

function midPart(rest: string): string | undefined {
  let m = /^block_(\d)\.(.*)$/.exec(rest);
  if (m) return `mid_block.resnets.${Number(m[1]) - 1}.${resnet(m[2]!)}`;
  m = /^attn_1\.(\w+)\.(weight|bias)$/.exec(rest);
  if (m && ATTENTION_PARTS[m[1]!]) return `mid_block.attentions.0.${ATTENTION_PARTS[m[1]!]!}.${m[2]!}`;
  return undefined;
}

/** Renames one LDM VAE weight to diffusers'; undefined for names that are not VAE weights. */
export function diffusersVaeName(name: string, levels: number): string | undefined {
  if (/^(quant_conv|post_quant_conv)\./.test(name)) return name;
  const m = /^(encoder|decoder)\.(.*)$/.exec(name);
  if (!m) return undefined;
  const [, part, rest] = m as unknown as [string, string, string];
  if (/^(conv_in|conv_out)\./.test(rest)) return `${part}.${rest}`;
  if (rest.startsWith('norm_out.')) return `${part}.conv_norm_out.${rest.slice('norm_out.'.length)}`;
  if (rest.startsWith('mid.')) {
    const mid = midPart(rest.slice(4));
    return mid ? `${part}.${mid}` : undefined;
  }
  let b = /^down\.(\d+)\.block\.(\d+)\.(.*)$/.exec(rest);
  if (b) return `${part}.down_blocks.${b[1]!}.resnets.${b[2]!}.${resnet(b[3]!)}`;
  b = /^down\.(\d+)\.downsample\.conv\.(.*)$/.exec(rest);
  if (b) return `${part}.down_blocks.${b[1]!}.downsamplers.0.conv.${b[2]!}`;
  // The decoder's `up` levels are numbered from the coarsest in diffusers, from the finest in LDM.
  b = /^up\.(\d+)\.block\.(\d+)\.(.*)$/.exec(rest);
  if (b) return `${part}.up_blocks.${levels - 1 - Number(b[1])}.resnets.${b[2]!}.${resnet(b[3]!)}`;
  b = /^up\.(\d+)\.upsample\.conv\.(.*)$/.exec(rest);
  if (b) return `${part}.up_blocks.${levels - 1 - Number(b[1])}.upsamplers.0.conv.${b[2]!}`;
  return undefined;
}

/** The VAE's weights under diffusers names (attention projections as [C, C] matrices). */
export function mapVaeWeights(
  vae: ReadonlyMap<string, Tensor>,
  layout: LdmVaeLayout,
  file: string,
): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [name, t] of vae) {
    const target = diffusersVaeName(name, layout.blockOutChannels.length);
    if (!target) continue;
    const linear = /attentions\.0\.(to_q|to_k|to_v|to_out\.0)\.weight$/.test(target) && t.dims.length === 4;
    out.set(target, linear ? reshape(t, t.dims.slice(0, 2), target) : { ...t, name: target });
  }
  if (out.size === 0) throw new PinholeError('IMPORT_REJECTED', `${file}: no VAE weights found`);
  return out;
}
