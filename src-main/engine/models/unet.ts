/**
 * `buildUNet`: diffusers' `UNet2DConditionModel` as an ONNX graph, from its config.json and its
 * weights by diffusers name — one code path for the tiny test models and full-size SD 1.x, 2.x
 * and SDXL (and LCM's `timestep_cond`).
 *
 * Graph interface (B, H, W and S symbolic unless fixed by the options):
 * - `sample` float32 [B, in_channels, H, W]
 * - `timestep` float32 [B] (one per sample, as training needs), or int64 / a scalar by option;
 *   a single value (shape [1] or []) is broadcast to the batch
 * - `encoder_hidden_states` float32 [B, S, cross_attention_dim]
 * - SDXL (`addition_embed_type: "text_time"`): `text_embeds` float32 [B, projection dim],
 *   `time_ids` float32 [B, 6] (5 for the refiner, by option)
 * - LCM (`time_cond_proj_dim`): `timestep_cond` float32 [B, time_cond_proj_dim]
 * - output `out_sample` float32 [B, out_channels, H, W]
 *
 * Only standard ai.onnx ops (Conv, MatMul, InstanceNormalization, LayerNormalization, Softmax,
 * Resize, Erf, Sin/Cos…) that ORT's CPU and WebGPU providers implement.
 */
import { PinholeError } from '../../../src-shared/errors';
import { GraphBuilder, type Model, type Value } from '../graph';
import { Layers, type ModuleHooks } from './layers';
import { downBlock, midBlock, upBlock } from './unet-blocks';
import { parseUNetConfig, type UNetConfig, type UNetSpec } from './unet-config';
import { conditioningEmbedding } from './unet-embeddings';
import { groupNorm, type UNetContext } from './unet-resnet';
import { type WeightSource } from './weight-source';

export { parseUNetConfig, type UNetConfig, type UNetSpec } from './unet-config';

export type UNetBuildOptions = {
  /** Sees every Linear and Conv by module path (LoRA training and merging). */
  hooks?: ModuleHooks;
  /** Batch dim of every input: a symbol (default 'batch') or a fixed size. */
  batch?: number | string;
  /** Latent height / width: symbols (default 'height' / 'width') or fixed sizes. */
  height?: number | string;
  width?: number | string;
  /** Text tokens of `encoder_hidden_states`: a symbol (default 'sequence') or a fixed count. */
  sequence?: number | string;
  /** dtype of `timestep`: 'float' (default; fractional timesteps pass as they are) or 'int64'. */
  timestepInput?: 'float' | 'int64';
  /** Shape of `timestep`: 'batch' (default, one per sample) or 'scalar' (one for the whole batch). */
  timestepShape?: 'batch' | 'scalar';
  /**
   * GroupNorm lowering: 'instance' (default; InstanceNormalization, two-pass statistics in ORT)
   * or 'reduce' (ReduceMean ops, for runtimes or gradient code without InstanceNormalization).
   */
  groupNorm?: 'instance' | 'reduce';
  /**
   * Entries per row of `time_ids` (SDXL): 6 for the base model (default: original size, crop
   * offset, target size), 5 for the refiner (aesthetic score instead of target size). The
   * config alone cannot tell them apart; `text_embeds` gets the rest of
   * `projection_class_embeddings_input_dim`.
   */
  timeIds?: number;
  /** ai.onnx opset (default the builder's, 17; LayerNormalization needs ≥ 17). */
  opset?: number;
};

/** The declared graph inputs, resolved from the spec and options. */
type UNetInputs = {
  sample: Value;
  timesteps: Value;
  encoderHiddenStates: Value;
  textEmbeds?: Value;
  timeIds?: Value;
  timestepCond?: Value;
};

