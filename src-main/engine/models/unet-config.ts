/**
 * Reads a diffusers `UNet2DConditionModel` config.json into a fully resolved `UNetSpec`: every
 * per-block setting expanded to one entry per block, channel counts of every resnet worked out,
 * the up path's reversed lists built — so the graph builders never look at the raw config.
 *
 * Settings the builders do not implement are refused here with a `PinholeError` naming the key
 * and its value, before any graph is built. Keys that only affect blocks we refuse anyway
 * (`resnet_skip_time_act`, `resnet_out_scale_factor`, `cross_attention_norm`,
 * `mid_block_only_cross_attention`, `addition_embed_type_num_heads` feed only the Simple*
 * blocks and the "text" addition embedding in diffusers) are ignored, as diffusers itself does
 * for the blocks used here.
 */
import { PinholeError } from '../../../src-shared/errors';

/** A diffusers config.json, as parsed JSON. */
export type UNetConfig = Readonly<Record<string, unknown>>;

/** The Transformer2DModel settings of one block. */
export type UNetAttentionSpec = {
  /** Attention heads (diffusers' `num_attention_heads`, which SD configs spell `attention_head_dim`). */
  heads: number;
  /** BasicTransformerBlocks in each Transformer2DModel, one entry per resnet layer of the block. */
  transformerLayers: number[];
  crossAttentionDim: number;
  /** attn1 attends to the text too (no self-attention). */
  onlyCrossAttention: boolean;
  /** proj_in / proj_out are Linear (SD 2.x, SDXL) rather than 1×1 Conv (SD 1.x). */
  linearProjection: boolean;
};

export type UNetDownBlockSpec = {
  type: 'DownBlock2D' | 'CrossAttnDownBlock2D';
  /** Channels entering resnet 0; every later resnet takes `outChannels`. */
  inChannels: number;
  outChannels: number;
  layers: number;
  addDownsample: boolean;
  attention: UNetAttentionSpec | undefined;
};

export type UNetMidBlockSpec = {
  type: 'UNetMidBlock2DCrossAttn';
  channels: number;
  /** Resnets divide their output by this (`mid_block_scale_factor`). */
  outputScale: number;
  attention: UNetAttentionSpec;
};

export type UNetUpBlockSpec = {
  type: 'UpBlock2D' | 'CrossAttnUpBlock2D';
  /** Channels of the hidden state arriving from below (resnet 0's non-skip input). */
  prevOutputChannels: number;
  /** Channels of the last skip connection (from the next-shallower down level). */
  inChannels: number;
  outChannels: number;
  /** layers_per_block + 1: one resnet per skip connection. */
  layers: number;
  addUpsample: boolean;
  attention: UNetAttentionSpec | undefined;
};

export type UNetSpec = {
  inChannels: number;
  outChannels: number;
  centerInputSample: boolean;
  flipSinToCos: boolean;
  freqShift: number;
  blockOutChannels: number[];
  /** Width of the sinusoidal timestep features (block_out_channels[0]). */
  timestepInputDim: number;
  /** Width of the time embedding fed to every resnet (block_out_channels[0]·4 unless given). */
  timeEmbedDim: number;
  /** LCM: width of `timestep_cond`, projected and added to the sinusoidal features. */
  timeCondProjDim: number | undefined;
  /** SiLU after the time embedding's second Linear. */
  timestepPostAct: boolean;
  /** SiLU on the summed embedding (time + additions) before the blocks. */
  timeEmbeddingAct: boolean;
  /** SDXL's "text_time" addition: pooled text embeds ‖ sinusoidal features of the 6 time ids. */
  textTime: { timeEmbedDim: number; projectionInputDim: number } | undefined;
  normGroups: number;
  normEps: number;
  convInKernel: number;
  convOutKernel: number;
  downsamplePadding: number;
  down: UNetDownBlockSpec[];
  mid: UNetMidBlockSpec | undefined;
  up: UNetUpBlockSpec[];
};

const DOWN_TYPES = ['DownBlock2D', 'CrossAttnDownBlock2D'] as const;
const UP_TYPES = ['UpBlock2D', 'CrossAttnUpBlock2D'] as const;
const SILU_NAMES = ['silu', 'swish'];

