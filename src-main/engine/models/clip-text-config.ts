/**
 * transformers' `CLIPTextConfig` as found in `text_encoder/config.json`, resolved against the
 * weights it describes: the sizes the builder uses, with transformers' defaults for absent keys
 * and a clear error when the file and the tensors disagree.
 */
import { PinholeError } from '../../../src-shared/errors';
import { type WeightSource } from './weight-source';

/** The keys of transformers' `CLIPTextConfig` this builder reads (others are ignored). */
export type ClipTextConfig = {
  vocab_size?: number;
  hidden_size?: number;
  intermediate_size?: number;
  projection_dim?: number;
  num_hidden_layers?: number;
  num_attention_heads?: number;
  max_position_embeddings?: number;
  hidden_act?: string;
  layer_norm_eps?: number;
  eos_token_id?: number;
  /** A full `CLIPConfig` nests the text tower's settings here. */
  text_config?: ClipTextConfig;
  [key: string]: unknown;
};

/** Activations `hidden_act` may name (transformers' ACT2FN keys). */
export type ClipActivation = 'quick_gelu' | 'gelu' | 'gelu_tanh' | 'relu';

/**
 * How the pooled (EOS) position is found; see transformers' `CLIPTextTransformer.forward`.
 * - 'argmax': the highest id in each row (`eos_token_id == 2`, configs written before
 *   transformers PR #24773: CLIP's `<|endoftext|>` 49407 is the largest id of its vocabulary).
 * - 'first-eos': the first position of `eos_token_id` (configs since then; padding may repeat it).
 * - 'runtime': current transformers for any other `eos_token_id`: argmax when every row's maximum
 *   is 49407, the first `eos_token_id` otherwise.
 */
export type ClipPooling = 'argmax' | 'first-eos' | 'runtime';

/** Everything the builder needs, resolved and checked. */
export type ClipTextSpec = {
  vocab: number;
  hidden: number;
  intermediate: number;
  layers: number;
  heads: number;
  positions: number;
  eps: number;
  activation: ClipActivation;
  eosTokenId: number;
  pooling: ClipPooling;
  /** Output width of `text_projection`, when the weights have one. */
  projectionDim?: number;
};

/** CLIP's `<|endoftext|>` id, the largest id of its vocabulary. */
export const CLIP_EOS_TOKEN_ID = 49407;

const ACTIVATIONS: Record<string, ClipActivation> = {
  quick_gelu: 'quick_gelu',
  gelu: 'gelu',
  // transformers' tanh approximations (GELUActivation with approximate="tanh", NewGELU, FastGELU).
  gelu_new: 'gelu_tanh',
  gelu_pytorch_tanh: 'gelu_tanh',
  gelu_fast: 'gelu_tanh',
  relu: 'relu',
};

const TEXT = 'text_model';

/**
 * Resolves `config` against `weights` (transformers layout: `text_model.embeddings.token_embedding.weight`, …).
 * Missing keys take `CLIPTextConfig`'s defaults; the token and position tables and every layer's
 * q_proj must agree with the sizes it states.
 * @throws PinholeError `IMPORT_REJECTED` naming the disagreement.
 */
export function resolveClipTextConfig(config: ClipTextConfig, weights: WeightSource): ClipTextSpec {
  const c = config.text_config ?? config;
  const reject = (message: string): never => {
    throw new PinholeError('IMPORT_REJECTED', `CLIP text encoder: ${message}`);
  };
  const int = (key: keyof ClipTextConfig, fallback: number): number => {
    const v = c[key] ?? fallback;
    if (typeof v !== 'number' || !Number.isInteger(v) || v < 0)
      reject(`config "${key}" must be an integer, not ${JSON.stringify(v)}`);
    return v as number;
  };
  const hidden = int('hidden_size', 512);
  const heads = int('num_attention_heads', 8);
  const layers = int('num_hidden_layers', 12);
  const eosTokenId = int('eos_token_id', CLIP_EOS_TOKEN_ID);
  const eps = typeof c.layer_norm_eps === 'number' ? c.layer_norm_eps : 1e-5;
  const actName = typeof c.hidden_act === 'string' ? c.hidden_act : 'quick_gelu';
  const activation = ACTIVATIONS[actName] ?? reject(`hidden_act "${actName}" is not supported`);
  if (heads === 0 || hidden % heads !== 0) reject(`hidden_size ${hidden} does not split into ${heads} heads`);

  const dims = (name: string): number[] => {
    if (!weights.has(name)) reject(`the weight "${name}" is missing`);
    return weights.get(name).dims;
  };
  const [vocab = 0, tokenWidth] = dims(`${TEXT}.embeddings.token_embedding.weight`);
  const [positions = 0, positionWidth] = dims(`${TEXT}.embeddings.position_embedding.weight`);
  if (tokenWidth !== hidden || positionWidth !== hidden) {
    reject(`embeddings are ${tokenWidth}/${positionWidth} wide, the config says hidden_size ${hidden}`);
  }
  if (c.vocab_size !== undefined && c.vocab_size !== vocab) {
    reject(`token_embedding has ${vocab} rows, the config says vocab_size ${String(c.vocab_size)}`);
  }
  for (let i = 0; i < layers; i++) {
    const [out, inp] = dims(`${TEXT}.encoder.layers.${i}.self_attn.q_proj.weight`);
    if (out !== hidden || inp !== hidden) reject(`layer ${i} q_proj is [${out}, ${inp}], not [${hidden}, ${hidden}]`);
  }
  const [intermediate = 0] =
    layers > 0 ? dims(`${TEXT}.encoder.layers.0.mlp.fc1.weight`) : [int('intermediate_size', 2048)];

  const spec: ClipTextSpec = {
    vocab,
    hidden,
    intermediate,
    layers,
    heads,
    positions,
    eps,
    activation,
    eosTokenId,
    pooling: eosTokenId === 2 ? 'argmax' : eosTokenId === CLIP_EOS_TOKEN_ID ? 'first-eos' : 'runtime',
  };
  if (weights.has('text_projection.weight')) {
    const [projectionDim = 0, projectionIn] = weights.get('text_projection.weight').dims;
    if (projectionIn !== hidden) reject(`text_projection takes ${projectionIn} channels, not ${hidden}`);
    spec.projectionDim = projectionDim;
  }
  return spec;
}
