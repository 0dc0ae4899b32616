/**
 * buildUNet against diffusers: the sd15-tiny and sdxl-tiny UNets built from their diffusers
 * config + safetensors, run in onnxruntime (CPU), compared with the fixtures' own torch.onnx
 * exports on the same inputs and with the diffusers forward in sd15-tiny/reference.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import * as ort from 'onnxruntime-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PinholeError } from '../../src-shared/errors';
import { createTensor, encodeModel, GraphBuilder, type Model, type ValueInfo } from '../../src-main/engine/graph';
import { type ModuleCall, type ModuleHooks } from '../../src-main/engine/models/layers';
import { buildUNet, type UNetBuildOptions, type UNetConfig } from '../../src-main/engine/models/unet';
import { safetensorsWeights, type WeightSource } from '../../src-main/engine/models/weight-source';
import { SafetensorsFile } from '../../src-main/engine/weights';
import { FIXTURES } from '../helpers/fixtures';
import { readFloat32 } from '../helpers/onnx';

const OPTIONS: ort.InferenceSession.SessionOptions = { executionProviders: ['cpu'], intraOpNumThreads: 2 };
const TOLERANCE = 1e-4;

type Feeds = Record<string, ort.Tensor>;

/** Deterministic uniform noise in [−scale, scale). */
function noise(n: number, seed: number, scale = 1): Float32Array {
  let s = seed;
  return new Float32Array(n).map(() => (((s = (s * 16807) % 2147483647) / 2147483647) * 2 - 1) * scale);
}

function maxDiff(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}

async function session(source: string | Uint8Array): Promise<ort.InferenceSession> {
  return typeof source === 'string'
    ? ort.InferenceSession.create(source, OPTIONS)
    : ort.InferenceSession.create(source, OPTIONS);
}

async function outSample(s: ort.InferenceSession, feeds: Feeds): Promise<Float32Array> {
  const out = await s.run(feeds);
  return out['out_sample']!.data as Float32Array;
}

const f32 = (data: Float32Array | number[], dims: number[]) => new ort.Tensor('float32', Float32Array.from(data), dims);
const i64 = (data: number[], dims: number[]) => new ort.Tensor('int64', BigInt64Array.from(data.map(BigInt)), dims);

/** A fixture UNet folder: its config, its weights, and builds of it. */
class Fixture {
  private constructor(
    readonly config: UNetConfig,
    readonly file: SafetensorsFile,
    readonly weights: WeightSource,
    readonly exportPath: string,
  ) {}

  static async open(name: string): Promise<Fixture> {
    const dir = path.join(FIXTURES, name, 'unet');
    const config = JSON.parse(readFileSync(path.join(dir, 'config.json'), 'utf8')) as UNetConfig;
    const file = await SafetensorsFile.open(path.join(dir, 'diffusion_pytorch_model.safetensors'));
    return new Fixture(config, file, safetensorsWeights(file), path.join(dir, 'model.onnx'));
  }

  build(options: UNetBuildOptions = {}): Model {
    return buildUNet(this.config, this.weights, options);
  }

  session(options: UNetBuildOptions = {}): Promise<ort.InferenceSession> {
    return session(encodeModel(this.build(options)));
  }
}

