/**
 * The training gradient is general, not tuned to the fixtures: a tiny UNet built by our builder from
 * a config unlike `sd15-tiny` (v-prediction, linear projections, three levels with other head counts
 * and transformer depths, odd widths — so the time embedding is zero-padded — and
 * `downsample_padding = 0`, which diffusers implements as F.pad(x, (0, 1, 0, 1)) before a stride-2
 * conv), random base weights, a non-square latent. The full training loss of the fixtures' reference
 * loop (noisy latents, MSE against the v-prediction target) is differentiated with respect to the
 * LoRA (kohya's default targets plus LoCon 3×3 convs) and checked against a five-point central
 * difference along a direction. ORT has no float64 Conv, so the graph runs in float32 and the check's
 * tolerance is 1e-2 relative, as the fixture-based training-graph tests use.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTensor, type Tensor } from '../../src-main/engine/graph';
import { createLora, unetLoraTargets, type LoraWeights } from '../../src-main/engine/lora';
import { memoryWeights, parseUNetConfig, type UNetConfig, type WeightSource } from '../../src-main/engine/models';
import { TorchGenerator } from '../../src-main/engine/random';
import { type HostTensor } from '../../src-main/engine/runtime';
import { createOrtBackend } from '../../src-main/engine/runtime/ort-backend';
import { buildTrainingModel } from '../../src-main/engine/training';
import { unetStateDictShapes } from '../helpers/diffusers-state-dicts';
import { floats, GraphProbe, keysOf, randomizeLora, uniforms } from '../helpers/training-graph';

const FD_TOLERANCE = 1e-2;
const figures: Record<string, number> = {};
afterAll(() => console.info('general UNet loss figures', JSON.stringify(figures)));

/** Not the fixtures' shape: three levels, odd widths, per-block heads and depths, linear projections. */
const CONFIG: UNetConfig = {
  _class_name: 'UNet2DConditionModel',
  act_fn: 'silu',
  // diffusers reads attention_head_dim as head counts: 3, 5, 5 heads (widths 5, 6, 9 per head).
  attention_head_dim: [3, 5, 5],
  block_out_channels: [15, 30, 45],
  center_input_sample: false,
  cross_attention_dim: 24,
  down_block_types: ['CrossAttnDownBlock2D', 'CrossAttnDownBlock2D', 'DownBlock2D'],
  downsample_padding: 0,
  flip_sin_to_cos: true,
  freq_shift: 0,
  in_channels: 4,
  layers_per_block: 1,
  mid_block_scale_factor: 1,
  norm_eps: 1e-5,
  norm_num_groups: 5,
  out_channels: 4,
  sample_size: 16,
  transformer_layers_per_block: [2, 1, 1],
  up_block_types: ['UpBlock2D', 'CrossAttnUpBlock2D', 'CrossAttnUpBlock2D'],
  upcast_attention: true,
  use_linear_projection: true,
};

/** SD 2.x's training schedule (scaled_linear 0.00085 → 0.012, 1000 steps): ᾱ_t. */
function alphasCumprod(): number[] {
  const [a, b, n] = [Math.sqrt(0.00085), Math.sqrt(0.012), 1000];
  let prod = 1;
  return Array.from({ length: n }, (_, i) => {
    const beta = (a + ((b - a) * i) / (n - 1)) ** 2;
    return (prod *= 1 - beta);
  });
}

/** PyTorch-like random weights: kernels and matrices U(±1/√fan_in), norm scales 1 ± 0.1, biases ±0.1. */
function randomWeights(config: UNetConfig, seed: number): WeightSource {
  const u = uniforms(seed);
  const tensors = new Map<string, Tensor>();
  for (const [name, dims] of unetStateDictShapes(config)) {
    const n = dims.reduce((p, q) => p * q, 1);
    const bound = dims.length >= 2 ? 1 / Math.sqrt(n / dims[0]!) : 0.1;
    const centre = dims.length === 1 && name.endsWith('.weight') ? 1 : 0;
    tensors.set(
      name,
      createTensor(
        name,
        'float32',
        dims,
        Float32Array.from({ length: n }, () => centre + u() * bound),
      ),
    );
  }
  return memoryWeights(tensors, 'random UNet');
}

