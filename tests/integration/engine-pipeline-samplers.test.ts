/**
 * The pipeline with what the reference runs do not cover, checked by what reaches the UNet (a recording backend):
 * - an LCM UNet (our builder, `time_cond_proj_dim` set) under the `lcm` sampler: `timestep_cond` is diffusers'
 *   guidance-scale embedding of w = cfg − 1, one row per image, and no negative batch;
 * - Heun (two UNet calls per step but the last) and DPM++ 2M Karras end to end on sd15-tiny, deterministic;
 * - image sizes whose latents do not halve evenly: refused before running for a third-party UNet export (which
 *   hard-codes 2× upsampling), generated with our builder's UNet (which resizes to the skip connection).
 */
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTensor, saveModel, type Tensor } from '../../src-main/engine/graph';
import { buildUNet, buildVaeDecoder, memoryWeights, type WeightSource } from '../../src-main/engine/models';
import {
  countFixedUpsamplers,
  Engine,
  UNetRunner,
  unsupportedSizeError,
  type GenerateRequest,
} from '../../src-main/engine/pipelines';
import { vaeStateDictShapes } from '../helpers/diffusers-state-dicts';
import { FIXTURES } from '../helpers/fixtures';
import { openSafetensorsModel } from '../helpers/onnx';
import { recordingBackend, type RecordedRun } from '../helpers/recording-backend';
import { makeTempDir } from '../helpers/temp-dir';

const SD15 = path.join(FIXTURES, 'sd15-tiny');
const COND_DIM = 32;

const temp = makeTempDir('pinhole-samplers-');
const recorder = recordingBackend();
const engine = new Engine({ cacheDir: path.join(temp.dir, 'cache'), backend: recorder.backend, provider: 'cpu' });
afterAll(async () => {
  await engine.dispose();
  temp.cleanup();
});

/**
 * sd15-tiny as a folder of real directories with a link per file (never a linked directory: writing into one
 * would write into the shared fixtures), without the sub-folders in `replace`, which the caller writes.
 */
function folderFrom(name: string, replace: readonly string[]): string {
  const dir = path.join(temp.dir, name);
  mkdirSync(dir);
  for (const entry of readdirSync(SD15, { withFileTypes: true })) {
    if (['reference', 'training', ...replace].includes(entry.name)) continue;
    if (!entry.isDirectory()) {
      symlinkSync(path.join(SD15, entry.name), path.join(dir, entry.name));
      continue;
    }
    mkdirSync(path.join(dir, entry.name));
    for (const file of readdirSync(path.join(SD15, entry.name)))
      symlinkSync(path.join(SD15, entry.name, file), path.join(dir, entry.name, file));
  }
  for (const sub of replace) mkdirSync(path.join(dir, sub));
  return dir;
}

/** Deterministic values in (−scale, scale). */
function values(n: number, seed: number, scale: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return (s / 2 ** 32 - 0.5) * 2 * scale;
  });
}

/** sd15-tiny's UNet weights as our builder's graph (plus `extra` tensors), with its config changed by `config`. */
async function writeBuiltUNet(dir: string, config: Record<string, unknown>, extra: Tensor[] = []): Promise<void> {
  const fx = await openSafetensorsModel<Record<string, unknown>>(
    path.join(SD15, 'unet', 'diffusion_pytorch_model.safetensors'),
    path.join(SD15, 'unet', 'config.json'),
  );
  try {
    const added = new Map(extra.map((t) => [t.name, t]));
    const weights: WeightSource = {
      has: (n) => added.has(n) || fx.weights.has(n),
      get: (n) => added.get(n) ?? fx.weights.get(n),
      names: () => [...fx.weights.names(), ...added.keys()],
    };
    const full = { ...fx.config, ...config };
    await saveModel(buildUNet(full, weights), path.join(dir, 'unet', 'model.onnx'));
    writeFileSync(path.join(dir, 'unet', 'config.json'), JSON.stringify(full));
  } finally {
    await fx.file.close();
  }
}

