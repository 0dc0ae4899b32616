/**
 * The trainer's data paths end to end: aspect-ratio buckets on non-square images (bucket, crop and
 * `time_ids` per image; a run over batches of two bucket shapes), SDXL conditioning against the
 * fixture's diffusers reference (both encoders' penultimate states concatenated, pooled = second's
 * `text_embeds`) and an SDXL training step, v-prediction (a model folder whose scheduler says so):
 * the first step's loss equals the MSE of the third-party ONNX UNet's output against the v target
 * computed here in float64; and the validation loss against the same third-party UNet.
 */
import { copyFile, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { readKohyaLora, writeKohyaLora } from '../../src-main/engine/lora';
import { TorchGenerator } from '../../src-main/engine/random';
import { createOrtBackend } from '../../src-main/engine/runtime/ort-backend';
import { alphasCumprodFromConfig, type BetaConfig } from '../../src-main/engine/schedulers/schedule';
import { prepareTrainingData, runTraining, ValidationSet, type TrainRequest } from '../../src-main/engine/training';
import { safetensorsWeights, type UNetConfig } from '../../src-main/engine/models';
import { SafetensorsFile } from '../../src-main/engine/weights';
import { fixture } from '../helpers/fixtures';
import { makeTempDir } from '../helpers/temp-dir';

const SD15 = fixture('sd15-tiny');
const SDXL = fixture('sdxl-tiny');
const temp = makeTempDir('pinhole-train-data-');
const dir = (...p: string[]) => path.join(temp.dir, ...p);
const backend = createOrtBackend();
const figures: Record<string, number> = {};
afterAll(() => {
  console.info('training data figures', JSON.stringify(figures));
  temp.cleanup();
});

function request(over: Partial<TrainRequest>): TrainRequest {
  return {
    model: SD15,
    out: dir('out.safetensors'),
    rank: 4,
    steps: 2,
    batch: 2,
    lr: 1e-3,
    optimizer: 'adamw',
    weightDecay: 0.01,
    maxGradNorm: 1,
    seed: 7n,
    resolution: 64,
    shuffle: false,
    repeats: 1,
    flip: false,
    captionDropout: 0,
    noiseOffset: 0,
    lrSchedule: 'constant',
    warmupSteps: 0,
    buckets: false,
    textEncoder: false,
    savePrecision: 'fp32',
    gradientCheckpointing: false,
    baseWeights: 'auto',
    ...over,
  };
}

async function gradientImage(file: string, width: number, height: number): Promise<void> {
  const data = Buffer.alloc(width * height * 3);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) data.set([(x * 255) / width, (y * 255) / height, 128], (y * width + x) * 3);
  await sharp(data, { raw: { width, height, channels: 3 } })
    .png()
    .toFile(file);
}

describe('aspect-ratio buckets', () => {
  it('puts each image in its bucket, crops it centered, and trains batches of one bucket', async () => {
    const images = dir('wide');
    await mkdir(images, { recursive: true });
    // resolution 128: buckets 64×192, 64×256, 128×128, 192×64, 256×64.
    await gradientImage(path.join(images, 'a.png'), 200, 70);
    await gradientImage(path.join(images, 'b.png'), 210, 72);
    await gradientImage(path.join(images, 'c.png'), 130, 120);
    await gradientImage(path.join(images, 'd.png'), 128, 128);
    const data = await prepareTrainingData({ modelDir: SD15, images, resolution: 128, buckets: true, backend });
    expect(data.examples.map((e) => e.bucket)).toEqual([
      [192, 64],
      [192, 64],
      [128, 128],
      [128, 128],
    ]);
    expect(data.examples.map((e) => e.latentDims)).toEqual([
      [4, 32, 96],
      [4, 32, 96],
      [4, 64, 64],
      [4, 64, 64],
    ]);
    // 200×70 → 192×67 (kohya rounds half up), 1 row cropped from the top; 130×120 → 139×128, 5 columns off.
    expect(data.examples.map((e) => e.timeIds)).toEqual([
      [70, 200, 1, 0, 64, 192],
      [72, 210, 1, 0, 64, 192],
      [120, 130, 0, 5, 128, 128],
      [128, 128, 0, 0, 128, 128],
    ]);
    const result = await runTraining(
      request({ images, resolution: 128, buckets: true, shuffle: true, steps: 2, out: dir('buckets.safetensors') }),
    );
    expect(result.losses).toHaveLength(2);
    expect(result.losses.every(Number.isFinite)).toBe(true);
  }, 120_000);
});

