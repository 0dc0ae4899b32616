/**
 * CLIP's text encoder (transformers' `CLIPTextModel` / `CLIPTextModelWithProjection`) as an ONNX
 * graph, from weights in transformers' layout. Outputs are named as optimum exports them, so the
 * pipeline treats a built encoder and an exported one alike.
 *
 * Every Linear (q/k/v/out_proj, fc1, fc2, text_projection) goes through `Layers` and so through
 * `ModuleHooks`, with its transformers module path: `text_model.encoder.layers.0.self_attn.q_proj`
 * is kohya's `lora_te_text_model_encoder_layers_0_self_attn_q_proj`.
 */
import { PinholeError } from '../../../src-shared/errors';
import { GraphBuilder, type Model, type Tensor, type Value } from '../graph';
import { clipEncoderLayer, clipPooledIndex, gatherRows, gatherRowsWithExtra } from './clip-text-layers';
import { resolveClipTextConfig, type ClipTextConfig, type ClipTextSpec } from './clip-text-config';
import { Layers, type ModuleHooks } from './layers';
import { type WeightSource } from './weight-source';

export type ClipTextOptions = {
  /** Module hooks (LoRA) called for every Linear. */
  hooks?: ModuleHooks;
  /**
   * Adds `text_embeds` = pooled · text_projectionᵀ (CLIPTextModelWithProjection). Default: when the
   * weights have `text_projection.weight`.
   */
  withProjection?: boolean;
  /**
   * 'all' (default) adds `hidden_states.0 … hidden_states.N`: the embeddings, then each layer's
   * output before the final layer norm, as optimum's SDXL export names them (clip skip, SDXL's
   * penultimate layer). 'none' leaves them out.
   */
  hiddenStates?: 'all' | 'none';
  /** dtype of `input_ids`: int32 (default, as optimum exports) or int64 (as torch gives). */
  inputIdsType?: 'int32' | 'int64';
  /** Tokens per sequence. Default max_position_embeddings (77). */
  sequenceLength?: number;
  /** Graph name. Default 'text_encoder'. */
  name?: string;
  /**
   * Extra token rows, float32 [E, hidden] (textual-inversion vectors): ids vocab … vocab + E − 1 look them up;
   * pooling ignores them (an embedding never counts as the EOS token). Without it the graph is unchanged.
   */
  extraTokens?: Tensor;
};

/**
 * Builds the text encoder.
 *
 * Input: `input_ids` int32|int64 [batch, T] (T = 77 by default), one padded sequence per row,
 * containing an EOS token.
 *
 * Outputs (float32):
 * - `last_hidden_state` [batch, T, hidden]: after `final_layer_norm`;
 * - `pooler_output` [batch, hidden]: `last_hidden_state` at each row's EOS position;
 * - `text_embeds` [batch, projection_dim] with a projection;
 * - `hidden_states.i` [batch, T, hidden], i = 0 … num_hidden_layers, unless `hiddenStates: 'none'`.
 *
 * @param config transformers' `CLIPTextConfig` (the text encoder's `config.json`).
 * @param weights tensors by transformers name (`text_model.encoder.layers.0.self_attn.q_proj.weight`).
 * @throws PinholeError `IMPORT_REJECTED` when config and weights disagree or a weight is missing.
 */
export function buildClipTextModel(
  config: ClipTextConfig,
  weights: WeightSource,
  options: ClipTextOptions = {},
): Model {
  const spec = resolveClipTextConfig(config, weights);
  const withProjection = options.withProjection ?? spec.projectionDim !== undefined;
  const length = options.sequenceLength ?? spec.positions;
  if (!Number.isInteger(length) || length < 1 || length > spec.positions) {
    throw new RangeError(`sequenceLength must be 1…${spec.positions}, not ${length}`);
  }

  const b = new GraphBuilder({ name: options.name ?? 'text_encoder' });
  const layers = new Layers({ b, weights, ...(options.hooks ? { hooks: options.hooks } : {}) });
  const ids = b.input('input_ids', options.inputIdsType ?? 'int32', ['batch', length]);

  const extra = options.extraTokens;
  if (extra && (extra.dims.length !== 2 || extra.dims[1] !== spec.hidden || extra.dtype !== 'float32')) {
    throw new PinholeError(
      'IMPORT_REJECTED',
      `extra token rows are ${extra.dtype} [${extra.dims.join(', ')}], the text encoder needs float32 [rows, ${spec.hidden}]`,
    );
  }
  const { hidden, last, pooled } = b.scope('text_model', () => encode(layers, weights, spec, ids, length, extra));
  const textEmbeds = withProjection ? layers.linear('text_projection', pooled, { bias: false }) : undefined;

  if (textEmbeds) b.output(textEmbeds, 'text_embeds');
  b.output(last, 'last_hidden_state');
  b.output(pooled, 'pooler_output');
  if ((options.hiddenStates ?? 'all') === 'all') hidden.forEach((h, i) => b.output(h, `hidden_states.${i}`));
  return b.build({ metadata: { architecture: withProjection ? 'CLIPTextModelWithProjection' : 'CLIPTextModel' } });
}

