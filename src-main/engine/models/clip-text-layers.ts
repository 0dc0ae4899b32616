/**
 * The parts of CLIP's text encoder: token lookup, one pre-LN encoder layer (transformers'
 * `CLIPEncoderLayer`), the MLP activations and the EOS position used for pooling.
 */
import { type GraphBuilder, type Tensor, type Value } from '../graph';
import { CLIP_EOS_TOKEN_ID, type ClipActivation, type ClipTextSpec } from './clip-text-config';
import { type Layers } from './layers';
import { type WeightSource } from './weight-source';

/**
 * torch.nn.Embedding under the current scope: rows of `weight` [V, D] picked by `ids` [B, T] → [B, T, D].
 * A float16 table is cast after the lookup, so only the picked rows are converted.
 */
export function gatherRows(layers: Layers, weights: WeightSource, ids: Value): Value {
  const { b } = layers;
  const table = b.initializer('weight', weights.get(layers.path('weight')));
  const rows = b.gather(table, ids, 0);
  return rows.dtype === 'float32' ? rows : b.cast(rows, 'float32');
}

/**
 * {@link gatherRows} with extra rows after the table (textual-inversion vectors): ids below `vocab` read
 * `weight` [V, D], ids from `vocab` on read row `id − vocab` of `extra` [E, D]. Two lookups and a Where over
 * [B, T, D], so the token table is never copied at run time.
 * @param ids int [B, T] → float32 [B, T, D].
 */
export function gatherRowsWithExtra(
  layers: Layers,
  weights: WeightSource,
  ids: Value,
  vocab: number,
  extra: Tensor,
): Value {
  const { b } = layers;
  const isExtra = b.greaterOrEqual(ids, vocab); // bool [B, T]
  const baseRows = gatherRows(layers, weights, b.where(isExtra, 0, ids));
  const extraTable = b.initializer('extra_weight', extra);
  const extraRows = b.gather(extraTable, b.where(isExtra, b.sub(ids, vocab), 0), 0);
  return b.where(b.unsqueeze(isExtra, [-1]), extraRows, baseRows);
}

/**
 * One `CLIPEncoderLayer` under the current scope (`…encoder.layers.i`):
 * x + self_attn(layer_norm1(x)), then + mlp(layer_norm2(·)).
 * @param x float32 [B, T, D]; @param mask float32 [T, T] added to the scores → [B, T, D].
 */
export function clipEncoderLayer(layers: Layers, spec: ClipTextSpec, x: Value, mask: Value): Value {
  const { b } = layers;
  const normed = layers.layerNorm('layer_norm1', x, spec.eps);
  const attended = b.scope('self_attn', () => {
    const q = layers.linear('q_proj', normed);
    const k = layers.linear('k_proj', normed);
    const v = layers.linear('v_proj', normed);
    return layers.linear('out_proj', layers.attention(q, k, v, spec.heads, mask));
  });
  const h = b.add(x, attended);
  const normed2 = layers.layerNorm('layer_norm2', h, spec.eps);
  const mlp = b.scope('mlp', () => layers.linear('fc2', activation(b, spec.activation, layers.linear('fc1', normed2))));
  return b.add(h, mlp);
}

/** transformers' ACT2FN for the names CLIP configs use. */
export function activation(b: GraphBuilder, kind: ClipActivation, x: Value): Value {
  switch (kind) {
    case 'quick_gelu':
      // OpenAI CLIP's x · σ(1.702 x).
      return b.mul(x, b.sigmoid(b.mul(x, 1.702)));
    case 'gelu':
      return b.gelu(x);
    case 'gelu_tanh': {
      // 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³))).
      const inner = b.mul(b.add(x, b.mul(b.mul(b.mul(x, x), x), 0.044715)), Math.sqrt(2 / Math.PI));
      return b.mul(b.mul(x, 0.5), b.add(b.tanh(inner), 1));
    }
    case 'relu':
      return b.relu(x);
  }
}

/**
 * The position each row is pooled at, as transformers' `CLIPTextTransformer` finds it (see
 * `ClipPooling`). ArgMax runs on int32, as transformers casts for ONNX: ArgMax lacks int64 kernels
 * in some runtimes. ArgMax returns the first maximum, so padding that repeats the EOS id is skipped.
 * @param ids int32|int64 [B, T] → int64 [B].
 */
export function clipPooledIndex(b: GraphBuilder, spec: ClipTextSpec, ids: Value): Value {
  const ids32 = ids.dtype === 'int32' ? ids : b.cast(ids, 'int32');
  const highest = () => b.argMax(ids32, -1, { keepdims: false });
  const firstEos = () => b.argMax(b.cast(b.equal(ids32, spec.eosTokenId), 'int32'), -1, { keepdims: false });
  switch (spec.pooling) {
    case 'argmax':
      return highest();
    case 'first-eos':
      return firstEos();
    case 'runtime': {
      // torch.all(input_ids.max(-1) == 49407) over the whole batch picks one rule for every row.
      const rowMax = b.reduceMax(ids32, [-1], { keepdims: false }); // [B]
      const isClip = b.cast(b.equal(rowMax, CLIP_EOS_TOKEN_ID), 'int32');
      const all = b.equal(b.reduceMin(isClip, [0], { keepdims: true }), 1); // bool [1]
      return b.where(all, highest(), firstEos());
    }
  }
}
