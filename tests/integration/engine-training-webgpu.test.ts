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
import { type HostTensor, type InferenceBackend, type RawSession } from '../../src-main/engine/runtime';
import { createOrtBackend } from '../../src-main/engine/runtime/ort-backend';
import { probeProvider } from '../../src-main/engine/runtime/providers';
import {
  AdamW,
  buildTrainingModel,
  LoraTrainer,
  trainLora,
  type StepBatch,
  type TrainingData,
} from '../../src-main/engine/training';
import { fixture } from '../helpers/fixtures';
import { GraphProbe, openUNet, randomizeLora, uniforms, type OpenPart } from '../helpers/training-graph';
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

/**
 * `backend` recording, per run of the sessions it makes, the names fed from host memory: the LoRA must stop
 * crossing from the host once the first step has left it on the device.
 */
function recordingHostFeeds(backend: InferenceBackend, runs: string[][]): InferenceBackend {
  const wrap = (raw: RawSession): RawSession => ({
    inputs: raw.inputs,
    outputs: raw.outputs,
    run: (feeds, fetches, device) => {
      runs.push(Object.keys(feeds));
      return raw.run(feeds, fetches, device);
    },
    ...(raw.runOnDevice
      ? {
          runOnDevice: (feeds, fetches, device) => {
            runs.push(Object.keys(feeds));
            return raw.runOnDevice!(feeds, fetches, device);
          },
        }
      : {}),
    release: () => raw.release(),
  });
  return { ...backend, createSession: async (model, options) => wrap(await backend.createSession(model, options)) };
}

describe('training state on the WebGPU device', () => {
  let unet: OpenPart<UNetConfig>;
  beforeAll(async () => {
    unet = await openUNet(fixture('sd15-tiny'));
  });
  afterAll(() => unet.file.close());

  const batches: StepBatch[] = [5, 6, 7].map((seed) => {
    const sample = floats(4 * 8 * 8, seed);
    return {
      sample,
      timesteps: [seed * 100],
      cond: floats(77 * 32, seed + 10),
      target: floats(4 * 8 * 8, seed + 20),
      latentDims: [4, 8, 8],
      condDims: [77, 32],
    };
  });

  /** Three AdamW steps on WebGPU; the LoRA and optimizer after them, and what each run fed from the host. */
  async function train(keepStateOnDevice: boolean) {
    const lora = await readKohyaLora(fixture('sd15-tiny/training/init.safetensors'));
    randomizeLora(lora, 4, 0.05);
    const before = structuredClone(lora);
    const runs: string[][] = [];
    const optimizer = new AdamW({ lr: 1e-3, weightDecay: 0.01 });
    const trainer = await LoraTrainer.create(
      unet.config,
      unet.weights,
      lora,
      optimizer,
      { batch: 1, height: 8, width: 8, sequence: 77 },
      recordingHostFeeds(backend, runs),
      { provider: 'webgpu', keepStateOnDevice },
    );
    try {
      const losses = [];
      for (const batch of batches) losses.push(await trainer.step(batch));
      const staleBeforeSync = [...lora.modules].every(([name, m]) =>
        m.up.every((x, i) => x === before.modules.get(name)!.up[i]),
      );
      await trainer.syncToHost();
      return { lora, optimizer, losses, runs, resident: trainer.keepsStateOnDevice, staleBeforeSync };
    } finally {
      await trainer.release();
    }
  }

  it(
    'keeps the LoRA and AdamW moments on the device between steps, with the same result',
    { timeout: 400_000 },
    async () => {
      await probeProvider(backend, 'webgpu');
      const copied = await train(false);
      const resident = await train(true);
      expect(copied.resident).toBe(false);
      expect(resident.resident).toBe(true);

      const loraKey = [...resident.lora.modules.keys()][0]! + '.lora_up.weight';
      // Copying: every step feeds the LoRA from the host. Resident: only the first step does.
      expect(copied.runs.map((r) => r.includes(loraKey))).toEqual([true, true, true]);
      expect(resident.runs.map((r) => r.includes(loraKey))).toEqual([true, false, false]);
      expect(resident.runs[2]!.some((n) => n.startsWith('m/') || n.startsWith('v/'))).toBe(false);
      // Until synced, the host arrays still hold the starting LoRA (the steps happened on the device).
      expect(resident.staleBeforeSync).toBe(true);
      expect(copied.staleBeforeSync).toBe(false);

      expect(resident.losses).toEqual(copied.losses);
      let worst = 0;
      for (const [name, m] of copied.lora.modules) {
        const o = resident.lora.modules.get(name)!;
        for (const [a, b] of [
          [m.down, o.down],
          [m.up, o.up],
        ] as const) {
          a.forEach((x, i) => (worst = Math.max(worst, Math.abs(x - b[i]!))));
        }
      }
      resident.optimizer.m.forEach((m, j) =>
        m.forEach((x, i) => (worst = Math.max(worst, Math.abs(x - copied.optimizer.m[j]![i]!)))),
      );
      resident.optimizer.v.forEach((v, j) =>
        v.forEach((x, i) => (worst = Math.max(worst, Math.abs(x - copied.optimizer.v[j]![i]!)))),
      );
      console.info(`WebGPU resident vs copied state after 3 AdamW steps: max abs difference ${worst}`);
      expect(worst).toBeLessThanOrEqual(1e-7);
      // The moments moved (the comparison is not of untouched zeros).
      expect(resident.optimizer.v.some((v) => v.some((x) => x > 0))).toBe(true);
    },
  );
});

