/**
 * img2img and inpainting. The fixture's ONNX VAE encoder outputs the distribution's mode, computed as a Slice
 * of the moments; exposing that Slice's input as `latent_parameters` (a two-node edit of the graph, done here)
 * gives the mean ‖ log-variance the references were sampled from, so the reference runs reproduce. The legacy
 * `latent_sample` path, the draw order, start steps, blending and inpainting UNets are checked against a plain
 * restatement of diffusers' loops and a fake 9-channel UNet.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, realpathSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
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
  type GenerateRequest,
  type MaskBlend,
} from '../../src-main/engine/pipelines';
import { TorchGenerator } from '../../src-main/engine/random';
import { Runtime, type HostTensor, type InferenceBackend, type RawSession } from '../../src-main/engine/runtime';
import { createOrtBackend } from '../../src-main/engine/runtime/ort-backend';
import { createScheduler, type SamplerName } from '../../src-main/engine/schedulers';
import { makeTempDir } from '../helpers/temp-dir';

const REPO = fileURLToPath(new URL('../..', import.meta.url));
const FIXTURES = [
  process.env['PINHOLE_FIXTURES'],
  path.join(REPO, 'shared/fixtures'),
  path.join(REPO, '../shared/fixtures'),
].find((dir): dir is string => dir !== undefined && existsSync(path.join(dir, 'clip')));
if (!FIXTURES) throw new Error('shared/fixtures not found (set PINHOLE_FIXTURES)');
const SD15 = path.join(FIXTURES, 'sd15-tiny');
const REF = path.join(SD15, 'reference');
const INIT = path.join(REF, 'img2img-init.png');
const MASK = path.join(REF, 'inpaint-mask.png');

// --- A minimal protobuf edit: expose the moments the mode is sliced from. ---------------------------------

function varint(value: number): number[] {
  const out: number[] = [];
  for (let v = value; ; v = Math.floor(v / 128)) {
    if (v <= 0x7f) return [...out, v];
    out.push((v & 0x7f) | 0x80);
  }
}
function field(num: number, payload: Uint8Array | string): Buffer {
  const bytes = typeof payload === 'string' ? Buffer.from(payload) : Buffer.from(payload);
  return Buffer.concat([Buffer.from(varint((num << 3) | 2)), Buffer.from(varint(bytes.length)), bytes]);
}
function readVarint(b: Uint8Array, p: number): [number, number] {
  let v = 0;
  for (let scale = 1; ; scale *= 128) {
    const x = b[p++]!;
    v += (x & 0x7f) * scale;
    if (!(x & 0x80)) return [v, p];
  }
}
/** Fields of a message: [number, payload start, payload end, field start]. */
function fields(b: Uint8Array, start: number, end: number): [number, number, number, number][] {
  const out: [number, number, number, number][] = [];
  for (let p = start; p < end;) {
    const at = p;
    const [tag, q] = readVarint(b, p);
    const wire = tag & 7;
    let s = q;
    let e: number;
    if (wire === 0) e = readVarint(b, q)[1];
    else if (wire === 2) {
      const [len, r] = readVarint(b, q);
      s = r;
      e = r + len;
    } else e = q + (wire === 1 ? 8 : 4);
    out.push([tag >> 3, s, e, at]);
    p = e;
  }
  return out;
}
/** The encoder with `Identity(<Slice input>) → latent_parameters` as its only output. */
function exposeMoments(model: Uint8Array): Uint8Array {
  const graph = fields(model, 0, model.length).find(([f]) => f === 7)!;
  let moments = '';
  for (const [f, s, e] of fields(model, graph[1], graph[2])) {
    if (f !== 1) continue;
    const node = fields(model, s, e);
    const text = (n: number) =>
      node.filter(([g]) => g === n).map(([, a, b]) => Buffer.from(model.subarray(a, b)).toString());
    if (text(4)[0] === 'Slice' && text(2)[0] === 'latent_sample') moments = text(1)[0]!;
  }
  expect(moments).not.toBe('');
  const kept = fields(model, graph[1], graph[2])
    .filter(([f]) => f !== 12)
    .map(([, , e, at]) => model.subarray(at, e));
  const identity = field(1, Buffer.concat([field(1, moments), field(2, 'latent_parameters'), field(4, 'Identity')]));
  const output = field(
    12,
    Buffer.concat([field(1, 'latent_parameters'), field(2, field(1, Uint8Array.of(0x08, 0x01)))]),
  );
  const top = fields(model, 0, model.length).map(([f, , e, at]) =>
    f === 7 ? field(7, Buffer.concat([...kept, identity, output])) : model.subarray(at, e),
  );
  return Buffer.concat(top);
}

// --- Fixture folders -----------------------------------------------------------------------------------