function unsupported(key: string, value: unknown, why: string): PinholeError {
  return new PinholeError(
    'IMPORT_REJECTED',
    `UNet config: ${key} = ${JSON.stringify(value)} is not supported (${why})`,
  );
}

/** Typed access to config keys with diffusers' defaults; every refusal names the key. */
class ConfigReader {
  constructor(private readonly config: UNetConfig) {}

  raw(key: string, fallback: unknown): unknown {
    const v = this.config[key];
    return v === undefined ? fallback : v;
  }

  int(key: string, fallback?: number): number {
    const v = this.raw(key, fallback);
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw unsupported(key, v, 'expected an integer');
    return v;
  }

  num(key: string, fallback: number): number {
    const v = this.raw(key, fallback);
    if (typeof v !== 'number' || !Number.isFinite(v)) throw unsupported(key, v, 'expected a number');
    return v;
  }

  /** null reads as the default, as Python's falsy None does where diffusers tests these flags. */
  bool(key: string, fallback: boolean): boolean {
    const v = this.raw(key, fallback) ?? fallback;
    if (typeof v !== 'boolean') throw unsupported(key, v, 'expected true or false');
    return v;
  }

  optInt(key: string): number | undefined {
    const v = this.raw(key, null);
    return v === null ? undefined : this.int(key);
  }

  strings(key: string): string[] {
    const v = this.raw(key, undefined);
    if (!Array.isArray(v) || v.some((s) => typeof s !== 'string'))
      throw unsupported(key, v, 'expected a list of names');
    return v as string[];
  }

  /** An int, or a list with one int per block (diffusers broadcasts a single value). */
  perBlock(key: string, fallback: unknown, blocks: number): number[] {
    return this.perBlockOf(
      key,
      fallback,
      blocks,
      (x) => typeof x === 'number' && Number.isInteger(x) && x > 0,
    ) as number[];
  }

  perBlockBool(key: string, fallback: boolean, blocks: number): boolean[] {
    return this.perBlockOf(key, fallback, blocks, (x) => typeof x === 'boolean') as boolean[];
  }

  perBlockOf(key: string, fallback: unknown, blocks: number, ok: (x: unknown) => boolean): unknown[] {
    const v = this.raw(key, fallback);
    const list = Array.isArray(v) ? v : new Array<unknown>(blocks).fill(v);
    if (list.length !== blocks || !list.every(ok)) {
      throw unsupported(key, v, `expected one valid value or a list of ${blocks}, one per block`);
    }
    return list;
  }

  /** Refuses any value but the ones listed (the first is diffusers' default). */
  only(key: string, allowed: readonly unknown[], why: string): unknown {
    const v = this.raw(key, allowed[0]);
    if (!allowed.includes(v)) throw unsupported(key, v, why);
    return v;
  }
}

/**
 * Transformer depth per layer: `entry` is one count for every layer of the block, or a list with
 * one count per layer (asymmetric UNets, with `reverse_transformer_layers_per_block`).
 */
function layersOf(key: string, entry: unknown, layers: number): number[] {
  if (typeof entry === 'number' && Number.isInteger(entry) && entry > 0) return new Array<number>(layers).fill(entry);
  if (Array.isArray(entry) && entry.length === layers && entry.every((x) => Number.isInteger(x) && x > 0)) {
    return entry as number[];
  }
  throw unsupported(key, entry, `expected a positive integer or a list of ${layers}`);
}

/** Strips diffusers' legacy "UNetRes" prefix, as `get_down_block` / `get_up_block` do. */
function blockType(name: string): string {
  return name.startsWith('UNetRes') ? name.slice('UNetRes'.length) : name;
}

/**
 * Validates `config` and resolves it into a `UNetSpec`.
 * @throws PinholeError (IMPORT_REJECTED) naming the first unsupported key and its value.
 */
