/**
 * img2img and inpainting on sd15-tiny. Its ONNX VAE encoder is a legacy export (`latent_sample`, the mode), but
 * the folder also holds the VAE's diffusers weights, so the engine builds the encoder from them (mean ‖ logvar),
 * caches it on disk and samples the distribution as diffusers does: plain copies of the fixture folder reproduce
 * the reference runs. A folder without the weights uses the legacy encoder as it is; the draw order, start
 * steps, blending and inpainting UNets are checked against a plain restatement of diffusers' loops and a fake
 * 9-channel UNet.
 */
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  truncateSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadMask, loadRgb, maskToLatentGrid, rgbToTensor } from '../../src-main/engine/image';
import {
  applyGuidance,
  blendKnown,
  Engine,
  imageLatents,
  startIndexFor,
  UNetRunner,
  VaeEncoder,
  VAE_ENCODER_BUILD_VERSION,
  type GenerateRequest,
  type MaskBlend,
} from '../../src-main/engine/pipelines';
import { TorchGenerator } from '../../src-main/engine/random';
import { Runtime, type HostTensor, type InferenceBackend, type RawSession } from '../../src-main/engine/runtime';
import { createOrtBackend } from '../../src-main/engine/runtime/ort-backend';
import { createScheduler, type SamplerName } from '../../src-main/engine/schedulers';
import { SafetensorsFile, writeSafetensors } from '../../src-main/engine/weights';
import { fixture } from '../helpers/fixtures';
import { expectRgbClose, firstReferenceRun, referenceRequest, type ReferenceRun } from '../helpers/reference-images';
import { makeTempDir } from '../helpers/temp-dir';

const SD15 = fixture('sd15-tiny');
const REF = path.join(SD15, 'reference');
const VAE_WEIGHTS = 'vae/diffusion_pytorch_model.safetensors';

// --- Model folders: plain copies of the fixture (real files, never links into it) ---------------------------

const temp = makeTempDir('pinhole-img2img-');
afterAll(temp.cleanup);
const CACHE = path.join(temp.dir, 'engine-cache');

/**
 * sd15-tiny copied file by file (reference/ and training/ left out) into a fresh folder, made writable; `omit`
 * files are left out and `replace` files written instead. Nothing is ever written into the fixtures.
 */
function modelFolder(
  name: string,
  options: { omit?: readonly string[]; replace?: Record<string, Uint8Array | string> } = {},
): string {
  const dir = path.join(temp.dir, name);
  const omit = new Set(options.omit ?? []);
  const replace = options.replace ?? {};
  mkdirSync(dir);
  for (const entry of readdirSync(SD15, { withFileTypes: true })) {
    if (['reference', 'training'].includes(entry.name)) continue;
    const files = entry.isDirectory()
      ? readdirSync(path.join(SD15, entry.name)).map((f) => `${entry.name}/${f}`)
      : [entry.name];
    for (const rel of files) {
      if (omit.has(rel) || rel in replace) continue;
      mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
      copyFileSync(path.join(SD15, rel), path.join(dir, rel));
      chmodSync(path.join(dir, rel), 0o644);
    }
  }
  for (const [rel, data] of Object.entries(replace)) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), data);
  }
  return dir;
}

// --- Comparisons ----------------------------------------------------------------------------------------------

const maxDiff = (a: Uint8Array | Float32Array, b: Uint8Array | Float32Array): number => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};

/** Expects every latent outside the (latent-grid) mask to equal the image latents; returns how many there are. */
function expectKnownRegionKept(final: Float32Array, mask: Float32Array | Uint8Array, image: Float32Array): number {
  let kept = 0;
  for (let i = 0; i < final.length; i++) {
    if (mask[i % mask.length] !== 0) continue;
    expect(final[i]).toBe(image[i]);
    kept++;
  }
  return kept;
}

// --- Reference runs -------------------------------------------------------------------------------------------

