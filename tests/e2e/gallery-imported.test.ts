/**
 * PNGs made elsewhere, imported into the library: the gallery reads their A1111 `parameters` and offers
 * "Use settings" and "Re-run". One carries the settings of sd15-tiny's txt2img reference run as A1111 writes
 * them (its `Model:` names the model folder), so re-running it from the gallery must give the reference image;
 * the other names a model the library does not have and a hires fix: "Use settings" only, keeping the Generate
 * page's model, with what does not carry over listed.
 */
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { insertPngText } from '../../src-main/engine/image';
import { jsonLines, runCli } from '../helpers/cli';
import { fixture } from '../helpers/fixtures';
import { expectRgbClose, firstReferenceRun, type ReferenceRun } from '../helpers/reference-images';
import { GalleryPage } from './pages/gallery-page';
import { GeneratePage } from './pages/generate-page';
import { byData } from './pages/selectors';
import { StudioApp } from './pages/studio-app';
import { launchBrowser, type BrowserSession } from './support/browser';
import { writeSmallImage } from './support/images';
import { callInPage, decodeRgb, fetchInPage } from './support/media';
import { startStudioServer, type StudioServer } from './support/server';

const MODEL = fixture('sd15-tiny');
type Sd15Run = ReferenceRun & { negative_prompt: string };