export function parseUNetConfig(config: UNetConfig): UNetSpec {
  const r = new ConfigReader(config);
  r.only('_class_name', [undefined, 'UNet2DConditionModel'], 'only UNet2DConditionModel is built');
  r.only('time_embedding_type', ['positional'], 'only sinusoidal timestep embeddings are implemented');
  r.only('class_embed_type', [null], 'class embeddings are not implemented');
  r.only('num_class_embeds', [null], 'class embeddings are not implemented');
  r.only('class_embeddings_concat', [false], 'class embeddings are not implemented');
  r.only('addition_embed_type', [null, 'text_time'], 'only SDXL\'s "text_time" addition is implemented');
  r.only('encoder_hid_dim', [null], 'encoder hidden-state projections are not implemented');
  r.only('encoder_hid_dim_type', [null], 'encoder hidden-state projections are not implemented');
  r.only('dual_cross_attention', [false], 'dual cross-attention is not implemented');
  r.only('attention_type', ['default'], 'only default attention is implemented');
  r.only('resnet_time_scale_shift', ['default'], 'only additive time conditioning in resnets is implemented');
  r.only('act_fn', ['silu', 'swish'], 'only SiLU activations are implemented');
  r.only('time_embedding_act_fn', [null, ...SILU_NAMES], 'only SiLU activations are implemented');
  r.only('timestep_post_act', [null, ...SILU_NAMES], 'only SiLU activations are implemented');

  const blockOutChannels = r.raw('block_out_channels', [320, 640, 1280, 1280]);
  if (
    !Array.isArray(blockOutChannels) ||
    blockOutChannels.length === 0 ||
    !blockOutChannels.every((c) => Number.isInteger(c) && c > 0)
  ) {
    throw unsupported('block_out_channels', blockOutChannels, 'expected a list of channel counts');
  }
  const channels = blockOutChannels as number[];
  const n = channels.length;
  const downTypes = r.strings('down_block_types').map(blockType);
  const upTypes = r.strings('up_block_types').map(blockType);
  if (downTypes.length !== n)
    throw unsupported(
      'down_block_types',
      config['down_block_types'],
      `expected ${n} blocks, one per block_out_channels entry`,
    );
  if (upTypes.length !== n)
    throw unsupported(
      'up_block_types',
      config['up_block_types'],
      `expected ${n} blocks, one per block_out_channels entry`,
    );
  for (const t of downTypes)
    if (!(DOWN_TYPES as readonly string[]).includes(t))
      throw unsupported('down_block_types', t, `supported: ${DOWN_TYPES.join(', ')}`);
  for (const t of upTypes)
    if (!(UP_TYPES as readonly string[]).includes(t))
      throw unsupported('up_block_types', t, `supported: ${UP_TYPES.join(', ')}`);
  const midType = r.only(
    'mid_block_type',
    ['UNetMidBlock2DCrossAttn', null],
    'supported: UNetMidBlock2DCrossAttn or none',
  );

  const normGroups = r.raw('norm_num_groups', 32);
  if (typeof normGroups !== 'number' || !Number.isInteger(normGroups) || normGroups <= 0) {
    throw unsupported('norm_num_groups', normGroups, 'the blocks need GroupNorm');
  }
  for (const c of channels) {
    if (c % normGroups !== 0)
      throw unsupported('norm_num_groups', normGroups, `${c} channels do not split into ${normGroups} groups`);
  }

  // diffusers' naming quirk: without num_attention_heads, attention_head_dim holds head *counts*.
  const headsKey = r.raw('num_attention_heads', null) !== null ? 'num_attention_heads' : 'attention_head_dim';
  const heads = r.perBlock(headsKey, 8, n);
  const layersPerBlock = r.perBlock('layers_per_block', 2, n);
  const crossDims = r.perBlock('cross_attention_dim', 1280, n);
  const onlyCross = r.perBlockBool('only_cross_attention', false, n);
  const linearProjection = r.bool('use_linear_projection', false);
  const tlpb = r.perBlockOf('transformer_layers_per_block', 1, n, () => true);
  const reverseTlpb = r.raw('reverse_transformer_layers_per_block', null);
  if (reverseTlpb !== null && (!Array.isArray(reverseTlpb) || reverseTlpb.length !== n)) {
    throw unsupported('reverse_transformer_layers_per_block', reverseTlpb, `expected a list of ${n}, one per up block`);
  }
  if (reverseTlpb === null && tlpb.some((x) => Array.isArray(x))) {
    throw unsupported(
      'transformer_layers_per_block',
      r.raw('transformer_layers_per_block', 1),
      'per-layer lists need reverse_transformer_layers_per_block',
    );
  }
  const attention = (i: number, layers: number, tl: unknown, key: string): UNetAttentionSpec => ({
    heads: heads[i]!,
    transformerLayers: layersOf(key, tl, layers),
    crossAttentionDim: crossDims[i]!,
    onlyCrossAttention: onlyCross[i]!,
    linearProjection,
  });

  const down: UNetDownBlockSpec[] = downTypes.map((type, i) => ({
    type: type as UNetDownBlockSpec['type'],
    inChannels: i === 0 ? channels[0]! : channels[i - 1]!,
    outChannels: channels[i]!,
    layers: layersPerBlock[i]!,
    addDownsample: i < n - 1,
    attention:
      type === 'CrossAttnDownBlock2D'
        ? attention(i, layersPerBlock[i]!, tlpb[i], 'transformer_layers_per_block')
        : undefined,
  }));

  const midLayers = tlpb[n - 1];
  const mid: UNetMidBlockSpec | undefined =
    midType === null
      ? undefined
      : {
          type: 'UNetMidBlock2DCrossAttn',
          channels: channels[n - 1]!,
          outputScale: r.num('mid_block_scale_factor', 1),
          // One transformer (a per-layer list gives its first entry's depth); diffusers' cross-attn
          // mid block has no only_cross_attention setting, so attn1 is always self-attention.
          attention: {
            ...attention(n - 1, 1, Array.isArray(midLayers) ? midLayers[0] : midLayers, 'transformer_layers_per_block'),
            onlyCrossAttention: false,
          },
        };

  // The up path mirrors the down path: block i of the up path is level n−1−i.
  const up: UNetUpBlockSpec[] = upTypes.map((type, i) => {
    const level = n - 1 - i;
    const layers = layersPerBlock[level]! + 1;
    const tl = reverseTlpb !== null ? (reverseTlpb as unknown[])[i] : tlpb[level];
    return {
      type: type as UNetUpBlockSpec['type'],
      prevOutputChannels: channels[Math.min(level + 1, n - 1)]!,
      inChannels: channels[Math.max(level - 1, 0)]!,
      outChannels: channels[level]!,
      layers,
      addUpsample: i < n - 1,
      attention:
        type === 'CrossAttnUpBlock2D'
          ? attention(
              level,
              layers,
              tl,
              reverseTlpb !== null ? 'reverse_transformer_layers_per_block' : 'transformer_layers_per_block',
            )
          : undefined,
    };
  });

  const kernel = (key: string): number => {
    const k = r.int(key, 3);
    if (k % 2 !== 1) throw unsupported(key, k, 'expected an odd kernel size');
    return k;
  };
  const textTime =
    r.raw('addition_embed_type', null) === 'text_time'
      ? {
          timeEmbedDim: r.int('addition_time_embed_dim'),
          projectionInputDim: r.int('projection_class_embeddings_input_dim'),
        }
      : undefined;
  const timeEmbeddingDim = r.optInt('time_embedding_dim');

  return {
    inChannels: r.int('in_channels', 4),
    outChannels: r.int('out_channels', 4),
    centerInputSample: r.bool('center_input_sample', false),
    flipSinToCos: r.bool('flip_sin_to_cos', true),
    freqShift: r.num('freq_shift', 0),
    blockOutChannels: channels,
    timestepInputDim: channels[0]!,
    timeEmbedDim: timeEmbeddingDim ?? channels[0]! * 4,
    timeCondProjDim: r.optInt('time_cond_proj_dim'),
    timestepPostAct: r.raw('timestep_post_act', null) !== null,
    timeEmbeddingAct: r.raw('time_embedding_act_fn', null) !== null,
    textTime,
    normGroups,
    normEps: r.num('norm_eps', 1e-5),
    convInKernel: kernel('conv_in_kernel'),
    convOutKernel: kernel('conv_out_kernel'),
    downsamplePadding: r.int('downsample_padding', 1),
    down,
    mid,
    up,
  };
}