type RefRun = ReferenceRun<SamplerName> & { strength: number; init_image: string; timesteps: number[] };
const refRun = (file: string): RefRun => firstReferenceRun<RefRun>(path.join(REF, file));
const IMG2IMG = refRun('img2img.json');
const INPAINT = refRun('inpaint.json');
const INIT = path.join(REF, IMG2IMG.init_image);
const INPAINT_INIT = path.join(REF, INPAINT.init_image);
const MASK = path.join(REF, INPAINT.mask_image!);

/** The reference run as a request (with its mask when it has one). */
const requestOf = (model: string, run: RefRun): GenerateRequest => referenceRequest(model, run, REF);

/** The cached built encoders (entry folders) in a cache folder. */
const cachedEncoders = (cacheDir: string): string[] => {
  const dir = path.join(cacheDir, 'vae-encoder');
  return existsSync(dir) ? readdirSync(dir).filter((name) => /^[0-9a-f]{32}$/.test(name)) : [];
};

let full: string;
let legacy: string;
const engine = new Engine({ cacheDir: CACHE });
afterAll(() => engine.dispose());
beforeAll(() => {
  full = modelFolder('sd15-copy');
  legacy = modelFolder('sd15-legacy', { omit: [VAE_WEIGHTS] });
});

describe('reference runs (encoder built from vae/diffusion_pytorch_model.safetensors)', () => {
  it('chooses the weights over the legacy ONNX encoder and reproduces img2img (Euler a, 10 steps, strength 0.6)', async () => {
    const pipeline = await engine.pipeline(full);
    expect(pipeline.model.files.vaeWeights).toEqual({
      config: path.join(full, 'vae', 'config.json'),
      weights: path.join(full, VAE_WEIGHTS),
    });
    expect(await pipeline.vaeEncoderSource()).toMatchObject({ kind: 'weights' });
    const result = await engine.generate(requestOf(full, IMG2IMG));
    expect(result.mode).toBe('img2img');
    expect(result.timesteps).toEqual(IMG2IMG.timesteps);
    expectRgbClose(result.images[0]!.image.data, readFileSync(path.join(REF, IMG2IMG.image_rgb8)), 'img2img');
    expect(result.images[0]!.parameters).toContain('Denoising strength: 0.6');
    expect((await pipeline.imageEncoder()).givesDistribution).toBe(true);
  });

  it('reproduces inpainting with an ordinary UNet (Euler, 10 steps, strength 1)', async () => {
    const result = await engine.generate(requestOf(full, INPAINT));
    expect(result.mode).toBe('inpaint');
    expect(result.timesteps).toEqual(INPAINT.timesteps);
    expectRgbClose(result.images[0]!.image.data, readFileSync(path.join(REF, INPAINT.image_rgb8)), 'inpaint');

    // After the last step the known region holds the clean image latents, drawn first from the generator.
    const pipeline = await engine.pipeline(full);
    const encoded = await (
      await pipeline.imageEncoder()
    ).encode(rgbToTensor(await loadRgb(INPAINT_INIT, 64, 64)), [1, 3, 64, 64]);
    expect(encoded.kind).toBe('distribution');
    const image = imageLatents(encoded, new TorchGenerator(BigInt(INPAINT.seed)), pipeline.model.vae);
    const mask = maskToLatentGrid(await loadMask(MASK, 64, 64), 64, 64, 32, 32);
    const final = result.latents[0]!;
    const kept = expectKnownRegionKept(final, mask, image);
    expect(kept).toBeGreaterThan(0);
  });

  it("the built encoder's mean is the legacy encoder's mode, and its log-variance is clamped", async () => {
    const pixels = rgbToTensor(await loadRgb(INIT, 64, 64));
    const built = await (await engine.pipeline(full)).imageEncoder();
    const mode = await new VaeEncoder(
      await engine.runtime.session(path.join(full, 'vae_encoder', 'model.onnx')),
    ).encode(pixels, [1, 3, 64, 64]);
    const dist = await built.encode(pixels, [1, 3, 64, 64]);
    if (dist.kind !== 'distribution' || mode.kind !== 'latent') throw new Error('unexpected encoder outputs');
    expect(dist.dims).toEqual([1, 4, 32, 32]);
    expect(maxDiff(dist.mean, mode.latent)).toBeLessThan(1e-4);
    for (const v of dist.logvar) expect(v >= -30 && v <= 20).toBe(true);
  });
});

