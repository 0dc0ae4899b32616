/**
 * The sd15-tiny training step (forward + backward: loss and every LoRA gradient) on onnxruntime-node's
 * WebGPU provider matches the CPU: loss within 1e-5 relative, gradients within 1e-3 relative (global
 * norm of the difference over all tensors; measured ~5e-7 and ~5e-5 here). On this machine WebGPU runs on
 * Mesa's software Vulkan (lavapipe): the point is that the training graph runs there, placed on WebGPU,
 * not its speed — the first run compiles every shader and takes about a minute, hence the long timeout.
 * The test needs a WebGPU adapter; where none exists it fails with the provider's reason.
 */
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readKohyaLora, type LoraWeights } from '../../src-main/engine/lora';
import { type HostTensor } from '../../src-main/engine/runtime';
import { createOrtBackend } from '../../src-main/engine/runtime/ort-backend';
import { probeProvider } from '../../src-main/engine/runtime/providers';
import { buildTrainingModel } from '../../src-main/engine/training';
import { fixture } from '../helpers/fixtures';
import { GraphProbe, openUNet, uniforms, type OpenPart } from '../helpers/training-graph';
import { type UNetConfig } from '../../src-main/engine/models';

// Dawn wants a private runtime folder for its Vulkan instance (it warns without one).
process.env['XDG_RUNTIME_DIR'] ??= mkdtempSync(path.join(os.tmpdir(), 'pinhole-xdg-'));

const backend = createOrtBackend();
const floats = (n: number, seed: number) => {
  const u = uniforms(seed);
  return Float32Array.from({ length: n }, () => u());
};

describe('training step on WebGPU', () => {
  let unet: OpenPart<UNetConfig>;
  let lora: LoraWeights;

  beforeAll(async () => {
    unet = await openUNet(fixture('sd15-tiny'));
    lora = await readKohyaLora(fixture('sd15-tiny/training/init.safetensors'));
    // kohya starts `up` at zero, which leaves `down` without gradient: give both something to show.
    const u = uniforms(3);
    for (const m of lora.modules.values()) for (let i = 0; i < m.up.length; i++) m.up[i] = u() * 0.1;
  });
  afterAll(() => unet.file.close());

  it('matches the CPU (loss and LoRA gradients)', { timeout: 400_000 }, async () => {
    await probeProvider(backend, 'webgpu');
    const built = buildTrainingModel(unet.config, unet.weights, lora, {
      batch: 1,
      height: 32,
      width: 32,
      sequence: 77,
    });
    const feeds: Record<string, HostTensor> = {
      sample: { type: 'float32', data: floats(4 * 32 * 32, 1), dims: [1, 4, 32, 32] },
      timestep: { type: 'float32', data: Float32Array.of(500), dims: [1] },
      target: { type: 'float32', data: floats(4 * 32 * 32, 2), dims: [1, 4, 32, 32] },
      loss_weights: { type: 'float32', data: Float32Array.of(1), dims: [1] },
      encoder_hidden_states: { type: 'float32', data: floats(77 * 32, 8), dims: [1, 77, 32] },
    };
    const results = [];
    for (const provider of ['cpu', 'webgpu'] as const) {
      const probe = await GraphProbe.create(backend, built, lora, feeds, provider);
      try {
        results.push(await probe.run());
      } finally {
        await probe.release();
      }
    }
    const [cpu, gpu] = results as [(typeof results)[0], (typeof results)[0]];
    let num = 0;
    let den = 0;
    for (const [k, g] of cpu.grads) {
      const h = gpu.grads.get(k)!;
      g.forEach((x, i) => {
        num += (x - h[i]!) ** 2;
        den += x * x;
      });
    }
    const lossRel = Math.abs(cpu.loss - gpu.loss) / cpu.loss;
    const gradRel = Math.sqrt(num / den);
    console.info(`WebGPU vs CPU: loss ${lossRel.toExponential(2)}, gradients ${gradRel.toExponential(2)} (relative)`);
    expect(den).toBeGreaterThan(0);
    expect(lossRel).toBeLessThan(1e-5);
    expect(gradRel).toBeLessThan(1e-3);
  });
});
