/**
 * LoRA training against PyTorch (sd15-tiny/training): from init.safetensors, each run of train.json
 * reproduces the per-step losses (relative error < 1e-3) and the resulting LoRA (relative error of
 * the whole update, ‖ours − ref‖ / ‖ref − init‖ over all tensors, < 1e-3; the worst per-tensor figure
 * is printed); a fresh rank-4 LoRA has kohya's keys and shapes; kohya files round-trip.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  cloneLora,
  createLora,
  kohyaKeys,
  kohyaMetadata,
  readKohyaLora,
  textEncoderLoraTargets,
  unetLoraTargets,
  writeKohyaLora,
  type LoraWeights,
} from '../../src-main/engine/lora';
import { safetensorsWeights, type ClipTextConfig, type UNetConfig } from '../../src-main/engine/models';
import { TorchGenerator } from '../../src-main/engine/random';
import { createOrtBackend } from '../../src-main/engine/runtime/ort-backend';
import { prepareTrainingData, trainLora, type TrainingData } from '../../src-main/engine/training';
import { SafetensorsFile } from '../../src-main/engine/weights';
import { fixture } from '../helpers/fixtures';

const MODEL = fixture('sd15-tiny');
const TRAINING = fixture('sd15-tiny/training');

type Run = {
  name: string;
  optimizer: 'sgd' | 'adamw';
  lr: number;
  steps: number;
  batch: number;
  seed: number;
  weight_decay: number;
  resolution: number;
  losses: number[];
  result: string;
};
type TrainJson = {
  runs: Run[];
  kohya_keys_rank4: { unet: Record<string, number[]>; text_encoder: Record<string, number[]> };
};

/** ‖(ours − init) − (ref − init)‖ / ‖ref − init‖ over all tensors, and the worst per tensor. */
function updateError(ours: LoraWeights, ref: LoraWeights, init: LoraWeights): { global: number; worst: number } {
  let num = 0;
  let den = 0;
  let worst = 0;
  for (const [name, r] of ref.modules) {
    const o = ours.modules.get(name)!;
    const i0 = init.modules.get(name)!;
    for (const k of ['down', 'up'] as const) {
      let n = 0;
      let d = 0;
      for (let i = 0; i < r[k].length; i++) {
        n += (o[k][i]! - r[k][i]!) ** 2;
        d += (r[k][i]! - i0[k][i]!) ** 2;
      }
      num += n;
      den += d;
      if (d > 0) worst = Math.max(worst, Math.sqrt(n / d));
    }
  }
  return { global: Math.sqrt(num / den), worst };
}