/** The UNet's runs among the recorded ones. */
const unetRuns = (dir: string): RecordedRun[] =>
  recorder.runs.filter((r) => r.file === path.join(dir, 'unet', 'model.onnx'));

/** A fed timestep as a number (the export declares int64, our builder float). */
const timestepOf = (run: RecordedRun): number => Number(run.feeds['timestep']!.data![0]!);

describe('LCM: a UNet with a guidance embedding', () => {
  let lcm: string;
  beforeAll(async () => {
    lcm = folderFrom('lcm', ['unet', 'scheduler']);
    // diffusers' TimestepEmbedding.cond_proj: Linear(time_cond_proj_dim → the timestep features), no bias.
    const condProj = createTensor(
      'time_embedding.cond_proj.weight',
      'float32',
      [32, COND_DIM],
      values(32 * COND_DIM, 5, 0.2),
    );
    await writeBuiltUNet(lcm, { time_cond_proj_dim: COND_DIM }, [condProj]);
    const scheduler = JSON.parse(readFileSync(path.join(SD15, 'scheduler', 'scheduler_config.json'), 'utf8')) as object;
    writeFileSync(
      path.join(lcm, 'scheduler', 'scheduler_config.json'),
      JSON.stringify({ ...scheduler, _class_name: 'LCMScheduler' }),
    );
  });

  /**
   * diffusers' `LatentConsistencyModelPipeline.get_guidance_scale_embedding(w, dim)` for one w, restated from its
   * source with torch's float32 rounding at each operation: `w·1000`, `ln(10000) / (dim/2 − 1)`,
   * `exp(arange(dim/2) · −that)`, their product, then `[sin, cos]`.
   */
  function diffusersEmbedding(w: number, dim: number): Float64Array {
    const f = Math.fround;
    const half = Math.floor(dim / 2);
    const scaled = f(w * 1000);
    const step = f(f(Math.log(10000)) / (half - 1));
    const out = new Float64Array(dim);
    for (let k = 0; k < half; k++) {
      const x = f(scaled * f(Math.exp(f(k * -step))));
      out[k] = Math.sin(x);
      out[half + k] = Math.cos(x);
    }
    return out;
  }

  it('is detected as LCM from its configs', async () => {
    expect((await engine.pipeline(lcm)).model.traits).toMatchObject({
      variant: 'lcm',
      recommended: { sampler: 'lcm', steps: 4, cfgScale: 8.5 },
    });
  });

  it('feeds timestep_cond = embedding(cfg − 1) per image and never doubles the batch', async () => {
    const request: GenerateRequest = {
      model: lcm,
      prompt: 'a lighthouse at dusk',
      negativePrompt: 'fog',
      seed: 7n,
      sampler: 'lcm',
      steps: 4,
      cfgScale: 8.5,
      width: 64,
      height: 64,
      batchSize: 2,
    };
    recorder.clear();
    const result = await engine.generate(request);
    // LCMScheduler's 4 steps out of its 50 original ones (the example in diffusers' LCM docs).
    expect(result.timesteps).toEqual([999, 759, 499, 259]);
    const runs = unetRuns(lcm);
    expect(runs.map(timestepOf)).toEqual([999, 759, 499, 259]);
    const expected = diffusersEmbedding(8.5 - 1, COND_DIM);
    for (const run of runs) {
      expect(run.feeds['sample']!.dims).toEqual([2, 4, 32, 32]);
      expect(run.feeds['encoder_hidden_states']!.dims).toEqual([2, 77, 32]);
      const cond = run.feeds['timestep_cond']!;
      expect(cond.dims).toEqual([2, COND_DIM]);
      for (let row = 0; row < 2; row++) {
        const got = (cond.data as Float32Array).subarray(row * COND_DIM, (row + 1) * COND_DIM);
        let diff = 0;
        got.forEach((v, i) => (diff = Math.max(diff, Math.abs(v - expected[i]!))));
        expect(diff).toBeLessThan(1e-5);
      }
    }
    // The guidance scale reaches the UNet only through the embedding: cfg 1 gives w = 0, [sin 0…, cos 0…].
    recorder.clear();
    const plain = await engine.generate({ ...request, cfgScale: 1, batchSize: 1 });
    const zero = unetRuns(lcm)[0]!.feeds['timestep_cond']!;
    expect([...(zero.data as Float32Array)]).toEqual([...Array(COND_DIM / 2).fill(0), ...Array(COND_DIM / 2).fill(1)]);
    // …and changes the image (the check above is about something the UNet uses).
    expect(Buffer.from(plain.images[0]!.image.data).equals(Buffer.from(result.images[0]!.image.data))).toBe(false);
  });
});