describe('Gallery: imported A1111 PNGs', () => {
  const run = firstReferenceRun<Sd15Run>(path.join(MODEL, 'reference', 'cases.json'));
  let work: string;
  let server: StudioServer;
  let session: BrowserSession;
  let app: StudioApp;
  let generate: GeneratePage;
  let gallery: GalleryPage;
  let modelCopy: string;
  const shas: Record<string, string> = {};

  /** Writes a small PNG carrying `parameters` as A1111 does (a text chunk after IHDR). */
  const writeA1111Png = async (name: string, seed: number, parameters: string) => {
    const file = await writeSmallImage(work, name, seed, { width: 64, height: 64 });
    await writeFile(file, insertPngText(await readFile(file), { parameters }));
    return file;
  };

  const openInGallery = async (sha256: string) => {
    if ((await gallery.detail().count()) > 0) {
      await session.page.keyboard.press('Escape');
      await gallery.detail().waitFor({ state: 'detached' });
    }
    await app.goTo('gallery');
    await session.page.locator(`[data-testid="gallery-thumb"]${byData('sha256', sha256)}`).click();
    const detail = gallery.detail();
    await detail.waitFor();
    return detail;
  };

  /** Imports files through the running server, as a user's `pinhole import` would. */
  const importFiles = async (...files: string[]) => {
    const imported = await runCli(['import', ...files, '--dataset', 'Found', '--json', '--data-dir', server.dataDir]);
    expect(imported.code, imported.stderr).toBe(0);
    expect(jsonLines(imported.stdout).map((l) => l['status'])).toEqual(files.map(() => 'accepted'));
  };

  /** The library's images by title (an imported image's original file name). */
  const findShas = async () => {
    const page = await callInPage<{ items: { sha256: string; title: string }[] }>(session.page, 'gallery.query', {
      limit: 50,
    });
    for (const item of page.items) shas[item.title] = item.sha256;
  };

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'pinhole-e2e-imported-'));
    server = await startStudioServer({ env: { PINHOLE_ENGINE_CACHE: path.join(work, 'engine-cache') } });
    modelCopy = path.join(server.dataDir, 'models', 'sd15-tiny');
    await cp(MODEL, modelCopy, { recursive: true });
    const reference = await writeA1111Png(
      'reference.png',
      1,
      `${run.prompt}\nNegative prompt: ${run.negative_prompt}\n` +
        `Steps: ${run.steps}, Sampler: Euler, CFG scale: ${run.cfg}, Seed: ${run.seed}, ` +
        `Size: ${run.width}x${run.height}, Model: sd15-tiny, Version: v1.10.1, RNG: CPU`,
    );
    const elsewhere = await writeA1111Png(
      'elsewhere.png',
      2,
      'a castle on a hill,\nmisty morning\nNegative prompt: people\n' +
        'Steps: 12, Sampler: Euler a, CFG scale: 5, Seed: 99, Size: 64x64, Model hash: 0123456789, ' +
        'Model: someone-elses-model, Denoising strength: 0.5, Hires upscale: 2, Hires upscaler: Latent, RNG: CPU, ' +
        'Version: v1.10.1',
    );
    await importFiles(reference, elsewhere);

    session = await launchBrowser();
    app = new StudioApp(session.page, server.url);
    generate = new GeneratePage(session.page);
    gallery = new GalleryPage(session.page);
    await app.open();
    await findShas();
    expect(Object.keys(shas).sort()).toEqual(['elsewhere.png', 'reference.png']);
  });

  afterAll(async () => {
    await session?.close();
    await server?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('"Use settings" on an imported A1111 PNG fills the form, with the model it names', async () => {
    const detail = await openInGallery(shas['reference.png']!);
    expect(await detail.getByTestId('detail-prompt').innerText()).toBe(run.prompt);
    expect(await detail.getByTestId('detail-negative-prompt').innerText()).toBe(run.negative_prompt);
    await expect.poll(() => detail.getByTestId('detail-imported-model').innerText()).toBe('Model: sd15-tiny');
    expect(await detail.getByTestId('detail-infotext-notes').count()).toBe(0);
    expect(await detail.getByTestId('detail-rerun').count()).toBe(1);
    await app.screenshot('gallery-imported-a1111');
    await detail.getByTestId('detail-use-settings').click();
    await generate.root().waitFor();
    expect(await generate.prompt().inputValue()).toBe(run.prompt);
    expect(await generate.negativePrompt().inputValue()).toBe(run.negative_prompt);
    expect(await generate.field('seed').inputValue()).toBe(String(run.seed));
    expect(await generate.field('steps').inputValue()).toBe(String(run.steps));
    expect(await generate.field('cfgScale').inputValue()).toBe(String(run.cfg));
    expect(await generate.field('width').inputValue()).toBe(String(run.width));
    expect(await generate.field('sampler').inputValue()).toBe('euler');
    await expect.poll(() => generate.modelSelect().inputValue()).toBe(modelCopy);
  });

  test('"Re-run" on it generates the image those settings make: the diffusers reference', async () => {
    const before = (await generate.run().count()) > 0 ? await generate.run().getAttribute('data-job-id') : null;
    const detail = await openInGallery(shas['reference.png']!);
    await detail.getByTestId('detail-rerun').click();
    await generate.root().waitFor();
    await generate.waitForNewRun(before);
    await generate.waitForState('succeeded');
    const [sha] = await generate.resultShas();
    const rgb = await decodeRgb(await fetchInPage(session.page, `/media/images/${sha}`));
    expectRgbClose(rgb.data, await readFile(path.join(MODEL, 'reference', run.image_rgb8)));
  });

  test('a PNG naming a model the library lacks: "Use settings" keeps the page\'s model, no Re-run, notes', async () => {
    const detail = await openInGallery(shas['elsewhere.png']!);
    await expect
      .poll(() => detail.getByTestId('detail-imported-model').innerText())
      .toContain('“someone-elses-model” is not in the library');
    expect(await detail.getByTestId('detail-infotext-notes').innerText()).toContain('hires fix');
    expect(await detail.getByTestId('detail-rerun').count()).toBe(0);
    await detail.getByTestId('detail-use-settings').click();
    await generate.root().waitFor();
    expect(await generate.prompt().inputValue()).toBe('a castle on a hill,\nmisty morning');
    expect(await generate.field('seed').inputValue()).toBe('99');
    expect(await generate.field('sampler').inputValue()).toBe('euler_a');
    expect(await generate.modelSelect().inputValue()).toBe(modelCopy);
  });

  test('parameters that are not an A1111 infotext cannot be re-run; a PNG without any shows no such section', async () => {
    await importFiles(
      await writeA1111Png('not-infotext.png', 3, 'a note someone wrote, no settings'),
      await writeSmallImage(work, 'plain.png', 4, { width: 64, height: 64 }),
    );
    await findShas();
    const odd = await openInGallery(shas['not-infotext.png']!);
    await expect.poll(() => odd.getByText('cannot be re-run').count()).toBe(1);
    expect(await odd.getByTestId('detail-parameters').innerText()).toBe('a note someone wrote, no settings');
    expect(await odd.getByTestId('detail-use-settings').count()).toBe(0);
    const plain = await openInGallery(shas['plain.png']!);
    await expect.poll(() => plain.getByTestId('detail-facts').count()).toBe(1);
    expect(await plain.getByTestId('detail-generation').count()).toBe(0);
    expect(await plain.getByTestId('detail-use-settings').count()).toBe(0);
  });

  test('the page logged no errors', () => {
    expect(session.problems).toEqual([]);
  });
});