describe('the on-disk cache of built encoders', () => {
  it('builds once per weights file, reuses it across engines, and rebuilds when the weights change', async () => {
    const entries = cachedEncoders(CACHE);
    expect(entries).toHaveLength(1); // the runs above share one build
    const entry = path.join(CACHE, 'vae-encoder', entries[0]!);
    expect(existsSync(path.join(entry, 'model.onnx'))).toBe(true);
    const source = JSON.parse(readFileSync(path.join(entry, 'source.json'), 'utf8')) as {
      kind: string;
      version: number;
      sources: { weights: { path: string; size: number } };
    };
    expect(source).toMatchObject({ kind: 'vae-encoder', version: VAE_ENCODER_BUILD_VERSION });
    expect(source.sources.weights).toMatchObject({
      path: path.join(full, VAE_WEIGHTS),
      size: statSync(path.join(full, VAE_WEIGHTS)).size,
    });
    const built = statSync(path.join(entry, 'model.onnx')).mtimeMs;

    // A second engine (another process, in effect) finds the cached model and reproduces the run with it.
    const again = new Engine({ cacheDir: CACHE });
    try {
      const result = await again.generate({ ...requestOf(full, IMG2IMG), steps: 4 });
      expect(result.images).toHaveLength(1);
      expect(cachedEncoders(CACHE)).toEqual(entries);
      expect(statSync(path.join(entry, 'model.onnx')).mtimeMs).toBe(built);
    } finally {
      await again.dispose();
    }

    // New weights (a new mtime): a new entry, the old one left alone.
    const weights = path.join(full, VAE_WEIGHTS);
    const later = new Date(statSync(weights).mtimeMs + 5_000);
    utimesSync(weights, later, later);
    const after = new Engine({ cacheDir: CACHE });
    try {
      await after.generate({ ...requestOf(full, IMG2IMG), steps: 4 });
      expect(cachedEncoders(CACHE)).toHaveLength(2);
      expect(cachedEncoders(CACHE)).toContain(entries[0]);
    } finally {
      await after.dispose();
    }
  });

  it('rebuilds an entry that no longer loads (a truncated model.onnx)', async () => {
    const cacheDir = path.join(temp.dir, 'cache-truncated');
    const first = new Engine({ cacheDir });
    const request = { ...requestOf(full, IMG2IMG), steps: 4 };
    let expected: Uint8Array;
    try {
      expected = (await first.generate(request)).images[0]!.image.data;
    } finally {
      await first.dispose();
    }
    const [key] = cachedEncoders(cacheDir);
    const file = path.join(cacheDir, 'vae-encoder', key!, 'model.onnx');
    truncateSync(file, 100);
    const second = new Engine({ cacheDir });
    try {
      const result = await second.generate(request);
      expect(Array.from(result.images[0]!.image.data)).toEqual(Array.from(expected));
      expect(statSync(file).size).toBeGreaterThan(100);
    } finally {
      await second.dispose();
    }
  });

  it('defaults to <tmpdir>/pinhole-engine-cache, or $PINHOLE_ENGINE_CACHE', () => {
    const saved = process.env['PINHOLE_ENGINE_CACHE'];
    try {
      delete process.env['PINHOLE_ENGINE_CACHE'];
      expect(new Engine().cacheDir).toMatch(/pinhole-engine-cache$/);
      process.env['PINHOLE_ENGINE_CACHE'] = path.join(temp.dir, 'from-env');
      expect(new Engine().cacheDir).toBe(path.join(temp.dir, 'from-env'));
      expect(new Engine({ cacheDir: CACHE }).cacheDir).toBe(CACHE);
    } finally {
      if (saved === undefined) delete process.env['PINHOLE_ENGINE_CACHE'];
      else process.env['PINHOLE_ENGINE_CACHE'] = saved;
    }
  });
});

