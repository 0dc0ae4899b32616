/**
 * Random weights for the engine bench's mid-size model: the state dicts (names → shapes) of diffusers'
 * UNet2DConditionModel and AutoencoderKL and of transformers' CLIPTextModel for a config, written from the
 * libraries' `__init__`s (the UNet and VAE listings are the unit tests', in tests/helpers), filled with
 * PyTorch-like default initialisation so activations stay finite through the whole network (the timings are of
 * real arithmetic, not NaN paths).
 */
import { createTensor, type Tensor } from '../../src-main/engine/graph';
import { memoryWeights, type WeightSource } from '../../src-main/engine/models';
import { unetStateDictShapes, vaeStateDictShapes, type Shapes } from '../../tests/helpers/diffusers-state-dicts';

export type { Shapes };

/** Every parameter of diffusers' UNet2DConditionModel for a config (the unit tests' listing). */
export const unetShapes = unetStateDictShapes;

/** diffusers' AutoencoderKL state dict (mid-block attention and quant convs as the config says: on by default). */
export const vaeShapes = vaeStateDictShapes;

/** transformers' CLIPTextModel state dict (no projection). */
export function clipTextShapes(c: {
  vocab_size: number;
  hidden_size: number;
  intermediate_size: number;
  num_hidden_layers: number;
  max_position_embeddings: number;
}): Shapes {
  const m: Shapes = new Map();
  const d = c.hidden_size;
  const ff = c.intermediate_size;
  m.set('text_model.embeddings.token_embedding.weight', [c.vocab_size, d]);
  m.set('text_model.embeddings.position_embedding.weight', [c.max_position_embeddings, d]);
  for (let i = 0; i < c.num_hidden_layers; i++) {
    const p = `text_model.encoder.layers.${i}`;
    for (const proj of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) {
      m.set(`${p}.self_attn.${proj}.weight`, [d, d]);
      m.set(`${p}.self_attn.${proj}.bias`, [d]);
    }
    m.set(`${p}.mlp.fc1.weight`, [ff, d]);
    m.set(`${p}.mlp.fc1.bias`, [ff]);
    m.set(`${p}.mlp.fc2.weight`, [d, ff]);
    m.set(`${p}.mlp.fc2.bias`, [d]);
    for (const ln of ['layer_norm1', 'layer_norm2']) {
      m.set(`${p}.${ln}.weight`, [d]);
      m.set(`${p}.${ln}.bias`, [d]);
    }
  }
  m.set('text_model.final_layer_norm.weight', [d]);
  m.set('text_model.final_layer_norm.bias', [d]);
  return m;
}

/** Parameters in a state dict. */
export function parameterCount(shapes: Shapes): number {
  let n = 0;
  for (const dims of shapes.values()) n += dims.reduce((a, b) => a * b, 1);
  return n;
}

/**
 * Weights for `shapes`: matrices and kernels uniform in ±1/√fan_in (PyTorch's default bound for Linear and
 * Conv), embedding tables ±0.02, norm scales 1 and biases 0.
 */
export function randomWeights(shapes: Shapes, seed = 1): WeightSource {
  let s = seed >>> 0 || 1;
  const next = () => {
    // xorshift32 → [-1, 1)
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 31 - 1;
  };
  const tensors = new Map<string, Tensor>();
  for (const [name, dims] of shapes) {
    const n = dims.reduce((a, b) => a * b, 1);
    const data = new Float32Array(n);
    if (dims.length >= 2) {
      const bound = name.includes('embedding') ? 0.02 : 1 / Math.sqrt(n / dims[0]!);
      for (let i = 0; i < n; i++) data[i] = next() * bound;
    } else if (name.endsWith('.weight')) {
      data.fill(1); // norm scales (every 1-D weight here is a norm's)
    }
    tensors.set(name, createTensor(name, 'float32', dims, data));
  }
  return memoryWeights(tensors, 'random weights');
}
