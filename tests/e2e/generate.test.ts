/**
 * Generate end to end against the real headless server and engine, on a copy of the tiny
 * sd15 fixture model placed in the data home's models/ folder: the empty state, token counts,
 * validation, a txt2img run matching diffusers' reference, progress with previews and Cancel,
 * img2img matching its reference, inpainting with a painted mask, and the gallery's
 * "Use settings" and "Re-run".
 */
import { cp, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { runCli } from '../helpers/cli';
import { fixture } from '../helpers/fixtures';
import { expectRgbClose, firstReferenceRun, type ReferenceRun } from '../helpers/reference-images';
import { GalleryPage } from './pages/gallery-page';
import { GeneratePage } from './pages/generate-page';
import { byData } from './pages/selectors';
import { StudioApp } from './pages/studio-app';
import { launchBrowser, type BrowserSession } from './support/browser';
import { writeNoisyJpeg } from './support/images';
import { callInPage, decodeRgb, fetchInPage, maskedDifference } from './support/media';
import { startStudioServer, type StudioServer } from './support/server';

const MODEL = fixture('sd15-tiny');
const REF = path.join(MODEL, 'reference');
/** A reference run of sd15-tiny (its runs all have a negative prompt). */
type Sd15Run = ReferenceRun & { negative_prompt: string };
const referenceRun = (file: string): Sd15Run => firstReferenceRun<Sd15Run>(path.join(REF, file));

/** Every file under a folder (to prove the shared fixture is left as it was). */
function listing(dir: string): string[] {
  return readdirSync(dir, { recursive: true, encoding: 'utf8' }).sort();
}

/** The stored generation facts of a library image. */
type ImageDetail = {
  sha256: string;
  prompt: string | null;
  metadata: { request?: Record<string, unknown>; parameters?: string };
};

describe('Generate', () => {
  const fixtureBefore = listing(MODEL);
  let work: string;
  let server: StudioServer;
  let session: BrowserSession;
  let app: StudioApp;
  let generate: GeneratePage;
  let gallery: GalleryPage;
  let txt2img: Sd15Run;
  let img2img: Sd15Run;
  let modelCopy: string;
  /** The txt2img reference image as the library stored it. */
  let referenceSha = '';
  /** The img2img reference image as the library stored it. */
  let img2imgSha = '';

  const tokenize = async (text: string): Promise<number> => {
    const result = await runCli(['tokenize', '--model', modelCopy, '--json', text], {
      PINHOLE_HOME: path.join(work, 'cli-home'),
    });
    expect(result.code, result.stderr).toBe(0);
    return (JSON.parse(result.stdout) as { count: number }).count;
  };

  /** Opens an image of the library in the gallery's detail view. */
  const openInGallery = async (sha256: string) => {
    // The detail is a modal dialog: close one that is open before using the navigation.
    if ((await gallery.detail().count()) > 0) {
      await session.page.keyboard.press('Escape');
      await gallery.detail().waitFor({ state: 'detached' });
    }
    await app.goTo('gallery');
    await session.page.locator(`[data-testid="gallery-thumb"]${byData('sha256', sha256)}`).click();
    const detail = gallery.detail();
    await detail.waitFor();
    await expect.poll(() => detail.getByTestId('detail-facts').count()).toBe(1);
    return detail;
  };

  /** The decoded pixels of a library image, fetched through the detail view's media URL. */
  const detailPixels = async (sha256: string) => {
    const detail = await openInGallery(sha256);
    const src = await detail.getByTestId('detail-image').getAttribute('src');
    expect(src).toBe(`/media/images/${sha256}`);
    const png = await fetchInPage(session.page, src!);
    expect((await sharp(png).metadata()).format).toBe('png');
    return decodeRgb(png);
  };

  /** Fills the form with a reference run's prompts and settings. */
  const fillFromRun = (run: Sd15Run) =>
    generate.fill({
      prompt: run.prompt,
      negativePrompt: run.negative_prompt,
      sampler: run.scheduler,
      steps: run.steps,
      cfgScale: run.cfg,
      width: run.width,
      height: run.height,
      seed: String(run.seed),
    });

  const backToGenerate = async () => {
    await session.page.keyboard.press('Escape');
    await gallery.detail().waitFor({ state: 'detached' });
    await app.goTo('generate');
  };

  beforeAll(async () => {
    txt2img = referenceRun('cases.json');
    img2img = referenceRun('img2img.json');
    work = await mkdtemp(path.join(tmpdir(), 'pinhole-e2e-generate-'));
    // The engine builds the fixture's sampling VAE encoder into its cache: a private one.
    server = await startStudioServer({ env: { PINHOLE_ENGINE_CACHE: path.join(work, 'engine-cache') } });
    modelCopy = path.join(server.dataDir, 'models', 'sd15-tiny');
    session = await launchBrowser();
    app = new StudioApp(session.page, server.url);
    generate = new GeneratePage(session.page);
    gallery = new GalleryPage(session.page);
    await app.open();
  });

  afterAll(async () => {
    await session?.close();
    await server?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('says where to put a model while there is none, and offers it after Refresh', async () => {
    await app.goTo('generate');
    const empty = session.page.getByTestId('models-empty');
    await empty.waitFor();
    expect(await session.page.getByTestId('models-folder').innerText()).toBe(path.join(server.dataDir, 'models'));
    expect(await generate.generateButton().isDisabled()).toBe(true);
    expect(await session.page.getByTestId('generate-problem').innerText()).toContain('Choose a model');
    await app.screenshot('generate-no-models');

    // A copy: the shared fixture folder is never written to.
    await cp(MODEL, modelCopy, { recursive: true });
    await session.page.getByTestId('models-refresh').click();
    await generate.modelSelect().waitFor();
    await expect.poll(() => generate.modelSelect().inputValue()).toBe(modelCopy);
    expect(await generate.modelSelect().locator('option:checked').innerText()).toContain('sd15-tiny');
    expect(await empty.count()).toBe(0);
  });

  test('counts prompt tokens as `pinhole tokenize` does, against the 75-token chunks', async () => {
    await generate.fill({ prompt: txt2img.prompt, negativePrompt: txt2img.negative_prompt });
    const count = await tokenize(txt2img.prompt);
    // The reference ids between <|startoftext|> and the first <|endoftext|>.
    expect(count).toBe(10);
    await expect.poll(() => generate.tokenCount('prompt').innerText()).toBe(`${count}/75`);
    const negative = await tokenize(txt2img.negative_prompt);
    await expect.poll(() => generate.tokenCount('negative-prompt').innerText()).toBe(`${negative}/75`);

    const long = Array.from({ length: 8 }, () => txt2img.prompt).join(', ');
    const longCount = await tokenize(long);
    expect(longCount).toBeGreaterThan(75);
    expect(longCount).toBeLessThanOrEqual(150);
    await generate.prompt().fill(long);
    await expect.poll(() => generate.tokenCount('prompt').innerText()).toBe(`${longCount}/150`);
    await generate.prompt().fill(txt2img.prompt);
    await expect.poll(() => generate.tokenCount('prompt').innerText()).toBe(`${count}/75`);
  });

  test('keeps Generate disabled while a setting is invalid', async () => {
    await generate.fill({ width: 64, height: 64, steps: 8, seed: '42' });
    expect(await generate.generateButton().isEnabled()).toBe(true);

    await generate.field('width').fill('65');
    expect(await generate.fieldError('width').innerText()).toContain('multiple of 8');
    expect(await generate.generateButton().isDisabled()).toBe(true);
    await app.screenshot('generate-invalid-width');
    await generate.field('width').fill('64');
    await generate.fieldError('width').waitFor({ state: 'detached' });

    await generate.field('seed').fill('18446744073709551616');
    expect(await generate.fieldError('seed').innerText()).toContain('at most 18446744073709551615');
    expect(await generate.generateButton().isDisabled()).toBe(true);
    await generate.field('steps').fill('0');
    expect(await generate.fieldError('steps').innerText()).toContain('from 1 to 500');
    await generate.fill({ steps: 8, seed: '42' });
    expect(await generate.generateButton().isEnabled()).toBe(true);
  });

  test('generates the txt2img reference image (Euler, 8 steps, seed 42) from the page', async () => {
    await fillFromRun(txt2img);
    expect(await generate.mode()).toBe('Text to image');
    await generate.generate();
    await generate.waitForState('succeeded');
    expect(await session.page.getByTestId('generate-seed').innerText()).toBe('42');
    expect(await generate.results().count()).toBe(1);
    referenceSha = (await generate.resultShas())[0] ?? '';
    expect(referenceSha).toMatch(/^[0-9a-f]{64}$/);
    await expect
      .poll(() =>
        generate
          .results()
          .first()
          .locator('img')
          .evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth),
      )
      .toBeGreaterThan(0);
    await app.screenshot('generate-txt2img-done');

    // A result opens in the gallery's detail view.
    await generate.results().first().click();
    const detail = gallery.detail();
    await detail.waitFor();
    expect(new URL(session.page.url()).hash).toBe(`#/gallery/${referenceSha}`);
    await expect.poll(() => detail.getByTestId('detail-prompt').innerText()).toBe(txt2img.prompt);
    expect(await detail.getByTestId('detail-negative-prompt').innerText()).toBe(txt2img.negative_prompt);
    const parameters = await detail.getByTestId('detail-parameters').innerText();
    expect(parameters).toContain('Steps: 8, Sampler: Euler, CFG scale: 7.5, Seed: 42, Size: 64x64');
    expect(parameters).toContain('Negative prompt: blurry, low quality');
    await app.screenshot('gallery-generated-detail');

    const image = await detailPixels(referenceSha);
    expect([image.width, image.height]).toEqual([txt2img.width, txt2img.height]);
    expectRgbClose(image.data, await readFile(path.join(REF, txt2img.image_rgb8)), 'page txt2img');
    await backToGenerate();
  });

  test('keeps the form across a reload', async () => {
    await app.reload();
    await generate.prompt().waitFor();
    expect(await generate.prompt().inputValue()).toBe(txt2img.prompt);
    expect(await generate.negativePrompt().inputValue()).toBe(txt2img.negative_prompt);
    expect(await generate.field('seed').inputValue()).toBe('42');
    expect(await generate.seedLock().getAttribute('aria-pressed')).toBe('true');
    expect(await generate.field('steps').inputValue()).toBe('8');
    expect(await generate.field('sampler').inputValue()).toBe('euler');
    // The last run is still on show.
    expect(await generate.resultShas()).toEqual([referenceSha]);
  });

  test('shows step, ETA and previews during a long run, and cancels it', async () => {
    const galleryBefore = await callInPage<{ total: number }>(session.page, 'gallery.query', {});
    // Long enough to watch on a fast GPU too (500 is the most steps a request may ask for).
    await generate.fill({ steps: 500, width: 128, height: 128, seed: 'random' });
    expect(await generate.field('seed').isDisabled()).toBe(true);
    const jobId = await generate.generate();

    const progress = session.page.getByTestId('generate-progress');
    await expect.poll(() => progress.innerText(), { timeout: 60_000 }).toMatch(/^Step [1-9]\d* \/ 500$/);
    const preview = generate.page.getByTestId('generate-preview');
    await preview.waitFor({ timeout: 60_000 });
    const src = (await preview.getAttribute('src')) ?? '';
    expect(src).toMatch(/^data:image\/png;base64,/);
    const decoded = await sharp(Buffer.from(src.slice(src.indexOf(',') + 1), 'base64')).metadata();
    expect(decoded.width).toBeGreaterThan(0);
    await expect.poll(() => session.page.getByTestId('generate-eta').innerText()).toMatch(/left|almost done/);
    // Previews keep coming while it runs.
    await expect.poll(async () => (await preview.getAttribute('src')) !== src, { timeout: 60_000 }).toBe(true);
    await app.screenshot('generate-progress');

    const stepAtCancel = Number(/Step (\d+)/.exec(await progress.innerText())?.[1]);
    await session.page.getByTestId('generate-cancel').click();
    await generate.waitForState('canceled', 60_000);
    const canceled = await session.page.getByTestId('generate-canceled').innerText();
    const stoppedAt = Number(/at step (\d+) of 500/.exec(canceled)?.[1]);
    expect(stoppedAt).toBeGreaterThanOrEqual(stepAtCancel);
    expect(stoppedAt).toBeLessThan(500);
    expect(await generate.results().count()).toBe(0);
    await app.tray.waitForState(jobId, 'canceled');
    await app.screenshot('generate-canceled');

    // The random seed the core chose is shown and can be reused.
    const seed = await session.page.getByTestId('generate-seed').innerText();
    expect(seed).toMatch(/^\d{1,20}$/);
    await session.page.getByTestId('reuse-seed').click();
    expect(await generate.field('seed').inputValue()).toBe(seed);
    expect(await generate.seedLock().getAttribute('aria-pressed')).toBe('true');

    // Nothing was added to the library.
    const galleryAfter = await callInPage<{ total: number }>(session.page, 'gallery.query', {});
    expect(galleryAfter.total).toBe(galleryBefore.total);
  });

  test('reproduces the img2img reference from a dropped init image', async () => {
    await fillFromRun(img2img);
    await generate.dropInitImage(path.join(REF, img2img.init_image!));
    await generate.setStrength(img2img.strength!);
    expect(await session.page.getByTestId('strength-value').innerText()).toBe(img2img.strength!.toFixed(2));
    expect(await generate.mode()).toBe('Image to image');
    await app.screenshot('generate-img2img-ready');

    await generate.generate();
    await generate.waitForState('succeeded');
    const [sha] = await generate.resultShas();
    expect(sha).toMatch(/^[0-9a-f]{64}$/);
    img2imgSha = sha!;
    await app.screenshot('generate-img2img-done');

    // The request went out with the dropped file's own bytes (stored by the core as a file).
    const detail = await callInPage<ImageDetail>(session.page, 'gallery.get', { sha256: sha });
    const request = detail.metadata.request!;
    expect(request).toMatchObject({ strength: img2img.strength, seed: String(img2img.seed), sampler: 'euler_a' });
    const stored = request['initImage'] as { path: string };
    expect(Buffer.compare(await readFile(stored.path), await readFile(path.join(REF, img2img.init_image!)))).toBe(0);

    const image = await detailPixels(sha!);
    expectRgbClose(image.data, await readFile(path.join(REF, img2img.image_rgb8)), 'page img2img');
    // The detail shows the init image itself, served by content hash from the data home's inputs/.
    const initSrc = await gallery.detail().getByTestId('detail-init-image').locator('img').getAttribute('src');
    expect(initSrc).toBe(`/media/inputs/${path.basename(stored.path)}`);
    expect(Buffer.compare(await fetchInPage(session.page, initSrc!), await readFile(stored.path))).toBe(0);
    await backToGenerate();
  });

  test('inpaints where the mask is painted and keeps the rest', async () => {
    await generate.removeInitImage();
    await generate.chooseInitImage(path.join(REF, 'inpaint-init.png'));
    expect(await generate.mode()).toBe('Image to image');
    await session.page.getByTestId('mask-brush-size').fill('60');
    // A filled band across the middle of the image.
    for (const y of [0.35, 0.45, 0.55, 0.65]) {
      await generate.paintStroke([
        [0.3, y],
        [0.7, y],
      ]);
    }
    await expect.poll(() => session.page.getByTestId('mask-state').getAttribute('data-has-mask')).toBe('true');
    expect(await generate.mode()).toBe('Inpaint');
    await generate.setStrength(1);
    await app.screenshot('generate-inpaint-mask');

    const runWithSeed = async (seed: string) => {
      await generate.fill({ prompt: 'a small red flower in the middle', negativePrompt: 'blurry', seed });
      await generate.fill({ sampler: 'euler', steps: 10, cfgScale: 6, width: 64, height: 64 });
      await generate.generate();
      await generate.waitForState('succeeded');
      const [sha] = await generate.resultShas();
      return callInPage<ImageDetail>(session.page, 'gallery.get', { sha256: sha });
    };
    const first = await runWithSeed('5');
    await app.screenshot('generate-inpaint-done');
    const second = await runWithSeed('6');
    expect(second.sha256).not.toBe(first.sha256);

    // The painted mask went out as a PNG at the init image's size, white where painted.
    const maskRef = first.metadata.request!['maskImage'] as { path: string };
    const { data: mask, info } = await sharp(maskRef.path).greyscale().raw().toBuffer({ resolveWithObject: true });
    expect([info.width, info.height]).toEqual([64, 64]);
    const white = mask.filter((v) => v >= 128).length;
    expect(white).toBeGreaterThan(64 * 64 * 0.1);
    expect(white).toBeLessThan(64 * 64 * 0.6);
    // Centre painted, corners not.
    expect(mask[32 * 64 + 32]).toBeGreaterThanOrEqual(128);
    expect(mask[2 * 64 + 2]).toBeLessThan(128);

    // A different seed repaints the masked area; outside it the image stays (nearly) the same.
    const a = await decodeRgb(await fetchInPage(session.page, `/media/images/${first.sha256}`));
    const b = await decodeRgb(await fetchInPage(session.page, `/media/images/${second.sha256}`));
    const { inside, outside } = maskedDifference(a, b, mask);
    console.info(
      `page inpaint, seed 5 vs 6: mean |Δ| inside the mask ${inside.toFixed(2)}, outside ${outside.toFixed(2)}`,
    );
    expect(inside).toBeGreaterThan(20);
    expect(inside).toBeGreaterThan(outside * 3);

    await generate.removeInitImage();
    expect(await generate.mode()).toBe('Text to image');
  });

  test('"Use settings" in the gallery fills the form with the image\'s request, seed included', async () => {
    await generate.fill({ prompt: 'something else entirely', steps: 3, seed: 'random', width: 128 });
    const detail = await openInGallery(referenceSha);
    await detail.getByTestId('detail-use-settings').click();
    await generate.root().waitFor();
    await gallery.detail().waitFor({ state: 'detached' });
    expect(new URL(session.page.url()).hash).toBe('#/generate');

    expect(await generate.prompt().inputValue()).toBe(txt2img.prompt);
    expect(await generate.negativePrompt().inputValue()).toBe(txt2img.negative_prompt);
    expect(await generate.field('seed').inputValue()).toBe('42');
    expect(await generate.seedLock().getAttribute('aria-pressed')).toBe('true');
    expect(await generate.field('steps').inputValue()).toBe('8');
    expect(await generate.field('cfgScale').inputValue()).toBe('7.5');
    expect(await generate.field('width').inputValue()).toBe('64');
    expect(await generate.field('sampler').inputValue()).toBe('euler');
    expect(await generate.modelSelect().inputValue()).toBe(modelCopy);
    await app.screenshot('generate-use-settings');

    // The filled form makes the same image again (started with Ctrl+Enter in the prompt).
    const before = await generate.run().getAttribute('data-job-id');
    await generate.prompt().press('Control+Enter');
    await generate.waitForNewRun(before);
    await generate.waitForState('succeeded');
    expect(await generate.resultShas()).toEqual([referenceSha]);
  });

  test('"Re-run" in the gallery queues the same request and shows it on Generate: the same bytes', async () => {
    await generate.fill({ prompt: 'a different prompt', seed: '7' });
    const before = await generate.run().getAttribute('data-job-id');
    const detail = await openInGallery(referenceSha);
    await detail.getByTestId('detail-rerun').click();
    await generate.root().waitFor();
    const jobId = await generate.waitForNewRun(before);
    expect(jobId).not.toBe(before);
    await generate.waitForState('succeeded');
    expect(await session.page.getByTestId('generate-seed').innerText()).toBe('42');
    expect(await session.page.getByTestId('generate-run-prompt').innerText()).toBe(txt2img.prompt);
    expect(await generate.resultShas()).toEqual([referenceSha]);
    // Re-run does not touch the form.
    expect(await generate.prompt().inputValue()).toBe('a different prompt');
    const job = await callInPage<{ params: { request: Record<string, unknown> } }>(session.page, 'jobs.get', { jobId });
    expect(job.params.request).toMatchObject({
      prompt: txt2img.prompt,
      negativePrompt: txt2img.negative_prompt,
      seed: '42',
      steps: 8,
      cfgScale: 7.5,
      sampler: 'euler',
      width: 64,
      height: 64,
    });
    await app.screenshot('generate-rerun');
  });

  test('"Use settings" on an img2img image brings its stored init image and strength along', async () => {
    const detail = await openInGallery(img2imgSha);
    await detail.getByTestId('detail-use-settings').click();
    await generate.root().waitFor();
    const init = session.page.getByTestId('init-image');
    await init.waitFor();
    // The core keeps inline uploads as files; the request names that file now.
    expect(await init.innerText()).toContain('stored with the original request');
    expect(await generate.mode()).toBe('Image to image');
    expect(await session.page.getByTestId('strength-value').innerText()).toBe('0.60');
    expect(await generate.field('seed').inputValue()).toBe(String(img2img.seed));
    expect(await generate.field('sampler').inputValue()).toBe('euler_a');
    await app.screenshot('generate-use-settings-img2img');
    await generate.generate();
    await generate.waitForState('succeeded');
    expect(await generate.resultShas()).toEqual([img2imgSha]);
    await generate.removeInitImage();
  });

  test('a batch count runs one image set per seed, seed + k', async () => {
    await fillFromRun(txt2img);
    await generate.field('batchCount').fill('2');
    await generate.generate();
    await generate.waitForState('succeeded');
    expect(await generate.results().count()).toBe(2);
    const seeds = await generate.results().evaluateAll((els) => els.map((el) => el.getAttribute('data-seed')));
    expect(seeds).toEqual(['42', '43']);
    const shas = await generate.resultShas();
    // Set 0 is the single run with seed 42 again.
    expect(shas[0]).toBe(referenceSha);
    expect(shas[1]).not.toBe(referenceSha);
    await app.screenshot('generate-batch');
    await generate.field('batchCount').fill('1');
  });

  test('sends a big init image inline as it is, over a megabyte', async () => {
    const big = await writeNoisyJpeg(work, 'big-noise.jpg', { width: 2400, height: 1600 });
    expect((await stat(big)).size).toBeGreaterThan(1024 * 1024);
    await generate.chooseInitImage(big);
    const name = await session.page.getByTestId('init-image').innerText();
    expect(name).not.toMatch(/scaled down/);
    await generate.fill({ steps: 4, seed: '3' });
    await generate.setStrength(0.5);
    await generate.generate();
    await generate.waitForState('succeeded');
    const [sha] = await generate.resultShas();
    const detail = await callInPage<ImageDetail>(session.page, 'gallery.get', { sha256: sha });
    const stored = (detail.metadata.request!['initImage'] as { path: string }).path;
    // The core kept the very file the page sent.
    expect(await readFile(stored)).toEqual(await readFile(big));
    await generate.removeInitImage();
  });

  test('left the shared fixture untouched and logged no page errors', () => {
    expect(listing(MODEL)).toEqual(fixtureBefore);
    expect(session.problems).toEqual([]);
  });
});