describe('folders with other VAE files', () => {
  it('uses the .fp16.safetensors variant when it is the only weights file', async () => {
    const dir = modelFolder('sd15-fp16', { omit: [VAE_WEIGHTS] });
    const source = await SafetensorsFile.open(path.join(SD15, VAE_WEIGHTS));
    try {
      await writeSafetensors(
        path.join(dir, 'vae', 'diffusion_pytorch_model.fp16.safetensors'),
        source.names.map((name) => source.ref(name, { dtype: 'float16' })),
      );
    } finally {
      await source.close();
    }
    const pipeline = await engine.pipeline(dir);
    expect(pipeline.model.files.vaeWeights?.weights).toBe(
      path.join(dir, 'vae', 'diffusion_pytorch_model.fp16.safetensors'),
    );
    expect(await pipeline.vaeEncoderSource()).toMatchObject({ kind: 'weights' });
    const pixels = rgbToTensor(await loadRgb(INIT, 64, 64));
    const half = await (await pipeline.imageEncoder()).encode(pixels, [1, 3, 64, 64]);
    const fullPrecision = await (await (await engine.pipeline(full)).imageEncoder()).encode(pixels, [1, 3, 64, 64]);
    if (half.kind !== 'distribution' || fullPrecision.kind !== 'distribution')
      throw new Error('expected distributions');
    // Only the weights' float16 rounding differs.
    expect(maxDiff(half.mean, fullPrecision.mean)).toBeLessThan(1e-2);
    expect(maxDiff(half.logvar, fullPrecision.logvar)).toBeLessThan(1e-2);
  });

  it('builds the encoder when the folder has no ONNX encoder at all, and reproduces img2img', async () => {
    const dir = modelFolder('sd15-no-onnx-encoder', { omit: ['vae_encoder/model.onnx', 'vae_encoder/config.json'] });
    expect(await (await engine.pipeline(dir)).vaeEncoderSource()).toMatchObject({ kind: 'weights' });
    const result = await engine.generate(requestOf(dir, IMG2IMG));
    expectRgbClose(
      result.images[0]!.image.data,
      readFileSync(path.join(REF, IMG2IMG.image_rgb8)),
      'img2img (no ONNX encoder)',
    );
  });

  it('says what is missing when there is neither an ONNX encoder nor the weights', async () => {
    const dir = modelFolder('sd15-no-encoder', { omit: ['vae_encoder/model.onnx', VAE_WEIGHTS] });
    await expect(engine.generate(requestOf(dir, IMG2IMG))).rejects.toMatchObject({
      code: 'IMPORT_REJECTED',
      message: expect.stringMatching(/no vae_encoder\/model\.onnx and no vae\/diffusion_pytorch_model\.safetensors/),
    });
    // txt2img needs no encoder.
    const { images } = await engine.generate({ model: dir, prompt: 'x', seed: 1n, steps: 2, width: 64, height: 64 });
    expect(images).toHaveLength(1);
  });

  it('evicting a model disposes the built encoder session with its folder', async () => {
    const ort = createOrtBackend();
    const released: string[] = [];
    const backend: InferenceBackend = {
      listProviders: () => ort.listProviders(),
      createSession: async (file, options) => {
        const raw = await ort.createSession(file, options);
        return {
          inputs: raw.inputs,
          outputs: raw.outputs,
          run: (feeds, fetches) => raw.run(feeds, fetches),
          release: () => {
            if (typeof file === 'string') released.push(file); // not the provider probe (bytes)
            return raw.release();
          },
        };
      },
    };
    const local = new Engine({ runtime: new Runtime({ backend, provider: 'cpu', cacheDir: CACHE }), maxModels: 1 });
    try {
      const pipeline = await local.pipeline(full);
      await local.generate({ ...requestOf(full, IMG2IMG), steps: 2 });
      const outside = pipeline.sessionFilesOutside();
      expect(outside).toHaveLength(1);
      expect(outside[0]!.startsWith(CACHE + path.sep)).toBe(true);
      // The legacy encoder was loaded to look at its outputs, then released: the built one replaces it.
      expect([...released]).toEqual([path.join(full, 'vae_encoder', 'model.onnx')]);
      await local.pipeline(legacy); // evicts `full`
      expect(released).toContain(outside[0]);
      expect(released).toContain(path.join(full, 'unet', 'model.onnx'));
    } finally {
      await local.dispose();
    }
  });
});