describe('Heun and DPM++ 2M Karras on sd15-tiny', () => {
  const request: GenerateRequest = {
    model: SD15,
    prompt: 'a red cube on a table',
    negativePrompt: 'blurry',
    seed: 11n,
    steps: 5,
    cfgScale: 7,
    width: 64,
    height: 64,
  };

  it('Heun: the UNet twice per step except the last, on diffusers’ interleaved timesteps; deterministic', async () => {
    recorder.clear();
    const a = await engine.generate({ ...request, sampler: 'heun' });
    const runs = unetRuns(SD15);
    expect(runs).toHaveLength(2 * 5 - 1);
    // HeunDiscreteScheduler: timesteps[:1] then every later one twice (repeat_interleave(2)).
    const t = a.timesteps;
    expect(t).toHaveLength(9);
    for (let i = 1; i < 9; i += 2) expect(t[i]).toBe(t[i + 1]);
    for (let i = 0; i < 8; i += 2) expect(t[i]!).toBeGreaterThan(t[i + 1]!);
    // An int64 UNet gets them truncated toward zero.
    expect(runs.map(timestepOf)).toEqual(t.map(Math.trunc));
    for (const run of runs) expect(run.feeds['sample']!.dims).toEqual([2, 4, 32, 32]);
    const b = await engine.generate({ ...request, sampler: 'heun' });
    expect(Buffer.from(a.images[0]!.png).equals(Buffer.from(b.images[0]!.png))).toBe(true);
  });

  it('DPM++ 2M Karras: one UNet call per step on Karras timesteps; deterministic', async () => {
    recorder.clear();
    const a = await engine.generate({ ...request, sampler: 'dpmpp_2m_karras' });
    expect(unetRuns(SD15)).toHaveLength(5);
    expect(unetRuns(SD15).map(timestepOf)).toEqual(a.timesteps.map(Math.trunc));
    const plain = await engine.generate({ ...request, sampler: 'dpmpp_2m' });
    // Karras sigmas move the timesteps (the sampler's own option took effect).
    expect(a.timesteps).not.toEqual(plain.timesteps);
    expect(a.timesteps[0]).toBe(plain.timesteps[0]);
    const b = await engine.generate({ ...request, sampler: 'dpmpp_2m_karras' });
    expect(Buffer.from(a.images[0]!.png).equals(Buffer.from(b.images[0]!.png))).toBe(true);
    expect(b.images[0]!.parameters).toContain('Sampler: DPM++ 2M Karras');
  });
});

