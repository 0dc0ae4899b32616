/**
 * Text encoders of single-file checkpoints as transformers' `CLIPTextModel(WithProjection)`:
 * - transformers' layout under a prefix (`cond_stage_model.transformer.`, SDXL's
 *   `conditioner.embedders.0.transformer.`): the prefix dropped (`text_model.` added to files that omit it);
 * - OpenCLIP's layout (`cond_stage_model.model.`, `conditioner.embedders.1.model.`): the fused
 *   `in_proj_weight` split into q ‖ k ‖ v, `text_projection` (applied as `x @ P`) transposed into a
 *   Linear weight, `ln_final`, `positional_embedding`, `mlp.c_fc` / `c_proj` renamed.
 * The config comes from the shapes with the family's conventions: 64-wide heads, quick-GELU for
 * OpenAI's CLIP, GELU for OpenCLIP.
 */
import { PinholeError } from '../../../src-shared/errors';
import { type Tensor } from '../graph';
import { sliceRows, transpose2d } from './tensor-ops';

export type ClipComponent = { config: Record<string, unknown>; weights: Map<string, Tensor> };

const OPENCLIP_LAYER_PARTS: readonly [string, string][] = [
  ['ln_1.', 'layer_norm1.'],
  ['ln_2.', 'layer_norm2.'],
  ['attn.out_proj.', 'self_attn.out_proj.'],
  ['mlp.c_fc.', 'mlp.fc1.'],
  ['mlp.c_proj.', 'mlp.fc2.'],
];

/** Weights under `prefix` with the prefix removed. */
export function underPrefix(all: ReadonlyMap<string, Tensor>, prefix: string): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [name, t] of all) if (name.startsWith(prefix)) out.set(name.slice(prefix.length), t);
  return out;
}

function need(weights: ReadonlyMap<string, Tensor>, name: string, file: string): Tensor {
  const t = weights.get(name);
  if (!t) throw new PinholeError('IMPORT_REJECTED', `${file}: the text encoder weight '${name}' is missing`);
  return t;
}

function layerCount(weights: ReadonlyMap<string, Tensor>, pattern: (i: number) => string): number {
  let n = 0;
  while (weights.has(pattern(n))) n++;
  return n;
}

function clipConfig(
  weights: ReadonlyMap<string, Tensor>,
  layers: number,
  activation: 'quick_gelu' | 'gelu',
  file: string,
): Record<string, unknown> {
  const [vocab = 0, hidden = 0] = need(weights, 'text_model.embeddings.token_embedding.weight', file).dims;
  const [positions = 0] = need(weights, 'text_model.embeddings.position_embedding.weight', file).dims;
  const [intermediate = 0] = need(weights, 'text_model.encoder.layers.0.mlp.fc1.weight', file).dims;
  const config: Record<string, unknown> = {
    _class_name: weights.has('text_projection.weight') ? 'CLIPTextModelWithProjection' : 'CLIPTextModel',
    hidden_size: hidden,
    intermediate_size: intermediate,
    num_attention_heads: Math.max(1, Math.floor(hidden / 64)), // 64-wide heads in every SD family
    num_hidden_layers: layers,
    max_position_embeddings: positions,
    vocab_size: vocab,
    hidden_act: activation,
    layer_norm_eps: 1e-5,
    bos_token_id: 0,
    eos_token_id: 2,
    pad_token_id: 1,
  };
  const projection = weights.get('text_projection.weight');
  if (projection) config['projection_dim'] = projection.dims[0];
  return config;
}

/** OpenAI CLIP in transformers' layout (SD 1.x, SDXL's first encoder), from prefix-free names. */
export function mapTransformersClip(source: ReadonlyMap<string, Tensor>, file: string): ClipComponent {
  const weights = new Map<string, Tensor>();
  for (const [name, t] of source) {
    if (name.endsWith('position_ids')) continue; // a buffer, not a weight
    const target = name.startsWith('text_model.') ? name : `text_model.${name}`;
    weights.set(target, { ...t, name: target });
  }
  const layers = layerCount(weights, (i) => `text_model.encoder.layers.${i}.self_attn.q_proj.weight`);
  return { config: clipConfig(weights, layers, 'quick_gelu', file), weights };
}

/**
 * OpenCLIP's text tower (SD 2.x, SDXL's second encoder), from prefix-free names.
 * @param dropLast SD 2.x conditions on the penultimate layer: the last block is left out (as diffusers'
 *   converter does), so `last_hidden_state` is that layer through the final norm.
 */
export function mapOpenClip(source: ReadonlyMap<string, Tensor>, file: string, dropLast: boolean): ClipComponent {
  const all = layerCount(source, (i) => `transformer.resblocks.${i}.attn.in_proj_weight`);
  const layers = dropLast ? all - 1 : all;
  if (layers < 1) throw new PinholeError('IMPORT_REJECTED', `${file}: the OpenCLIP text encoder has no layers`);
  const weights = new Map<string, Tensor>();
  const put = (name: string, t: Tensor): void => void weights.set(name, { ...t, name });
  put('text_model.embeddings.token_embedding.weight', need(source, 'token_embedding.weight', file));
  put('text_model.embeddings.position_embedding.weight', need(source, 'positional_embedding', file));
  put('text_model.final_layer_norm.weight', need(source, 'ln_final.weight', file));
  put('text_model.final_layer_norm.bias', need(source, 'ln_final.bias', file));
  const projection = source.get('text_projection');
  if (projection && !dropLast) weights.set('text_projection.weight', transpose2d(projection, 'text_projection.weight'));
  for (let i = 0; i < layers; i++) {
    const from = `transformer.resblocks.${i}.`;
    const to = `text_model.encoder.layers.${i}.`;
    for (const [name, t] of source) {
      if (!name.startsWith(from)) continue;
      const rest = name.slice(from.length);
      const part = OPENCLIP_LAYER_PARTS.find(([f]) => rest.startsWith(f));
      if (part) put(to + part[1] + rest.slice(part[0].length), t);
    }
    for (const kind of ['weight', 'bias'] as const) {
      const fused = need(source, `${from}attn.in_proj_${kind}`, file);
      const width = (fused.dims[0] ?? 0) / 3;
      ['q_proj', 'k_proj', 'v_proj'].forEach((p, j) => {
        const name = `${to}self_attn.${p}.${kind}`;
        weights.set(name, sliceRows(fused, j * width, width, name));
      });
    }
  }
  return { config: clipConfig(weights, layers, 'gelu', file), weights };
}