describe('buildUNet: sd15-tiny', () => {
  let fx: Fixture;
  let ours: ort.InferenceSession;
  let exported: ort.InferenceSession;
  const diffs: Record<string, number> = {};

  beforeAll(async () => {
    fx = await Fixture.open('sd15-tiny');
    ours = await fx.session();
    exported = await session(fx.exportPath);
  });
  afterAll(async () => {
    await ours?.release();
    await exported?.release();
    await fx?.file.close();
    console.info('sd15-tiny max |Δ|', diffs);
  });

  it('declares the inputs and output the pipelines expect', () => {
    const model = fx.build();
    const io = (vs: readonly ValueInfo[]) => vs.map((v) => [v.name, v.dtype, v.shape]);
    expect(io(model.graph.inputs)).toEqual([
      ['sample', 'float32', ['batch', 4, 'height', 'width']],
      ['timestep', 'float32', ['batch']],
      ['encoder_hidden_states', 'float32', ['batch', 'sequence', 32]],
    ]);
    expect(io(model.graph.outputs)).toEqual([['out_sample', 'float32', ['batch', 4, 'height', 'width']]]);
    const domains = new Set(model.graph.nodes.map((n) => n.domain));
    expect([...domains]).toEqual(['']);
  });

  it('matches the diffusers reference forward (float and int64 timesteps)', async () => {
    const sample = readFloat32(path.join(FIXTURES, 'sd15-tiny/reference/unet.sample.bin'));
    const ehs = readFloat32(path.join(FIXTURES, 'sd15-tiny/reference/unet.ehs.bin'));
    const ref = readFloat32(path.join(FIXTURES, 'sd15-tiny/reference/unet.out_sample.bin'));
    const cases = JSON.parse(readFileSync(path.join(FIXTURES, 'sd15-tiny/reference/cases.json'), 'utf8')) as {
      unet_forward: { timestep: number };
    };
    const t = cases.unet_forward.timestep;
    const feeds = (timestep: ort.Tensor): Feeds => ({
      sample: f32(sample, [2, 4, 32, 32]),
      timestep,
      encoder_hidden_states: f32(ehs, [2, 77, 32]),
    });
    diffs['reference'] = maxDiff(await outSample(ours, feeds(f32([t, t], [2]))), ref);
    expect(diffs['reference']).toBeLessThanOrEqual(TOLERANCE);

    const reduce = await fx.session({ groupNorm: 'reduce' });
    try {
      diffs['reference groupNorm=reduce'] = maxDiff(await outSample(reduce, feeds(f32([t, t], [2]))), ref);
    } finally {
      await reduce.release();
    }
    expect(diffs['reference groupNorm=reduce']).toBeLessThanOrEqual(TOLERANCE);

    const int = await fx.session({ timestepInput: 'int64' });
    try {
      diffs['reference int64'] = maxDiff(await outSample(int, feeds(i64([t, t], [2]))), ref);
    } finally {
      await int.release();
    }
    expect(diffs['reference int64']).toBeLessThanOrEqual(TOLERANCE);
  });

  it.each([
    [32, 24, [999, 1]],
    [24, 40, [500, 250]],
  ])('matches the fixture export at %i×%i latents, timesteps %j', async (h, w, ts) => {
    const feeds = (timestep: ort.Tensor): Feeds => ({
      sample: f32(noise(2 * 4 * h * w, h * 31 + w), [2, 4, h, w]),
      timestep,
      encoder_hidden_states: f32(noise(2 * 77 * 32, 7 + h), [2, 77, 32]),
    });
    const expected = await outSample(exported, feeds(i64(ts, [2])));
    const got = await outSample(ours, feeds(f32(ts, [2])));
    diffs[`export ${h}x${w}`] = maxDiff(got, expected);
    expect(diffs[`export ${h}x${w}`]).toBeLessThanOrEqual(TOLERANCE);
  });

  it('runs latent sizes that do not halve evenly (the export cannot: it hard-codes 2× upsampling)', async () => {
    // diffusers then resizes each upsampler's output to its skip connection's size; the
    // nearest-resize rule itself is checked against torch's formula in the unit tests.
    const [h, w] = [21, 13];
    const out = await ours.run({
      sample: f32(noise(2 * 4 * h * w, 3), [2, 4, h, w]),
      timestep: f32([731, 12], [2]),
      encoder_hidden_states: f32(noise(2 * 77 * 32, 4), [2, 77, 32]),
    });
    expect(out['out_sample']!.dims).toEqual([2, 4, h, w]);
    expect((out['out_sample']!.data as Float32Array).every(Number.isFinite)).toBe(true);
  });

  it('takes one timestep per sample: a batch of 2 equals two batches of 1', async () => {
    const [h, w] = [16, 24];
    const sample = noise(2 * 4 * h * w, 11);
    const ehs = noise(2 * 77 * 32, 12);
    const both = await outSample(ours, {
      sample: f32(sample, [2, 4, h, w]),
      timestep: f32([900, 37.5], [2]),
      encoder_hidden_states: f32(ehs, [2, 77, 32]),
    });
    const n = 4 * h * w;
    for (const [i, t] of [900, 37.5].entries()) {
      const one = await outSample(ours, {
        sample: f32(sample.subarray(i * n, (i + 1) * n), [1, 4, h, w]),
        timestep: f32([t], [1]),
        encoder_hidden_states: f32(ehs.subarray(i * 77 * 32, (i + 1) * 77 * 32), [1, 77, 32]),
      });
      expect(maxDiff(both.subarray(i * n, (i + 1) * n), one)).toBeLessThanOrEqual(1e-5);
    }
    // Different timesteps really give different predictions for the same input.
    const same = await outSample(ours, {
      sample: f32(sample.subarray(0, n), [1, 4, h, w]),
      timestep: f32([37.5], [1]),
      encoder_hidden_states: f32(ehs.subarray(0, 77 * 32), [1, 77, 32]),
    });
    expect(maxDiff(both.subarray(0, n), same)).toBeGreaterThan(1e-3);
  });

  it('hooks see every transformer Linear and 1×1 Conv with kohya-compatible names', async () => {
    const calls: ModuleCall[] = [];
    const recorder: ModuleHooks = {
      module(call) {
        calls.push(call);
        return call.base();
      },
    };
    fx.build({ hooks: recorder });
    const train = JSON.parse(readFileSync(path.join(FIXTURES, 'sd15-tiny/training/train.json'), 'utf8')) as {
      kohya_keys_rank4: { unet: Record<string, number[]> };
    };
    const kohya = new Map<string, number>();
    for (const [key, shape] of Object.entries(train.kohya_keys_rank4.unet)) {
      if (key.endsWith('.lora_down.weight')) kohya.set(key.slice(0, -'.lora_down.weight'.length), shape[1]!);
    }
    // kohya's default UNet targets: every Linear and 1×1 Conv inside a Transformer2DModel.
    const targets = calls.filter((c) => /\.attentions\.\d+\./.test(c.path) && (c.kind === 'linear' || c.kernel === 1));
    // kohya's lora_down takes the module's input features: the weight's second dim.
    const names = new Map(
      targets.map((c) => [`lora_unet_${c.path.replace(/\./g, '_')}`, fx.weights.get(`${c.path}.weight`).dims[1]]),
    );
    expect([...names.keys()].sort()).toEqual([...kohya.keys()].sort());
    for (const [name, inFeatures] of kohya) expect(names.get(name), name).toBe(inFeatures);
    for (const suffix of ['to_q', 'to_k', 'to_v', 'to_out.0', 'ff.net.0.proj', 'ff.net.2', 'proj_in', 'proj_out']) {
      expect(
        targets.some((c) => c.path.endsWith(`.${suffix}`)),
        suffix,
      ).toBe(true);
    }
    // Every other Linear / Conv is seen too (resnets, time embedding, conv_in/out, resamplers).
    const paths = new Set(calls.map((c) => c.path));
    for (const p of [
      'conv_in',
      'conv_out',
      'time_embedding.linear_1',
      'down_blocks.0.resnets.0.conv1',
      'down_blocks.0.downsamplers.0.conv',
      'up_blocks.0.upsamplers.0.conv',
      'up_blocks.1.resnets.0.conv_shortcut',
    ]) {
      expect(paths.has(p), p).toBe(true);
    }
    expect(calls.length).toBe(paths.size);
  });

  it('a hook that adds zero to every module changes nothing', async () => {
    const zero: ModuleHooks = {
      module(call, b) {
        return b.add(call.base(), 0);
      },
    };
    const hooked = await fx.session({ hooks: zero });
    try {
      const feeds: Feeds = {
        sample: f32(noise(2 * 4 * 16 * 16, 5), [2, 4, 16, 16]),
        timestep: f32([250, 750], [2]),
        encoder_hidden_states: f32(noise(2 * 77 * 32, 6), [2, 77, 32]),
      };
      expect(maxDiff(await outSample(hooked, feeds), await outSample(ours, feeds))).toBe(0);
    } finally {
      await hooked.release();
    }
  });

  it('builds deterministically: two builds encode to identical bytes', () => {
    const a = encodeModel(fx.build());
    const b = encodeModel(fx.build());
    expect(Buffer.from(a).equals(Buffer.from(b))).toBe(true);
  });
});

