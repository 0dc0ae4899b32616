import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LOSS_EMA_BETA, LossSmoother, type JobProgress, type JobView, type TrainArtifacts } from '../../src-shared/api';
import { PinholeError } from '../../src-shared/errors';
import type { EngineClient, TrainEvent, TrainRequest } from '../../src-main/engine';
import {
  createTrainJobHandler,
  trainingMediaFile,
  trainRunPaths,
  useTrainCheckpoint,
  type TrainJobParams,
} from '../../src-main/generation';
import { fakeContext, makeImage, makeLibrary, type TestLibrary } from './library-fixtures';

describe('LossSmoother', () => {
  it('is the bias-corrected EMA: Σ (1−β) β^(n−i) xᵢ / (1 − βⁿ), computed directly', () => {
    const losses = [0.9, 0.1, 0.5, 0.05, 0.7, 0.3, 0.2, 0.15, 0.6, 0.12, 0.11];
    const s = new LossSmoother();
    expect(Number.isNaN(s.value())).toBe(true);
    losses.forEach((x, k) => {
      const got = s.add(x);
      const n = k + 1;
      let sum = 0;
      for (let i = 1; i <= n; i++) sum += (1 - LOSS_EMA_BETA) * LOSS_EMA_BETA ** (n - i) * losses[i - 1]!;
      expect(got).toBeCloseTo(sum / (1 - LOSS_EMA_BETA ** n), 12);
    });
    // Unbiased from the first step: a constant loss smooths to itself.
    const c = new LossSmoother();
    for (let i = 0; i < 5; i++) expect(c.add(0.25)).toBeCloseTo(0.25, 14);
  });
});

/** A fake engine: checks the request, then replays `script`, honouring the abort signal. */
function fakeEngine(
  script: (request: TrainRequest, emit: (e: TrainEvent) => void, signal: AbortSignal) => Promise<void>,
  seen: TrainRequest[],
): EngineClient {
  const engine = {
    train: async (request: TrainRequest, options: { signal: AbortSignal; onEvent: (e: TrainEvent) => void }) => {
      seen.push(request);
      await script(request, options.onEvent, options.signal);
      return {
        file: request.out,
        steps: request.steps,
        losses: [0.5, 0.4, 0.3, 0.2],
        lrs: [1, 1, 1, 1],
        rank: request.rank,
        alpha: request.rank,
        modules: 3,
        datasetSize: request.items?.length ?? 0,
        timings: { totalMs: 4, msPerStep: 1 },
        checkpoints: [{ step: 4, file: path.join(request.checkpointDir!, 'step-4.safetensors'), validationLoss: 0.2 }],
        samples: [],
      };
    },
  };
  return engine as unknown as EngineClient;
}

let t: TestLibrary;
beforeEach(() => {
  t = makeLibrary();
});
afterEach(() => t.cleanup());

async function datasetWithImages(name: string, captions: string[]): Promise<void> {
  const ds = t.library.createDataset(name);
  t.db
    .prepare(
      `INSERT INTO jobs (id, seq, kind, lane, state, title, params, created_at) VALUES ('job_imp', 1, 'import', 'cpu', 'succeeded', 't', '{}', 0)`,
    )
    .run();
  for (const [i, caption] of captions.entries()) {
    const image = await t.library.addGeneratedImage({ png: await makeImage({ format: 'png', seed: i }), prompt: 'p' });
    t.library.recordImport({
      jobId: 'job_imp',
      index: i,
      file: `f${i}.png`,
      datasetId: ds.id,
      outcome: { kind: 'image', sha256: image.sha256, image: null, caption, originalName: `f${i}.png` },
    });
  }
}