/** diffusers' loop restated plainly, on the engine's UNet runner and prompt encoder. */
async function referenceLoop(
  model: string,
  request: GenerateRequest & { sampler: SamplerName; steps: number; cfgScale: number },
  start: (
    g: TorchGenerator,
    scheduler: ReturnType<typeof createScheduler>,
    shape: number[],
  ) => { latents: Float32Array; startIndex: number; blend?: MaskBlend },
): Promise<Float32Array> {
  const pipeline = await engine.pipeline(model);
  const unet = new UNetRunner(await engine.runtime.session(path.join(model, 'unet', 'model.onnx')));
  const encoder = await pipeline.promptEncoder(1, true);
  const [neg, cond] = [await encoder.encode(request.negativePrompt ?? ''), await encoder.encode(request.prompt)];
  const ehs = new Float32Array([...neg.hidden, ...cond.hidden]);
  const scheduler = createScheduler(request.sampler, pipeline.model.schedulerConfig);
  scheduler.setTimesteps(request.steps);
  const g = new TorchGenerator(request.seed);
  const shape = [1, 4, 32, 32];
  const begin = start(g, scheduler, shape);
  const { startIndex, blend } = begin;
  let latents = begin.latents;
  for (let i = startIndex; i < scheduler.timesteps.length; i++) {
    const input = scheduler.scaleModelInput(latents, i);
    const out = await unet.predict(new Float32Array([...input, ...input]), [2, 4, 32, 32], scheduler.timesteps[i]!, {
      encoderHiddenStates: ehs,
      tokens: 77,
      channels: 32,
    });
    latents = scheduler.step(applyGuidance(out, request.cfgScale), i, latents, g, shape);
    if (blend) {
      const known =
        i + 1 < scheduler.timesteps.length
          ? scheduler.addNoise(blend.imageLatents, blend.noise, i + 1)
          : blend.imageLatents;
      latents = blendKnown(latents, known, blend.mask);
    }
  }
  return latents;
}