describe('LoRA training on sd15-tiny against PyTorch', () => {
  let train: TrainJson;
  let init: LoraWeights;
  let data: TrainingData;
  const backend = createOrtBackend();
  const figures: Record<string, unknown> = {};

  beforeAll(async () => {
    train = JSON.parse(await readFile(path.join(TRAINING, 'train.json'), 'utf8')) as TrainJson;
    init = await readKohyaLora(path.join(TRAINING, 'init.safetensors'));
    data = await prepareTrainingData({
      modelDir: MODEL,
      images: path.join(TRAINING, 'images'),
      resolution: 64,
      backend,
    });
  });
  afterAll(() => console.info('training figures', JSON.stringify(figures)));

  it('encodes the dataset in file-name order', () => {
    expect(data.examples.map((e) => path.basename(e.file))).toEqual(['00.png', '01.png', '02.png', '03.png']);
    expect(data.latentDims).toEqual([4, 32, 32]);
    expect(data.condDims).toEqual([77, 32]);
  });

  it.each(['sgd', 'adamw'])(
    '%s: per-step losses and the resulting LoRA',
    async (name) => {
      const run = train.runs.find((r) => r.name === name)!;
      const lora = cloneLora(init);
      const losses = await trainLora({
        modelDir: MODEL,
        imagesDir: path.join(TRAINING, 'images'),
        lora,
        optimizer: run.optimizer,
        lr: run.lr,
        weightDecay: run.weight_decay,
        steps: run.steps,
        batch: run.batch,
        seed: BigInt(run.seed),
        resolution: run.resolution,
        backend,
        data,
      });
      const lossErr = Math.max(...losses.map((l, i) => Math.abs(l - run.losses[i]!) / Math.abs(run.losses[i]!)));
      const ref = await readKohyaLora(path.join(TRAINING, run.result));
      const err = updateError(lora, ref, init);
      figures[name] = { lossErr, updateErr: err.global, worstTensorUpdateErr: err.worst };
      expect(losses).toHaveLength(run.steps);
      expect(lossErr).toBeLessThan(1e-3);
      expect(err.global).toBeLessThan(1e-3);
      expect(err.worst).toBeLessThan(1e-3);
    },
    120_000,
  );

  it('a fresh rank-4 LoRA has exactly kohya’s keys and shapes (UNet, text encoder)', async () => {
    const unetConfig = JSON.parse(await readFile(path.join(MODEL, 'unet/config.json'), 'utf8')) as UNetConfig;
    const teConfig = JSON.parse(await readFile(path.join(MODEL, 'text_encoder/config.json'), 'utf8')) as ClipTextConfig;
    const unetFile = await SafetensorsFile.open(path.join(MODEL, 'unet/diffusion_pytorch_model.safetensors'));
    const teFile = await SafetensorsFile.open(path.join(MODEL, 'text_encoder/model.safetensors'));
    try {
      const shapes = (lora: LoraWeights) => {
        const out: Record<string, number[]> = {};
        for (const m of lora.modules.values()) {
          const keys = kohyaKeys(m.name);
          out[keys.down] = m.downDims;
          out[keys.up] = m.upDims;
        }
        return out;
      };
      const g = new TorchGenerator(0n);
      const unet = createLora(unetLoraTargets(unetConfig, safetensorsWeights(unetFile)), {
        rank: 4,
        alpha: 2,
        generator: g,
      });
      expect(shapes(unet)).toEqual(train.kohya_keys_rank4.unet);
      const te = createLora(textEncoderLoraTargets(teConfig, safetensorsWeights(teFile)), { rank: 4, generator: g });
      expect(shapes(te)).toEqual(train.kohya_keys_rank4.text_encoder);
      // kohya's init: down U(±1/√fan_in), nonzero; up zeros.
      for (const m of unet.modules.values()) {
        const bound = 1 / Math.sqrt(m.downDims.slice(1).reduce((a, b) => a * b, 1));
        expect(Math.max(...m.down.map(Math.abs))).toBeLessThanOrEqual(bound);
        expect(m.down.some((x) => x !== 0)).toBe(true);
        expect(m.up.every((x) => x === 0)).toBe(true);
        expect(m.alpha).toBe(2);
      }
    } finally {
      await unetFile.close();
      await teFile.close();
    }
  });

  it('a kohya file written then read round-trips (F32, 0-d alpha, ss_* metadata)', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'pinhole-lora-'));
    try {
      const file = path.join(dir, 'out.safetensors');
      const meta = kohyaMetadata(init, { baseModelName: 'sd15-tiny', resolution: 64, steps: 3, datasetSize: 4 });
      await writeKohyaLora(file, init, meta);
      const back = await readKohyaLora(file);
      expect(back.metadata).toEqual(meta);
      expect(back.metadata['ss_network_dim']).toBe('4');
      expect(back.metadata['ss_network_alpha']).toBe('2');
      expect([...back.modules.keys()]).toEqual([...init.modules.keys()]);
      for (const [name, m] of init.modules) {
        const b = back.modules.get(name)!;
        expect(b.down).toEqual(m.down);
        expect(b.up).toEqual(m.up);
        expect(b.downDims).toEqual(m.downDims);
        expect(b.upDims).toEqual(m.upDims);
        expect(b.alpha).toBe(m.alpha);
      }
      const st = await SafetensorsFile.open(file);
      try {
        const alpha = st.entries().find((e) => e.name.endsWith('.alpha'))!;
        expect(alpha.fileDtype).toBe('F32');
        expect(alpha.shape).toEqual([]);
        expect(new Set(st.entries().map((e) => e.fileDtype))).toEqual(new Set(['F32']));
      } finally {
        await st.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
