/**
 * Request options end to end: a fresh LoRA on the text encoder and LoCon targets trained with the
 * text encoder's own learning rate, sample images every N steps, an explicit item list (a library
 * dataset) with kohya's `ss_*` metadata, F16 / BF16 LoRA files with F32 alphas, and bad input.
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { readKohyaLora, writeKohyaLora } from '../../src-main/engine/lora';
import { runTraining, type TrainRequest } from '../../src-main/engine/training';
import { SafetensorsFile } from '../../src-main/engine/weights';
import { fixture } from '../helpers/fixtures';
import { makeTempDir } from '../helpers/temp-dir';

const SD15 = fixture('sd15-tiny');
const temp = makeTempDir('pinhole-train-options-');
const dir = (...p: string[]) => path.join(temp.dir, ...p);
afterAll(() => temp.cleanup());

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

describe('text encoder and LoCon', () => {
  it('a fresh LoRA on both, trained with the text encoder’s own learning rate', async () => {
    const out = dir('te-locon.safetensors');
    const result = await runTraining(
      request({
        images: fixture('sd15-tiny/training/images'),
        steps: 1,
        out,
        textEncoder: true,
        textEncoderLr: 1e-4,
        convRank: 2,
        captionDropout: 0.5,
      }),
    );
    const lora = await readKohyaLora(out);
    const te = [...lora.modules.values()].filter((m) => m.name.startsWith('lora_te_'));
    const conv = [...lora.modules.values()].filter((m) => m.downDims.length === 4 && m.downDims[2] === 3);
    expect(te.length).toBeGreaterThan(0);
    expect(conv.length).toBeGreaterThan(0);
    expect(conv.every((m) => m.downDims[0] === 2 && m.alpha === 2)).toBe(true);
    // Fresh up weights are zero; one AdamW step moves every one (≈ lr in size: the text encoder's is smaller).
    const maxUp = (ms: typeof te) => Math.max(...ms.map((m) => Math.max(...m.up.map(Math.abs))));
    expect(maxUp(te)).toBeGreaterThan(0);
    expect(maxUp(te)).toBeLessThan(2e-4);
    expect(maxUp(conv)).toBeGreaterThan(2e-4);
    expect(result.modules).toBe(lora.modules.size);
    expect(lora.metadata['ss_network_train_unet_only']).toBe('False');
    expect(JSON.parse(lora.metadata['ss_network_args']!)).toEqual({ conv_dim: '2', conv_alpha: '2' });
  }, 120_000);
});

describe('sample images', () => {
  it('every N steps with the LoRA of that step, reported as events and in the result', async () => {
    const events: string[] = [];
    const out = dir('sampled.safetensors');
    const result = await runTraining(
      request({
        images: fixture('sd15-tiny/training/images'),
        steps: 2,
        batch: 1,
        out,
        sampleEvery: 1,
        samplePrompts: ['a photo of rex', 'rex on a beach'],
        sampleSteps: 2,
      }),
      { onEvent: (e) => events.push(e.kind === 'sample' ? `sample ${e.step}/${e.index}` : e.kind) },
    );
    expect(events.filter((e) => e !== 'caching')).toEqual([
      'step',
      'sample 1/0',
      'sample 1/1',
      'step',
      'sample 2/0',
      'sample 2/1',
    ]);
    expect(result.samples.map((s) => [s.step, s.index, s.prompt])).toEqual([
      [1, 0, 'a photo of rex'],
      [1, 1, 'rex on a beach'],
      [2, 0, 'a photo of rex'],
      [2, 1, 'rex on a beach'],
    ]);
    for (const s of result.samples) {
      expect(path.dirname(s.file)).toBe(`${out}.samples`);
      expect((await sharp(s.file).metadata()).width).toBe(64);
    }
  }, 120_000);
});

describe('an explicit item list and save precision', () => {
  it('trains on the items with their captions; fp16 / bf16 files hold those dtypes, F32 alphas', async () => {
    const images = fixture('sd15-tiny/training/images');
    const out = dir('items-fp16.safetensors');
    const result = await runTraining(
      request({
        items: [
          { file: path.join(images, '02.png'), caption: 'a red ball, grass' },
          { file: path.join(images, '00.png'), caption: 'a blue cube' },
        ],
        steps: 1,
        savePrecision: 'fp16',
        out,
        trigger: 'rex',
      }),
    );
    expect(result.datasetSize).toBe(2);
    const dtypes = async (file: string) => {
      const st = await SafetensorsFile.open(file);
      try {
        const of = (alpha: boolean) => [
          ...new Set(
            st
              .entries()
              .filter((e) => e.name.endsWith('.alpha') === alpha)
              .map((e) => e.fileDtype),
          ),
        ];
        return { tensors: of(false), alphas: of(true), metadata: st.metadata };
      } finally {
        await st.close();
      }
    };
    const fp16 = await dtypes(out);
    expect(fp16.tensors).toEqual(['F16']);
    expect(fp16.alphas).toEqual(['F32']);
    expect(JSON.parse(fp16.metadata['ss_tag_frequency']!)).toEqual({
      '1_images': { rex: 2, 'a red ball': 1, grass: 1, 'a blue cube': 1 },
    });
    expect(fp16.metadata['ss_num_train_images']).toBe('2');
    expect(fp16.metadata['ss_lr_scheduler']).toBe('constant');
    // bf16 keeps 8 significant bits: each value within 2⁻⁸ relative of the float32 it came from.
    const lora = await readKohyaLora(out);
    const bf16File = dir('items-bf16.safetensors');
    await writeKohyaLora(bf16File, lora, fp16.metadata, 'bfloat16');
    const bf16 = await dtypes(bf16File);
    expect(bf16.tensors).toEqual(['BF16']);
    expect(bf16.alphas).toEqual(['F32']);
    const back = await readKohyaLora(bf16File);
    for (const [name, m] of lora.modules) {
      const b = back.modules.get(name)!;
      m.down.forEach((x, i) => expect(Math.abs(b.down[i]! - x)).toBeLessThanOrEqual(Math.abs(x) * 2 ** -8));
    }
  }, 120_000);
});

describe('bad input', () => {
  it('fails with an error naming what is wrong, and writes nothing', async () => {
    const out = dir('bad.safetensors');
    const onnxOnly = dir('onnx-only');
    await mkdir(path.join(onnxOnly, 'unet'), { recursive: true });
    await expect(
      runTraining(request({ model: onnxOnly, images: fixture('sd15-tiny/training/images'), out })),
    ).rejects.toMatchObject({
      code: 'NOT_FOUND',
      message: expect.stringMatching(/unet\/config\.json is missing/) as unknown,
    });
    const images = dir('broken');
    await mkdir(images, { recursive: true });
    await writeFile(path.join(images, 'a.png'), 'not a png');
    await expect(runTraining(request({ images, out, checkpointDir: dir('broken-ckpt') }))).rejects.toMatchObject({
      code: 'INVALID_PARAMS',
      message: expect.stringMatching(/a\.png/) as unknown,
    });
    await expect(runTraining(request({ images: dir('nowhere'), out }))).rejects.toMatchObject({ code: 'NOT_FOUND' });
    expect(existsSync(out)).toBe(false);
    expect(existsSync(dir('broken-ckpt'))).toBe(false);
  }, 60_000);
});
