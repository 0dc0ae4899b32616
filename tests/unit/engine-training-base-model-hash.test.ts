/**
 * The base model's hashes in a trained LoRA's metadata, as kohya-ss's `train_util.model_hash` and
 * `calculate_sha256` compute them. The expected values were computed with Python's hashlib on the
 * same bytes (`hashlib.sha256(b[0x100000:0x110000]).hexdigest()[:8]`, `hashlib.sha256(b).hexdigest()`).
 */
import { readdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LoraWeights } from '../../src-main/engine/lora';
import {
  baseModelFileOf,
  baseModelHashes,
  fileSha256,
  legacyModelHash,
} from '../../src-main/engine/training/base-model-hash';
import { trainingMetadata } from '../../src-main/engine/training/run-metadata';
import type { TrainRequest } from '../../src-main/engine/training';
import { makeTempDir } from '../helpers/temp-dir';

/** Bytes i % 251: no repeating 64 KiB block, so a wrong offset gives another hash. */
const pattern = (length: number) => Uint8Array.from({ length }, (_, i) => i % 251);

describe('base model hashes (kohya model_hash / calculate_sha256)', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  beforeEach(() => {
    tmp = makeTempDir('pinhole-model-hash-');
  });
  afterEach(() => tmp.cleanup());

  it('legacy hash: the 64 KiB at 1 MiB; SHA-256: the whole file (as Python computes them)', async () => {
    const file = path.join(tmp.dir, 'model.safetensors');
    writeFileSync(file, pattern(0x100000 + 0x10000 + 777));
    expect(await legacyModelHash(file)).toBe('15ffd73b');
    expect(await fileSha256(file)).toBe('78528672bead18443cecf3894f9746300e78ece6fde6a6c6f0596ad4f9f1e45a');
  });

  it('a file shorter than 1 MiB + 64 KiB hashes what is there; one under 1 MiB hashes nothing', async () => {
    const partial = path.join(tmp.dir, 'partial.bin');
    writeFileSync(partial, pattern(0x100000 + 100));
    expect(await legacyModelHash(partial)).toBe('19966557');
    const small = path.join(tmp.dir, 'small.bin');
    writeFileSync(small, pattern(1000));
    // SHA-256 of no bytes: Python's seek past the end then read gives b''.
    expect(await legacyModelHash(small)).toBe('e3b0c442');
  });

  it('caches by path, size and modification time', async () => {
    const file = path.join(tmp.dir, 'model.safetensors');
    writeFileSync(file, pattern(0x100000 + 0x10000 + 777));
    const cacheDir = path.join(tmp.dir, 'cache');
    const first = await baseModelHashes(file, cacheDir);
    expect(first).toMatchObject({ legacy: '15ffd73b', file });
    // A doctored cache entry is what a second call returns: it did not hash again.
    const [entry] = readdirSync(path.join(cacheDir, 'model-hashes'));
    const cacheFile = path.join(cacheDir, 'model-hashes', entry!);
    const { mtimeMs, size } = JSON.parse(readFileSync(cacheFile, 'utf8')) as { mtimeMs: number; size: number };
    writeFileSync(cacheFile, JSON.stringify({ file, size, mtimeMs, legacy: 'cached!!', sha256: 'x' }));
    expect((await baseModelHashes(file, cacheDir)).legacy).toBe('cached!!');
    // The file changed (its time here): hashed again.
    utimesSync(file, new Date(), new Date(Date.now() + 5000));
    expect((await baseModelHashes(file, cacheDir)).legacy).toBe('15ffd73b');
  });

  it('a folder is hashed by its UNet weights, unless the checkpoint it came from is named', () => {
    expect(baseModelFileOf('/m/sd15')).toBe(path.join('/m/sd15', 'unet', 'diffusion_pytorch_model.safetensors'));
    expect(baseModelFileOf('/cache/abc', '/models/dream.safetensors')).toBe('/models/dream.safetensors');
  });

  it('trainingMetadata writes ss_sd_model_name, ss_sd_model_hash and ss_new_sd_model_hash', () => {
    const lora: LoraWeights = { modules: new Map(), metadata: {} };
    const request = {
      model: '/cache/converted/abc123',
      baseModelFile: '/models/dreamshaper.safetensors',
      out: '/o.safetensors',
      rank: 4,
      steps: 10,
      batch: 1,
      lr: 1e-4,
      optimizer: 'adamw',
      weightDecay: 0.01,
      maxGradNorm: 1,
      seed: 1n,
      resolution: 512,
      shuffle: true,
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
    } satisfies TrainRequest;
    const hashes = { file: request.baseModelFile, legacy: '15ffd73b', sha256: 'ab'.repeat(32) };
    const meta = trainingMetadata(lora, request, [], 10, 'sd1', hashes);
    expect(meta).toMatchObject({
      ss_sd_model_name: 'dreamshaper.safetensors',
      ss_sd_model_hash: '15ffd73b',
      ss_new_sd_model_hash: 'ab'.repeat(32),
    });
    // Without hashes (the file is gone) the keys are left out rather than made up.
    const bare = trainingMetadata(lora, { ...request, baseModelFile: undefined }, [], 10, 'sd1');
    expect(bare['ss_sd_model_name']).toBe('abc123');
    expect(bare).not.toHaveProperty('ss_sd_model_hash');
    expect(bare).not.toHaveProperty('ss_new_sd_model_hash');
  });
});