describe('a bucketed run on WebGPU with device-resident state', () => {
  /** Three examples in two buckets (8×8 and 8×16 latents), so the loop switches between two trainers. */
  const data: TrainingData = {
    examples: [
      [8, 8],
      [8, 16],
      [8, 8],
    ].map(([h, w], i) => ({
      file: `example-${i}.png`,
      caption: '',
      bucket: [w! * 8, h! * 8],
      latentDims: [4, h!, w!],
      latents: floats(4 * h! * w!, 40 + i),
      cond: floats(77 * 32, 50 + i),
      timeIds: [h! * 8, w! * 8, 0, 0, h! * 8, w! * 8],
    })),
    latentDims: [4, 8, 8],
    condDims: [77, 32],
  };

  async function run(keepStateOnDevice: boolean) {
    const lora = await readKohyaLora(fixture('sd15-tiny/training/init.safetensors'));
    randomizeLora(lora, 9, 0.05);
    const snapshots: Float32Array[] = [];
    const losses = await trainLora({
      modelDir: fixture('sd15-tiny'),
      lora,
      optimizer: 'adamw',
      lr: 1e-3,
      steps: 5,
      batch: 1,
      seed: 7n,
      resolution: 64,
      buckets: true,
      data,
      backend,
      graph: { provider: 'webgpu', keepStateOnDevice },
      // What a checkpoint hook sees mid-run, after syncing.
      afterStep: async (done, loop) => {
        if (done !== 2) return;
        await loop.syncToHost();
        snapshots.push(...[...loop.lora.modules.values()].map((m) => m.up.slice()));
      },
    });
    return { lora, losses, snapshots };
  }

  it('switches trainers and reads mid-run state like a run that copies every step', { timeout: 400_000 }, async () => {
    await probeProvider(backend, 'webgpu');
    const copied = await run(false);
    const resident = await run(true);
    expect(resident.losses).toEqual(copied.losses);
    let worst = 0;
    resident.snapshots.forEach((a, k) =>
      a.forEach((x, i) => (worst = Math.max(worst, Math.abs(x - copied.snapshots[k]![i]!)))),
    );
    for (const [name, m] of copied.lora.modules) {
      const o = resident.lora.modules.get(name)!;
      m.down.forEach((x, i) => (worst = Math.max(worst, Math.abs(x - o.down[i]!))));
      m.up.forEach((x, i) => (worst = Math.max(worst, Math.abs(x - o.up[i]!))));
    }
    console.info(`bucketed WebGPU run, resident vs copied: max abs difference ${worst}`);
    expect(resident.snapshots.length).toBeGreaterThan(0);
    expect(worst).toBeLessThanOrEqual(1e-7);
  });
});