describe('SDXL', () => {
  it('conditioning matches diffusers (penultimate states of both encoders, pooled of the second)', async () => {
    const cases = JSON.parse(await readFile(path.join(SDXL, 'reference/cases.json'), 'utf8')) as { prompt: string };
    const images = dir('xl');
    await mkdir(images, { recursive: true });
    await gradientImage(path.join(images, 'a.png'), 64, 64);
    await writeFile(path.join(images, 'a.txt'), cases.prompt);
    const data = await prepareTrainingData({ modelDir: SDXL, images, resolution: 64, sdxl: true, backend });
    const ref = async (name: string) => {
      const buf = await readFile(path.join(SDXL, 'reference', name));
      return new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
    };
    const embeds = await ref('prompt_embeds.bin');
    const pooled = await ref('pooled_prompt_embeds.bin');
    const ex = data.examples[0]!;
    expect(ex.cond.length).toBe(embeds.length);
    expect(ex.pooled!.length).toBe(pooled.length);
    const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);
    figures['sdxlEmbedsMaxDiff'] = maxDiff(ex.cond, embeds);
    figures['sdxlPooledMaxDiff'] = maxDiff(ex.pooled!, pooled);
    expect(maxDiff(ex.cond, embeds)).toBeLessThan(1e-4);
    expect(maxDiff(ex.pooled!, pooled)).toBeLessThan(1e-4);
    const result = await runTraining(request({ model: SDXL, images, batch: 1, steps: 1, out: dir('xl.safetensors') }));
    expect(Number.isFinite(result.losses[0])).toBe(true);
  }, 120_000);
});

describe('v-prediction', () => {
  it('the first step’s loss is the MSE of the fixture UNet against the v target', async () => {
    const model = dir('sd15-v');
    await mkdir(path.join(model, 'scheduler'), { recursive: true });
    for (const part of ['unet', 'vae', 'text_encoder', 'tokenizer'])
      await symlink(path.join(SD15, part), path.join(model, part));
    const sched = JSON.parse(await readFile(path.join(SD15, 'scheduler/scheduler_config.json'), 'utf8')) as BetaConfig;
    await writeFile(
      path.join(model, 'scheduler/scheduler_config.json'),
      JSON.stringify({ ...sched, prediction_type: 'v_prediction' }),
    );
    await copyFile(path.join(SD15, 'model_index.json'), path.join(model, 'model_index.json'));
    // A LoRA whose up weights are zero: the first step's forward is the base UNet's.
    const init = await readKohyaLora(fixture('sd15-tiny/training/init.safetensors'));
    for (const m of init.modules.values()) m.up.fill(0);
    const initFile = dir('zero-up.safetensors');
    await writeKohyaLora(initFile, init, {});
    const images = fixture('sd15-tiny/training/images');
    const result = await runTraining(request({ model, images, initLora: initFile, maxGradNorm: 0, steps: 1 }));

    // The same draws by hand: noise, then timesteps, for images 00 and 01; the fixture's own ONNX UNet.
    const data = await prepareTrainingData({ modelDir: SD15, images, resolution: 64, backend });
    const g = new TorchGenerator(7n);
    const noise = g.randn([2, 4, 32, 32]);
    const t = g.randint(0, 1000, 2);
    const ac = alphasCumprodFromConfig('DDPMScheduler', sched, false);
    const per = 4 * 32 * 32;
    const sample = new Float32Array(2 * per);
    const target = new Float64Array(2 * per);
    for (let j = 0; j < 2; j++) {
      const a = ac[t[j]!]!;
      const x0 = data.examples[j]!.latents;
      for (let i = 0; i < per; i++) {
        const e = noise[j * per + i]!;
        sample[j * per + i] = Math.sqrt(a) * x0[i]! + Math.sqrt(1 - a) * e;
        target[j * per + i] = Math.sqrt(a) * e - Math.sqrt(1 - a) * x0[i]!;
      }
    }
    const unet = await backend.createSession(path.join(SD15, 'unet/model.onnx'), { executionProvider: 'cpu' });
    try {
      const cond = new Float32Array(2 * 77 * 32);
      cond.set(data.examples[0]!.cond, 0);
      cond.set(data.examples[1]!.cond, 77 * 32);
      const out = await unet.run({
        sample: { type: 'float32', data: sample, dims: [2, 4, 32, 32] },
        timestep: { type: 'int64', data: BigInt64Array.from(t, (x) => BigInt(x)), dims: [2] },
        encoder_hidden_states: { type: 'float32', data: cond, dims: [2, 77, 32] },
      });
      const pred = out['out_sample']!.data as Float32Array;
      let mse = 0;
      for (let i = 0; i < pred.length; i++) mse += (pred[i]! - target[i]!) ** 2;
      mse /= pred.length;
      figures['vPredLossRelErr'] = Math.abs(result.losses[0]! - mse) / mse;
      expect(Math.abs(result.losses[0]! - mse) / mse).toBeLessThan(1e-4);
    } finally {
      await unet.release();
    }
  }, 120_000);
});

