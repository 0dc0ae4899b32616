/**
 * Pipeline logic that needs no real model: family detection, request checks, guidance and blending arithmetic,
 * img2img start steps, LCM's guidance embedding, and A1111-style prompt conditioning over a fake encoder.
 */
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  applyGuidance,
  blendKnown,
  detectTraits,
  guidanceScaleEmbedding,
  layerNorm,
  padToSameLength,
  PromptEncoder,
  resolveRequest,
  seedForIteration,
  startIndexFor,
  TextEncoder,
  type Conditioning,
  type FamilySources,
  type ModelFolder,
} from '../../src-main/engine/pipelines';
import { ModelSession, type RawSession } from '../../src-main/engine/runtime';
import { createScheduler } from '../../src-main/engine/schedulers';
import { ClipTokenizer } from '../../src-main/engine/text';
import { FIXTURES } from '../helpers/fixtures';

const sources = (over: Partial<FamilySources>): FamilySources => ({
  modelIndex: {},
  schedulerConfig: {},
  unetConfig: {},
  textEncoderConfig: {},
  hasSecondEncoder: false,
  ...over,
});

/** `scheduler/scheduler_config.json` of stabilityai/sd-turbo, as published with its diffusers weights. */
const SD_TURBO_SCHEDULER = {
  _class_name: 'EulerDiscreteScheduler',
  _diffusers_version: '0.24.0.dev0',
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  beta_start: 0.00085,
  clip_sample: false,
  interpolation_type: 'linear',
  num_train_timesteps: 1000,
  prediction_type: 'epsilon',
  sample_max_value: 1.0,
  set_alpha_to_one: false,
  sigma_max: null,
  sigma_min: null,
  skip_prk_steps: true,
  steps_offset: 1,
  timestep_spacing: 'trailing',
  timestep_type: 'discrete',
  trained_betas: null,
  use_karras_sigmas: false,
};

/** `scheduler/scheduler_config.json` of stabilityai/sdxl-turbo. */
const SDXL_TURBO_SCHEDULER = {
  _class_name: 'EulerAncestralDiscreteScheduler',
  _diffusers_version: '0.24.0.dev0',
  beta_end: 0.012,
  beta_schedule: 'scaled_linear',
  beta_start: 0.00085,
  clip_sample: false,
  interpolation_type: 'linear',
  num_train_timesteps: 1000,
  prediction_type: 'epsilon',
  sample_max_value: 1.0,
  set_alpha_to_one: false,
  skip_prk_steps: true,
  steps_offset: 1,
  timestep_spacing: 'trailing',
  trained_betas: null,
};

