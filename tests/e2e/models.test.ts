/**
 * The Models page end to end against the real headless server and engine: upload the
 * sd15-single fixture checkpoint (a copy) and see it imported with its facts and A1111 short
 * hash (computed here independently), a broken file rejected with the reason and a second drop
 * recognised as a duplicate; set its prediction type on its row; generate with it from the Generate page
 * and find its hash in the image's parameters in the gallery; rename, make default and delete it, told
 * what used it.
 */
import { createHash } from 'node:crypto';
import { copyFile, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { fixture } from '../helpers/fixtures';
import { GalleryPage } from './pages/gallery-page';
import { GeneratePage } from './pages/generate-page';
import { ModelsPage } from './pages/models-page';
import { byData } from './pages/selectors';
import { StudioApp } from './pages/studio-app';
import { launchBrowser, type BrowserSession } from './support/browser';
import { startStudioServer, type StudioServer } from './support/server';

const CHECKPOINT = fixture('sd15-single', 'tiny-sd15-public.safetensors');

describe('Models', () => {
  let work: string;
  let server: StudioServer;
  let session: BrowserSession;
  let app: StudioApp;
  let models: ModelsPage;
  let generate: GeneratePage;
  let gallery: GalleryPage;
  let upload: string;
  let shortHash: string;

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'pinhole-e2e-models-'));
    // A copy under a name of our own: the shared fixtures are never touched.
    upload = path.join(work, 'Tiny Portrait.safetensors');
    await copyFile(CHECKPOINT, upload);
    shortHash = createHash('sha256')
      .update(await readFile(CHECKPOINT))
      .digest('hex')
      .slice(0, 10);
    server = await startStudioServer({ env: { PINHOLE_ENGINE_CACHE: path.join(work, 'engine-cache') } });
    session = await launchBrowser();
    app = new StudioApp(session.page, server.url);
    models = new ModelsPage(session.page);
    generate = new GeneratePage(session.page);
    gallery = new GalleryPage(session.page);
    await app.open();
  });

  afterAll(async () => {
    await session?.close();
    await server?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('uploads a checkpoint and a broken file: one imported with its facts, one rejected with the reason', async () => {
    await app.goTo('models');
    expect(await session.page.getByTestId('nav-models').innerText()).not.toMatch(/soon/i);
    const broken = path.join(work, 'broken.safetensors');
    await writeFile(broken, 'this is not a model');
    await models.upload([upload, broken]);
    const outcomes = await models.importOutcomes(2);
    // An upload batch is imported in file-name order.
    expect(outcomes.map((o) => [o.file, o.status])).toEqual([
      ['broken.safetensors', 'rejected'],
      ['Tiny Portrait.safetensors', 'imported'],
    ]);
    expect(outcomes[0]!.detail).toMatch(/broken\.safetensors/);
    expect(outcomes[1]!.detail).toContain('checkpoint "Tiny Portrait"');

    const row = models.row('Tiny Portrait');
    await row.waitFor();
    expect(await models.shortHash('Tiny Portrait')).toBe(shortHash);
    const text = await row.innerText();
    expect(text).toContain('sd1');
    expect(text).toContain('512 px');
    expect(text).toContain('14 MB');
    expect(text).toContain('Uploaded');
    expect(text).toContain('never');
    await app.screenshot('models-imported');
  });

  test('a file dropped on the page again is recognised as a duplicate', async () => {
    await models.drop(upload);
    await session.page.locator(`[data-testid="models-import-result"]${byData('status', 'duplicate')}`).waitFor();
    const outcomes = await models.importOutcomes(1);
    expect(outcomes).toEqual([
      {
        file: 'Tiny Portrait.safetensors',
        status: 'duplicate',
        detail: 'the same file as the checkpoint "Tiny Portrait"',
      },
    ]);
    expect(await session.page.getByTestId('model-row').count()).toBe(1);
  });

  test('a checkpoint’s prediction type is set on its row, kept, and set back to the weights', async () => {
    await models.prediction('Tiny Portrait').selectOption('v_prediction');
    // Stored in the core: a fresh list (after visiting another page) shows it.
    await app.goTo('generate');
    // The Generate page's VAE picker starts with the model's own VAE (the library has no other).
    expect(await generate.vaeSelect().inputValue()).toBe('');
    await app.goTo('models');
    await expect.poll(() => models.prediction('Tiny Portrait').inputValue()).toBe('v_prediction');
    await models.prediction('Tiny Portrait').selectOption('');
    await expect.poll(() => models.prediction('Tiny Portrait').inputValue()).toBe('');
  });

  test('generates with it on the Generate page; the gallery shows its hash in the parameters', async () => {
    await app.goTo('generate');
    const option = generate.modelSelect().locator('option', { hasText: 'Tiny Portrait' });
    await option.waitFor({ state: 'attached' });
    await generate.modelSelect().selectOption({ label: (await option.innerText()).trim() });
    await generate.fill({ prompt: 'a portrait photo', width: 64, height: 64, steps: 2, seed: '3' });
    await generate.generate();
    await generate.waitForState('succeeded');
    const [sha] = await generate.resultShas();

    await app.goTo('gallery');
    await session.page.locator(`[data-testid="gallery-thumb"]${byData('sha256', sha!)}`).click();
    const detail = gallery.detail();
    await detail.waitFor();
    const parameters = await detail.getByTestId('detail-parameters').innerText();
    expect(parameters).toContain(`Model hash: ${shortHash}`);
    expect(parameters).toContain('Model: Tiny Portrait');
    await app.screenshot('models-hash-in-gallery');
    await session.page.keyboard.press('Escape');
    await detail.waitFor({ state: 'detached' });
  });

  test('renames it, makes it the default, and deletes it, saying it was the default and made an image', async () => {
    await app.goTo('models');
    // The generation above used it.
    await expect.poll(() => models.row('Tiny Portrait').innerText()).not.toContain('never');
    await models.rename('Tiny Portrait', 'Portrait Base');
    await models.makeDefault('Portrait Base');
    const asked = await models.delete('Portrait Base');
    expect(asked).toContain('it is the default checkpoint');
    expect(await models.notice().innerText()).toBe(
      'Removed "Portrait Base". What used it: the default checkpoint; 1 generated image in the gallery.',
    );
    expect(await session.page.getByTestId('model-row').count()).toBe(0);
    expect(session.problems).toEqual([]);
  });

  test('the catalogue shows a model’s license before its download can start', async () => {
    const catalogue = JSON.parse(
      await readFile(path.resolve(import.meta.dirname, '../../resources/catalogue.json'), 'utf8'),
    ) as { models: { id: string; license: { name: string; url: string } }[] };
    const entries = catalogue.models;
    const first = entries[0]!;
    const item = models.catalogueItem(first.id);
    await item.getByTestId('catalogue-open').click();
    const license = item.getByTestId('catalogue-license');
    expect(await license.innerText()).toBe(first.license.name);
    expect(await license.getAttribute('href')).toBe(first.license.url);
    // Nothing starts until the license is accepted (no download is started here: tests stay offline).
    expect(await item.getByTestId('catalogue-start').isDisabled()).toBe(true);
    await item.getByTestId('catalogue-accept').check();
    await item.getByRole('button', { name: 'Cancel' }).click();
    expect(await item.getByTestId('catalogue-license').count()).toBe(0);
  });
});
