import { existsSync, readFileSync } from 'node:fs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Dataset, DatasetImage, ImageDetail, ImageView } from '../../src-shared/api';
import { PinholeError } from '../../src-shared/errors';
import { makeImage, makeLibrary, type TestLibrary } from './library-fixtures';

let t: TestLibrary;
beforeEach(() => {
  t = makeLibrary();
});
afterEach(() => t.cleanup());

function codeOf(fn: () => unknown): string | undefined {
  try {
    fn();
  } catch (error) {
    return error instanceof PinholeError ? error.code : 'not a PinholeError';
  }
  return undefined;
}

/** Puts a generated image into a dataset through the import bookkeeping, as an import would. */
async function addToDataset(datasetId: string, seed: number, caption = ''): Promise<string> {
  const image = await t.library.addGeneratedImage({
    png: await makeImage({ format: 'png', seed }),
    prompt: `prompt ${seed}`,
  });
  const jobId = 'job_manual';
  t.db
    .prepare(
      `INSERT OR IGNORE INTO jobs (id, seq, kind, lane, state, title, params, created_at)
       VALUES (?, (SELECT COALESCE(MAX(seq), 0) + 1 FROM jobs), 'import', 'cpu', 'running', 't', '{}', 0)`,
    )
    .run(jobId);
  const index = (t.db.prepare('SELECT COUNT(*) AS n FROM import_results').get() as { n: number }).n;
  t.library.recordImport({
    jobId,
    index,
    file: `file${seed}.png`,
    datasetId,
    outcome: { kind: 'image', sha256: image.sha256, image: null, caption, originalName: `file${seed}.png` },
  });
  return image.sha256;
}

