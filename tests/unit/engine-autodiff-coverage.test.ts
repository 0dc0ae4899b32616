/**
 * The gradient table against the graphs our builders emit for full-size models (SD 1.5, SD 2.1,
 * SDXL base and refiner, LCM UNets in their build variants; CLIP-L, OpenCLIP-H and OpenCLIP-bigG
 * text encoders; the SD VAE), built from shape-only weights: every op type they use has an entry
 * in `RULES` (a rule or an explicit not-differentiable mark). Then full-size training graphs (UNet
 * + rank-4 LoRA inputs + MSE loss; also with text encoders, LoCon, checkpointing, float16 weights)
 * are differentiated — graph construction only, nothing runs — and the SD 1.5 one is checked to
 * touch nothing frozen: no backward nodes for weight preprocessing or for blocks no LoRA feeds, no
 * base weight read except where an input gradient needs it, no computed-but-unused gradients.
 */
import { describe, expect, it } from 'vitest';
import { PinholeError } from '../../src-shared/errors';
import { NOT_DIFFERENTIABLE, RULES } from '../../src-main/engine/autodiff';
import { type Model, type Node, type Tensor } from '../../src-main/engine/graph';
import { createLora, textEncoderLoraTargets, unetLoraTargets } from '../../src-main/engine/lora';
import {
  buildClipTextModel,
  buildUNet,
  buildVaeDecoder,
  buildVaeEncoder,
  type AutoencoderKLConfig,
  type ClipTextConfig,
  type UNetBuildOptions,
  type UNetConfig,
  type WeightSource,
} from '../../src-main/engine/models';
import { TorchGenerator } from '../../src-main/engine/random';
import { buildTrainingModel } from '../../src-main/engine/training';
import {
  SD15_UNET_CONFIG as SD15,
  unetStateDictShapes,
  vaeStateDictShapes,
  type Shapes,
} from '../helpers/diffusers-state-dicts';

/** Weights that have names and shapes only (building never reads tensor data). */
function shapeWeights(shapes: Shapes): WeightSource {
  return {
    has: (n) => shapes.has(n),
    get: (n) => {
      const dims = shapes.get(n);
      if (!dims) throw new PinholeError('IMPORT_REJECTED', `the weight "${n}" is missing`);
      const length = dims.reduce((a, b) => a * b, 4);
      return {
        name: n,
        dtype: 'float32',
        dims: [...dims],
        data: { kind: 'external', path: '/nonexistent', offset: 0, length },
      } satisfies Tensor;
    },
    names: () => shapes.keys(),
  };
}

/** transformers' CLIPTextModel(WithProjection) state dict, written from its `__init__`. */
function clipShapes(c: { hidden: number; ff: number; layers: number; projection?: number }): Shapes {
  const m: Shapes = new Map();
  const t = 'text_model';
  m.set(`${t}.embeddings.token_embedding.weight`, [49408, c.hidden]);
  m.set(`${t}.embeddings.position_embedding.weight`, [77, c.hidden]);
  const linear = (n: string, o: number, i: number) => (m.set(`${n}.weight`, [o, i]), m.set(`${n}.bias`, [o]));
  for (let l = 0; l < c.layers; l++) {
    const p = `${t}.encoder.layers.${l}`;
    for (const proj of ['q_proj', 'k_proj', 'v_proj', 'out_proj']) linear(`${p}.self_attn.${proj}`, c.hidden, c.hidden);
    linear(`${p}.mlp.fc1`, c.ff, c.hidden);
    linear(`${p}.mlp.fc2`, c.hidden, c.ff);
    for (const ln of ['layer_norm1', 'layer_norm2'])
      m.set(`${p}.${ln}.weight`, [c.hidden]).set(`${p}.${ln}.bias`, [c.hidden]);
  }
  m.set(`${t}.final_layer_norm.weight`, [c.hidden]);
  m.set(`${t}.final_layer_norm.bias`, [c.hidden]);
  if (c.projection !== undefined) m.set('text_projection.weight', [c.projection, c.hidden]);
  return m;
}

const SD21: UNetConfig = {
  ...SD15,
  attention_head_dim: [5, 10, 20, 20],
  cross_attention_dim: 1024,
  use_linear_projection: true,
  upcast_attention: true,
  sample_size: 96,
};

