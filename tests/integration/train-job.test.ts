/**
 * Training as a job, through the built CLI and `pinhole serve` on sd15-tiny (64 px, a few steps):
 * a library dataset as the data (`--dataset`), the --json event lines (caching, steps with the
 * smoothed loss, checkpoints, done with the suggested best), `--resume` continuing from the
 * `<out>.checkpoints/` folder, and over the API: pause → paused with a checkpoint, resume → the
 * run ends with every step, its LoRA in the models library, "use this one" (the library model takes
 * the checkpoint) and the training media route; cancel → resume continues as a new job to the end.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { methods, type MethodName, type ParamsOf, type ResultOf, type TrainArtifacts } from '../../src-shared/api';
import { jsonLines, runCli, startServe } from '../helpers/cli';
import { fixture } from '../helpers/fixtures';
import { makeTempDir } from '../helpers/temp-dir';

const MODEL = fixture('sd15-tiny');
const IMAGES = fixture('sd15-tiny/training/images');
const sha256 = (file: string) => createHash('sha256').update(readFileSync(file)).digest('hex');

/** The bias-corrected EMA (β = 0.9), computed directly from its definition. */
function ema(losses: number[], n: number): number {
  let sum = 0;
  for (let i = 1; i <= n; i++) sum += 0.1 * 0.9 ** (n - i) * losses[i - 1]!;
  return sum / (1 - 0.9 ** n);
}