const temp = makeTempDir('pinhole-img2img-');
afterAll(temp.cleanup);

/** sd15-tiny as real directories with a link per file; `replace` files are written fresh (never through a link). */
function modelFolder(name: string, replace: Record<string, Uint8Array | string>): string {
  const dir = path.join(temp.dir, name);
  mkdirSync(dir);
  for (const sub of readdirSync(SD15, { withFileTypes: true })) {
    if (['reference', 'training'].includes(sub.name)) continue;
    if (!sub.isDirectory()) {
      symlinkSync(path.join(SD15, sub.name), path.join(dir, sub.name));
      continue;
    }
    mkdirSync(path.join(dir, sub.name), { recursive: true });
    for (const file of readdirSync(path.join(SD15, sub.name))) {
      if (!(`${sub.name}/${file}` in replace))
        symlinkSync(path.join(SD15, sub.name, file), path.join(dir, sub.name, file));
    }
  }
  for (const [file, data] of Object.entries(replace)) {
    const target = path.join(dir, file);
    expect(realpathSync(path.dirname(target)).startsWith(realpathSync(temp.dir))).toBe(true);
    writeFileSync(target, data, { flag: 'wx' }); // wx: fails rather than follow an existing link
  }
  return dir;
}

const maxDiff = (a: Uint8Array | Float32Array, b: Uint8Array | Float32Array): number => {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
};
function expectImageClose(actual: Uint8Array, expected: Uint8Array): void {
  const sums = [0, 0, 0];
  for (let i = 0; i < actual.length; i++) sums[i % 3]! += Math.abs(actual[i]! - expected[i]!);
  for (const s of sums) expect(s / (actual.length / 3)).toBeLessThanOrEqual(0.5);
  expect(maxDiff(actual, expected)).toBeLessThanOrEqual(8);
}

type RefRun = {
  scheduler: SamplerName;
  steps: number;
  strength: number;
  cfg: number;
  seed: number;
  prompt: string;
  negative_prompt: string;
  width: number;
  height: number;
  timesteps: number[];
  image_rgb8: string;
};
const refRun = (file: string): RefRun =>
  (JSON.parse(readFileSync(path.join(REF, file), 'utf8')) as { runs: RefRun[] }).runs[0]!;
const requestOf = (model: string, run: RefRun): GenerateRequest => ({
  model,
  prompt: run.prompt,
  negativePrompt: run.negative_prompt,
  seed: BigInt(run.seed),
  sampler: run.scheduler,
  steps: run.steps,
  cfgScale: run.cfg,
  width: run.width,
  height: run.height,
  strength: run.strength,
  initImage: INIT,
});

let momentsModel: string;
const engine = new Engine();
afterAll(() => engine.dispose());
beforeAll(() => {
  momentsModel = modelFolder('sd15-moments', {
    'vae_encoder/model.onnx': exposeMoments(readFileSync(path.join(SD15, 'vae_encoder', 'model.onnx'))),
  });
});