function declareInputs(b: GraphBuilder, spec: UNetSpec, options: UNetBuildOptions): UNetInputs {
  const batch = options.batch ?? 'batch';
  const crossDim =
    spec.down.find((d) => d.attention)?.attention?.crossAttentionDim ?? spec.mid?.attention.crossAttentionDim;
  if (crossDim === undefined) {
    throw new PinholeError(
      'IMPORT_REJECTED',
      'UNet config: no block uses cross-attention, so there is no text conditioning',
    );
  }
  // Per-block cross_attention_dim lists are accepted by the config but one input feeds them all.
  const dims = new Set(
    [...spec.down.map((d) => d.attention), spec.mid?.attention, ...spec.up.map((u) => u.attention)]
      .filter((a) => a !== undefined)
      .map((a) => a.crossAttentionDim),
  );
  if (dims.size > 1) {
    throw new PinholeError(
      'IMPORT_REJECTED',
      `UNet config: cross_attention_dim = ${JSON.stringify([...dims])} differs between blocks, which one text input cannot feed`,
    );
  }
  const sample = b.input('sample', 'float32', [
    batch,
    spec.inChannels,
    options.height ?? 'height',
    options.width ?? 'width',
  ]);
  const timestepType = options.timestepInput === 'int64' ? 'int64' : 'float32';
  const timestep = b.input('timestep', timestepType, options.timestepShape === 'scalar' ? [] : [batch]);
  const encoderHiddenStates = b.input('encoder_hidden_states', 'float32', [
    batch,
    options.sequence ?? 'sequence',
    crossDim,
  ]);
  const inputs: UNetInputs = { sample, timesteps: timestep, encoderHiddenStates };
  if (spec.textTime) {
    const ids = options.timeIds ?? 6;
    const textDim = spec.textTime.projectionInputDim - ids * spec.textTime.timeEmbedDim;
    if (textDim <= 0) {
      throw new PinholeError(
        'IMPORT_REJECTED',
        `UNet config: projection_class_embeddings_input_dim = ${spec.textTime.projectionInputDim} leaves no room for text_embeds beside ${ids} × addition_time_embed_dim (${spec.textTime.timeEmbedDim})`,
      );
    }
    inputs.textEmbeds = b.input('text_embeds', 'float32', [batch, textDim]);
    inputs.timeIds = b.input('time_ids', 'float32', [batch, ids]);
  }
  if (spec.timeCondProjDim !== undefined) {
    inputs.timestepCond = b.input('timestep_cond', 'float32', [batch, spec.timeCondProjDim]);
  }
  // One timestep per sample: a scalar or a single value is broadcast to the batch, as diffusers'
  // `timesteps.expand(sample.shape[0])` does; int64 timesteps become float32 exactly.
  b.scope('timestep_broadcast', () => {
    const asFloat = timestepType === 'float32' ? timestep : b.cast(timestep, 'float32');
    inputs.timesteps = b.expand(b.reshape(asFloat, [-1]), b.shape(sample, { end: 1 }));
  });
  return inputs;
}

/**
 * Builds the UNet graph. Weights are read from `weights` by their diffusers names (a weight
 * source may serve them lazily or as float16); the returned model references them as
 * initializers under those names.
 * @param config the UNet's config.json (diffusers `UNet2DConditionModel`).
 * @throws PinholeError (IMPORT_REJECTED) naming an unsupported config key and its value, or a
 *   missing weight.
 */
export function buildUNet(config: UNetConfig, weights: WeightSource, options: UNetBuildOptions = {}): Model {
  const spec = parseUNetConfig(config);
  const b = new GraphBuilder({ name: 'unet', ...(options.opset !== undefined ? { opset: options.opset } : {}) });
  const L = new Layers({ b, weights, ...(options.hooks ? { hooks: options.hooks } : {}) });
  const inputs = declareInputs(b, spec, options);

  const temb = conditioningEmbedding(L, spec, {
    timesteps: inputs.timesteps,
    timestepCond: inputs.timestepCond,
    textEmbeds: inputs.textEmbeds,
    timeIds: inputs.timeIds,
  });
  const ctx: UNetContext = {
    L,
    b,
    tembAct: b.scope('time_embedding_act', () => b.silu(temb)),
    context: inputs.encoderHiddenStates,
    normGroups: spec.normGroups,
    normEps: spec.normEps,
    groupNormMethod: options.groupNorm ?? 'instance',
  };

  let h = inputs.sample;
  if (spec.centerInputSample) h = b.sub(b.mul(h, 2), 1);
  h = L.conv2d('conv_in', h, { padding: (spec.convInKernel - 1) / 2 });

  // Skip connections in the order diffusers collects them: conv_in's output, then every resnet /
  // transformer output and downsampler output of the down path; the up path takes them from the end.
  const skips: Value[] = [h];
  spec.down.forEach((block, i) => (h = downBlock(ctx, i, block, h, skips, spec.downsamplePadding)));
  if (spec.mid) h = midBlock(ctx, spec.mid, h);
  spec.up.forEach((block, i) => (h = upBlock(ctx, i, block, h, skips)));
  if (skips.length !== 0) throw new Error(`UNet: ${skips.length} skip connections left unused`);

  h = b.silu(groupNorm(ctx, 'conv_norm_out', h, spec.normEps));
  h = L.conv2d('conv_out', h, { padding: (spec.convOutKernel - 1) / 2 });
  b.output(h, 'out_sample');
  return b.build();
}
