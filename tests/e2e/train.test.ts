/**
 * Training from the Train page against the real headless server and engine, on a copy of the
 * sd15-tiny fixture in the data home's models/ folder and its four training photos (with their
 * captions) uploaded to a dataset: sample images, the ETA and the smoothed-loss line appear while the
 * run is still running; Pause keeps a checkpoint and Resume finishes the run; the checkpoints show
 * with the suggested one; the LoRA is in the Models library under the dataset's name; "Use this one"
 * makes a checkpoint the result; "Generate with it" opens the Generate page with the LoRA and gives
 * an image that differs from the same generation without it. Cancel keeps the last checkpoint, and
 * "Resume from step N" carries the run on from there to the end.
 */
import { cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { fixture } from '../helpers/fixtures';
import type { JobView, ModelEntry } from '../../src-shared/api';
import { GeneratePage } from './pages/generate-page';
import { StudioApp } from './pages/studio-app';
import { TrainPage } from './pages/train-page';
import { launchBrowser, type BrowserSession } from './support/browser';
import { callInPage, decodeRgb, fetchInPage } from './support/media';
import { startStudioServer, type StudioServer } from './support/server';

const MODEL = fixture('sd15-tiny');
const PHOTOS = fixture('sd15-tiny/training/images');
const STEPS = 24;

describe('Train: a LoRA from the Train page', () => {
  let work: string;
  let server: StudioServer;
  let session: BrowserSession;
  let app: StudioApp;
  let train: TrainPage;
  let generate: GeneratePage;

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'pinhole-e2e-train-'));
    server = await startStudioServer({ env: { PINHOLE_ENGINE_CACHE: path.join(work, 'engine-cache') } });
    await cp(MODEL, path.join(server.dataDir, 'models', 'sd15-tiny'), { recursive: true });
    session = await launchBrowser();
    app = new StudioApp(session.page, server.url);
    train = new TrainPage(session.page);
    generate = new GeneratePage(session.page);
    await app.open();
  });

  afterAll(async () => {
    await session?.close();
    await server?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('a dataset of the photos with their captions', async () => {
    await app.goTo('train');
    await train.createDataset('Toy');
    // The photos and their same-name captions.
    await train.upload((await readdir(PHOTOS)).sort().map((f) => path.join(PHOTOS, f)));
    await train.waitForImportState('succeeded');
    await expect.poll(() => train.thumbnails().count()).toBe(4);
    expect(await train.caption('00.png').inputValue()).toBe(readFileSync(path.join(PHOTOS, '00.txt'), 'utf8').trim());
  });

  test('samples and the chart while it runs, pause and resume, then the checkpoints and the result', async () => {
    // The model's family picks its preset; the test shortens the run, and a high learning rate makes the
    // LoRA change the image visibly.
    await expect.poll(() => session.page.getByTestId('train-preset').inputValue()).toBe('sd1');
    await train.fillTraining({
      trigger: 'sks',
      steps: STEPS,
      resolution: 64,
      saveEvery: 4,
      sampleEvery: 4,
      samplePrompts: ['a photo of sks'],
      seed: '5',
      lr: '0.01',
    });
    const jobId = await train.startTraining();
    await train.waitForRunState('running');
    // While it is still running: a sample image from step 4, the ETA and the smoothed-loss line.
    const runningWith = async (check: () => Promise<boolean>) =>
      (await train.run().getAttribute('data-job-state')) === 'running' && (await check());
    await expect
      .poll(() => runningWith(async () => (await train.samples().count()) >= 1), { timeout: 120_000 })
      .toBe(true);
    await expect
      .poll(() => runningWith(async () => /about \d+ (s|min) left|almost done/.test(await train.eta())), {
        timeout: 30_000,
      })
      .toBe(true);
    await expect.poll(() => runningWith(async () => (await train.smoothedPoints()) >= 2)).toBe(true);
    await app.screenshot('train-running');

    await train.runAction('pause');
    await train.waitForRunState('paused');
    const pausedStep = await train.runStep();
    expect(pausedStep).toBeGreaterThanOrEqual(4);
    expect(pausedStep).toBeLessThan(STEPS);
    // Paused: its checkpoints are listed, the newest at the step it stopped.
    await expect.poll(() => train.checkpoint(pausedStep).count()).toBe(1);

    await train.runAction('resume');
    await train.waitForRunState('succeeded', 180_000);
    expect(await train.run().getAttribute('data-job-id')).toBe(jobId);
    // The finished chart draws every step, raw and smoothed.
    await expect.poll(() => train.chartPoints()).toBe(STEPS);
    expect(await session.page.getByTestId('loss-raw').getAttribute('points')).toMatch(
      new RegExp(`^[\\d.]+,[\\d.]+( [\\d.]+,[\\d.]+){${STEPS - 1}}$`),
    );
    expect(await train.smoothedPoints()).toBe(STEPS);
    for (let step = 4; step <= STEPS; step += 4) expect(await train.checkpoint(step).count()).toBe(1);
    expect(await session.page.locator('[data-testid="train-checkpoint"][data-best="true"]').count()).toBe(1);
    // One sample per 4 steps (one prompt), those from before the pause included, each a real image.
    await expect.poll(() => train.samples().count()).toBe(STEPS / 4);
    await expect
      .poll(() =>
        train.samples().evaluateAll((imgs) => imgs.map((i) => (i as unknown as { naturalWidth: number }).naturalWidth)),
      )
      .toEqual(Array.from({ length: STEPS / 4 }, () => 64));
    await app.screenshot('train-done');

    // The LoRA is in the Models library under the dataset's name (its file is the library's).
    await expect.poll(() => train.resultLibraryName()).toBe('Toy');
    const result = await train.resultFile();
    expect(result).toBe(path.join(server.dataDir, 'models', 'loras', 'Toy.safetensors'));

    // "Use this one": step 4's LoRA becomes the result, under the same library name.
    await train.checkpoint(4).getByTestId('use-checkpoint').click();
    await expect.poll(() => train.checkpoint(4).getByTestId('use-checkpoint').innerText()).toBe('In use');
    const step4 = path.join(server.dataDir, 'training', jobId, 'step-000004.safetensors');
    expect(existsSync(step4)).toBe(true);
    expect(readFileSync(result!).equals(readFileSync(step4))).toBe(true);
    expect(await train.resultLibraryName()).toBe('Toy');
    const library = await callInPage<ModelEntry[]>(session.page, 'models.list', { kind: 'lora' });
    expect(library.filter((m) => m.source === 'trained').map((m) => m.name)).toEqual(['Toy']);

    // "Generate with it": the Generate page with the LoRA (by its library name), the trigger word and the trained
    // size; the image differs from the same generation without the LoRA.
    await session.page.getByTestId('generate-with').click();
    await session.page.getByTestId('page-generate').waitFor();
    await generate.loraRow('Toy').waitFor();
    expect(await generate.prompt().inputValue()).toBe('a photo of sks');
    await generate.fill({ steps: 4, seed: '11' });
    const withLora = await generateImage();
    await app.screenshot('train-generate-with-it');
    await generate.removeLora('Toy');
    const without = await generateImage();
    const a = await decodeRgb(withLora);
    const b = await decodeRgb(without);
    expect([a.width, a.height]).toEqual([64, 64]);
    let changed = 0;
    for (let i = 0; i < a.data.length; i++) if (a.data[i] !== b.data[i]) changed++;
    expect(changed).toBeGreaterThan(0);
  });

  test('cancel keeps the last checkpoint; "Resume from step N" continues from it to the end', async () => {
    await app.goTo('train');
    await train.fillTraining({ steps: 40, saveEvery: 0, sampleEvery: 0, samplePrompts: [], lr: '' });
    const jobId = await train.startTraining();
    await expect.poll(() => train.runStep(), { timeout: 120_000 }).toBeGreaterThanOrEqual(2);
    await train.runAction('cancel');
    await train.waitForRunState('canceled');
    await expect.poll(() => train.checkpoints().count()).toBe(1);
    const step = Number(await train.checkpoints().first().getAttribute('data-step'));
    expect(step).toBeGreaterThanOrEqual(2);
    expect(step).toBeLessThan(40);
    const dir = path.join(server.dataDir, 'training', jobId);
    expect(await readdir(dir)).toContain(`step-${String(step).padStart(6, '0')}.safetensors`);

    // The cancelled run offers to go on from that checkpoint.
    expect(await train.resumeButton().innerText()).toBe(`Resume from step ${step}`);
    expect(await train.resumeButton().getAttribute('data-step')).toBe(String(step));
    await train.resumeButton().click();
    // It goes on as a new job (the cancelled one stays cancelled), starting after the checkpoint.
    await expect.poll(() => train.runJobId()).not.toBe(jobId);
    const continued = (await train.runJobId())!;
    await train.waitForRunState('succeeded', 180_000);
    await expect.poll(() => train.chartPoints()).toBe(40);
    const job = await callInPage<JobView>(session.page, 'jobs.get', { jobId: continued });
    expect(job.result).toMatchObject({ steps: 40, resumedFrom: step });
    expect((await callInPage<JobView>(session.page, 'jobs.get', { jobId })).state).toBe('canceled');
    // The run's folder is the cancelled run's: the checkpoint it went on from is listed.
    expect(await train.checkpoint(step).count()).toBe(1);
  });

  /** Generates and resolves with the PNG bytes of the image. */
  async function generateImage(): Promise<Buffer> {
    await generate.generate();
    await generate.waitForState('succeeded');
    const [sha] = await generate.resultShas();
    return fetchInPage(session.page, `/media/images/${sha}`);
  }
});
