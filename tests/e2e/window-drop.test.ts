/**
 * Files dropped on the window, in Chromium against the real headless server: model files go to the
 * models library from any page (the Gallery, which has no drop zone; a mixed drop on the Train page's
 * dataset zone, whose photo still goes into the dataset; a mixed drop on Generate's image-to-image
 * area, whose image is still taken); a drop of nothing importable says so. And the access tokens
 * panel: a token is saved, listed by host only (never shown back), and removed.
 */
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { fixture } from '../helpers/fixtures';
import { ModelsPage } from './pages/models-page';
import { byData } from './pages/selectors';
import { StudioApp } from './pages/studio-app';
import { TrainPage } from './pages/train-page';
import { launchBrowser, type BrowserSession } from './support/browser';
import { dragFiles, dropFiles } from './support/drop-files';
import { writeSmallImage } from './support/images';
import { callInPage } from './support/media';
import { startStudioServer, type StudioServer } from './support/server';

const CHECKPOINT = fixture('sd15-single', 'tiny-sd15-public.safetensors');
const CHECKPOINT_PICKLE = fixture('sd15-single', 'tiny-sd15-public.ckpt');
const INIT_IMAGE = fixture('sd15-tiny', 'reference', 'img2img-init.png');

describe('Dropping files on the window', () => {
  let work: string;
  let server: StudioServer;
  let session: BrowserSession;
  let app: StudioApp;
  let models: ModelsPage;
  let train: TrainPage;
  let checkpoint: string;

  /** Library models, by name. */
  const modelNames = async (): Promise<string[]> =>
    (await callInPage<{ name: string }[]>(session.page, 'models.list', {})).map((m) => m.name).sort();
  /** Waits for the window's import status line to settle on a finished import, and returns it. */
  const finishedStatus = async (): Promise<string> => {
    const status = session.page.locator(`[data-testid="model-import-status"]${byData('job-state', 'succeeded')}`);
    await status.waitFor({ timeout: 60_000 });
    return status.innerText();
  };
  const dismissStatus = async (): Promise<void> => {
    await session.page.getByTestId('window-drop-status').getByRole('button', { name: 'Dismiss' }).click();
    await session.page.getByTestId('window-drop-status').waitFor({ state: 'detached' });
  };

  beforeAll(async () => {
    work = await mkdtemp(path.join(tmpdir(), 'pinhole-e2e-drop-'));
    // Copies under names of our own: the shared fixtures are never touched.
    checkpoint = path.join(work, 'Gallery Drop.safetensors');
    await copyFile(CHECKPOINT, checkpoint);
    server = await startStudioServer();
    session = await launchBrowser();
    app = new StudioApp(session.page, server.url);
    models = new ModelsPage(session.page);
    train = new TrainPage(session.page);
    await app.open();
  });

  afterAll(async () => {
    await session?.close();
    await server?.stop();
    if (work) await rm(work, { recursive: true, force: true });
  });

  test('a checkpoint dropped on the Gallery page is imported into the models library', async () => {
    await app.goTo('gallery');
    const page = session.page.getByTestId('page-gallery');
    const files = [{ file: checkpoint, type: 'application/octet-stream' }];
    // While files are dragged over the window, a hint says where they will go.
    await dragFiles(session.page, page, files);
    expect(await session.page.getByTestId('window-drop-hint').innerText()).toMatch(/models library/);
    await dropFiles(session.page, page, files);
    expect(await finishedStatus()).toBe('1 model added');
    expect(await modelNames()).toEqual(['Gallery Drop']);
    expect(await session.page.getByTestId('window-drop-hint').count()).toBe(0);
    await app.screenshot('window-drop-gallery');
    await session.page.getByTestId('window-drop-status').getByRole('button', { name: 'Open Models' }).click();
    await models.row('Gallery Drop').waitFor();
    await app.goTo('gallery');
    await dismissStatus();
  });

  test('a mixed drop on the Train dataset zone: the photo to the dataset, the checkpoint to the models', async () => {
    const photo = await writeSmallImage(work, 'rex-01.jpg', 1);
    // The pickle form of the same weights: other bytes, so a new model rather than a duplicate.
    const model = path.join(work, 'Train Drop.ckpt');
    await copyFile(CHECKPOINT_PICKLE, model);
    await app.goTo('train');
    await train.createDataset('Rex');
    await dropFiles(session.page, session.page.getByTestId('drop-zone'), [
      { file: photo, type: 'image/jpeg' },
      { file: model, type: 'application/octet-stream' },
    ]);
    await train.waitForImportState('succeeded');
    // Only the photo reached the dataset import.
    expect(await train.results().count()).toBe(1);
    expect(await train.result('rex-01.jpg').getAttribute('data-status')).toBe('accepted');
    expect(await finishedStatus()).toBe('1 model added');
    expect(await modelNames()).toEqual(['Gallery Drop', 'Train Drop']);
    await dismissStatus();
  });

  test('a mixed drop on Generate’s image-to-image area: the image is taken, the model imported', async () => {
    const again = path.join(work, 'Generate Drop.safetensors');
    await copyFile(CHECKPOINT, again);
    await app.goTo('generate');
    await dropFiles(session.page, session.page.getByTestId('init-drop'), [
      { file: INIT_IMAGE, type: 'image/png' },
      { file: again, type: 'application/octet-stream' },
    ]);
    await session.page.getByTestId('init-preview').waitFor();
    // The same bytes as the first checkpoint: recognised as already there.
    expect(await finishedStatus()).toBe('0 models added, 1 already there');
    await dismissStatus();
    await session.page.getByTestId('init-remove').click();
  });

  test('a drop with no model file outside any drop zone says nothing was added', async () => {
    const notes = path.join(work, 'notes.txt');
    await writeFile(notes, 'not a model');
    const before = await modelNames();
    await app.goTo('settings');
    await dropFiles(session.page, session.page.getByTestId('page-settings'), [{ file: notes, type: 'text/plain' }]);
    await expect
      .poll(() => session.page.getByTestId('window-drop-status').innerText())
      .toMatch(/^Nothing was added: only model files/);
    expect(await modelNames()).toEqual(before);
    await dismissStatus();
    // The page did not navigate away to the dropped file.
    expect(session.page.url()).toContain('#/settings');
  });

  test('access tokens: saved, listed by host only, removed', async () => {
    const secret = 'hf_e2eSecretTokenValue123';
    await app.goTo('models');
    const panel = session.page.getByTestId('models-tokens');
    expect(await panel.innerText()).toContain('in memory only');
    await panel.getByTestId('token-host').fill('https://HuggingFace.co/');
    await panel.getByTestId('token-value').fill(secret);
    expect(await panel.getByTestId('token-value').getAttribute('type')).toBe('password');
    await panel.getByTestId('token-save').click();
    const row = panel.locator(`[data-testid="token-row"]${byData('host', 'huggingface.co')}`);
    await row.waitFor();
    expect(await row.getAttribute('data-source')).toBe('session');
    expect(await panel.getByTestId('tokens-notice').innerText()).toBe('Saved a token for huggingface.co.');
    // The field is cleared and the token appears nowhere on the page.
    expect(await panel.getByTestId('token-value').inputValue()).toBe('');
    expect(await session.page.content()).not.toContain(secret);
    expect(await callInPage<unknown[]>(session.page, 'tokens.list', {})).toEqual([
      { host: 'huggingface.co', source: 'session' },
    ]);
    await app.screenshot('models-access-tokens');

    await row.getByTestId('token-remove').click();
    await row.waitFor({ state: 'detached' });
    expect(await panel.getByTestId('tokens-notice').innerText()).toBe('Removed the token for huggingface.co.');
    expect(await callInPage<unknown[]>(session.page, 'tokens.list', {})).toEqual([]);
    expect(session.problems).toEqual([]);
  });
});
