/**
 * `pinhole train` against PyTorch (sd15-tiny/training): with `--init-lora init.safetensors
 * --no-shuffle --max-grad-norm 0` and each run's settings from train.json, the per-step losses the
 * CLI prints (--json) match train.json and the written LoRA's update matches sgd/adamw.safetensors
 * (relative error < 1e-3); the file keeps the init's keys, F32 tensors, 0-d alphas and ss_* metadata
 * (the base model's name and kohya's two hashes included).
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readKohyaLora, type LoraWeights } from '../../src-main/engine/lora';
import { SafetensorsFile } from '../../src-main/engine/weights';
import { jsonLines, runCli } from '../helpers/cli';
import { fixture } from '../helpers/fixtures';
import { makeTempDir } from '../helpers/temp-dir';

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
const TRAINING = fixture('sd15-tiny/training');
const runs = (JSON.parse(readFileSync(path.join(TRAINING, 'train.json'), 'utf8')) as { runs: Run[] }).runs;
const INIT = path.join(TRAINING, 'init.safetensors');
const UNET_BYTES = readFileSync(fixture('sd15-tiny/unet/diffusion_pytorch_model.safetensors'));
const UNET_HASHES = {
  legacy: createHash('sha256').update(UNET_BYTES.subarray(0x100000, 0x110000)).digest('hex').slice(0, 8),
  sha256: createHash('sha256').update(UNET_BYTES).digest('hex'),
};

/** ‖(ours − init) − (ref − init)‖ / ‖ref − init‖ over all tensors. */
function updateError(ours: LoraWeights, ref: LoraWeights, init: LoraWeights): number {
  let num = 0;
  let den = 0;
  for (const [name, r] of ref.modules) {
    const o = ours.modules.get(name)!;
    const i0 = init.modules.get(name)!;
    for (const k of ['down', 'up'] as const) {
      for (let i = 0; i < r[k].length; i++) {
        num += (o[k][i]! - r[k][i]!) ** 2;
        den += (r[k][i]! - i0[k][i]!) ** 2;
      }
    }
  }
  return Math.sqrt(num / den);
}

describe('pinhole train', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  let init: LoraWeights;
  const figures: Record<string, unknown> = {};
  beforeAll(async () => {
    tmp = makeTempDir('pinhole-cli-train-');
    init = await readKohyaLora(INIT);
  });
  afterAll(() => {
    console.info('cli-train figures', JSON.stringify(figures));
    tmp.cleanup();
  });

  it.each(['sgd', 'adamw'])(
    '%s: --json step losses and the written LoRA match PyTorch',
    async (name) => {
      const run = runs.find((r) => r.name === name)!;
      const out = path.join(tmp.dir, `${name}.safetensors`);
      const result = await runCli(
        [
          'train',
          '--data-dir',
          path.join(tmp.dir, `home-${name}`),
          '--model',
          fixture('sd15-tiny'),
          '--images',
          path.join(TRAINING, 'images'),
          '--out',
          out,
          '--init-lora',
          INIT,
          '--no-shuffle',
          '--max-grad-norm',
          '0',
          '--optimizer',
          run.optimizer,
          '--lr',
          String(run.lr),
          '--weight-decay',
          String(run.weight_decay),
          '--steps',
          String(run.steps),
          '--batch',
          String(run.batch),
          '--seed',
          String(run.seed),
          '--resolution',
          String(run.resolution),
          '--json',
        ],
        { PINHOLE_ENGINE_CACHE: path.join(tmp.dir, 'cache') },
      );
      expect(result.code, result.stderr).toBe(0);
      const lines = jsonLines(result.stdout);
      const steps = lines.filter((l) => l['event'] === 'step');
      expect(steps.map((l) => l['step'])).toEqual(Array.from({ length: run.steps }, (_, i) => i + 1));
      for (const l of steps) expect(l['lr']).toBe(run.lr);
      const losses = steps.map((l) => l['loss'] as number);
      const lossErr = Math.max(...losses.map((l, i) => Math.abs(l - run.losses[i]!) / Math.abs(run.losses[i]!)));
      const done = lines.at(-1)!;
      expect(done).toMatchObject({ event: 'done', file: out, steps: run.steps, rank: 4, alpha: 2, datasetSize: 4 });
      // Besides the caching progress lines: one line per step, then done.
      expect(lines.filter((l) => l['event'] !== 'caching')).toHaveLength(run.steps + 1);

      const ours = await readKohyaLora(out);
      const ref = await readKohyaLora(path.join(TRAINING, run.result));
      const updateErr = updateError(ours, ref, init);
      figures[name] = { lossErr, updateErr };
      expect(lossErr).toBeLessThan(1e-3);
      expect(updateErr).toBeLessThan(1e-3);

      // The init's keys, F32 tensors, 0-d F32 alphas, kohya metadata.
      const file = await SafetensorsFile.open(out);
      const initFile = await SafetensorsFile.open(INIT);
      try {
        expect([...file.names].sort()).toEqual([...initFile.names].sort());
        for (const key of file.names) {
          const entry = file.entry(key);
          expect(entry.fileDtype, key).toBe('F32');
          if (key.endsWith('.alpha')) expect(entry.shape, key).toEqual([]);
          else expect(entry.shape, key).toEqual(initFile.entry(key).shape);
        }
        expect(file.metadata).toMatchObject({
          ss_network_module: 'networks.lora',
          ss_network_dim: '4',
          ss_network_alpha: '2',
          ss_sd_model_name: 'sd15-tiny',
          ss_resolution: `(${run.resolution}, ${run.resolution})`,
          ss_max_train_steps: String(run.steps),
          ss_num_train_images: '4',
          // kohya's model_hash and calculate_sha256 of the base model: a folder's UNet weights.
          ss_sd_model_hash: UNET_HASHES.legacy,
          ss_new_sd_model_hash: UNET_HASHES.sha256,
        });
      } finally {
        await file.close();
        await initFile.close();
      }
    },
    240_000,
  );
});