describe('training as a job', () => {
  let tmp: ReturnType<typeof makeTempDir>;
  let home: string;
  const env = () => ({ PINHOLE_ENGINE_CACHE: path.join(tmp.dir, 'engine-cache') });
  const train = (args: string[]) =>
    runCli(['train', '--data-dir', home, '--model', MODEL, '--resolution', '64', '--seed', '5', ...args], env());

  beforeAll(async () => {
    tmp = makeTempDir('pinhole-train-job-');
    home = path.join(tmp.dir, 'home');
    const imported = await runCli(['import', '--data-dir', home, IMAGES, '--dataset', 'Rex', '--json']);
    expect(imported.code, imported.stderr).toBe(0);
  }, 60_000);
  afterAll(() => tmp.cleanup());

  it('trains on a library dataset and prints caching, step, checkpoint and done lines', async () => {
    const out = path.join(tmp.dir, 'rex.safetensors');
    const result = await train([
      '--dataset',
      'rex',
      '--out',
      out,
      '--steps',
      '4',
      '--save-every',
      '2',
      '--trigger',
      'rexdog',
      '--json',
    ]);
    expect(result.code, result.stderr).toBe(0);
    const lines = jsonLines(result.stdout);
    const events = lines.map((l) => l['event']);
    // Caching first, then steps in order with their checkpoints, then done.
    const caching = lines.filter((l) => l['event'] === 'caching');
    expect(caching.length).toBeGreaterThan(0);
    expect(events.indexOf('step')).toBeGreaterThan(events.lastIndexOf('caching'));
    expect(caching.at(-1)!['done']).toBe(caching.at(-1)!['total']);
    const steps = lines.filter((l) => l['event'] === 'step');
    expect(steps.map((l) => l['step'])).toEqual([1, 2, 3, 4]);
    const losses = steps.map((l) => l['loss'] as number);
    steps.forEach((l, i) => {
      expect(l).toMatchObject({ totalSteps: 4, lr: 1e-4 });
      expect(l['smoothLoss'] as number).toBeCloseTo(ema(losses, i + 1), 12);
      expect(l['gradNorm']).toBeGreaterThan(0);
    });
    const checkpoints = lines.filter((l) => l['event'] === 'checkpoint');
    expect(checkpoints.map((l) => l['step'])).toEqual([2, 4]);
    for (const c of checkpoints) {
      expect(path.dirname(c['file'] as string)).toBe(`${out}.checkpoints`);
      expect(existsSync(c['file'] as string)).toBe(true);
      expect(c['validationLoss']).toBeGreaterThan(0);
    }
    expect(events.indexOf('checkpoint')).toBe(events.indexOf('step') + 2); // after step 2
    const best = checkpoints.reduce((a, b) =>
      (a['validationLoss'] as number) <= (b['validationLoss'] as number) ? a : b,
    );
    expect(lines.at(-1)).toMatchObject({
      event: 'done',
      file: out,
      steps: 4,
      datasetSize: 4,
      checkpoints: 2,
      bestStep: best['step'],
    });
    // The trigger word reached the LoRA's metadata.
    const header = readFileSync(out)
      .subarray(8, 8 + Number(readFileSync(out).readBigUInt64LE(0)))
      .toString('utf8');
    expect(header).toContain('rexdog');

    // --resume with the same settings and more steps continues after the newest checkpoint (step 4).
    const resumed = await train([
      '--dataset',
      'rex',
      '--out',
      out,
      '--steps',
      '6',
      '--save-every',
      '2',
      '--trigger',
      'rexdog',
      '--resume',
      '--json',
    ]);
    expect(resumed.code, resumed.stderr).toBe(0);
    const more = jsonLines(resumed.stdout);
    expect(more.filter((l) => l['event'] === 'step').map((l) => l['step'])).toEqual([5, 6]);
    // The result still lists the checkpoints of the first run, the one resumed from included.
    expect(more.at(-1)).toMatchObject({ event: 'done', steps: 6, checkpoints: 3 });
  }, 120_000);

  it('refuses what it cannot do, saying why', async () => {
    const out = path.join(tmp.dir, 'none.safetensors');
    const both = await train(['--dataset', 'rex', '--images', IMAGES, '--out', out]);
    expect(both.code).toBe(2);
    expect(both.stderr).toMatch(/one of --dataset or --images/);
    const resume = await train(['--dataset', 'rex', '--out', out, '--resume']);
    expect(resume.code).toBe(4);
    expect(resume.stderr).toMatch(/Nothing to resume: no checkpoints in .*none\.safetensors\.checkpoints/);
    const missing = await train(['--dataset', 'Nobody', '--out', out, '--steps', '1']);
    expect(missing.code).toBe(4);
    expect(missing.stderr).toMatch(/No dataset named "Nobody"/);
  }, 60_000);

  it('over the API: pause and resume, the LoRA in the library, a checkpoint used, cancel and resume', async () => {
    const server = await startServe(path.join(tmp.dir, 'serve-home'), [], env());
    const call = async <M extends MethodName>(method: M, params: ParamsOf<M>): Promise<ResultOf<M>> => {
      const res = await fetch(`${new URL(server.url).origin}/api/call/${method}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(params),
      });
      const body = (await res.json()) as { ok: boolean; result?: unknown; error?: { message: string } };
      if (!body.ok) throw new Error(`${method}: ${body.error?.message}`);
      return methods[method].result.parse(body.result) as ResultOf<M>;
    };
    /** A finished train job's result, as far as this test reads it. */
    type Result = { file: string; steps: number; losses: number[]; artifacts: TrainArtifacts };
    const until = async (check: () => Promise<boolean>, ms = 60_000) => {
      const end = Date.now() + ms;
      while (!(await check())) {
        if (Date.now() > end) throw new Error('timed out');
        await new Promise((r) => setTimeout(r, 100));
      }
    };
    try {
      const { jobId } = await call('train.start', {
        request: { model: MODEL, images: IMAGES, steps: 30, resolution: 64, seed: '5' },
      });
      // Pause early: on a fast machine the whole run takes a few seconds.
      await until(async () => ((await call('jobs.get', { jobId })).progress?.step ?? 0) >= 1, 120_000);
      await call('train.pause', { jobId });
      await until(async () => (await call('jobs.get', { jobId })).state === 'paused');
      const paused = await call('jobs.get', { jobId });
      const pausedAt = paused.progress!.artifacts!.checkpoints.at(-1)!;
      expect(pausedAt.step).toBeGreaterThanOrEqual(1);
      expect(pausedAt.step).toBeLessThan(30);
      // The checkpoint is served by job and step; a made-up name is not.
      const media = await fetch(`${new URL(server.url).origin}/media/training/${jobId}/checkpoint-${pausedAt.step}`);
      expect(media.status).toBe(200);
      expect(Buffer.from(await media.arrayBuffer()).equals(readFileSync(pausedAt.file))).toBe(true);
      expect((await fetch(`${new URL(server.url).origin}/media/training/${jobId}/..%2F..%2Fpinhole.db`)).status).toBe(
        404,
      );

      await call('train.resume', { jobId });
      await until(async () => (await call('jobs.get', { jobId })).state === 'succeeded', 120_000);
      const done = await call('jobs.get', { jobId });
      const result = done.result as Result;
      expect(result.steps).toBe(30);
      expect(result.losses).toHaveLength(30);
      // A pause is not a failed attempt: the resumed run counts as the first again.
      expect(done.attempts).toBe(1);
      expect(result.artifacts.checkpoints.map((c) => c.step)).toContain(pausedAt.step);

      // A Train-page run (no `out`) moved its LoRA into the models library: the result names the library's file,
      // nothing is left in <data home>/loras/, and the Generate page's picker lists it.
      const serveHome = path.join(tmp.dir, 'serve-home');
      expect(path.dirname(result.file)).toBe(path.join(serveHome, 'models', 'loras'));
      expect(existsSync(path.join(serveHome, 'loras'))).toBe(true);
      expect(readdirSync(path.join(serveHome, 'loras'))).toEqual([]);
      const listed = (await call('models.list', { kind: 'lora' })).filter((m) => m.source === 'trained');
      expect(listed).toHaveLength(1);
      expect(listed[0]).toMatchObject({ path: result.file, name: 'images', sha256: sha256(result.file) });

      // "Use this one": the library model keeps its name and takes the checkpoint's bytes.
      const used = await call('train.useCheckpoint', { jobId, step: pausedAt.step });
      expect(used).toEqual({ file: result.file, step: pausedAt.step, name: 'images' });
      expect(readFileSync(result.file).equals(readFileSync(pausedAt.file))).toBe(true);
      const [kept] = (await call('models.list', { kind: 'lora' })).filter((m) => m.source === 'trained');
      expect(kept).toMatchObject({ id: listed[0]!.id, name: 'images', sha256: sha256(pausedAt.file) });

      // Cancel keeps the last checkpoint; resume carries the run on as a new job from it, to the end.
      const run2 = await call('train.start', {
        request: { model: MODEL, images: IMAGES, steps: 12, resolution: 64, seed: '6' },
      });
      await until(async () => ((await call('jobs.get', { jobId: run2.jobId })).progress?.step ?? 0) >= 1, 120_000);
      await call('jobs.cancel', { jobId: run2.jobId });
      await until(async () => (await call('jobs.get', { jobId: run2.jobId })).state === 'canceled');
      const canceled = await call('jobs.get', { jobId: run2.jobId });
      const keptAt = canceled.progress!.artifacts!.checkpoints.at(-1)!.step;
      const next = await call('train.resume', { jobId: run2.jobId });
      expect(next.id).not.toBe(run2.jobId);
      expect(next.kind).toBe('train');
      // One continuation at a time: a second resume of the same run is refused.
      await expect(call('train.resume', { jobId: run2.jobId })).rejects.toThrow(/already goes on as job/);
      await until(async () => (await call('jobs.get', { jobId: next.id })).state === 'succeeded', 120_000);
      const continued = (await call('jobs.get', { jobId: next.id })).result as Result & { resumedFrom?: number };
      expect(continued.resumedFrom).toBe(keptAt);
      expect(continued.steps).toBe(12);
      expect(continued.losses).toHaveLength(12);
      // It wrote into the cancelled run's folder: the checkpoint it resumed from is among its artifacts.
      expect(continued.artifacts.checkpoints.map((c) => c.step)).toContain(keptAt);
      expect(path.basename(path.dirname(continued.artifacts.checkpoints[0]!.file))).toBe(run2.jobId);
    } finally {
      await server.stop();
    }
  }, 300_000);
});