describe('training loss gradient on a UNet unlike the fixtures (v-prediction, linear projections, padding 0)', () => {
  const [B, H, W, S] = [2, 16, 24, 77];
  const backend = createOrtBackend();
  let lora: LoraWeights;
  let probe: GraphProbe;

  beforeAll(async () => {
    const spec = parseUNetConfig(CONFIG);
    expect(spec.downsamplePadding).toBe(0);
    expect(spec.down.map((d) => d.attention && [d.attention.heads, d.attention.linearProjection])).toEqual([
      [3, true],
      [5, true],
      undefined,
    ]);
    const weights = randomWeights(CONFIG, 17);
    lora = createLora(unetLoraTargets(CONFIG, weights, { conv3x3: true }), {
      rank: 4,
      alpha: 2,
      convRank: 2,
      convAlpha: 1,
      generator: new TorchGenerator(5n),
    });
    randomizeLora(lora, 23, 0.1);
    const built = buildTrainingModel(CONFIG, weights, lora, { batch: B, height: H, width: W, sequence: S });
    // The downsampler's Pad is on the path from the down blocks' LoRA to the loss.
    expect(
      built.model.graph.nodes.some((n) => n.opType === 'Pad' && n.name.startsWith('down_blocks.0.downsamplers.0/')),
    ).toBe(true);
    expect(built.model.graph.nodes.some((n) => n.name.startsWith('grad/down_blocks.0.downsamplers.0/Pad'))).toBe(true);

    // The fixtures' reference loop for one step, v-prediction: noise then timesteps from one
    // torch generator; noisy = √ᾱ·x0 + √(1−ᾱ)·ε, target v = √ᾱ·ε − √(1−ᾱ)·x0.
    const g = new TorchGenerator(42n);
    const per = 4 * H * W;
    const latents = floats(B * per, 3);
    const noise = g.randn([B, 4, H, W]);
    const timesteps = g.randint(0, 1000, B);
    const abar = alphasCumprod();
    const sample = new Float32Array(B * per);
    const target = new Float32Array(B * per);
    for (let b = 0; b < B; b++) {
      const [sa, sb] = [Math.sqrt(abar[timesteps[b]!]!), Math.sqrt(1 - abar[timesteps[b]!]!)];
      for (let i = b * per; i < (b + 1) * per; i++) {
        sample[i] = sa * latents[i]! + sb * noise[i]!;
        target[i] = sa * noise[i]! - sb * latents[i]!;
      }
    }
    const feeds: Record<string, HostTensor> = {
      sample: { type: 'float32', data: sample, dims: [B, 4, H, W] },
      timestep: { type: 'float32', data: Float32Array.from(timesteps), dims: [B] },
      encoder_hidden_states: { type: 'float32', data: floats(B * S * 24, 4), dims: [B, S, 24] },
      target: { type: 'float32', data: target, dims: [B, 4, H, W] },
      loss_weights: { type: 'float32', data: new Float32Array(B).fill(1), dims: [B] },
    };
    probe = await GraphProbe.create(backend, built, lora, feeds);
  });
  afterAll(async () => {
    await probe?.release();
  });

  it('has LoRA modules in every block kind, and a finite loss', async () => {
    const names = [...lora.modules.keys()];
    for (const part of [
      'down_blocks_0_attentions_0_proj_in',
      'mid_block_attentions_0_transformer_blocks_0_attn2_to_k',
      'up_blocks_2_attentions_0_proj_out',
      'down_blocks_0_downsamplers_0_conv',
    ]) {
      expect(names, part).toContain(`lora_unet_${part}`);
    }
    // Linear projections: proj_in is a Linear LoRA ([rank, in] down), not a 1×1 Conv one.
    expect(lora.modules.get('lora_unet_down_blocks_0_attentions_0_proj_in')!.downDims).toEqual([4, 15]);
    const { loss } = await probe.run(false);
    figures['loss'] = loss;
    expect(Number.isFinite(loss) && loss > 0).toBe(true);
  });

  it.each([
    ['down path (through the padded downsampler)', (n: string) => n.startsWith('lora_unet_down_blocks_')],
    ['mid block', (n: string) => n.startsWith('lora_unet_mid_block_')],
    ['up path', (n: string) => n.startsWith('lora_unet_up_blocks_')],
    ['every module', () => true],
  ])('gradients of the %s LoRA match finite differences of the loss', async (group, test) => {
    const keys = keysOf(lora, test);
    expect(keys.length).toBeGreaterThan(0);
    const r = await probe.directionalError(keys, keys.length, 1e-2);
    figures[`${group}.fdRel`] = r.rel;
    expect(r.rel).toBeLessThan(FD_TOLERANCE);
  });
});