describe('validation loss', () => {
  it('is the fixture UNet’s MSE on (noise, timestep) pairs drawn from seed + 1, for a LoRA that changes nothing', async () => {
    const images = fixture('sd15-tiny/training/images');
    const data = await prepareTrainingData({ modelDir: SD15, images, resolution: 64, backend });
    const sched = JSON.parse(await readFile(path.join(SD15, 'scheduler/scheduler_config.json'), 'utf8')) as BetaConfig;
    const ac = alphasCumprodFromConfig('DDPMScheduler', sched, false);
    const lora = await readKohyaLora(fixture('sd15-tiny/training/init.safetensors'));
    for (const m of lora.modules.values()) m.up.fill(0);
    const config = JSON.parse(await readFile(path.join(SD15, 'unet/config.json'), 'utf8')) as UNetConfig;
    const file = await SafetensorsFile.open(path.join(SD15, 'unet/diffusion_pytorch_model.safetensors'));
    let ours: number;
    try {
      ours = await new ValidationSet(data, 41n, ac, 'epsilon').evaluate(
        config,
        safetensorsWeights(file),
        lora,
        backend,
      );
    } finally {
      await file.close();
    }
    const g = new TorchGenerator(42n);
    const unet = await backend.createSession(path.join(SD15, 'unet/model.onnx'), { executionProvider: 'cpu' });
    let sum = 0;
    try {
      for (const ex of data.examples) {
        const noise = g.randn([4, 32, 32]);
        const t = g.randint(0, 1000, 1)[0]!;
        const a = ac[t]!;
        const sample = ex.latents.map((x, i) => Math.sqrt(a) * x + Math.sqrt(1 - a) * noise[i]!);
        const out = await unet.run({
          sample: { type: 'float32', data: sample, dims: [1, 4, 32, 32] },
          timestep: { type: 'int64', data: BigInt64Array.of(BigInt(t)), dims: [1] },
          encoder_hidden_states: { type: 'float32', data: ex.cond, dims: [1, 77, 32] },
        });
        const pred = out['out_sample']!.data as Float32Array;
        sum += pred.reduce((s, p, i) => s + (p - noise[i]!) ** 2, 0) / pred.length;
      }
    } finally {
      await unet.release();
    }
    const reference = sum / data.examples.length;
    figures['validationRelErr'] = Math.abs(ours - reference) / reference;
    expect(Math.abs(ours - reference) / reference).toBeLessThan(1e-4);
  }, 120_000);
});
