/**
 * Training from the Train page against the real headless server and engine, on a copy of the
 * sd15-tiny fixture in the data home's models/ folder and its four training photos (with their
 * captions) uploaded to a dataset: the live loss chart grows, Pause keeps a checkpoint and Resume
 * finishes the run, the checkpoints show with the suggested one, "Use this one" makes a checkpoint
 * the result, "Generate with it" opens the Generate page with the LoRA set and generates; Cancel
 * keeps the last checkpoint. Sample images from a fixed prompt appear every few steps and survive
 * the pause.
 */
import { cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import { existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { fixture } from '../helpers/fixtures';
import { GeneratePage } from './pages/generate-page';
import { StudioApp } from './pages/studio-app';
import { TrainPage } from './pages/train-page';
import { launchBrowser, type BrowserSession } from './support/browser';
import { startStudioServer, type StudioServer } from './support/server';

const MODEL = fixture('sd15-tiny');
const PHOTOS = fixture('sd15-tiny/training/images');

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

  test('the chart updates, pause and resume, then the checkpoints and the result', async () => {
    // The model's family picks its preset; the test shortens the run.
    await expect.poll(() => session.page.getByTestId('train-preset').inputValue()).toBe('sd1');
    await train.fillTraining({
      trigger: 'sks',
      steps: 16,
      resolution: 64,
      saveEvery: 4,
      sampleEvery: 4,
      samplePrompts: ['a photo of sks'],
      seed: '5',
    });
    const jobId = await train.startTraining();
    await train.waitForRunState('running');
    await expect.poll(() => train.chartPoints(), { timeout: 120_000 }).toBeGreaterThanOrEqual(2);
    await app.screenshot('train-running');

    await train.runAction('pause');
    await train.waitForRunState('paused');
    const pausedStep = await train.runStep();
    expect(pausedStep).toBeGreaterThanOrEqual(2);
    expect(pausedStep).toBeLessThan(16);
    // Paused: its checkpoints are listed, the newest at the step it stopped.
    await expect.poll(() => train.checkpoint(pausedStep).count()).toBe(1);

    await train.runAction('resume');
    await train.waitForRunState('succeeded', 180_000);
    expect(await train.run().getAttribute('data-job-id')).toBe(jobId);
    // The finished chart draws every step.
    await expect.poll(() => train.chartPoints()).toBe(16);
    expect(await session.page.getByTestId('loss-raw').getAttribute('points')).toMatch(
      /^[\d.]+,[\d.]+( [\d.]+,[\d.]+){15}$/,
    );
    for (const step of [4, 8, 12, 16]) expect(await train.checkpoint(step).count()).toBe(1);
    expect(await session.page.locator('[data-testid="train-checkpoint"][data-best="true"]').count()).toBe(1);
    // One sample per 4 steps (one prompt), those from before the pause included, each a real image.
    await expect.poll(() => train.samples().count()).toBe(4);
    await expect
      .poll(() =>
        train.samples().evaluateAll((imgs) => imgs.map((i) => (i as unknown as { naturalWidth: number }).naturalWidth)),
      )
      .toEqual([64, 64, 64, 64]);
    await app.screenshot('train-done');

    // "Use this one": step 4's LoRA becomes the result file.
    const result = await train.resultFile();
    expect(result).toMatch(/toy-job_[^/\\]+\.safetensors$/);
    await train.checkpoint(4).getByTestId('use-checkpoint').click();
    await expect.poll(() => train.checkpoint(4).getByTestId('use-checkpoint').innerText()).toBe('In use');
    const step4 = path.join(server.dataDir, 'training', jobId, 'step-000004.safetensors');
    expect(existsSync(step4)).toBe(true);
    expect(readFileSync(result!).equals(readFileSync(step4))).toBe(true);

    // "Generate with it": the Generate page with the LoRA, the trigger word and the trained size.
    await session.page.getByTestId('generate-with').click();
    await session.page.getByTestId('page-generate').waitFor();
    const name = path.basename(result!, '.safetensors');
    await generate.loraRow(name).waitFor();
    expect(await generate.prompt().inputValue()).toBe('a photo of sks');
    await generate.generate();
    await generate.waitForState('succeeded');
    await app.screenshot('train-generate-with-it');
  });

  test('cancel keeps the last checkpoint', async () => {
    await app.goTo('train');
    await train.fillTraining({ steps: 200, saveEvery: 0 });
    const jobId = await train.startTraining();
    await expect.poll(() => train.runStep(), { timeout: 120_000 }).toBeGreaterThanOrEqual(1);
    await train.runAction('cancel');
    await train.waitForRunState('canceled');
    await expect.poll(() => train.checkpoints().count()).toBe(1);
    const step = Number(await train.checkpoints().first().getAttribute('data-step'));
    expect(step).toBeGreaterThanOrEqual(1);
    expect(step).toBeLessThan(200);
    const dir = path.join(server.dataDir, 'training', jobId);
    expect(await readdir(dir)).toContain(`step-${String(step).padStart(6, '0')}.safetensors`);
  });
});
