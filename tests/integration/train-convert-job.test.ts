/**
 * `train.start` with a single-file checkpoint (sd15-single) returns at once: the conversion runs inside
 * the train job, on the GPU lane, reporting its progress (message and the `converting` metric) before the
 * first step, and a cancel during the conversion stops it with nothing half-written in the cache.
 */
import { existsSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dispatchCall, type JobProgress, type JobView } from '../../src-shared/api';
import { createStudio, type Studio } from '../../src-main/studio';
import { assertBuilt, REPO_ROOT } from '../helpers/cli';
import { fixture } from '../helpers/fixtures';
import { makeTempDir } from '../helpers/temp-dir';

const IMAGES = fixture('sd15-tiny/training/images');

describe('train.start with a single-file checkpoint', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  let studio: Studio;
  /** Every progress report of every job, in order. */
  const reports = new Map<string, JobProgress[]>();
  const cacheEntries = (): string[] => {
    const dir = path.join(studio.home.root, 'cache', 'engine', 'checkpoints');
    return existsSync(dir) ? readdirSync(dir) : [];
  };

  /** Calls the API as a transport does (params validated, defaults filled). */
  const call = async (method: string, params: unknown): Promise<unknown> => {
    const response = await dispatchCall(studio.api, method, params);
    if (!response.ok) throw new Error(`${method}: ${response.error.code} ${response.error.message}`);
    return response.result;
  };
  const start = async (model: string, out: string) =>
    (await call('train.start', {
      request: { model, images: IMAGES, out, steps: 1, resolution: 64, rank: 4, seed: '3' },
    })) as { jobId: string };

  beforeAll(() => {
    assertBuilt(); // the engine process runs the built host
    tmp = makeTempDir('pinhole-train-convert-');
    studio = createStudio({
      dataDir: path.join(tmp.dir, 'home'),
      mode: 'headless',
      version: 'test',
      engineEntry: path.join(REPO_ROOT, 'dist', 'main', 'engine', 'host.js'),
    });
    studio.onEvent((message) => {
      if (message.event !== 'job.updated' || !message.payload.progress) return;
      const list = reports.get(message.payload.id) ?? [];
      list.push(message.payload.progress);
      reports.set(message.payload.id, list);
    });
  });
  afterAll(async () => {
    await studio.dispose();
    tmp.cleanup();
  });

  it('returns before converting; the job converts with progress, then trains on the converted folder', async () => {
    const checkpoint = fixture('sd15-single/tiny-sd15-public.safetensors');
    const { jobId } = await start(checkpoint, path.join(tmp.dir, 'lora.safetensors'));
    // The request handler did not convert: the job keeps the file, and no converted folder exists yet.
    const queued = (await call('jobs.get', { jobId })) as JobView;
    expect((queued.params as { request: { model: string } }).request.model).toBe(checkpoint);
    expect(cacheEntries().filter((n) => /^[0-9a-f]{32}$/.test(n))).toEqual([]);

    const final = await studio.waitForJob(jobId);
    expect(final.state, JSON.stringify(final.error)).toBe('succeeded');
    const progress = reports.get(jobId) ?? [];
    const converting = progress.filter((p) => p.metrics?.['converting'] !== undefined);
    expect(converting.length).toBeGreaterThan(1);
    const fractions = converting.map((p) => p.metrics!['converting']!);
    expect(fractions).toEqual([...fractions].sort((a, b) => a - b));
    expect(fractions.at(-1)).toBe(1);
    expect(converting.every((p) => p.step === 0 && p.total === 1)).toBe(true);
    expect(converting.map((p) => p.message)).toContainEqual(expect.stringMatching(/^Converting the model: unet .*%$/));
    // Conversion first, then the run's step.
    const firstStep = progress.findIndex((p) => p.metrics?.['loss'] !== undefined);
    expect(firstStep).toBeGreaterThan(progress.lastIndexOf(converting.at(-1)!));
    expect(cacheEntries().filter((n) => /^[0-9a-f]{32}$/.test(n))).toHaveLength(1);
  }, 180_000);

  it('cancels during the conversion, leaving no converted or temporary folder', async () => {
    const before = cacheEntries().filter((n) => n !== 'hashes');
    // The .ckpt holds the same weights as another file: a conversion of its own.
    const { jobId } = await start(
      fixture('sd15-single/tiny-sd15-public.ckpt'),
      path.join(tmp.dir, 'cancelled.safetensors'),
    );
    const off = studio.onEvent((message) => {
      const p = message.event === 'job.updated' && message.payload.id === jobId ? message.payload.progress : null;
      if (p?.metrics?.['converting'] === undefined) return;
      off();
      // Outside the queue's own event dispatch.
      setImmediate(() => void call('jobs.cancel', { jobId }));
    });
    const final = await studio.waitForJob(jobId);
    expect(final.state).toBe('canceled');
    expect(reports.get(jobId)?.some((p) => p.metrics?.['loss'] !== undefined) ?? false).toBe(false);
    expect(cacheEntries().filter((n) => n !== 'hashes')).toEqual(before);
  }, 120_000);
});