describe('the train job', () => {
  it('fills the engine request from a library dataset, the preset and the data home', async () => {
    await datasetWithImages('Rex', ['rex on grass', 'rex asleep']);
    const seen: TrainRequest[] = [];
    const handler = createTrainJobHandler(() => fakeEngine(async () => undefined, seen), t.library, t.home);
    const params: TrainJobParams = {
      request: { model: '/m', dataset: 'rex', preset: 'sd1', steps: 4, resolution: 64, trigger: 'rexdog', seed: '7' },
    };
    const ctx = fakeContext<unknown>('job_a');
    const result = await handler.run(ctx, params);
    const request = seen[0]!;
    expect(request.items).toHaveLength(2);
    expect(request.items!.map((i) => i.caption)).toEqual(['rex on grass', 'rex asleep']);
    expect(request.items!.every((i) => existsSync(i.file))).toBe(true);
    expect(request).toMatchObject({
      out: path.join(t.home.loras, 'rex-job_a.safetensors'),
      checkpointDir: path.join(t.home.training, 'job_a'),
      cacheDir: path.join(t.home.cache, 'training'),
      resume: false,
      steps: 4,
      resolution: 64,
      rank: 16,
      alpha: 8,
      lrSchedule: 'cosine',
      flip: false,
      trigger: 'rexdog',
      seed: 7n,
      sampleSeed: 7n,
      baseWeights: 'auto',
    });
    expect(request.images).toBeUndefined();
    expect(result.artifacts.bestStep).toBe(4);
    expect(result.artifacts.checkpoints).toEqual([
      { step: 4, file: path.join(t.home.training, 'job_a', 'step-4.safetensors'), validationLoss: 0.2 },
    ]);
  });

  it('says which dataset is missing or empty', async () => {
    t.library.createDataset('Empty');
    const handler = createTrainJobHandler(() => fakeEngine(async () => undefined, []), t.library, t.home);
    const run = (dataset: string) =>
      handler.run(fakeContext<unknown>('job_b'), { request: { model: '/m', dataset, seed: '1' } }).then(
        () => 'ran',
        (e: PinholeError) => `${e.code}: ${e.message}`,
      );
    expect(await run('Nope')).toMatch(/^NOT_FOUND: No dataset named "Nope"/);
    expect(await run('empty')).toMatch(/^INVALID_PARAMS: Dataset "Empty" has no images/);
  });

  it('reports each step once with smoothed loss and rate, and keeps samples and checkpoints across a pause', async () => {
    const seen: TrainRequest[] = [];
    const events: TrainEvent[] = [
      { kind: 'caching', done: 1, total: 2 },
      { kind: 'caching', done: 2, total: 2 },
      { kind: 'step', step: 1, totalSteps: 4, loss: 0.5, lr: 1e-4, gradNorm: 2, elapsedMs: 100 },
      { kind: 'step', step: 1, totalSteps: 4, loss: 0.5, lr: 1e-4, gradNorm: 2, elapsedMs: 100 },
      { kind: 'step', step: 2, totalSteps: 4, loss: 0.3, lr: 1e-4, gradNorm: 1, elapsedMs: 600 },
      { kind: 'sample', step: 2, index: 0, prompt: 'a photo', file: '/run/samples/2-0.png' },
      { kind: 'checkpoint', step: 2, file: '/run/step-2.safetensors', validationLoss: 0.31 },
    ];
    const handler = createTrainJobHandler(
      () =>
        fakeEngine(async (_r, emit, signal) => {
          events.forEach(emit);
          if (signal.aborted) throw new PinholeError('CANCELED', 'Paused');
        }, seen),
      t.library,
      t.home,
    );
    const ctx = fakeContext<unknown>('job_c');
    const first = await handler.run(ctx, {
      request: { model: '/m', images: '/imgs', out: '/o/x.safetensors', seed: '3' },
    });
    // The step log: each step once, with every field (no rate and no ETA before a second step).
    expect(first.stepLog.map((r) => [r.step, r.stepsPerSec, r.etaMs])).toEqual([
      [1, null, null],
      [2, 2, 1000],
    ]);
    expect(first.stepLog[1]).toMatchObject({ totalSteps: 4, loss: 0.3, lr: 1e-4, gradNorm: 1 });
    expect(first.stepLog[1]!.smoothLoss).toBeCloseTo((0.1 * 0.9 * 0.5 + 0.1 * 0.3) / (1 - 0.81), 14);
    const calls = ctx.progressCalls as (JobProgress & { artifacts?: TrainArtifacts })[];
    const steps = calls.filter((c) => c.metrics?.['loss'] !== undefined && c.message?.startsWith('loss'));
    // Step 1 arrived twice from the engine and is reported once; step 2's report is repeated with
    // each new artifact (same metrics), which consumers recognise by its step.
    expect(steps.filter((c) => c.step === 1)).toHaveLength(1);
    expect([...new Set(steps.map((c) => c.step))]).toEqual([1, 2]);
    const { smoothLoss, ...rest } = steps[1]!.metrics!;
    expect(smoothLoss).toBeCloseTo((0.1 * 0.9 * 0.5 + 0.1 * 0.3) / (1 - 0.81), 14);
    // One step in 500 ms; two steps left at that rate.
    expect(rest).toEqual({ loss: 0.3, lr: 1e-4, gradNorm: 1, stepsPerSec: 2, etaMs: 1000 });
    expect(calls[0]).toMatchObject({ step: 0, total: 1000, metrics: { cachingDone: 1, cachingTotal: 2 } });
    const last = calls.at(-1)!;
    expect(last.artifacts).toEqual({
      checkpoints: [{ step: 2, file: '/run/step-2.safetensors', validationLoss: 0.31 }],
      samples: [{ step: 2, index: 0, prompt: 'a photo', file: '/run/samples/2-0.png' }],
      bestStep: 2,
    });
    expect(ctx.saved).toEqual({ artifacts: last.artifacts });
    expect(seen[0]).toMatchObject({
      images: '/imgs',
      out: '/o/x.safetensors',
      checkpointDir: '/o/x.safetensors.checkpoints',
      resume: false,
    });

    // The resumed job (its checkpoint saved) asks the engine to resume and keeps the earlier artifacts.
    const resumed = fakeContext<unknown>('job_c', { checkpoint: ctx.saved, attempt: 2 });
    const result = await handler.run(resumed, {
      request: { model: '/m', images: '/imgs', out: '/o/x.safetensors', seed: '3' },
    });
    expect(seen[1]!.resume).toBe(true);
    expect(result.artifacts.checkpoints.map((c) => c.step)).toEqual([2, 4]);
    expect(result.artifacts.samples).toHaveLength(1);
    // The engine's result names no best step: the lowest validation loss (0.2 at step 4) is suggested.
    expect(result.artifacts.bestStep).toBe(4);
  });
});