describe('buildUNet: sdxl-tiny (text_time)', () => {
  let fx: Fixture;
  let exported: ort.InferenceSession;
  let ours: ort.InferenceSession;
  let scalar: ort.InferenceSession;
  const diffs: Record<string, number> = {};

  beforeAll(async () => {
    fx = await Fixture.open('sdxl-tiny');
    exported = await session(fx.exportPath);
    ours = await fx.session();
    scalar = await fx.session({ timestepShape: 'scalar' });
  });
  afterAll(async () => {
    await exported?.release();
    await ours?.release();
    await scalar?.release();
    await fx?.file.close();
    console.info('sdxl-tiny max |Δ|', diffs);
  });

  const inputs = (h: number, w: number, seed: number) => ({
    sample: f32(noise(2 * 4 * h * w, seed), [2, 4, h, w]),
    encoder_hidden_states: f32(noise(2 * 77 * 64, seed + 1), [2, 77, 64]),
    text_embeds: f32(noise(2 * 32, seed + 2), [2, 32]),
    time_ids: f32([h * 8, w * 8, 0, 0, h * 8, w * 8, 1024, 1024, 16, 8, 768, 1024], [2, 6]),
  });

  it.each([
    [16, 24, 751],
    [32, 32, 1],
    [20, 12, 999],
  ])('matches the fixture export at %i×%i latents, timestep %i', async (h, w, t) => {
    const base = inputs(h, w, h + w);
    const expected = await outSample(exported, { ...base, timestep: f32([t], []) });
    diffs[`export ${h}x${w}`] = maxDiff(await outSample(ours, { ...base, timestep: f32([t, t], [2]) }), expected);
    expect(diffs[`export ${h}x${w}`]).toBeLessThanOrEqual(TOLERANCE);
    // A single value is broadcast to the batch, whether declared scalar or fed as [1].
    expect(maxDiff(await outSample(scalar, { ...base, timestep: f32([t], []) }), expected)).toBeLessThanOrEqual(
      TOLERANCE,
    );
    expect(maxDiff(await outSample(ours, { ...base, timestep: f32([t], [1]) }), expected)).toBeLessThanOrEqual(
      TOLERANCE,
    );
  });

  it('declares text_embeds and time_ids', () => {
    const names = fx.build().graph.inputs.map((i) => [i.name, i.shape]);
    expect(names).toEqual([
      ['sample', ['batch', 4, 'height', 'width']],
      ['timestep', ['batch']],
      ['encoder_hidden_states', ['batch', 'sequence', 64]],
      ['text_embeds', ['batch', 32]],
      ['time_ids', ['batch', 6]],
    ]);
  });
});