/**
 * `text_model`: embeddings, the encoder layers under a causal mask, the final layer norm and EOS pooling.
 * @param ids int [B, T]
 * @returns hidden: [B, T, D] × (layers + 1); last: [B, T, D]; pooled: [B, D].
 */
function encode(
  layers: Layers,
  weights: WeightSource,
  spec: ClipTextSpec,
  ids: Value,
  length: number,
  extra: Tensor | undefined,
): { hidden: Value[]; last: Value; pooled: Value } {
  const { b } = layers;
  const embeddings = b.scope('embeddings', () => {
    const tokens = b.scope('token_embedding', () =>
      extra ? gatherRowsWithExtra(layers, weights, ids, spec.vocab, extra) : gatherRows(layers, weights, ids),
    ); // [B, T, D]
    const positions = b.scope('position_embedding', () => {
      // position_ids = arange(T): the table's first T rows, broadcast over the batch.
      const table = layers.param('weight'); // [P, D]
      return length === spec.positions ? table : b.slice(table, [0], [length], [0]);
    });
    return b.add(tokens, positions);
  });

  const mask = causalMask(b, length);
  const hidden = [embeddings];
  let x = embeddings;
  b.scope('encoder', () => {
    for (let i = 0; i < spec.layers; i++) {
      x = b.scope(`layers.${i}`, () => clipEncoderLayer(layers, spec, x, mask));
      hidden.push(x);
    }
  });
  const last = layers.layerNorm('final_layer_norm', x, spec.eps);
  // Extra ids are larger than the EOS id: hide them from the pooling rules (argmax among them).
  const poolIds = extra ? b.where(b.greaterOrEqual(ids, spec.vocab), 0, ids) : ids;
  return { hidden, last, pooled: pool(b, spec, poolIds, last) };
}

/**
 * The causal mask added to attention scores: [T, T], 0 on and below the diagonal and float32's
 * lowest value above it, as transformers' `create_causal_mask` (a finite value, not −inf, so a
 * row can never turn into NaN and gradients stay finite).
 */
function causalMask(b: GraphBuilder, length: number): Value {
  const lowest = -3.4028234663852886e38;
  const values = new Array<number>(length * length);
  for (let q = 0; q < length; q++) for (let k = 0; k < length; k++) values[q * length + k] = k > q ? lowest : 0;
  return b.scope('causal_mask', () => b.constant(values, 'float32', [length, length]));
}

/**
 * `pooler_output`: each row of `last` at its EOS position.
 * @param ids int [B, T]; @param last float32 [B, T, D] → [B, D].
 */
function pool(b: GraphBuilder, spec: ClipTextSpec, ids: Value, last: Value): Value {
  return b.scope('pooler', () => {
    const index = clipPooledIndex(b, spec, ids); // int64 [B]
    const length = last.dim(1);
    if (typeof length !== 'number') throw new Error('pooler: the sequence length must be known');
    // Row r's EOS state is row r·T + index[r] of last viewed as [B·T, D].
    const batch = b.shape(ids, { start: 0, end: 1 }); // int64 [1], the symbolic 'batch' as a value
    const rows = b.mul(b.range(0, b.squeeze(batch, [0])), length); // [B]: 0, T, 2T, …
    const picked = b.gather(b.reshape(last, [-1, spec.hidden]), b.add(rows, index), 0);
    // Range's length is data to shape inference; this no-op Reshape restores the symbolic [batch, D].
    return b.reshape(picked, b.concat([batch, b.ints([spec.hidden])], 0));
  });
}
