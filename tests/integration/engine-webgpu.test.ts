/**
 * The GPU path on WebGPU, here over Mesa's software Vulkan (lavapipe; `.ci/run` installs it): sd15-tiny's
 * Euler-8 reference run within CONTRACTS' tolerance, with the conditioning uploaded to the device once per batch
 * and fed from there every step, nothing left on the device afterwards; SDXL's three conditioning inputs the
 * same way; and the CPU provider unchanged: no uploads, and the same PNG bytes as before device residency.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Engine, type GenerateRequest, type GenerateResult } from '../../src-main/engine/pipelines';
import {
  compareRgb,
  expectRgbClose,
  readReferenceFile,
  referenceRequest,
  type ReferenceRun,
} from '../helpers/reference-images';
import { FIXTURES } from '../helpers/fixtures';
import { makeTempDir } from '../helpers/temp-dir';

const SD15 = path.join(FIXTURES, 'sd15-tiny');
type Run = ReferenceRun<NonNullable<GenerateRequest['sampler']>>;
const euler = readReferenceFile<Run>(path.join(SD15, 'reference', 'cases.json')).runs.find(
  (r) => r.scheduler === 'euler' && r.steps === 8,
)!;
const reference = readFileSync(path.join(SD15, 'reference', euler.image_rgb8));
const sha256 = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');

/**
 * The CPU provider's PNG for the Euler-8 run, recorded before device residency was added (x86-64, ORT 1.30's
 * MLAS kernels). A change here means the CPU path changed; a different CPU family may round differently, in
 * which case the tolerance check in engine-pipeline.test.ts still holds and this hash needs re-recording.
 */
const CPU_EULER8_PNG_SHA256 = '871d0e5e9c0c971b85bc671426044c0526e49506289a19c9df92116b07d22f98';

const cache = makeTempDir('pinhole-engine-cache-');
afterAll(() => cache.cleanup());

describe('WebGPU (software Vulkan here)', () => {
  const engine = new Engine({ provider: 'webgpu', cacheDir: cache.dir });
  let cpuRun: GenerateResult;
  beforeAll(async () => {
    const cpu = new Engine({ provider: 'cpu', cacheDir: cache.dir });
    try {
      cpuRun = await cpu.generate(referenceRequest(SD15, euler));
    } finally {
      await cpu.dispose();
    }
  });
  afterAll(() => engine.dispose());

  it('runs on the WebGPU provider (forced)', async () => {
    const selection = await engine.provider();
    expect(selection).toMatchObject({ provider: 'webgpu', forced: true });
  });

  it('reproduces the Euler-8 reference, conditioning uploaded once and fed from the device every step', async () => {
    const counters = engine.runtime.deviceCounters;
    const before = { ...counters };
    const result: GenerateResult = await engine.generate(referenceRequest(SD15, euler));
    const image = result.images[0]!.image.data;
    expectRgbClose(image, reference, 'webgpu vs diffusers reference');
    // WebGPU's float math is not the CPU kernels' (other summation orders, fused ops): state the difference.
    const vsCpu = compareRgb(image, cpuRun.images[0]!.image.data);
    const latents = result.latents[0]!;
    const latentDiff = latents.reduce((m, v, i) => Math.max(m, Math.abs(v - cpuRun.latents[0]![i]!)), 0);
    console.info(
      `webgpu vs cpu: image mean |Δ| ${vsCpu.mean.map((m) => m.toFixed(4)).join(' / ')}, max ${vsCpu.max}; ` +
        `final latents max |Δ| ${latentDiff.toExponential(2)}`,
    );
    expect(latentDiff).toBeLessThan(1e-2);
    // sd15-tiny's UNet takes one conditioning input (encoder_hidden_states, [2, 77, 32] with guidance).
    expect(counters.uploads - before.uploads).toBe(1);
    expect(counters.uploadedBytes - before.uploadedBytes).toBe(2 * 77 * 32 * 4);
    expect(counters.deviceFeeds - before.deviceFeeds).toBe(euler.steps);
    expect(counters.live).toBe(0);
  });

  it('uploads once per request across batch counts, and frees the device tensors on failure too', async () => {
    const counters = engine.runtime.deviceCounters;
    const before = { ...counters };
    await engine.generate({ ...referenceRequest(SD15, euler), steps: 1, batchCount: 2 });
    expect(counters.uploads - before.uploads).toBe(1);
    expect(counters.deviceFeeds - before.deviceFeeds).toBe(2);
    expect(counters.live).toBe(0);

    const controller = new AbortController();
    const canceled = engine.generate(
      { ...referenceRequest(SD15, euler), steps: 4 },
      { signal: controller.signal, onProgress: () => controller.abort() },
    );
    await expect(canceled).rejects.toMatchObject({ name: 'CanceledError' });
    expect(counters.uploads - before.uploads).toBe(2);
    expect(counters.live).toBe(0);
  });
});

describe('WebGPU with SDXL conditioning', () => {
  it('uploads the prompt embeddings, pooled embeddings and time ids once, and matches the CPU', async () => {
    const sdxl = path.join(FIXTURES, 'sdxl-tiny');
    const run = readReferenceFile<Run>(path.join(sdxl, 'reference', 'cases.json')).runs.find((r) => r.steps === 8)!;
    // 3 steps instead of the reference's 8 keep this quick on a software adapter; the CPU is the reference here.
    const request = { ...referenceRequest(sdxl, run), steps: 3 };
    const cpu = new Engine({ provider: 'cpu', cacheDir: cache.dir });
    const gpu = new Engine({ provider: 'webgpu', cacheDir: cache.dir });
    try {
      const expected = (await cpu.generate(request)).images[0]!.image.data;
      const result = await gpu.generate(request);
      expectRgbClose(result.images[0]!.image.data, expected, 'sdxl-tiny 3 steps, webgpu vs cpu');
      // encoder_hidden_states, text_embeds and time_ids: three uploads, fed at each step.
      expect(gpu.runtime.deviceCounters).toMatchObject({ uploads: 3, deviceFeeds: 3 * 3, live: 0 });
    } finally {
      await cpu.dispose();
      await gpu.dispose();
    }
  });
});

describe('CPU provider', () => {
  it('keeps everything on the host and gives the same bytes as before', async () => {
    const engine = new Engine({ provider: 'cpu', cacheDir: cache.dir });
    try {
      const result = await engine.generate(referenceRequest(SD15, euler));
      expect(engine.runtime.deviceCounters).toEqual({ uploads: 0, uploadedBytes: 0, deviceFeeds: 0, live: 0 });
      expect(sha256(result.images[0]!.png)).toBe(CPU_EULER8_PNG_SHA256);
    } finally {
      await engine.dispose();
    }
  });
});