describe('training artifacts', () => {
  function job(state: JobView['state'], artifacts: TrainArtifacts, asResult: boolean): JobView {
    return {
      id: 'job_x',
      kind: 'train',
      lane: 'gpu',
      state,
      priority: 0,
      title: 't',
      params: {},
      progress: asResult ? null : { step: 2, total: 4, etaMs: null, artifacts },
      result: asResult ? { artifacts } : null,
      error: null,
      attempts: 1,
      createdAt: 0,
      startedAt: 0,
      finishedAt: 0,
    };
  }

  it('serves only recorded files, by index or step, and copies a chosen checkpoint over the output', async () => {
    const dir = path.join(t.dir, 'run');
    const { out, runDir } = trainRunPaths({}, 'job_x', { ...t.home, training: dir });
    expect(runDir).toBe(path.join(dir, 'job_x'));
    const sample = path.join(t.dir, 'sample.png');
    const ck2 = path.join(t.dir, 'ck2.safetensors');
    writeFileSync(sample, await makeImage({ format: 'png' }));
    writeFileSync(ck2, 'checkpoint 2');
    mkdirSync(path.dirname(out), { recursive: true });
    writeFileSync(out, 'final');
    const artifacts: TrainArtifacts = {
      samples: [{ step: 2, index: 0, prompt: 'p', file: sample }],
      checkpoints: [{ step: 2, file: ck2, validationLoss: 0.1 }],
      bestStep: 2,
    };
    const canceled = job('canceled', artifacts, false);
    expect(trainingMediaFile(canceled, 'sample-0')).toEqual({ path: sample, contentType: 'image/png' });
    expect(trainingMediaFile(canceled, 'checkpoint-2')).toEqual({ path: ck2, contentType: 'application/octet-stream' });
    for (const name of ['sample-1', 'checkpoint-3', '../../etc/passwd', 'sample-0/..', 'sample--1', 'thumbs']) {
      expect(trainingMediaFile(canceled, name)).toBeNull();
    }

    // Without a library to keep it in, the chosen checkpoint is copied over the run's output file.
    const run = { out, request: {} };
    await expect(useTrainCheckpoint(job('running', artifacts, false), 2, run)).rejects.toThrow(/still going/);
    await expect(useTrainCheckpoint(canceled, 3, run)).rejects.toThrow(/no checkpoint at step 3/);
    expect(await useTrainCheckpoint(job('succeeded', artifacts, true), 2, run)).toEqual({ file: out, step: 2 });
    expect(readFileSync(out, 'utf8')).toBe('checkpoint 2');
    expect(existsSync(`${out}.partial`)).toBe(false);
  });
});