describe('family detection', () => {
  it('tells SD 1.x, SD 2.x (v-prediction), SDXL apart', () => {
    expect(detectTraits(sources({ unetConfig: { cross_attention_dim: 768 } }))).toMatchObject({
      family: 'sd1',
      variant: 'base',
      predictionType: 'epsilon',
      label: 'SD 1.x',
    });
    expect(
      detectTraits(
        sources({ unetConfig: { cross_attention_dim: 1024 }, schedulerConfig: { prediction_type: 'v_prediction' } }),
      ),
    ).toMatchObject({ family: 'sd2', predictionType: 'v_prediction', label: 'SD 2.x (v-prediction)' });
    const xl = detectTraits(
      sources({ modelIndex: { _class_name: 'ORTStableDiffusionXLPipeline' }, hasSecondEncoder: true }),
    );
    expect(xl).toMatchObject({ family: 'sdxl', forceZerosForEmptyPrompt: true });
    expect(
      detectTraits(
        sources({
          unetConfig: { addition_embed_type: 'text_time' },
          modelIndex: { force_zeros_for_empty_prompt: false },
        }),
      ),
    ).toMatchObject({
      family: 'sdxl',
      forceZerosForEmptyPrompt: false,
    });
  });

  it('recognises SD-Turbo and SDXL-Turbo from the configs they ship on the Hub', () => {
    // stabilityai/sd-turbo: EulerDiscreteScheduler (not ancestral) with trailing spacing, SD 2.1's 1024-wide UNet.
    const sdTurbo = detectTraits(
      sources({
        modelIndex: { _class_name: 'StableDiffusionPipeline', scheduler: ['diffusers', 'EulerDiscreteScheduler'] },
        schedulerConfig: SD_TURBO_SCHEDULER,
        unetConfig: { cross_attention_dim: 1024 },
      }),
    );
    expect(sdTurbo).toMatchObject({
      family: 'sd2',
      variant: 'turbo',
      label: 'SD-Turbo',
      predictionType: 'epsilon',
      recommended: { sampler: 'euler', steps: 1, cfgScale: 0 },
    });
    // stabilityai/sdxl-turbo: EulerAncestralDiscreteScheduler with trailing spacing.
    const sdxlTurbo = detectTraits(
      sources({
        modelIndex: { _class_name: 'StableDiffusionXLPipeline', force_zeros_for_empty_prompt: true },
        schedulerConfig: SDXL_TURBO_SCHEDULER,
        unetConfig: { addition_embed_type: 'text_time', cross_attention_dim: 2048 },
        hasSecondEncoder: true,
      }),
    );
    expect(sdxlTurbo).toMatchObject({
      family: 'sdxl',
      variant: 'turbo',
      label: 'SDXL-Turbo',
      recommended: { sampler: 'euler_a', steps: 1, cfgScale: 0 },
    });
    // The same schedulers with their usual spacing, or trailing spacing for zero-terminal-SNR: ordinary models.
    for (const schedulerConfig of [
      { ...SD_TURBO_SCHEDULER, timestep_spacing: 'leading' },
      { ...SDXL_TURBO_SCHEDULER, timestep_spacing: 'linspace' },
      { ...SDXL_TURBO_SCHEDULER, prediction_type: 'v_prediction', rescale_betas_zero_snr: true },
      { ...SD_TURBO_SCHEDULER, _class_name: 'DDIMScheduler' },
    ]) {
      expect(detectTraits(sources({ schedulerConfig })).variant).toBe('base');
    }
  });

  it('recognises LCM and inpainting models', () => {
    expect(detectTraits(sources({ unetConfig: { time_cond_proj_dim: 256 } }))).toMatchObject({
      variant: 'lcm',
      recommended: { sampler: 'lcm', cfgScale: 8.5 },
    });
    expect(detectTraits(sources({ schedulerConfig: { _class_name: 'LCMScheduler' } }))).toMatchObject({
      variant: 'lcm',
      recommended: { cfgScale: 1 },
    });
    expect(detectTraits(sources({ unetConfig: { in_channels: 9 } }))).toMatchObject({
      inpainting: true,
      label: 'SD 1.x inpainting',
    });
  });
});

describe('request checks', () => {
  const model = {
    name: 'tiny',
    defaultSize: 64,
    vae: { scaleFactor: 8 },
    traits: detectTraits(sources({})),
  } as unknown as ModelFolder;
  const base = { model: 'x', prompt: 'a cat', seed: 42n };

  it('fills defaults from the model', () => {
    expect(resolveRequest(base, model)).toMatchObject({
      mode: 'txt2img',
      sampler: 'euler_a',
      steps: 20,
      cfgScale: 7,
      width: 64,
      height: 64,
      batchSize: 1,
      batchCount: 1,
      clipSkip: 1,
    });
    expect(resolveRequest({ ...base, initImage: 'i.png' }, model)).toMatchObject({ mode: 'img2img', strength: 0.75 });
    expect(resolveRequest({ ...base, initImage: 'i.png', maskImage: 'm.png' }, model)).toMatchObject({
      mode: 'inpaint',
      strength: 1,
    });
  });

  it('names the field that is wrong', () => {
    const bad = (over: object, pattern: RegExp) =>
      expect(() => resolveRequest({ ...base, ...over }, model)).toThrow(pattern);
    bad({ width: 500 }, /width: 500 is not a multiple of 8/);
    bad({ height: 4 }, /height: must be an integer from 8/);
    bad({ seed: -1n }, /seed/);
    bad({ seed: 1n << 64n }, /seed/);
    bad({ sampler: 'k_lms' }, /sampler: unknown sampler "k_lms"/);
    bad({ maskImage: 'm.png' }, /maskImage: inpainting needs initImage/);
    bad({ initImage: 'i.png', strength: 1.5 }, /strength/);
    bad({ initImage: 'i.png', strength: 0.05, steps: 10 }, /leaves no step/);
    bad({ steps: 0 }, /steps/);
    bad({ cfgScale: Number.NaN }, /cfgScale/);
  });

  it('gives each batch its own seed, wrapping at 2^64', () => {
    expect(seedForIteration(5n, 2)).toBe(7n);
    expect(seedForIteration((1n << 64n) - 1n, 1)).toBe(0n);
  });
});

