/**
 * diffusers' `AutoencoderKL` config (`vae/config.json`) resolved to what the VAE builders need,
 * and a view of the weights that accepts the attention names older diffusers versions wrote.
 */
import { PinholeError } from '../../../src-shared/errors';
import { type Tensor } from '../graph';
import { type WeightSource } from './weight-source';

/** The keys of diffusers' `AutoencoderKL` config the builders read (others are ignored). */
export type AutoencoderKLConfig = {
  in_channels?: number;
  out_channels?: number;
  down_block_types?: string[];
  up_block_types?: string[];
  block_out_channels?: number[];
  layers_per_block?: number;
  act_fn?: string;
  latent_channels?: number;
  norm_num_groups?: number;
  use_quant_conv?: boolean;
  use_post_quant_conv?: boolean;
  mid_block_add_attention?: boolean;
  scaling_factor?: number;
  [key: string]: unknown;
};

/** The resolved architecture. */
export type VaeSpec = {
  inChannels: number;
  outChannels: number;
  latentChannels: number;
  /** Per level, finest first (`block_out_channels`). */
  blockOutChannels: number[];
  layersPerBlock: number;
  groups: number;
  useQuantConv: boolean;
  usePostQuantConv: boolean;
  midBlockAttention: boolean;
};

/** diffusers' GroupNorm epsilon throughout Encoder and Decoder (resnets, mid attention, norm_out). */
export const VAE_EPS = 1e-6;

/**
 * Resolves `config` with `AutoencoderKL`'s defaults.
 * @throws PinholeError `IMPORT_REJECTED` for block types or activations this builder does not have.
 */
export function resolveVaeConfig(config: AutoencoderKLConfig): VaeSpec {
  const reject = (message: string): never => {
    throw new PinholeError('IMPORT_REJECTED', `AutoencoderKL: ${message}`);
  };
  const blockOutChannels = config.block_out_channels ?? [64];
  const levels = blockOutChannels.length;
  if (levels === 0 || !blockOutChannels.every((c) => Number.isInteger(c) && c > 0)) {
    reject(`block_out_channels ${JSON.stringify(blockOutChannels)} is not a list of channel counts`);
  }
  const down = config.down_block_types ?? new Array<string>(levels).fill('DownEncoderBlock2D');
  const up = config.up_block_types ?? new Array<string>(levels).fill('UpDecoderBlock2D');
  if (down.length !== levels || down.some((t) => t !== 'DownEncoderBlock2D')) {
    reject(`down_block_types ${JSON.stringify(down)}: expected ${levels} × DownEncoderBlock2D`);
  }
  if (up.length !== levels || up.some((t) => t !== 'UpDecoderBlock2D')) {
    reject(`up_block_types ${JSON.stringify(up)}: expected ${levels} × UpDecoderBlock2D`);
  }
  const act = config.act_fn ?? 'silu';
  // diffusers' get_activation: "swish" and "silu" are the same module; the VAE's conv_act is SiLU anyway.
  if (act !== 'silu' && act !== 'swish') reject(`act_fn "${act}" is not supported`);
  const groups = config.norm_num_groups ?? 32;
  const bad = blockOutChannels.find((c) => c % groups !== 0);
  if (bad !== undefined) reject(`${bad} channels do not split into norm_num_groups ${groups}`);
  return {
    inChannels: config.in_channels ?? 3,
    outChannels: config.out_channels ?? 3,
    latentChannels: config.latent_channels ?? 4,
    blockOutChannels,
    layersPerBlock: config.layers_per_block ?? 1,
    groups,
    useQuantConv: config.use_quant_conv ?? true,
    usePostQuantConv: config.use_post_quant_conv ?? true,
    midBlockAttention: config.mid_block_add_attention ?? true,
  };
}

/** Current diffusers attention names → the names diffusers wrote before 0.15 (`AttentionBlock`). */
const LEGACY_ATTENTION: [RegExp, string][] = [
  [/\.attentions\.(\d+)\.to_q\.(weight|bias)$/, '.attentions.$1.query.$2'],
  [/\.attentions\.(\d+)\.to_k\.(weight|bias)$/, '.attentions.$1.key.$2'],
  [/\.attentions\.(\d+)\.to_v\.(weight|bias)$/, '.attentions.$1.value.$2'],
  [/\.attentions\.(\d+)\.to_out\.0\.(weight|bias)$/, '.attentions.$1.proj_attn.$2'],
];
const CURRENT_ATTENTION: [RegExp, string][] = [
  [/\.attentions\.(\d+)\.query\.(weight|bias)$/, '.attentions.$1.to_q.$2'],
  [/\.attentions\.(\d+)\.key\.(weight|bias)$/, '.attentions.$1.to_k.$2'],
  [/\.attentions\.(\d+)\.value\.(weight|bias)$/, '.attentions.$1.to_v.$2'],
  [/\.attentions\.(\d+)\.proj_attn\.(weight|bias)$/, '.attentions.$1.to_out.0.$2'],
];
const ATTENTION_WEIGHT = /\.attentions\.\d+\.(to_q|to_k|to_v|to_out\.0)\.weight$/;

function rename(name: string, table: [RegExp, string][]): string | undefined {
  for (const [pattern, replacement] of table) if (pattern.test(name)) return name.replace(pattern, replacement);
  return undefined;
}

/**
 * The VAE's weights under diffusers' current names: `…attentions.0.to_q.weight` is read from
 * `…attentions.0.query.weight` when only the legacy name exists (likewise key → to_k,
 * value → to_v, proj_attn → to_out.0), and attention projections stored as 1×1 convolutions
 * ([C, C, 1, 1], as the original LDM checkpoints keep them) are seen as the Linear weights [C, C]
 * they are (same bytes, row-major).
 */
export function vaeWeights(weights: WeightSource): WeightSource {
  const source = (name: string): string | undefined => {
    if (weights.has(name)) return name;
    const legacy = rename(name, LEGACY_ATTENTION);
    return legacy !== undefined && weights.has(legacy) ? legacy : undefined;
  };
  return {
    has: (name) => source(name) !== undefined,
    get: (name) => {
      const t = weights.get(source(name) ?? name);
      return ATTENTION_WEIGHT.test(name) ? asLinear(t) : t;
    },
    names: function* () {
      for (const name of weights.names()) yield rename(name, CURRENT_ATTENTION) ?? name;
    },
  };
}

function asLinear(t: Tensor): Tensor {
  const [out, inp, kh, kw] = t.dims;
  return t.dims.length === 4 && kh === 1 && kw === 1 ? { ...t, dims: [out!, inp!] } : t;
}
