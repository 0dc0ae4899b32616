/**
 * A training run with every loop feature on (shuffle, repeats, flip, caption dropout, trigger, noise
 * offset, min-SNR-γ, cosine schedule with warm-up, AdamW, clipping): checkpoints with validation loss
 * and the best step; a cancel keeps the last completed step and a resume ends with the same LoRA as the
 * uninterrupted run; so does a resume after a real SIGKILL of the training process; a second run takes
 * its latents and text embeddings from the cache (no VAE or text-encoder session), equal to fresh ones.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CanceledError } from '../../src-shared/errors';
import { readKohyaLora, type LoraWeights } from '../../src-main/engine/lora';
import { createOrtBackend } from '../../src-main/engine/runtime/ort-backend';
import { type InferenceBackend } from '../../src-main/engine/runtime';
import {
  checkpointFiles,
  newestCheckpoint,
  prepareTrainingData,
  runTraining,
  type TrainEvent,
  type TrainRequest,
  type TrainResult,
} from '../../src-main/engine/training';
import { fixture } from '../helpers/fixtures';
import { makeTempDir } from '../helpers/temp-dir';

const MODEL = fixture('sd15-tiny');
const IMAGES = fixture('sd15-tiny/training/images');
const temp = makeTempDir('pinhole-train-resume-');
const dir = (...p: string[]) => path.join(temp.dir, ...p);

function request(name: string, over: Partial<TrainRequest> = {}): TrainRequest {
  return {
    model: MODEL,
    images: IMAGES,
    out: dir(`${name}.safetensors`),
    rank: 4,
    steps: 4,
    batch: 2,
    lr: 5e-3,
    optimizer: 'adamw',
    weightDecay: 0.01,
    maxGradNorm: 1,
    seed: 1234n,
    resolution: 64,
    shuffle: true,
    repeats: 2,
    flip: true,
    captionDropout: 0.3,
    trigger: 'rex',
    noiseOffset: 0.05,
    minSnrGamma: 5,
    lrSchedule: 'cosine',
    warmupSteps: 2,
    buckets: false,
    cacheDir: dir('cache'),
    checkpointDir: dir(`${name}-ckpt`),
    saveEvery: 2,
    textEncoder: false,
    savePrecision: 'fp32',
    gradientCheckpointing: false,
    baseWeights: 'auto',
    ...over,
  };
}

/** max |a − b| over every tensor, and the largest |a| (for a relative figure). */
function loraDiff(a: LoraWeights, b: LoraWeights): { maxAbs: number; scale: number } {
  let maxAbs = 0;
  let scale = 0;
  for (const [name, m] of a.modules) {
    const o = b.modules.get(name)!;
    for (const k of ['down', 'up'] as const) {
      for (let i = 0; i < m[k].length; i++) {
        maxAbs = Math.max(maxAbs, Math.abs(m[k][i]! - o[k][i]!));
        scale = Math.max(scale, Math.abs(m[k][i]!));
      }
    }
  }
  return { maxAbs, scale };
}

/** Counts the sessions of the dataset encoders (VAE: `sample` without `timestep`; text: `input_ids`). */
function countingBackend(): { backend: InferenceBackend; encoders: () => number } {
  const inner = createOrtBackend();
  let encoders = 0;
  const backend: InferenceBackend = Object.create(inner) as InferenceBackend;
  backend.createSession = async (...args: Parameters<InferenceBackend['createSession']>) => {
    const session = await inner.createSession(...args);
    const names = session.inputs.map((i) => i.name);
    if (names.includes('input_ids') || (names.includes('sample') && !names.includes('timestep'))) encoders++;
    return session;
  };
  return { backend, encoders: () => encoders };
}

let runner: string;
let full: TrainResult;
let fullLora: LoraWeights;
const fullEvents: TrainEvent[] = [];
const figures: Record<string, unknown> = {};

beforeAll(async () => {
  runner = dir('runner.cjs');
  // Bundled so the child runs plain JS; packages stay external and resolve via NODE_PATH.
  await build({
    entryPoints: [path.join(import.meta.dirname, 'train-crash-runner.ts')],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    outfile: runner,
    packages: 'external',
    logLevel: 'silent',
  });
  full = await runTraining(request('full'), { onEvent: (e) => fullEvents.push(e) });
  fullLora = await readKohyaLora(full.file);
}, 120_000);
afterAll(() => {
  console.info('resume figures', JSON.stringify(figures));
  temp.cleanup();
});