describe('loop arithmetic', () => {
  it('applies guidance with float32 rounding at each operation', () => {
    const prediction = Float32Array.from([0.1, -0.2, 0.3, 0.7]); // uncond (0.1, −0.2), text (0.3, 0.7)
    const out = applyGuidance(prediction, 7.5);
    const f = Math.fround;
    expect(Array.from(out)).toEqual([
      f(f(0.1) + f(7.5 * f(f(0.3) - f(0.1)))),
      f(f(-0.2) + f(7.5 * f(f(0.7) - f(-0.2)))),
    ]);
  });

  it('blends the known region with a mask broadcast over batch and channels', () => {
    const latents = Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8]); // [2, 2, 1, 2]
    const known = new Float32Array(8).fill(-1);
    expect(Array.from(blendKnown(latents, known, Float32Array.of(0, 1)))).toEqual([-1, 2, -1, 4, -1, 6, -1, 8]);
  });

  it('starts img2img at steps − ⌊steps × strength⌋ (× order)', () => {
    const config = { beta_schedule: 'scaled_linear', beta_start: 0.00085, beta_end: 0.012, steps_offset: 1 };
    const euler = createScheduler('euler_a', config);
    euler.setTimesteps(10);
    expect(startIndexFor(euler, 10, 0.6)).toBe(4);
    expect(Array.from(euler.timesteps.subarray(4)).map(Math.round)).toEqual([555, 444, 333, 222, 111, 0]);
    expect(startIndexFor(euler, 10, 1)).toBe(0);
    expect(startIndexFor(euler, 3, 0.5)).toBe(2);
    const heun = createScheduler('heun', config);
    heun.setTimesteps(10);
    expect(startIndexFor(heun, 10, 0.6)).toBe(8);
  });

  it("computes diffusers' guidance-scale embedding for LCM", () => {
    const emb = guidanceScaleEmbedding(7.5, 8);
    // half = 4, frequencies exp(−k·ln(10000)/3): 1, 0.0464, 0.00215, 0.0001
    const expected = [0, 1, 2, 3].map((k) => 7500 * Math.exp((-k * Math.log(10000)) / 3));
    expected.forEach((x, k) => {
      expect(emb[k]).toBeCloseTo(Math.sin(x), 3);
      expect(emb[4 + k]).toBeCloseTo(Math.cos(x), 3);
    });
    expect(guidanceScaleEmbedding(0, 5)[4]).toBe(0); // odd width: zero-padded
  });

  it('layer-normalizes rows', () => {
    const x = Float32Array.from([1, 2, 3, 4, 10, 10, 10, 10]);
    layerNorm(
      x,
      4,
      { weight: Float32Array.of(1, 1, 1, 2), bias: Float32Array.of(0, 0, 0, 1), epsilon: undefined },
      1e-5,
    );
    expect(x[0]).toBeCloseTo(-1.3416, 3);
    expect(x[3]).toBeCloseTo(2 * 1.3416 + 1, 3);
    expect(Array.from(x.subarray(4))).toEqual([0, 0, 0, 1]);
  });
});

/** A fake CLIP encoder: token t of a sequence gets hidden value `id/1000 + layer` in every channel. */
function fakeEncoder(channels: number, layers: number, withProjection: boolean): ModelSession {
  const outputs = [
    { name: 'last_hidden_state', type: 'float32' as const, shape: ['batch', 'sequence', channels] },
    ...Array.from({ length: layers + 1 }, (_, i) => ({
      name: `hidden_states.${i}`,
      type: 'float32' as const,
      shape: ['batch', 'sequence', channels],
    })),
    ...(withProjection ? [{ name: 'text_embeds', type: 'float32' as const, shape: ['batch', 3] }] : []),
  ];
  const raw: RawSession = {
    inputs: [{ name: 'input_ids', type: 'int64', shape: ['batch', 'sequence'] }],
    outputs,
    async run(feeds, fetches) {
      const ids = feeds['input_ids']!;
      const [n = 0, len = 0] = ids.dims;
      const out: Record<string, { type: 'float32'; data: Float32Array; dims: number[] }> = {};
      for (const name of fetches ?? outputs.map((o) => o.name)) {
        if (name === 'text_embeds') {
          out[name] = {
            type: 'float32',
            data: Float32Array.from({ length: n * 3 }, (_, i) => Math.floor(i / 3) + 0.5),
            dims: [n, 3],
          };
          continue;
        }
        const layer = name === 'last_hidden_state' ? 100 : Number(name.split('.')[1]);
        const data = new Float32Array(n * len * channels);
        for (let t = 0; t < n * len; t++)
          data.fill(Number((ids.data as BigInt64Array)[t]) / 1000 + layer, t * channels, (t + 1) * channels);
        out[name] = { type: 'float32', data, dims: [n, len, channels] };
      }
      return out;
    },
    release: async () => {},
  };
  return new ModelSession(
    { reload: async () => raw, touch: () => {}, releaseIdle: async () => 0 },
    'k',
    'fake.onnx',
    { executionProvider: 'cpu' },
    0,
    raw,
  );
}

