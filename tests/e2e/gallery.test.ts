/**
 * The gallery against the real server with more images than one page: the grid renders only
 * the rows near the viewport, loads further pages as it scrolls, and opens a detail view
 * that survives a reload.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { GalleryPage } from './pages/gallery-page';
import { StudioApp } from './pages/studio-app';
import { TrainPage } from './pages/train-page';
import { launchBrowser, type BrowserSession } from './support/browser';
import { writeSmallImage } from './support/images';
import { startStudioServer, type StudioServer } from './support/server';

/** More than the gallery's first page (200), so scrolling must load another. */
const COUNT = 260;

describe('Gallery', () => {
  let server: StudioServer;
  let session: BrowserSession;
  let app: StudioApp;
  let gallery: GalleryPage;
  let photos: string;
  const queries: string[] = [];

  beforeAll(async () => {
    photos = await mkdtemp(path.join(tmpdir(), 'pinhole-e2e-gallery-'));
    const files: string[] = [];
    for (let i = 0; i < COUNT; i++) {
      files.push(await writeSmallImage(photos, `tile-${String(i).padStart(3, '0')}.png`, i, { width: 64, height: 48 }));
    }
    server = await startStudioServer();
    session = await launchBrowser();
    session.page.on('request', (request) => {
      if (request.url().endsWith('/api/call/gallery.query')) queries.push(request.postData() ?? '');
    });
    app = new StudioApp(session.page, server.url);
    gallery = new GalleryPage(session.page);
    await app.open();

    const train = new TrainPage(session.page);
    await app.goTo('train');
    await train.createDataset('Tiles');
    await train.upload(files);
    await train.waitForImportState('succeeded', 120_000);
    // expect.poll is not available in hooks; the last accepted row appearing is the same check.
    await train
      .results('accepted')
      .nth(COUNT - 1)
      .waitFor();
  });

  afterAll(async () => {
    await session?.close();
    await server?.stop();
    await rm(photos, { recursive: true, force: true });
  });

  test('renders only the visible rows and loads more pages while scrolling', async () => {
    await app.goTo('gallery');
    await expect.poll(() => gallery.total()).toBe(`${COUNT} images`);
    await expect.poll(() => gallery.thumbnails().count()).toBeGreaterThan(0);
    const rendered = await gallery.thumbnails().count();
    // Virtualized: a screenful plus overscan, far from all of them.
    expect(rendered).toBeLessThan(COUNT / 2);
    const top = new Set(
      await gallery.thumbnails().evaluateAll((els) => els.map((el) => el.getAttribute('data-sha256'))),
    );
    const queriesBefore = queries.length;
    await app.screenshot('gallery-top');

    await gallery.scrollToEnd();
    // The end of the grid is beyond the first page: it fills in once the next page arrives.
    await expect.poll(() => session.page.locator('.gallery-placeholder').count()).toBe(0);
    const shown = () => gallery.thumbnails().evaluateAll((els) => els.map((el) => el.getAttribute('data-sha256')));
    // None of the first screen's images is still in the DOM: the grid really replaced its rows.
    // (Polled together: between renders the grid can briefly hold no thumbnail at all.)
    await expect
      .poll(async () => {
        const now = await shown();
        return now.length > 0 && now.every((sha) => !top.has(sha));
      })
      .toBe(true);
    expect(await gallery.thumbnails().count()).toBeLessThan(COUNT / 2);
    expect(queries.length).toBeGreaterThan(queriesBefore);
    expect(queries.some((body) => body.includes('"cursor"'))).toBe(true);
    await app.screenshot('gallery-bottom');
  });

  test('opens the detail view with the image and its metadata, and keeps it across a reload', async () => {
    await gallery.scrollToTop();
    const detail = await gallery.open(0);
    const first = await detail.getByTestId('detail-title').innerText();
    await expect.poll(() => detail.getByTestId('detail-size').innerText()).toBe('64 × 48');
    expect(await detail.getByTestId('detail-format').innerText()).toBe('PNG');
    expect(await detail.getByTestId('detail-bytes').innerText()).toMatch(/\d+(\.\d)? (B|KB)$/);
    expect(await detail.locator('[data-testid="detail-dataset"][data-dataset-name="Tiles"]').count()).toBe(1);
    await expect
      .poll(() =>
        detail.getByTestId('detail-image').evaluate((img) => (img as unknown as { naturalWidth: number }).naturalWidth),
      )
      .toBe(64);

    await detail.getByRole('button', { name: 'Next →' }).click();
    // While the next image loads the title reads "Image": wait for the next image's own name.
    await expect
      .poll(async () => {
        const title = await detail.getByTestId('detail-title').innerText();
        return title !== first && /^tile-\d{3}\.png$/.test(title);
      })
      .toBe(true);
    const second = await detail.getByTestId('detail-title').innerText();
    await app.screenshot('gallery-detail-next');

    await app.reload();
    await expect.poll(() => gallery.detail().getByTestId('detail-title').innerText()).toBe(second);

    await session.page.keyboard.press('Escape');
    await gallery.detail().waitFor({ state: 'detached' });
    expect(new URL(session.page.url()).hash).toBe('#/gallery');
  });

  test('the page logged no errors (CSP violations included)', () => {
    expect(session.problems).toEqual([]);
  });
});