describe('legacy encoder without weights (latent_sample used as is)', () => {
  it('img2img: no encoder draw, the first draw is the noise, add_noise at t_start, no init sigma', async () => {
    const request = { ...requestOf(legacy, IMG2IMG), sampler: 'euler_a' as const, steps: 10, cfgScale: 6 };
    const pipeline = await engine.pipeline(legacy);
    expect(pipeline.model.files.vaeWeights).toBeUndefined();
    expect(await pipeline.vaeEncoderSource()).toEqual({
      kind: 'legacy',
      file: path.join(legacy, 'vae_encoder', 'model.onnx'),
    });
    const result = await engine.generate(request);
    const encoder = new VaeEncoder(await engine.runtime.session(path.join(legacy, 'vae_encoder', 'model.onnx')));
    expect(encoder.givesDistribution).toBe(false);
    const encoded = await encoder.encode(rgbToTensor(await loadRgb(INIT, 64, 64)), [1, 3, 64, 64]);
    const expected = await referenceLoop(legacy, request, (g, scheduler, shape) => {
      const init = imageLatents(encoded, g, pipeline.model.vae); // no draw for a legacy encoder
      const startIndex = startIndexFor(scheduler, 10, 0.6);
      return { latents: scheduler.addNoise(init, g.randn(shape), startIndex), startIndex };
    });
    expect(maxDiff(result.latents[0]!, expected)).toBe(0);
    expect(result.timesteps).toEqual([555, 444, 333, 222, 111, 0]);
    // Without the distribution's draw the result is not diffusers' (it is the documented legacy behaviour).
    expect(maxDiff(result.images[0]!.image.data, readFileSync(path.join(REF, IMG2IMG.image_rgb8)))).toBeGreaterThan(8);
  });

  it('inpainting at strength 0.5: noised start, the known region re-imposed after every step', async () => {
    const request = {
      ...requestOf(legacy, INPAINT),
      strength: 0.5,
      sampler: 'ddim' as const,
      steps: 8,
      cfgScale: 6,
    };
    const result = await engine.generate(request);
    const pipeline = await engine.pipeline(legacy);
    const encoder = new VaeEncoder(await engine.runtime.session(path.join(legacy, 'vae_encoder', 'model.onnx')));
    const encoded = await encoder.encode(rgbToTensor(await loadRgb(INPAINT_INIT, 64, 64)), [1, 3, 64, 64]);
    const mask = maskToLatentGrid(await loadMask(MASK, 64, 64), 64, 64, 32, 32);
    let image: Float32Array = new Float32Array(0);
    const expected = await referenceLoop(legacy, request, (g, scheduler, shape) => {
      image = imageLatents(encoded, g, pipeline.model.vae);
      const noise = g.randn(shape);
      const startIndex = startIndexFor(scheduler, 8, 0.5);
      return {
        latents: scheduler.addNoise(image, noise, startIndex),
        startIndex,
        blend: { mask, imageLatents: image, noise },
      };
    });
    expect(result.timesteps).toHaveLength(4);
    expect(maxDiff(result.latents[0]!, expected)).toBe(0);
    const final = result.latents[0]!;
    const kept = expectKnownRegionKept(final, mask, image);
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(final.length);
  });

  it('binarizes and resizes the mask, and pastes the original back only when asked', async () => {
    const pixelMask = await loadMask(MASK, 64, 64);
    expect(new Set(pixelMask)).toEqual(new Set([0, 1]));
    const grid = maskToLatentGrid(pixelMask, 64, 64, 32, 32);
    for (let y = 0; y < 32; y++)
      for (let x = 0; x < 32; x++) expect(grid[y * 32 + x]).toBe(pixelMask[2 * y * 64 + 2 * x]);
    const base = { ...requestOf(legacy, INPAINT), steps: 3 };
    const plain = await engine.generate(base);
    const pasted = await engine.generate({ ...base, pasteBack: true });
    const init = await loadRgb(INPAINT_INIT, 64, 64);
    let outsideDiffers = false;
    for (let p = 0; p < pixelMask.length; p++) {
      for (let c = 0; c < 3; c++) {
        const i = p * 3 + c;
        if (pixelMask[p] === 0) {
          expect(pasted.images[0]!.image.data[i]).toBe(init.data[i]);
          if (plain.images[0]!.image.data[i] !== init.data[i]) outsideDiffers = true;
        } else expect(pasted.images[0]!.image.data[i]).toBe(plain.images[0]!.image.data[i]);
      }
    }
    expect(outsideDiffers).toBe(true); // the decoded image is returned as it is by default
  });
});