describe('prompt conditioning (A1111 chunks)', () => {
  let tokenizer: ClipTokenizer;
  let tokenizer2: ClipTokenizer;
  beforeAll(async () => {
    tokenizer = await ClipTokenizer.fromModelFolder(path.join(FIXTURES, 'sdxl-tiny'));
    tokenizer2 = await ClipTokenizer.fromModelFolder(path.join(FIXTURES, 'sdxl-tiny'), 'tokenizer_2');
  });

  it('encodes long prompts as 77-token chunks laid end to end and pads the negative with empty chunks', async () => {
    const encoder = new PromptEncoder({ tokenizer, encoder: new TextEncoder(fakeEncoder(2, 3, false)) }, undefined, {
      family: 'sd1',
    });
    const long = await encoder.encode(Array.from({ length: 100 }, () => 'cat').join(' '));
    expect([long.tokens, long.channels]).toEqual([154, 2]);
    // Start of the second chunk: BOS again, last layer.
    expect(long.hidden[77 * 2]).toBeCloseTo(49.406 + 100, 4);
    const negative = await encoder.encode('blurry');
    expect(negative.tokens).toBe(77);
    const [paddedNegative, prompt] = padToSameLength(negative, long, await encoder.empty());
    expect(prompt).toBe(long);
    expect(paddedNegative.tokens).toBe(154);
    const empty = await encoder.encode('');
    expect(Array.from(paddedNegative.hidden.subarray(77 * 2))).toEqual(Array.from(empty.hidden));
  });

  it('applies prompt weights per chunk and clip skip through the final norm', async () => {
    const finalNorm = async () => ({ weight: Float32Array.of(2, 2), bias: Float32Array.of(5, 5), epsilon: undefined });
    const encoder = new PromptEncoder({ tokenizer, encoder: new TextEncoder(fakeEncoder(2, 3, false)) }, undefined, {
      family: 'sd1',
      clipSkip: 2,
      finalNorm,
    });
    // Constant rows normalize to 0 → 0 · 2 + 5.
    const skipped = await encoder.encode('a cat');
    expect(Array.from(skipped.hidden.subarray(0, 4))).toEqual([5, 5, 5, 5]);
    const plain = new PromptEncoder({ tokenizer, encoder: new TextEncoder(fakeEncoder(2, 3, false)) }, undefined, {
      family: 'sd1',
    });
    const weighted = await plain.encode('(cat:1.5)');
    const unweighted = await plain.encode('cat');
    expect(weighted.hidden[2]).not.toBe(unweighted.hidden[2]);
    const noEmphasis = new PromptEncoder({ tokenizer, encoder: new TextEncoder(fakeEncoder(2, 3, false)) }, undefined, {
      family: 'sd1',
      emphasis: false,
    });
    expect((await noEmphasis.encode('cat')).hidden).toEqual(unweighted.hidden);
  });

  it('SDXL: penultimate layers of both encoders side by side, pooled from the second', async () => {
    const encoder = new PromptEncoder(
      { tokenizer, encoder: new TextEncoder(fakeEncoder(2, 3, false)) },
      { tokenizer: tokenizer2, encoder: new TextEncoder(fakeEncoder(3, 3, true)) },
      { family: 'sdxl' },
    );
    const c: Conditioning = await encoder.encode('a cat');
    expect([c.tokens, c.channels, c.pooledDim]).toEqual([77, 5, 3]);
    // Token 0 (BOS): first encoder's hidden_states.2 in channels 0-1, second's in 2-4.
    expect(Array.from(c.hidden.subarray(0, 5))).toEqual(Array(5).fill(Math.fround(49.406 + 2)));
    // Padding after EOS: the first tokenizer pads with EOS, the second with "!" (id 0).
    expect(c.hidden[76 * 5]).toBeCloseTo(49.407 + 2, 4);
    expect(c.hidden[76 * 5 + 2]).toBeCloseTo(2, 4);
    expect(Array.from(c.pooled!)).toEqual([0.5, 0.5, 0.5]);
  });
});
