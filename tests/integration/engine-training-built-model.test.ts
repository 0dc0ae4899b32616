/**
 * Built graphs past protobuf's 2 GiB limit (SD 1.5's float32 UNet, SDXL's float16 one) reach
 * onnxruntime as a temporary model file with external data. Forced onto that path with a zero
 * inline limit, the sd15-tiny training graph gives exactly the loss and gradients of the in-memory
 * path, and its temporary files are gone once the session is released.
 */
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gradName } from '../../src-main/engine/autodiff';
import { createLora, unetLoraTargets } from '../../src-main/engine/lora';
import { TorchGenerator } from '../../src-main/engine/random';
import { type HostTensor } from '../../src-main/engine/runtime';
import { createOrtBackend } from '../../src-main/engine/runtime/ort-backend';
import { buildTrainingModel } from '../../src-main/engine/training';
import { createBuiltSession, weightBytes } from '../../src-main/engine/training/built-model';
import { fixture } from '../helpers/fixtures';
import { loraTensor, openUNet, randomizeLora, uniforms, type OpenPart } from '../helpers/training-graph';
import type { UNetConfig } from '../../src-main/engine/models';

const builtDirs = () => readdirSync(tmpdir()).filter((n) => n.startsWith('pinhole-built-'));

describe('built training graphs of any size', () => {
  let unet: OpenPart<UNetConfig>;
  beforeAll(async () => {
    unet = await openUNet(fixture('sd15-tiny'));
  });
  afterAll(async () => {
    await unet?.file.close();
  });

  it('runs from a temporary external-data file exactly as from memory, then removes it', async () => {
    const lora = createLora(unetLoraTargets(unet.config, unet.weights), { rank: 4, generator: new TorchGenerator(3n) });
    randomizeLora(lora, 11, 0.05);
    const shape = { batch: 1, height: 8, width: 8, sequence: 77 };
    const { model, keys } = buildTrainingModel(unet.config, unet.weights, lora, shape);
    expect(weightBytes(model)).toBeGreaterThan(0);

    const u = uniforms(5);
    const width = Number(unet.config.cross_attention_dim);
    const latent = Float32Array.from({ length: 4 * 8 * 8 }, u);
    const feeds: Record<string, HostTensor> = {
      sample: { type: 'float32', data: latent, dims: [1, 4, 8, 8] },
      timestep: { type: 'float32', data: Float32Array.of(500), dims: [1] },
      encoder_hidden_states: {
        type: 'float32',
        data: Float32Array.from({ length: 77 * width }, u),
        dims: [1, 77, width],
      },
      target: { type: 'float32', data: Float32Array.from(latent, u), dims: [1, 4, 8, 8] },
      loss_weights: { type: 'float32', data: Float32Array.of(1), dims: [1] },
    };
    for (const key of keys) {
      const { data, dims } = loraTensor(lora, key);
      feeds[key] = { type: 'float32', data, dims };
    }
    const fetches = ['loss', ...keys.map(gradName)];
    const backend = createOrtBackend();
    const before = builtDirs();

    const inline = await createBuiltSession(backend, model, { executionProvider: 'cpu' });
    const fromFile = await createBuiltSession(backend, model, { executionProvider: 'cpu' }, 0);
    expect(builtDirs().length).toBe(before.length + 1);
    try {
      const a = await inline.run(feeds, fetches);
      const b = await fromFile.run(feeds, fetches);
      for (const name of fetches) expect(b[name]!.data, name).toEqual(a[name]!.data);
      expect(Number.isFinite((a['loss']!.data as Float32Array)[0])).toBe(true);
    } finally {
      await inline.release();
      await fromFile.release();
    }
    expect(builtDirs()).toEqual(before);
  }, 120_000);
});