describe('reference runs (encoder with latent_parameters)', () => {
  it('reproduces img2img (Euler a, 10 steps, strength 0.6)', async () => {
    const run = refRun('img2img.json');
    const encoder = new VaeEncoder(await engine.runtime.session(path.join(momentsModel, 'vae_encoder', 'model.onnx')));
    expect(encoder.givesDistribution).toBe(true);
    const result = await engine.generate(requestOf(momentsModel, run));
    expect(result.mode).toBe('img2img');
    expect(result.timesteps).toEqual(run.timesteps);
    expectImageClose(result.images[0]!.image.data, readFileSync(path.join(REF, run.image_rgb8)));
    expect(result.images[0]!.parameters).toContain('Denoising strength: 0.6');
  });

  it('reproduces inpainting with an ordinary UNet (Euler, 10 steps, strength 1)', async () => {
    const run = refRun('inpaint.json');
    const result = await engine.generate({ ...requestOf(momentsModel, run), maskImage: MASK });
    expect(result.mode).toBe('inpaint');
    expect(result.timesteps).toEqual(run.timesteps);
    expectImageClose(result.images[0]!.image.data, readFileSync(path.join(REF, run.image_rgb8)));

    // After the last step the known region holds the clean image latents, drawn first from the generator.
    const encoder = new VaeEncoder(await engine.runtime.session(path.join(momentsModel, 'vae_encoder', 'model.onnx')));
    const encoded = await encoder.encode(rgbToTensor(await loadRgb(INIT, 64, 64)), [1, 3, 64, 64]);
    const image = imageLatents(
      encoded,
      new TorchGenerator(BigInt(run.seed)),
      (await engine.pipeline(momentsModel)).model.vae,
    );
    const mask = maskToLatentGrid(await loadMask(MASK, 64, 64), 64, 64, 32, 32);
    const final = result.latents[0]!;
    for (let i = 0; i < final.length; i++) if (mask[i % mask.length] === 0) expect(final[i]).toBe(image[i]);
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
describe('legacy encoder (latent_sample used as is)', () => {
  it('img2img: no encoder draw, the first draw is the noise, add_noise at t_start, no init sigma', async () => {
    const request = { ...requestOf(SD15, refRun('img2img.json')), sampler: 'euler_a' as const, steps: 10, cfgScale: 6 };
    const result = await engine.generate(request);
    const pipeline = await engine.pipeline(SD15);
    const encoder = new VaeEncoder(await engine.runtime.session(path.join(SD15, 'vae_encoder', 'model.onnx')));
    expect(encoder.givesDistribution).toBe(false);
    const encoded = await encoder.encode(rgbToTensor(await loadRgb(INIT, 64, 64)), [1, 3, 64, 64]);
    const expected = await referenceLoop(SD15, request, (g, scheduler, shape) => {
      const init = imageLatents(encoded, g, pipeline.model.vae); // no draw for a legacy encoder
      const startIndex = startIndexFor(scheduler, 10, 0.6);
      return { latents: scheduler.addNoise(init, g.randn(shape), startIndex), startIndex };
    });
    expect(maxDiff(result.latents[0]!, expected)).toBe(0);
    expect(result.timesteps).toEqual([555, 444, 333, 222, 111, 0]);
  });

  it('inpainting at strength 0.5: noised start, the known region re-imposed after every step', async () => {
    const request = {
      ...requestOf(SD15, refRun('inpaint.json')),
      maskImage: MASK,
      strength: 0.5,
      sampler: 'ddim' as const,
      steps: 8,
      cfgScale: 6,
    };
    const result = await engine.generate(request);
    const pipeline = await engine.pipeline(SD15);
    const encoder = new VaeEncoder(await engine.runtime.session(path.join(SD15, 'vae_encoder', 'model.onnx')));
    const encoded = await encoder.encode(rgbToTensor(await loadRgb(INIT, 64, 64)), [1, 3, 64, 64]);
    const mask = maskToLatentGrid(await loadMask(MASK, 64, 64), 64, 64, 32, 32);
    let image: Float32Array = new Float32Array(0);
    const expected = await referenceLoop(SD15, request, (g, scheduler, shape) => {
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
    let kept = 0;
    for (let i = 0; i < final.length; i++) {
      if (mask[i % mask.length] !== 0) continue;
      expect(final[i]).toBe(image[i]);
      kept++;
    }
    expect(kept).toBeGreaterThan(0);
    expect(kept).toBeLessThan(final.length);
  });

  it('binarizes and resizes the mask, and pastes the original back only when asked', async () => {
    const pixelMask = await loadMask(MASK, 64, 64);
    expect(new Set(pixelMask)).toEqual(new Set([0, 1]));
    const grid = maskToLatentGrid(pixelMask, 64, 64, 32, 32);
    for (let y = 0; y < 32; y++)
      for (let x = 0; x < 32; x++) expect(grid[y * 32 + x]).toBe(pixelMask[2 * y * 64 + 2 * x]);
    const base = { ...requestOf(SD15, refRun('inpaint.json')), maskImage: MASK, steps: 3 };
    const plain = await engine.generate(base);
    const pasted = await engine.generate({ ...base, pasteBack: true });
    const init = await loadRgb(INIT, 64, 64);
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
    const model = modelFolder('sd15-inpaint-unet', {
      'vae_encoder/model.onnx': exposeMoments(readFileSync(path.join(SD15, 'vae_encoder', 'model.onnx'))),
      'unet/model.onnx': 'stands in for a 9-channel UNet',
    });
    const backend: InferenceBackend = {
      listProviders: () => ort.listProviders(),
      createSession: (file, options) =>
        file === path.join(model, 'unet', 'model.onnx')
          ? Promise.resolve(fakeUnet())
          : ort.createSession(file, options),
    };
    const local = new Engine({ runtime: new Runtime({ backend, provider: 'cpu' }) });
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
        initImage: INIT,
        maskImage: MASK,
      });
      expect(seen).toHaveLength(3);
      const first = seen[0]!;
      expect(first.dims).toEqual([2, 9, 32, 32]);

      // Expected: strength 1 → no image draw; noise first (× init sigma), then the masked image's latents.
      const pipeline = await local.pipeline(model);
      const encoder = new VaeEncoder(await local.runtime.session(path.join(model, 'vae_encoder', 'model.onnx')));
      const pixels = rgbToTensor(await loadRgb(INIT, 64, 64));
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