describe('buildUNet: unsupported configs', () => {
  let fx: Fixture;
  beforeAll(async () => (fx = await Fixture.open('sd15-tiny')));
  afterAll(async () => fx?.file.close());

  it('refuses an unknown block type, naming the key and the value', () => {
    const config = { ...fx.config, down_block_types: ['DownBlock2D', 'SimpleCrossAttnDownBlock2D'] };
    const attempt = () => buildUNet(config, fx.weights);
    expect(attempt).toThrow(PinholeError);
    expect(attempt).toThrow(/down_block_types.*SimpleCrossAttnDownBlock2D/);
  });
});

describe('buildUNet: LCM timestep_cond', () => {
  it('adds cond_proj(timestep_cond) to the timestep features', async () => {
    const fx = await Fixture.open('sd15-tiny');
    const key = 'time_embedding.cond_proj.weight';
    const condProj = createTensor(key, 'float32', [32, 8], noise(32 * 8, 9, 0.5));
    const weights: WeightSource = {
      has: (n) => n === key || fx.weights.has(n),
      get: (n) => (n === key ? condProj : fx.weights.get(n)),
      names: () => [...fx.weights.names(), key],
    };
    const lcm = await session(encodeModel(buildUNet({ ...fx.config, time_cond_proj_dim: 8 }, weights)));
    const plain = await fx.session();
    try {
      const base: Feeds = {
        sample: f32(noise(4 * 16 * 16, 21), [1, 4, 16, 16]),
        timestep: f32([499], [1]),
        encoder_hidden_states: f32(noise(77 * 32, 22), [1, 77, 32]),
      };
      const reference = await outSample(plain, base);
      expect(
        maxDiff(await outSample(lcm, { ...base, timestep_cond: f32(new Float32Array(8), [1, 8]) }), reference),
      ).toBe(0);
      const guided = await outSample(lcm, { ...base, timestep_cond: f32(noise(8, 23), [1, 8]) });
      expect(maxDiff(guided, reference)).toBeGreaterThan(1e-4);
    } finally {
      await lcm.release();
      await plain.release();
      await fx.file.close();
    }
  });
});

describe('upsampling to a skip connection of odd size', () => {
  it("follows torch's nearest rule: src = min(⌊dst · fl32(in / out)⌋, in − 1)", async () => {
    const b = new GraphBuilder({ name: 'resize' });
    const x = b.input('x', 'float32', [1, 1, 'h', 'w']);
    const target = b.input('target', 'float32', [1, 1, 'H', 'W']);
    const sizes = b.concat([b.shape(x, { end: 2 }), b.shape(target, { start: 2 })], 0);
    b.output(b.resize(x, { sizes, mode: 'nearest' }), 'y');
    const s = await session(encodeModel(b.build()));
    try {
      for (const [out, inp] of [
        [
          [5, 13],
          [3, 7],
        ],
        [
          [21, 13],
          [11, 7],
        ],
        [
          [97, 135],
          [49, 68],
        ],
        [
          [64, 48],
          [32, 24],
        ],
      ] as const) {
        const data = Float32Array.from({ length: inp[0] * inp[1] }, (_, i) => i);
        const y = (
          await s.run({
            x: f32(data, [1, 1, inp[0], inp[1]]),
            target: f32(new Float32Array(out[0] * out[1]), [1, 1, out[0], out[1]]),
          })
        )['y']!.data as Float32Array;
        const src = (d: number, i: number, o: number) =>
          Math.min(Math.floor(Math.fround(d * Math.fround(i / o))), i - 1);
        const expected = Float32Array.from({ length: out[0] * out[1] }, (_, k) => {
          const [r, c] = [Math.floor(k / out[1]), k % out[1]];
          return src(r, inp[0], out[0]) * inp[1] + src(c, inp[1], out[1]);
        });
        expect([...y]).toEqual([...expected]);
      }
    } finally {
      await s.release();
    }
  });
});