describe('training run with checkpoints', () => {
  it('caches the dataset with progress, then checkpoints every 2 steps with validation loss and names the best', () => {
    const caching = fullEvents.filter((e) => e.kind === 'caching');
    // 4 images × (plain + mirrored + caption) + the empty caption.
    expect(caching.at(-1)).toEqual({ kind: 'caching', done: 13, total: 13 });
    expect(fullEvents.filter((e) => e.kind === 'step').map((e) => e.step)).toEqual([1, 2, 3, 4]);
    expect(full.checkpoints.map((c) => c.step)).toEqual([2, 4]);
    for (const c of full.checkpoints) {
      expect(Number.isFinite(c.validationLoss)).toBe(true);
      expect(existsSync(c.file)).toBe(true);
    }
    const best = full.checkpoints.reduce((b, c) => (c.validationLoss! < b.validationLoss! ? c : b));
    expect(full.bestStep).toBe(best.step);
    expect(full.lrs[0]).toBe(0); // linear warm-up from 0
    expect(full.lrs[1]).toBeCloseTo(2.5e-3, 12);
    expect(full.lrs[2]).toBeCloseTo(5e-3, 12);
    expect(full.lrs[3]).toBeCloseTo(5e-3 * 0.5 * (1 + Math.cos(Math.PI / 2)), 12); // cosine to 0 at step 4
    figures['validation'] = full.checkpoints.map((c) => [c.step, c.validationLoss]);
    figures['msPerStep'] = full.timings.msPerStep;
  });

  it('cancel writes a checkpoint of the last completed step; resume ends with the uninterrupted LoRA', async () => {
    const controller = new AbortController();
    const req = request('cancel');
    await expect(
      runTraining(req, {
        signal: controller.signal,
        onEvent: (e) => {
          if (e.kind === 'step' && e.step === 3) controller.abort();
        },
      }),
    ).rejects.toBeInstanceOf(CanceledError);
    expect(await newestCheckpoint(req.checkpointDir!)).toBe(3);
    expect(existsSync(req.out)).toBe(false);
    // Another seed cannot continue this run's checkpoints (and they stay).
    await expect(runTraining({ ...req, seed: 99n, resume: true })).rejects.toMatchObject({
      code: 'INVALID_PARAMS',
      message: expect.stringMatching(/other settings/) as unknown,
    });
    expect(await newestCheckpoint(req.checkpointDir!)).toBe(3);
    const resumed = await runTraining({ ...req, resume: true });
    expect(resumed.resumedFrom).toBe(3);
    expect(resumed.losses).toEqual(full.losses);
    expect(resumed.checkpoints.filter((c) => c.step % 2 === 0)).toEqual(
      full.checkpoints.map((c) => ({ ...c, file: checkpointFiles(req.checkpointDir!, c.step).lora })),
    );
    const diff = loraDiff(await readKohyaLora(resumed.file), fullLora);
    figures['cancelResume'] = diff;
    expect(diff.maxAbs).toBe(0);
  }, 120_000);

  it('resumes after a SIGKILL mid-training and ends with the uninterrupted LoRA', async () => {
    const req = request('killed');
    const killed = await new Promise<boolean>((resolve, reject) => {
      const child = spawn(process.execPath, [runner, JSON.stringify({ ...req, seed: req.seed.toString() })], {
        env: { ...process.env, NODE_PATH: path.join(import.meta.dirname, '..', '..', 'node_modules') },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString();
        // After step 3's update, before its (or any later) checkpoint: the newest is step 2.
        if (out.includes('step 3\n')) child.kill('SIGKILL');
      });
      child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
      child.on('error', reject);
      child.on('exit', (code, signal) =>
        signal === 'SIGKILL' ? resolve(true) : code === 0 ? resolve(false) : reject(new Error(err)),
      );
    });
    expect(killed).toBe(true);
    const newest = await newestCheckpoint(req.checkpointDir!);
    expect(newest).toBe(2);
    const resumed = await runTraining({ ...req, resume: true });
    expect(resumed.resumedFrom).toBe(2);
    expect(resumed.losses).toEqual(full.losses);
    const diff = loraDiff(await readKohyaLora(resumed.file), fullLora);
    figures['killResume'] = diff;
    expect(diff.maxAbs).toBe(0);
  }, 120_000);

  it('a second run takes latents and text embeddings from the cache', async () => {
    const prepare = (backend: InferenceBackend, cacheDir: string) =>
      prepareTrainingData({
        modelDir: MODEL,
        images: IMAGES,
        resolution: 64,
        flip: true,
        trigger: 'rex',
        captionDropout: true,
        cacheDir,
        backend,
      });
    const cached = countingBackend();
    const hit = await prepare(cached.backend, dir('cache'));
    expect(cached.encoders()).toBe(0);
    const fresh = countingBackend();
    const miss = await prepare(fresh.backend, dir('cache2'));
    expect(fresh.encoders()).toBe(2);
    expect(hit).toEqual(miss);
  }, 60_000);
});
