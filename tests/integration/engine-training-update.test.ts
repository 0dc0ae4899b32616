/**
 * The optimizer update inside the training graph (`update-graph.ts`) against the JS reference
 * (`clipGradNorm` + `AdamW` / `Sgd` in optimizers.ts, themselves checked against torch's formulas and
 * the PyTorch fixture runs): two steps on sd15-tiny from the same LoRA, gradients taken from the plain
 * training graph and updated in JS on one side, one `LoraTrainer.step` per step on the other — with
 * global-norm clipping active, so the clipping coefficient is exercised too, and SGD's L2 weight decay
 * (torch's `weight_decay`, added to the clipped gradient).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gradName } from '../../src-main/engine/autodiff';
import { createLora, unetLoraTargets, type LoraWeights } from '../../src-main/engine/lora';
import type { UNetConfig } from '../../src-main/engine/models';
import { TorchGenerator } from '../../src-main/engine/random';
import { type HostTensor } from '../../src-main/engine/runtime';
import { createOrtBackend } from '../../src-main/engine/runtime/ort-backend';
import {
  AdamW,
  buildTrainingModel,
  clipGradNorm,
  LoraTrainer,
  Sgd,
  type Optimizer,
  type StepBatch,
} from '../../src-main/engine/training';
import { createBuiltSession } from '../../src-main/engine/training/built-model';
import { fixture } from '../helpers/fixtures';
import { loraTensor, openUNet, randomizeLora, uniforms, type OpenPart } from '../helpers/training-graph';

const SHAPE = { batch: 1, height: 8, width: 8, sequence: 77 };

function maxRelDiff(a: LoraWeights, b: LoraWeights): number {
  let worst = 0;
  for (const [name, m] of a.modules) {
    const o = b.modules.get(name)!;
    for (const [x, y] of [
      [m.down, o.down],
      [m.up, o.up],
    ] as const) {
      let diff = 0;
      let top = 0;
      for (let i = 0; i < x.length; i++) {
        diff = Math.max(diff, Math.abs(x[i]! - y[i]!));
        top = Math.max(top, Math.abs(y[i]!));
      }
      worst = Math.max(worst, diff / (top || 1));
    }
  }
  return worst;
}

describe('the optimizer update in the training graph', () => {
  let unet: OpenPart<UNetConfig>;
  beforeAll(async () => {
    unet = await openUNet(fixture('sd15-tiny'));
  });
  afterAll(async () => {
    await unet?.file.close();
  });

  const batches = (width: number): StepBatch[] =>
    [5, 6].map((seed) => {
      const u = uniforms(seed);
      const latent = Float32Array.from({ length: 4 * 8 * 8 }, u);
      return {
        sample: latent,
        timesteps: [seed * 100],
        cond: Float32Array.from({ length: 77 * width }, u),
        target: Float32Array.from(latent, u),
        latentDims: [4, 8, 8],
        condDims: [77, width],
      };
    });

  for (const [name, make, maxGradNorm] of [
    ['adamw, clipped', () => new AdamW({ lr: 1e-3, weightDecay: 0.01 }), 0.01],
    ['sgd, not clipped', () => new Sgd(0.5), 0],
    ['sgd with weight decay, clipped', () => new Sgd(0.5, 0.1), 0.01],
  ] as const) {
    it(`${name}: matches the JS reference over two steps`, async () => {
      const backend = createOrtBackend();
      const width = Number(unet.config.cross_attention_dim);
      const inGraph = createLora(unetLoraTargets(unet.config, unet.weights), {
        rank: 4,
        generator: new TorchGenerator(3n),
      });
      randomizeLora(inGraph, 11, 0.05);
      const reference = structuredClone(inGraph);
      const initial = structuredClone(inGraph);

      const { model, keys } = buildTrainingModel(unet.config, unet.weights, reference, SHAPE);
      const plain = await createBuiltSession(backend, model, { executionProvider: 'cpu' });
      const trainer = await LoraTrainer.create(unet.config, unet.weights, inGraph, make(), SHAPE, backend, {
        provider: 'cpu',
      });
      trainer.maxGradNorm = maxGradNorm;
      const jsOptimizer: Optimizer = make();
      try {
        for (const batch of batches(width)) {
          const feeds: Record<string, HostTensor> = {
            sample: { type: 'float32', data: batch.sample, dims: [1, 4, 8, 8] },
            timestep: { type: 'float32', data: Float32Array.from(batch.timesteps), dims: [1] },
            encoder_hidden_states: { type: 'float32', data: batch.cond, dims: [1, 77, width] },
            target: { type: 'float32', data: batch.target, dims: [1, 4, 8, 8] },
            loss_weights: { type: 'float32', data: Float32Array.of(1), dims: [1] },
          };
          for (const key of keys) {
            const { data, dims } = loraTensor(reference, key);
            feeds[key] = { type: 'float32', data, dims };
          }
          const out = await plain.run(feeds, ['loss', ...keys.map(gradName)]);
          const grads = keys.map((k) => (out[gradName(k)]!.data as Float32Array).slice());
          const norm = clipGradNorm(grads, maxGradNorm);
          jsOptimizer.step(
            keys.map((k) => loraTensor(reference, k).data),
            grads,
          );

          const loss = await trainer.step(batch);
          expect(loss).toBeCloseTo((out['loss']!.data as Float32Array)[0]!, 6);
          expect(Math.abs(trainer.lastGradNorm - norm) / norm).toBeLessThan(1e-5);
          if (maxGradNorm > 0) expect(norm).toBeGreaterThan(maxGradNorm); // clipping did something
        }
        const diff = maxRelDiff(inGraph, reference);
        console.info(`in-graph ${name} vs JS: max relative difference ${diff}`);
        expect(diff).toBeLessThan(1e-5);
        // The LoRA moved: the comparison is not of two untouched copies.
        expect(maxRelDiff(inGraph, initial)).toBeGreaterThan(1e-4);
        expect(jsOptimizer.steps).toBe(2);
        expect(trainer.optimizer.steps).toBe(2);
      } finally {
        await plain.release();
        await trainer.release();
      }
    }, 120_000);
  }
});