describe('inpainting UNet (9 channels)', () => {
  it('feeds latents ‖ mask ‖ masked-image latents, drawing noise then the masked image', async () => {
    const seen: HostTensor[] = [];
    const ort = createOrtBackend();
    const fakeUnet = (): RawSession => ({
      inputs: [
        { name: 'sample', type: 'float32', shape: ['batch', 9, 'height', 'width'] },
        { name: 'timestep', type: 'int64', shape: ['batch'] },
        { name: 'encoder_hidden_states', type: 'float32', shape: ['batch', 'sequence', 32] },
      ],
      outputs: [{ name: 'out_sample', type: 'float32', shape: ['batch', 4, 'height', 'width'] }],
      async run(feeds) {
        const sample = feeds['sample']!;
        seen.push(sample);
        const [n = 0, , h = 0, w = 0] = sample.dims;
        return {
          out_sample: { type: 'float32', data: new Float32Array(n * 4 * h * w).fill(0.01), dims: [n, 4, h, w] },
        };
      },
      release: async () => {},
    });
    // The weights are there, so the encoder is the built one (a distribution, drawn from the generator).
    const model = modelFolder('sd15-inpaint-unet', {
      replace: { 'unet/model.onnx': 'stands in for a 9-channel UNet' },
    });
    const backend: InferenceBackend = {
      listProviders: () => ort.listProviders(),
      createSession: (file, options) =>
        file === path.join(model, 'unet', 'model.onnx')
          ? Promise.resolve(fakeUnet())
          : ort.createSession(file, options),
    };
    const local = new Engine({ runtime: new Runtime({ backend, provider: 'cpu', cacheDir: CACHE }) });
    try {
      await expect(local.generate({ model, prompt: 'x', seed: 1n, steps: 2, width: 64, height: 64 })).rejects.toThrow(
        /inpainting UNet/,
      );
      const result = await local.generate({
        model,
        prompt: 'a flower',
        negativePrompt: 'blurry',
        seed: 9n,
        sampler: 'euler',
        steps: 3,
        cfgScale: 5,
        width: 64,
        height: 64,
        initImage: INPAINT_INIT,
        maskImage: MASK,
      });
      expect(seen).toHaveLength(3);
      const first = seen[0]!;
      expect(first.dims).toEqual([2, 9, 32, 32]);

      // Expected: strength 1 → no image draw; noise first (× init sigma), then the masked image's latents.
      const pipeline = await local.pipeline(model);
      const encoder = await pipeline.imageEncoder();
      expect(encoder.givesDistribution).toBe(true);
      const pixels = rgbToTensor(await loadRgb(INPAINT_INIT, 64, 64));
      const pixelMask = await loadMask(MASK, 64, 64);
      const masked = pixels.map((v, i) => (pixelMask[i % (64 * 64)]! < 0.5 ? v : 0));
      const g = new TorchGenerator(9n);
      const scheduler = createScheduler('euler', pipeline.model.schedulerConfig);
      scheduler.setTimesteps(3);
      const noise = g.randn([1, 4, 32, 32]).map((v) => Math.fround(v * Math.fround(scheduler.initNoiseSigma)));
      const maskedLatents = imageLatents(await encoder.encode(masked, [1, 3, 64, 64]), g, pipeline.model.vae);
      const latentMask = maskToLatentGrid(pixelMask, 64, 64, 32, 32);
      const plane = 32 * 32;
      const data = first.data as Float32Array;
      for (const half of [0, 1]) {
        const base = half * 9 * plane;
        expect(Array.from(data.subarray(base, base + 4 * plane))).toEqual(
          Array.from(scheduler.scaleModelInput(noise, 0)),
        );
        expect(Array.from(data.subarray(base + 4 * plane, base + 5 * plane))).toEqual(Array.from(latentMask));
        expect(Array.from(data.subarray(base + 5 * plane, base + 9 * plane))).toEqual(Array.from(maskedLatents));
      }
      expect(result.images).toHaveLength(1);
    } finally {
      await local.dispose();
    }
  });
});

// Never leave a cache in the fixtures (the engine writes only under its cacheDir).
afterAll(() => {
  for (const name of readdirSync(SD15)) expect(name).not.toMatch(/cache|\.tmp-/);
  rmSync(CACHE, { recursive: true, force: true });
});
