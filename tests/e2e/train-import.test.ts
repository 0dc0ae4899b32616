/**
 * The Train workflow end to end against the real headless server: create datasets, upload
 * photos (good, duplicate, corrupt, empty), see per-file results and thumbnails, cancel a
 * big import from the job tray, and find everything unchanged after a reload.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { GalleryPage } from './pages/gallery-page';
import { StudioApp } from './pages/studio-app';
import { TrainPage } from './pages/train-page';
import { launchBrowser, type BrowserSession } from './support/browser';
import { writeCorruptFile, writeEmptyFile, writeNoisyJpeg, writeSmallImage } from './support/images';
import { startStudioServer, type StudioServer } from './support/server';

const SMALL = ['rex-01.jpg', 'rex-02.png', 'rex-03.jpg', 'rex-04.png', 'rex-05.jpg', 'rex-06.jpg'];
const BIG_COUNT = 40;

describe('Train: import photos into a dataset', () => {
  let server: StudioServer;
  let session: BrowserSession;
  let app: StudioApp;
  let train: TrainPage;
  let photos: string;
  let smallFiles: string[];
  let bigFiles: string[];

  beforeAll(async () => {
    photos = await mkdtemp(path.join(tmpdir(), 'pinhole-e2e-photos-'));
    smallFiles = await Promise.all(SMALL.map((name, i) => writeSmallImage(photos, name, i + 1)));
    // The same pixels and encoder settings as rex-01.jpg, so the same bytes: a duplicate.
    smallFiles.push(await writeSmallImage(path.join(photos, 'copy'), 'rex-01-copy.jpg', 1));
    smallFiles.push(await writeCorruptFile(photos, 'corrupt.jpg'), await writeEmptyFile(photos, 'empty.jpg'));
    bigFiles = [];
    for (let i = 0; i < BIG_COUNT; i++) {
      bigFiles.push(await writeNoisyJpeg(path.join(photos, 'big'), `big-${String(i).padStart(2, '0')}.jpg`));
    }
    // A token makes the page go through the real sign-in: ?token= traded for an HttpOnly cookie.
    server = await startStudioServer({ token: 'e2e-secret-token' });
    session = await launchBrowser();
    app = new StudioApp(session.page, server.url);
    train = new TrainPage(session.page);
    await app.open();
  });

  afterAll(async () => {
    await session?.close();
    await server?.stop();
    await rm(photos, { recursive: true, force: true });
  });

  test('opening with ?token= signs in and drops the token from the address bar', async () => {
    expect(session.page.url()).not.toContain('token=');
    await app.goTo('settings');
    await expect.poll(() => session.page.getByTestId('app-mode').innerText()).toContain('Headless');
    expect(await session.page.getByTestId('app-data-dir').innerText()).toBe(server.dataDir);
  });

  test('uploads photos and shows accepted thumbnails, the duplicate and the rejection reasons', async () => {
    await app.goTo('train');
    await train.createDataset('Rex');
    await train.upload(smallFiles);
    await train.waitForImportState('succeeded');

    await expect.poll(() => train.results().count()).toBe(smallFiles.length);
    expect(await train.results('accepted').count()).toBe(SMALL.length);
    expect(await train.results('duplicate').count()).toBe(1);
    // Same bytes twice: whichever the core reads first is added, the other is the duplicate.
    const pair = [
      await train.result('rex-01.jpg').getAttribute('data-status'),
      await train.result('rex-01-copy.jpg').getAttribute('data-status'),
    ];
    expect(pair.sort()).toEqual(['accepted', 'duplicate']);

    expect(await train.result('empty.jpg').getAttribute('data-status')).toBe('rejected');
    expect(await train.result('empty.jpg').getByTestId('import-reason').innerText()).toMatch(/empty/i);
    expect(await train.result('corrupt.jpg').getAttribute('data-status')).toBe('rejected');
    const corruptReason = await train.result('corrupt.jpg').getByTestId('import-reason').innerText();
    expect(corruptReason.trim().length).toBeGreaterThan(3);
    expect(corruptReason).not.toMatch(/empty/i);

    await expect.poll(() => train.thumbnails().count()).toBe(SMALL.length);
    // Every thumbnail actually decoded (a broken media route would leave naturalWidth at 0).
    for (const thumb of await train.thumbnails().all()) {
      await expect
        .poll(() => thumb.evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth))
        .toBeGreaterThan(0);
    }
    await expect.poll(() => train.datasetCount('Rex')).toBe('6 images');
    await app.screenshot('train-small-import');
  });

  test('saves a caption on Enter and keeps it after a reload', async () => {
    await train.setCaption('rex-02.png', 'a photo of rex on the beach');
    await expect.poll(() => train.caption('rex-02.png').inputValue()).toBe('a photo of rex on the beach');
    await app.reload();
    await expect.poll(() => train.caption('rex-02.png').inputValue()).toBe('a photo of rex on the beach');
  });

  test('cancels a big import from the job tray while it runs', async () => {
    await train.createDataset('Big batch');
    await train.upload(bigFiles);
    await session.page.locator('[data-testid="import-results"][data-job-state="running"]').waitFor({ timeout: 90_000 });
    const jobId = await train.importJobId();
    // Let a few files land first, so the cancel visibly stops a job midway.
    await expect.poll(() => train.results().count(), { timeout: 60_000 }).toBeGreaterThanOrEqual(2);
    await app.screenshot('train-big-import-running');

    await app.tray.cancel(jobId);
    await app.tray.waitForState(jobId, 'canceled');
    await train.waitForImportState('canceled');
    const done = await train.results().count();
    expect(done).toBeGreaterThan(0);
    expect(done).toBeLessThan(BIG_COUNT);
    // Noise never repeats, so every file that was reached was added, and nothing after it.
    expect(await train.results('accepted').count()).toBe(done);
    await expect.poll(() => train.thumbnails().count()).toBe(done);
    await expect.poll(() => train.datasetCount('Big batch')).toBe(`${done} images`);
    expect(await session.page.getByTestId('import-job-line').innerText()).toMatch(/canceled/i);
    await app.screenshot('train-big-import-canceled');
  });

  test('a reload shows the same datasets, photos, results and job history', async () => {
    const before = {
      datasets: await train
        .datasets()
        .evaluateAll((items) => items.map((i) => (i as unknown as { textContent: string }).textContent)),
      bigResults: await train.results().count(),
      bigThumbs: await train.thumbnails().count(),
      bigJob: await train.importJobId(),
    };
    await train.selectDataset('Rex');
    const rexJob = await train.importJobId();

    await app.reload();
    await expect.poll(() => train.datasets().count()).toBe(2);
    expect(
      await train
        .datasets()
        .evaluateAll((items) => items.map((i) => (i as unknown as { textContent: string }).textContent)),
    ).toEqual(before.datasets);

    // The selection is in the address, so the reload lands on Rex again.
    await session.page.getByTestId('selected-dataset').filter({ hasText: 'Rex' }).waitFor();
    expect(await train.importJobId()).toBe(rexJob);
    await expect.poll(() => train.results().count()).toBe(smallFiles.length);
    expect(await train.results('rejected').count()).toBe(2);
    expect(await train.result('empty.jpg').getByTestId('import-reason').innerText()).toMatch(/empty/i);
    await expect.poll(() => train.thumbnails().count()).toBe(SMALL.length);

    await train.selectDataset('Big batch');
    expect(await train.importJobId()).toBe(before.bigJob);
    await expect.poll(() => train.results().count()).toBe(before.bigResults);
    await expect.poll(() => train.thumbnails().count()).toBe(before.bigThumbs);
    expect(await session.page.getByTestId('import-job-line').innerText()).toMatch(/canceled/i);

    const history = await app.tray.showHistory();
    await expect.poll(() => history.count()).toBe(2);
    expect(await app.tray.row(rexJob).getAttribute('data-state')).toBe('succeeded');
    expect(await app.tray.row(before.bigJob).getAttribute('data-state')).toBe('canceled');
    expect(await app.tray.activeRows().count()).toBe(0);
    await app.screenshot('train-after-reload');
  });

  test('the gallery lists the imported photos and opens one in the detail view', async () => {
    const gallery = new GalleryPage(session.page);
    await app.goTo('gallery');
    const bigImported = await (async () => {
      await expect.poll(() => gallery.total()).toMatch(/^\d+ images?$/);
      return Number.parseInt(await gallery.total(), 10) - SMALL.length;
    })();
    expect(bigImported).toBeGreaterThan(0);
    expect(bigImported).toBeLessThan(BIG_COUNT);
    await expect.poll(() => gallery.thumbnails().count()).toBe(SMALL.length + bigImported);

    // Search covers prompts and captions: the caption written above finds its photo.
    await gallery.search('beach');
    await expect.poll(() => gallery.thumbnails().count()).toBe(1);
    const detail = await gallery.open(0);
    await expect.poll(() => detail.getByTestId('detail-title').innerText()).toContain('rex-02');
    expect(await detail.getByTestId('detail-size').innerText()).toBe('320 × 240');
    expect(await detail.getByTestId('detail-format').innerText()).toBe('PNG');
    const dataset = detail.locator('[data-testid="detail-dataset"][data-dataset-name="Rex"]');
    expect(await dataset.innerText()).toContain('a photo of rex on the beach');
    await expect
      .poll(() =>
        detail.getByTestId('detail-image').evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth),
      )
      .toBe(320);
    await app.screenshot('gallery-detail');

    await session.page.keyboard.press('Escape');
    await detail.waitFor({ state: 'detached' });
  });

  test('removes a photo from a dataset, and it stays removed after a reload', async () => {
    await app.goTo('train');
    await train.selectDataset('Rex');
    await expect.poll(() => train.thumbnails().count()).toBe(SMALL.length);
    await train.removePhoto('rex-03.jpg');
    await expect.poll(() => train.thumbnails().count()).toBe(SMALL.length - 1);
    await expect.poll(() => train.datasetCount('Rex')).toBe(`${SMALL.length - 1} images`);
    await app.reload();
    await expect.poll(() => train.thumbnails().count()).toBe(SMALL.length - 1);
    expect(await train.caption('rex-03.jpg').count()).toBe(0);
  });

  test('the page logged no errors (CSP violations included)', () => {
    expect(session.problems).toEqual([]);
  });
});