describe('datasets', () => {
  it('creates, lists and refuses a duplicate name case-insensitively', () => {
    const changes: unknown[] = [];
    t.library.onDidChange.on((c) => changes.push(c));
    const rex = t.library.createDataset('  Rex ');
    expect(Dataset.parse(rex)).toEqual({
      id: rex.id,
      name: 'Rex',
      imageCount: 0,
      createdAt: rex.createdAt,
      coverSha256: null,
    });
    expect(codeOf(() => t.library.createDataset('rex'))).toBe('CONFLICT');
    expect(codeOf(() => t.library.createDataset('   '))).toBe('INVALID_PARAMS');
    t.library.createDataset('alpha');
    expect(t.library.listDatasets().map((d) => d.name)).toEqual(['alpha', 'Rex']);
    expect(changes).toEqual([{ datasetId: rex.id }, { datasetId: expect.any(String) }]);
  });

  it('ensureDataset gets or creates', () => {
    const a = t.library.ensureDataset('Rex');
    const b = t.library.ensureDataset('REX');
    expect(b.id).toBe(a.id);
    expect(t.library.listDatasets()).toHaveLength(1);
  });

  it('counts images and picks the first added as cover', async () => {
    const ds = t.library.createDataset('Rex');
    const first = await addToDataset(ds.id, 1);
    await addToDataset(ds.id, 2);
    const [listed] = t.library.listDatasets();
    expect(listed).toMatchObject({ imageCount: 2, coverSha256: first });
  });

  it('pages images in added order with a total', async () => {
    const ds = t.library.createDataset('Rex');
    const added: string[] = [];
    for (let seed = 1; seed <= 7; seed++) added.push(await addToDataset(ds.id, seed));
    const seen: string[] = [];
    let cursor: string | undefined;
    do {
      const page = t.library.datasetImages(ds.id, cursor, 3);
      expect(page.total).toBe(7);
      for (const item of page.items) DatasetImage.parse(item);
      seen.push(...page.items.map((i) => i.sha256));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    expect(seen).toEqual(added);
    expect(codeOf(() => t.library.datasetImages('ds_missing', undefined, 10))).toBe('NOT_FOUND');
  });

  it('sets captions, which become searchable', async () => {
    const ds = t.library.createDataset('Rex');
    const sha = await addToDataset(ds.id, 1, 'initial words');
    expect(t.library.galleryQuery({ search: 'initial', limit: 10 }).total).toBe(1);
    const updated = t.library.setCaption(ds.id, sha, '  a dog named rex on the beach ');
    expect(updated.caption).toBe('a dog named rex on the beach');
    expect(t.library.galleryQuery({ search: 'beach', limit: 10 }).items.map((i) => i.sha256)).toEqual([sha]);
    expect(t.library.galleryQuery({ search: 'initial', limit: 10 }).total).toBe(0);
    // The prompt stays searchable next to the caption.
    expect(t.library.galleryQuery({ search: 'prompt 1', limit: 10 }).total).toBe(1);
    expect(codeOf(() => t.library.setCaption(ds.id, 'f'.repeat(64), 'x'))).toBe('NOT_FOUND');
  });

  it('removes an image from a dataset but keeps it in the library', async () => {
    const ds = t.library.createDataset('Rex');
    const sha = await addToDataset(ds.id, 1, 'beach');
    expect(t.library.removeImage(ds.id, sha)).toEqual({ removed: true });
    expect(t.library.removeImage(ds.id, sha)).toEqual({ removed: false });
    expect(t.library.datasetImages(ds.id, undefined, 10).total).toBe(0);
    expect(t.library.getImage(sha).sha256).toBe(sha);
    expect(t.library.galleryQuery({ search: 'beach', limit: 10 }).total).toBe(0);
  });

  it('deletes a dataset, its memberships and captions, but not its images', async () => {
    const rex = t.library.createDataset('Rex');
    const other = t.library.createDataset('Other');
    const sha = await addToDataset(rex.id, 1, 'beach');
    await addToDataset(other.id, 1, 'forest');
    expect(t.library.deleteDataset(rex.id)).toEqual({ deleted: true });
    expect(t.library.deleteDataset(rex.id)).toEqual({ deleted: false });
    expect(t.library.listDatasets().map((d) => d.name)).toEqual(['Other']);
    expect(t.library.getImage(sha).datasets).toEqual([{ id: other.id, name: 'Other', caption: 'forest' }]);
    expect(t.library.galleryQuery({ search: 'beach', limit: 10 }).total).toBe(0);
    expect(t.library.galleryQuery({ search: 'forest', limit: 10 }).total).toBe(1);
    expect(t.library.imagePath(sha)).not.toBeNull();
  });
});

describe('images', () => {
  it('adds a generated image once, with its prompt searchable and files servable', async () => {
    const png = await makeImage({ format: 'png', width: 500, height: 400, seed: 3 });
    const changes: unknown[] = [];
    t.library.onDidChange.on((c) => changes.push(c));
    const view = await t.library.addGeneratedImage({
      png,
      prompt: 'a lighthouse at dusk',
      negativePrompt: 'blurry',
      metadata: { seed: 42, steps: 20 },
    });
    expect(ImageView.parse(view)).toMatchObject({
      width: 500,
      height: 400,
      format: 'png',
      source: 'generated',
      title: 'a lighthouse at dusk',
    });
    expect((await t.library.addGeneratedImage({ png, prompt: 'again' })).sha256).toBe(view.sha256);
    expect(changes).toEqual([{ datasetId: null }, { datasetId: null }]);

    const detail = ImageDetail.parse(t.library.getImage(view.sha256));
    expect(detail).toMatchObject({
      prompt: 'a lighthouse at dusk',
      negativePrompt: 'blurry',
      metadata: { seed: 42, steps: 20 },
      datasets: [],
    });
    expect(t.library.galleryQuery({ search: 'lighthouse', limit: 10 }).items.map((i) => i.sha256)).toEqual([
      view.sha256,
    ]);

    const file = t.library.imagePath(view.sha256)!;
    expect(file.contentType).toBe('image/png');
    expect(readFileSync(file.path).equals(png)).toBe(true);
    const thumb = t.library.thumbPath(view.sha256)!;
    expect(thumb.contentType).toBe('image/webp');
    expect(existsSync(thumb.path)).toBe(true);
  });

  it('refuses a generated image that is not an image', async () => {
    await expect(t.library.addGeneratedImage({ png: Buffer.from('nope'), prompt: 'x' })).rejects.toMatchObject({
      code: 'INVALID_PARAMS',
    });
  });

  it('answers unknown or malformed ids with NOT_FOUND or null, never a path outside the store', () => {
    expect(codeOf(() => t.library.getImage('a'.repeat(64)))).toBe('NOT_FOUND');
    expect(t.library.imagePath('a'.repeat(64))).toBeNull();
    expect(t.library.thumbPath('a'.repeat(64))).toBeNull();
    expect(t.library.imagePath('../../etc/passwd')).toBeNull();
    expect(t.library.thumbPath('../../etc/passwd')).toBeNull();
  });
});