describe('latent sizes that do not halve evenly', () => {
  // An 8× VAE (4 levels, random weights) in front of sd15-tiny's 2-level UNet: 72 px → 9 latent pixels.
  const vaeConfig = {
    _class_name: 'AutoencoderKL',
    in_channels: 3,
    out_channels: 3,
    down_block_types: Array(4).fill('DownEncoderBlock2D'),
    up_block_types: Array(4).fill('UpDecoderBlock2D'),
    block_out_channels: [32, 32, 32, 32],
    layers_per_block: 1,
    latent_channels: 4,
    norm_num_groups: 32,
    scaling_factor: 0.18215,
  };
  let exported: string;
  let built: string;

  const writeVae = async (dir: string) => {
    const tensors = new Map<string, Tensor>();
    let seed = 1;
    for (const [name, shape] of vaeStateDictShapes(vaeConfig)) {
      const n = shape.reduce((a, b) => a * b, 1);
      const data =
        name.endsWith('norm1.weight') || name.endsWith('norm2.weight')
          ? new Float32Array(n).fill(1)
          : values(n, seed++, 0.05);
      tensors.set(name, createTensor(name, 'float32', shape, data));
    }
    await saveModel(buildVaeDecoder(vaeConfig, memoryWeights(tensors)), path.join(dir, 'vae_decoder', 'model.onnx'));
    for (const sub of ['vae_decoder', 'vae'])
      writeFileSync(path.join(dir, sub, 'config.json'), JSON.stringify(vaeConfig));
  };

  beforeAll(async () => {
    exported = folderFrom('vae8-exported-unet', ['vae_decoder', 'vae', 'vae_encoder']);
    await writeVae(exported);
    built = folderFrom('vae8-built-unet', ['vae_decoder', 'vae', 'vae_encoder', 'unet']);
    await writeVae(built);
    await writeBuiltUNet(built, {});
  });

  const request = (model: string, width: number, height: number): GenerateRequest => ({
    model,
    prompt: 'a tower',
    seed: 3n,
    steps: 2,
    width,
    height,
  });

  it('refuses them for a third-party export, naming the sizes that work, before running', async () => {
    expect((await engine.pipeline(exported)).model.vae.scaleFactor).toBe(8);
    recorder.clear();
    await expect(engine.generate(request(exported, 72, 64))).rejects.toMatchObject({
      code: 'INVALID_PARAMS',
      message: expect.stringMatching(
        /^width: 72 is not a multiple of 16 \(use 64 or 80\)\. This model's UNet \(.*unet\/model\.onnx\) was exported with fixed 2× upsampling at 1 levels: it runs latents whose sides are multiples of 2, i\.e\. images whose sides are multiples of 16$/,
      ),
    });
    await expect(engine.generate(request(exported, 72, 40))).rejects.toThrow(
      /^width: 72 .*; height: 40 is not a multiple of 16 \(use 32 or 48\)/,
    );
    // Nothing ran: the check comes before the text encoder and the UNet.
    expect(recorder.runs).toHaveLength(0);
    // What the check spares the user: the export itself fails inside onnxruntime at 9 latent pixels.
    const unet = new UNetRunner(await engine.runtime.session(path.join(exported, 'unet', 'model.onnx')));
    const cond = { encoderHiddenStates: new Float32Array(77 * 32), tokens: 77, channels: 32 };
    await expect(unet.predict(new Float32Array(4 * 8 * 9), [1, 4, 8, 9], 999, cond)).rejects.toThrow();
    // Sizes that halve evenly run.
    const ok = await engine.generate(request(exported, 80, 48));
    expect([ok.images[0]!.image.width, ok.images[0]!.image.height]).toEqual([80, 48]);
  });

  it('counts the fixed 2× upsamplers of an export from its graph: none in our builds', async () => {
    expect(await countFixedUpsamplers(path.join(exported, 'unet', 'model.onnx'))).toBe(1);
    expect(await countFixedUpsamplers(path.join(built, 'unet', 'model.onnx'))).toBe(0);
    // An SD 1.5-sized export (4 levels, 8× VAE) needs multiples of 64; 512 × 768 is fine.
    expect(unsupportedSizeError({ width: 512, height: 768 }, 8, 3, 'unet.onnx')).toBeUndefined();
    expect(unsupportedSizeError({ width: 520, height: 768 }, 8, 3, 'unet.onnx')?.message).toMatch(
      /^width: 520 is not a multiple of 64 \(use 512 or 576\)/,
    );
    expect(unsupportedSizeError({ width: 520, height: 8 }, 8, 0, 'unet.onnx')).toBeUndefined();
  });

  it('generates them with our builder’s UNet, which upsamples to the skip connection’s size', async () => {
    recorder.clear();
    const result = await engine.generate(request(built, 72, 88));
    expect([result.images[0]!.image.width, result.images[0]!.image.height]).toEqual([72, 88]);
    expect(result.latents[0]!.length).toBe(4 * 11 * 9);
    expect(result.latents[0]!.every(Number.isFinite)).toBe(true);
    for (const run of unetRuns(built)) expect(run.feeds['sample']!.dims).toEqual([2, 4, 11, 9]);
  });
});