const SDXL: UNetConfig = {
  ...SD15,
  addition_embed_type: 'text_time',
  addition_time_embed_dim: 256,
  attention_head_dim: [5, 10, 20],
  block_out_channels: [320, 640, 1280],
  cross_attention_dim: 2048,
  down_block_types: ['DownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D'],
  projection_class_embeddings_input_dim: 2816,
  transformer_layers_per_block: [1, 2, 10],
  up_block_types: ['CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'UpBlock2D'],
  use_linear_projection: true,
};

const SDXL_REFINER: UNetConfig = {
  ...SDXL,
  attention_head_dim: [6, 12, 24, 24],
  block_out_channels: [384, 768, 1536, 1536],
  cross_attention_dim: 1280,
  down_block_types: ['DownBlock2D', 'CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
  up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D', 'UpBlock2D'],
  projection_class_embeddings_input_dim: 2560,
  transformer_layers_per_block: 4,
};

const unet =
  (config: UNetConfig, options: UNetBuildOptions = {}) =>
  () =>
    buildUNet(config, shapeWeights(unetStateDictShapes(config)), options);

const CLIP_L = { hidden: 768, ff: 3072, layers: 12 };
const OPENCLIP_H = { hidden: 1024, ff: 4096, layers: 23 };
const OPENCLIP_BIGG = { hidden: 1280, ff: 5120, layers: 32, projection: 1280 };
const clip =
  (sizes: typeof CLIP_L & { projection?: number }, config: ClipTextConfig, options = {}) =>
  () =>
    buildClipTextModel(
      { hidden_size: sizes.hidden, num_hidden_layers: sizes.layers, ...config },
      shapeWeights(clipShapes(sizes)),
      options,
    );

const SD_VAE: AutoencoderKLConfig & { block_out_channels: number[]; layers_per_block: number } = {
  block_out_channels: [128, 256, 512, 512],
  layers_per_block: 2,
  latent_channels: 4,
  norm_num_groups: 32,
};

/** Every full-size graph the builders make, in the variants their options and configs select. */
const GRAPHS: [string, () => Model][] = [
  ['SD 1.5 UNet', unet(SD15)],
  [
    'SD 1.5 UNet, GroupNorm by ReduceMean, int64 scalar timestep',
    unet(SD15, { groupNorm: 'reduce', timestepInput: 'int64', timestepShape: 'scalar' }),
  ],
  ['SD 1.5 UNet, opset 18 (axes as inputs)', unet(SD15, { opset: 18 })],
  // diffusers' Downsample2D with padding 0 pads right/bottom first (F.pad(x, (0, 1, 0, 1))).
  ['SD 1.5 UNet, downsample_padding 0', unet({ ...SD15, downsample_padding: 0 })],
  ['SD 2.1 UNet (linear projections; v-prediction is the scheduler config)', unet(SD21)],
  ['SDXL base UNet', unet(SDXL)],
  // An odd `addition_time_embed_dim` zero-pads the sinusoidal features (diffusers' get_timestep_embedding).
  [
    'SDXL UNet with an odd time-id embedding',
    unet({ ...SDXL, addition_time_embed_dim: 255, projection_class_embeddings_input_dim: 1280 + 6 * 255 }),
  ],
  ['SDXL refiner UNet', unet(SDXL_REFINER, { timeIds: 5 })],
  ['LCM UNet (timestep_cond)', unet({ ...SD15, time_cond_proj_dim: 256 })],
  [
    'CLIP-L (SD 1.x, argmax pooling)',
    clip(CLIP_L, { num_attention_heads: 12, hidden_act: 'quick_gelu', eos_token_id: 2 }),
  ],
  [
    'CLIP-L (first-EOS pooling, int64 ids)',
    clip(CLIP_L, { num_attention_heads: 12, eos_token_id: 49407 }, { inputIdsType: 'int64' }),
  ],
  [
    'CLIP-L (runtime pooling, tanh GELU)',
    clip(CLIP_L, { num_attention_heads: 12, eos_token_id: 1, hidden_act: 'gelu_new' }),
  ],
  ['CLIP (ReLU)', clip(CLIP_L, { num_attention_heads: 12, hidden_act: 'relu' })],
  ['OpenCLIP-H (SD 2.x)', clip(OPENCLIP_H, { num_attention_heads: 16, hidden_act: 'gelu', eos_token_id: 2 })],
  [
    'OpenCLIP-bigG (SDXL, with projection)',
    clip(OPENCLIP_BIGG, { num_attention_heads: 20, hidden_act: 'gelu', eos_token_id: 2 }),
  ],
  [
    'CLIP-L with textual-inversion rows',
    clip(
      CLIP_L,
      { num_attention_heads: 12 },
      {
        extraTokens: {
          name: 'extra',
          dtype: 'float32',
          dims: [2, 768],
          data: new Float32Array(2 * 768),
        } satisfies Tensor,
      },
    ),
  ],
  ['SD VAE encoder', () => buildVaeEncoder(SD_VAE, shapeWeights(vaeStateDictShapes(SD_VAE)))],
  ['SD VAE decoder', () => buildVaeDecoder(SD_VAE, shapeWeights(vaeStateDictShapes(SD_VAE)))],
];

describe('the gradient table covers every op of the full-size graphs', () => {
  const seen = new Set<string>();

  it.each(GRAPHS)('%s', (_, build) => {
    const model = build();
    const ops = new Set(model.graph.nodes.map((n) => n.opType));
    expect(new Set(model.graph.nodes.map((n) => n.domain))).toEqual(new Set(['']));
    ops.forEach((op) => seen.add(op));
    expect([...ops].filter((op) => !(op in RULES)).sort()).toEqual([]);
  });

  it('saw the ops that make the walk meaningful', () => {
    // Pad (downsampling with padding 0, odd embeddings), the int-only pooling ops and Clip (the
    // VAE's log-variance) come from the variants; the table keeps non-differentiable ones explicit.
    for (const op of ['Conv', 'MatMul', 'Pad', 'Clip', 'ReduceMax', 'ReduceMin', 'ArgMax', 'Where', 'Tanh', 'Relu']) {
      expect(seen, op).toContain(op);
    }
    for (const op of ['Shape', 'Equal', 'ArgMax', 'Range']) expect(RULES[op]).toBe(NOT_DIFFERENTIABLE);
  });
});

/**
 * The forward nodes and the backward ones of a differentiated model: `grad/<forward node>/…`,
 * `grad.<wrt>`, and the forward copies gradient checkpointing recomputes (`<forward node>/recompute`).
 */
function split(model: Model): { forward: Node[]; backward: Node[] } {
  const isBackward = (n: Node) =>
    n.name.startsWith('grad/') || n.name.startsWith('grad.') || n.name.includes('/recompute');
  return { forward: model.graph.nodes.filter((n) => !isBackward(n)), backward: model.graph.nodes.filter(isBackward) };
}

/** Backward nodes that no `grad.<key>` output depends on (computed for nothing). */
function deadBackward(model: Model, keys: readonly string[]): string[] {
  const { backward } = split(model);
  const producer = new Map<string, Node>();
  for (const b of backward) for (const o of b.outputs) producer.set(o, b);
  const live = new Set<Node>();
  const stack = keys.map((k) => `grad.${k}`);
  while (stack.length > 0) {
    const p = producer.get(stack.pop()!);
    if (!p || live.has(p)) continue;
    live.add(p);
    stack.push(...p.inputs);
  }
  return backward.filter((b) => !live.has(b)).map((b) => b.name);
}

describe('differentiating full-size training graphs (construction only)', () => {
  it('gives a gradient for every rank-4 LoRA input and no backward for frozen weights', () => {
    const shapes = unetStateDictShapes(SD15);
    const weights = shapeWeights(shapes);
    const lora = createLora(unetLoraTargets(SD15, weights), { rank: 4, generator: new TorchGenerator(1n) });
    const shape = { batch: 1, height: 64, width: 64, sequence: 77 };
    const { model, keys } = buildTrainingModel(SD15, weights, lora, shape);
    const graph = model.graph;

    // kohya's default SD 1.5 targets: 16 transformers × (proj_in, proj_out, 2 × 4 attention
    // projections, ff.net.0.proj, ff.net.2) = 192 modules, each with down and up.
    expect(lora.modules.size).toBe(192);
    expect(keys.length).toBe(384);
    expect(graph.outputs.map((o) => o.name)).toEqual(['loss', ...keys.map((k) => `grad.${k}`)]);
    for (const k of keys) {
      const input = graph.inputs.find((i) => i.name === k)!;
      const out = graph.outputs.find((o) => o.name === `grad.${k}`)!;
      expect(out.shape, k).toEqual(input.shape);
      expect(input.shape![0] === 4 || input.shape![1] === 4, k).toBe(true);
    }

    const { forward, backward } = split(model);
    expect(forward.length).toBeGreaterThan(2000);
    expect(backward.length).toBeGreaterThan(forward.length / 2);
    expect([...new Set(forward.map((n) => n.opType))].filter((op) => !(op in RULES))).toEqual([]);

    // Values that depend on a LoRA input (what the backward pass may differentiate through).
    const active = new Set(keys);
    for (const n of forward) if (n.inputs.some((i) => active.has(i))) n.outputs.forEach((o) => active.add(o));
    const byName = new Map(forward.map((n) => [n.name, n]));
    const ownerOf = (b: Node) => {
      const m = /^grad\/(.+)\/[A-Za-z]+(?:_\d+)?(?::\d+)?$/.exec(b.name);
      return m ? byName.get(m[1]!) : undefined;
    };
    const owners = new Set<string>();
    for (const b of backward) {
      const owner = ownerOf(b);
      if (!owner) continue;
      owners.add(owner.name);
      // A forward node that reads no LoRA-dependent value (a frozen weight's Transpose or Cast,
      // the time embedding, blocks before the first LoRA) has no backward.
      expect(
        owner.inputs.some((i) => active.has(i)),
        `backward node ${b.name} belongs to ${owner.name}, which no LoRA input reaches`,
      ).toBe(true);
    }
    expect(owners.size).toBeGreaterThan(1000);
    const frozenScopes = ['conv_in', 'time_proj', 'time_embedding', 'down_blocks.0.resnets.0'];
    for (const scope of frozenScopes)
      expect(
        [...owners].filter((o) => o.startsWith(`${scope}/`)),
        scope,
      ).toEqual([]);

    // Every backward node feeds a gradient output: nothing is computed for the frozen base
    // weights (their gradients would have no consumer) or for branches that lead nowhere.
    expect(deadBackward(model, keys)).toEqual([]);

    // Base weights reach the backward pass only where an input gradient needs them: a Conv's
    // ConvTranspose (dx = convᵀ(g, W)) and LayerNorm's g·γ, never to produce their own gradient.
    const base = new Set(shapes.keys());
    const readers = backward.filter((b) => b.inputs.some((i) => base.has(i)));
    expect(readers.length).toBeGreaterThan(0);
    for (const b of readers) {
      const role = `${b.opType} of ${ownerOf(b)?.opType}`;
      expect(['ConvTranspose of Conv', 'Mul of LayerNormalization'], b.name).toContain(role);
    }
  });

  it.each([
    ['SD 2.1 UNet (linear projections) + OpenCLIP-H text encoder', 'sd21'],
    ['SD 1.5 UNet with downsample_padding 0, LoCon, gradient checkpointing, float16 base', 'sd15-pad0'],
    ['SDXL base UNet + CLIP-L and OpenCLIP-bigG text encoders', 'sdxl'],
  ] as const)('%s: differentiates, every LoRA input gets a gradient, nothing computed for nothing', (_, which) => {
    const unetConfig = which === 'sd21' ? SD21 : which === 'sdxl' ? SDXL : { ...SD15, downsample_padding: 0 };
    const weights = shapeWeights(unetStateDictShapes(unetConfig));
    const encoders = (
      which === 'sd21'
        ? [['te', OPENCLIP_H, { num_attention_heads: 16, hidden_act: 'gelu' }]]
        : which === 'sdxl'
          ? [
              ['te1', CLIP_L, { num_attention_heads: 12 }],
              ['te2', OPENCLIP_BIGG, { num_attention_heads: 20, hidden_act: 'gelu' }],
            ]
          : []
    ) as ['te' | 'te1' | 'te2', typeof CLIP_L & { projection?: number }, ClipTextConfig][];
    const textEncoders = encoders.map(([part, sizes, config]) => ({
      part,
      config: { hidden_size: sizes.hidden, num_hidden_layers: sizes.layers, ...config },
      weights: shapeWeights(clipShapes(sizes)),
    }));
    const targets = [
      ...unetLoraTargets(unetConfig, weights, { conv3x3: which === 'sd15-pad0' }),
      ...textEncoders.flatMap((te) => textEncoderLoraTargets(te.config, te.weights, te.part)),
    ];
    const lora = createLora(targets, { rank: 4, generator: new TorchGenerator(2n) });
    const size = which === 'sdxl' ? 128 : 64;
    const { model, keys } = buildTrainingModel(
      unetConfig,
      weights,
      lora,
      { batch: 1, height: size, width: size, sequence: 77 },
      which === 'sd15-pad0' ? { gradientCheckpointing: true, baseWeights: 'float16' } : { textEncoders },
    );
    expect(keys.length).toBe(2 * lora.modules.size);
    expect(model.graph.outputs.map((o) => o.name)).toEqual(['loss', ...keys.map((k) => `grad.${k}`)]);
    if (which === 'sd15-pad0') {
      expect(model.graph.nodes.some((n) => n.name.startsWith('grad/down_blocks.0.downsamplers.0/Pad'))).toBe(true);
    }
    expect(deadBackward(model, keys)).toEqual([]);
  });
});
