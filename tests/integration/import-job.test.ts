import { existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ImportFileResult } from '../../src-shared/api';
import { PinholeError } from '../../src-shared/errors';
import { insertPngText } from '../../src-main/engine/image';
import {
  createImportJobHandler,
  IMPORT_JOB_KIND,
  ingestImage,
  type ImportCheckpoint,
  type ImportParams,
} from '../../src-main/library';
import { exifBlock, withExifSegment } from '../helpers/exif';
import { fakeContext, insertJob, makeImage, makeLibrary, writeImage, type TestLibrary } from '../unit/library-fixtures';

let t: TestLibrary;
let input: string;
beforeEach(() => {
  t = makeLibrary();
  input = path.join(t.dir, 'in');
  mkdirSync(input, { recursive: true });
});
afterEach(() => t.cleanup());

function handler(maxPixels?: number) {
  return createImportJobHandler(t.library, maxPixels ? { limits: { maxPixels } } : {});
}

/** Runs the handler as the queue would: params validated first, one fake context per attempt. */
async function runImport(
  params: ImportParams,
  options: {
    jobId?: string;
    checkpoint?: ImportCheckpoint | null;
    cancelAfterChecks?: number;
    maxPixels?: number;
  } = {},
) {
  const h = handler(options.maxPixels);
  const jobId = options.jobId ?? insertJob(t.db);
  const ctx = fakeContext<ImportCheckpoint>(jobId, {
    checkpoint: options.checkpoint ?? null,
    ...(options.cancelAfterChecks !== undefined ? { cancelAfterChecks: options.cancelAfterChecks } : {}),
  });
  const parsed = h.params.parse(params);
  try {
    const result = await h.run(ctx, parsed);
    return { jobId, ctx, result, error: null };
  } catch (error) {
    return { jobId, ctx, result: null, error };
  }
}

const brief = (results: ImportFileResult[]) =>
  results.map((r) => `${r.file}: ${r.status}${r.reason ? ` (${r.reason})` : ''}`);

describe('import job', () => {
  it('declares itself as the CPU-lane import kind and validates its params', () => {
    const h = handler();
    expect([h.kind, h.lane, IMPORT_JOB_KIND]).toEqual(['import', 'cpu', 'import']);
    expect(h.params.safeParse({ dataset: '  ', paths: ['/x'] }).success).toBe(false);
    expect(h.params.safeParse({ dataset: 'Rex', paths: [] }).success).toBe(false);
    expect(h.params.safeParse({ dataset: 'Rex', paths: ['/x'], cleanup: input }).success).toBe(false);
    expect(h.params.safeParse({ dataset: 'Rex', paths: ['/x'], cleanup: t.home.uploads }).success).toBe(false);
    expect(
      h.params.safeParse({ dataset: 'Rex', paths: ['/x'], cleanup: path.join(t.home.uploads, 'b1') }).success,
    ).toBe(true);
    expect(h.title({ dataset: 'Rex', paths: ['/p/rex'] })).toBe('Import "rex" into "Rex"');
    expect(h.title({ dataset: 'Rex', paths: ['/a', '/b'] })).toBe('Import 2 items into "Rex"');
  });

  it('imports a folder: accepts good files, rejects each kind of bad one with a reason', async () => {
    await writeImage(input, '01-photo.jpg', { seed: 1 });
    await writeImage(input, '02-drawing.png', { format: 'png', seed: 2 });
    writeFileSync(path.join(input, '02-drawing.txt'), '  a pencil drawing of rex \n');
    writeFileSync(path.join(input, '03-empty.jpg'), '');
    writeFileSync(path.join(input, '04-text.jpg'), 'hello, I am not a JPEG');
    const jpeg = await makeImage({ width: 300, height: 200, seed: 5 });
    writeFileSync(path.join(input, '05-truncated.jpg'), jpeg.subarray(0, jpeg.length >> 1));
    const png = Buffer.from(await makeImage({ width: 200, height: 150, format: 'png', seed: 6 }));
    for (let i = 120; i < 400; i++) png[i] = png[i]! ^ 0x5a;
    writeFileSync(path.join(input, '06-corrupt.png'), png);
    await writeImage(input, '07-huge.png', { width: 400, height: 300, format: 'png', seed: 7 });
    const outside = await writeImage(t.dir, 'outside.jpg', { seed: 8 });
    symlinkSync(outside, path.join(input, '08-escape.jpg'));
    symlinkSync(path.join(input, '09-loop.jpg'), path.join(input, '09-loop.jpg'));
    writeFileSync(path.join(input, 'README.md'), 'not imported, not reported');

    const imported: ImportFileResult[] = [];
    const changes: unknown[] = [];
    t.library.onDidImportFile.on((r) => imported.push(r));
    t.library.onDidChange.on((c) => changes.push(c));

    const run = await runImport({ dataset: 'Rex', paths: [input] }, { maxPixels: 100_000 });
    expect(run.error).toBeNull();
    const results = t.library.importResults(run.jobId);
    results.forEach((r) => ImportFileResult.parse(r));
    expect(brief(results)).toEqual([
      '01-photo.jpg: accepted',
      '02-drawing.png: accepted',
      '03-empty.jpg: rejected (empty file)',
      '04-text.jpg: rejected (not an image, or a format Pinhole cannot read)',
      expect.stringMatching(/^05-truncated\.jpg: rejected \(damaged or truncated image/),
      expect.stringMatching(/^06-corrupt\.png: rejected \(damaged or truncated image/),
      '07-huge.png: rejected (image is 400×300 (0.1 megapixels), over the 0.1 megapixels limit)',
      '08-escape.jpg: rejected (link points outside the import folder)',
      '09-loop.jpg: rejected (link forms a loop)',
    ]);
    expect(results.map((r) => r.index)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8]);
    expect(imported).toEqual(results);

    const datasetId = t.library.listDatasets()[0]!.id;
    expect(run.result).toEqual({ datasetId, accepted: 2, duplicates: 0, rejected: 7 });
    expect(changes.at(-1)).toEqual({ datasetId });

    // Progress after every file, named by file; a cancellation check before every file.
    expect(run.ctx.progressCalls.map((p) => [p.step, p.total, p.message])).toEqual(
      results.map((r, i) => [i + 1, 9, r.file]),
    );
    expect(run.ctx.canceledChecks).toBe(9);

    const images = t.library.datasetImages(datasetId, undefined, 100).items;
    expect(images.map((i) => [i.originalName, i.caption])).toEqual([
      ['01-photo.jpg', ''],
      ['02-drawing.png', 'a pencil drawing of rex'],
    ]);
    expect(images.map((i) => i.sha256)).toEqual([results[0]!.sha256, results[1]!.sha256]);
    expect(t.library.galleryQuery({ search: 'pencil', limit: 10 }).items.map((i) => i.title)).toEqual([
      '02-drawing.png',
    ]);
    for (const image of images) {
      expect(existsSync(t.library.imagePath(image.sha256)!.path)).toBe(true);
      expect(existsSync(t.library.thumbPath(image.sha256)!.path)).toBe(true);
    }
  });

  it('rejects a path that does not exist, showing it as given', async () => {
    const run = await runImport({ dataset: 'Rex', paths: ['/definitely/not/here.jpg'] });
    expect(brief(t.library.importResults(run.jobId))).toEqual(['/definitely/not/here.jpg: rejected (not found)']);
    expect(run.result).toMatchObject({ accepted: 0, duplicates: 0, rejected: 1 });
  });

  it('stores images oriented and without EXIF/GPS', async () => {
    const file = path.join(input, 'phone.jpg');
    const bytes = await sharp(await makeImage({ width: 120, height: 80, seed: 9 }))
      .withMetadata({ orientation: 6 })
      .withExifMerge({
        IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '48/1 51/1 0/1', GPSLongitudeRef: 'E', GPSLongitude: '2/1 21/1 0/1' },
      })
      .jpeg()
      .toBuffer();
    writeFileSync(file, bytes);
    expect((await sharp(bytes).metadata()).exif).toBeDefined();
    const run = await runImport({ dataset: 'Rex', paths: [file] });
    const sha = t.library.importResults(run.jobId)[0]!.sha256!;
    const detail = t.library.getImage(sha);
    expect([detail.width, detail.height]).toEqual([80, 120]);
    const stored = readFileSync(t.library.imagePath(sha)!.path);
    const meta = await sharp(stored).metadata();
    expect([meta.width, meta.height, meta.exif, meta.orientation]).toEqual([80, 120, undefined, undefined]);
    expect(detail.metadata).toMatchObject({ originalFormat: 'jpeg', originalWidth: 120, originalHeight: 80 });
  });

  it("keeps a PNG's A1111 parameters: the prompts shown and searchable, the text for re-running", async () => {
    const parameters = [
      'a lighthouse on a cliff,',
      'golden hour',
      'Negative prompt: blurry, (low quality:1.3)',
      'Steps: 20, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6, Seed: 1234, Size: 512x768, ' +
        'Model hash: 6ce0161689, Model: v1-5-pruned-emaonly, Version: v1.10.1',
    ].join('\n');
    const png = insertPngText(await makeImage({ width: 64, height: 96, format: 'png', seed: 12 }), { parameters });
    writeFileSync(path.join(input, 'a1111.png'), png);
    // Unicode text comes as iTXt, as PIL (and so A1111) writes it.
    const unicode = '灯台 🌅\nSteps: 8, Sampler: Euler, CFG scale: 7, Seed: 5, Size: 64x64';
    const png2 = insertPngText(await makeImage({ width: 64, height: 64, format: 'png', seed: 13 }), {
      parameters: unicode,
    });
    writeFileSync(path.join(input, 'itxt.png'), png2);
    // A PNG with some other text is imported as before: no prompt.
    const plain = insertPngText(await makeImage({ width: 64, height: 64, format: 'png', seed: 14 }), {
      Comment: 'made with a paint program',
    });
    writeFileSync(path.join(input, 'plain.png'), plain);
    const run = await runImport({
      dataset: 'Rex',
      paths: ['a1111.png', 'itxt.png', 'plain.png'].map((f) => path.join(input, f)),
    });
    const [a, b, c] = t.library.importResults(run.jobId).map((r) => t.library.getImage(r.sha256!));
    expect(a).toMatchObject({
      prompt: 'a lighthouse on a cliff,\ngolden hour',
      negativePrompt: 'blurry, (low quality:1.3)',
      metadata: { originalFormat: 'png', parameters },
    });
    expect(b).toMatchObject({ prompt: '灯台 🌅', negativePrompt: null, metadata: { parameters: unicode } });
    expect(c!.prompt).toBeNull();
    expect(c!.metadata['parameters']).toBeUndefined();
    // The stored file itself carries no text (all metadata but the ICC profile is dropped).
    expect((await sharp(readFileSync(t.library.imagePath(a!.sha256)!.path)).metadata()).comments).toBeUndefined();
    expect(t.library.galleryQuery({ limit: 10, search: 'lighthouse' }).items.map((i) => i.sha256)).toEqual([a!.sha256]);
  });

  it("keeps A1111 parameters from a JPEG's and a WebP's EXIF UserComment", async () => {
    const parameters =
      'a red fox in snow\nNegative prompt: blurry\nSteps: 12, Sampler: Euler a, CFG scale: 7, Seed: 9, Size: 64x64';
    const jpeg = withExifSegment(
      await makeImage({ width: 64, height: 64, format: 'jpeg', seed: 21 }),
      exifBlock(parameters, 'MM', 'UNICODE'),
    );
    writeFileSync(path.join(input, 'a1111.jpg'), jpeg);
    // A WebP keeps the same EXIF block when converted with it (as A1111 saves WebP).
    const webp = await sharp(jpeg).keepExif().webp({ quality: 90 }).toBuffer();
    writeFileSync(path.join(input, 'a1111.webp'), webp);
    const run = await runImport({ dataset: 'Fox', paths: ['a1111.jpg', 'a1111.webp'].map((f) => path.join(input, f)) });
    const images = t.library.importResults(run.jobId).map((r) => t.library.getImage(r.sha256!));
    expect(images.map((i) => i.metadata['originalFormat'])).toEqual(['jpeg', 'webp']);
    for (const image of images) {
      expect(image).toMatchObject({ prompt: 'a red fox in snow', negativePrompt: 'blurry', metadata: { parameters } });
    }
    // The stored copies carry no EXIF (GPS and the rest are stripped as for any import).
    expect((await sharp(readFileSync(t.library.imagePath(images[0]!.sha256)!.path)).metadata()).exif).toBeUndefined();
  });

  it('dedupes: the same file twice, the same content under another name', async () => {
    const a = await writeImage(input, 'a.jpg', { seed: 10 });
    const copy = path.join(input, 'copy-of-a.jpg');
    writeFileSync(copy, readFileSync(a));
    const run = await runImport({ dataset: 'Rex', paths: [a, a, copy] });
    const results = t.library.importResults(run.jobId);
    expect(results.map((r) => r.status)).toEqual(['accepted', 'duplicate', 'duplicate']);
    expect(new Set(results.map((r) => r.sha256)).size).toBe(1);
    expect(run.result).toMatchObject({ accepted: 1, duplicates: 2, rejected: 0 });

    // Importing it again into the same dataset: a duplicate, found by the original's hash.
    const again = await runImport({ dataset: 'rex', paths: [a] });
    expect(t.library.importResults(again.jobId).map((r) => r.status)).toEqual(['duplicate']);
    expect(t.library.listDatasets()).toHaveLength(1);
  });

  it('adds an image already in the library to another dataset as accepted, stored once', async () => {
    const a = await writeImage(input, 'a.jpg', { seed: 11 });
    writeFileSync(path.join(input, 'a.txt'), 'caption from sidecar');
    await runImport({ dataset: 'Rex', paths: [a] });
    const second = await runImport({ dataset: 'Portraits', paths: [a] });
    expect(t.library.importResults(second.jobId).map((r) => r.status)).toEqual(['accepted']);
    expect(t.library.galleryQuery({ limit: 10 }).total).toBe(1);
    const detail = t.library.getImage(t.library.importResults(second.jobId)[0]!.sha256!);
    expect(detail.datasets.map((d) => [d.name, d.caption])).toEqual([
      ['Portraits', 'caption from sidecar'],
      ['Rex', 'caption from sidecar'],
    ]);
  });

  it('resumes from its checkpoint after an interruption: done files skipped, each recorded once', async () => {
    for (let i = 1; i <= 6; i++) await writeImage(input, `img${i}.jpg`, { seed: 20 + i });
    const jobId = insertJob(t.db);

    const first = await runImport({ dataset: 'Rex', paths: [input] }, { jobId, cancelAfterChecks: 3 });
    expect(first.error).toBeInstanceOf(PinholeError);
    expect((first.error as PinholeError).code).toBe('CANCELED');
    expect(t.library.importResults(jobId).map((r) => r.index)).toEqual([0, 1, 2]);
    const checkpoint = first.ctx.saved!;
    expect(checkpoint.files.map((f) => f.file)).toEqual([
      'img1.jpg',
      'img2.jpg',
      'img3.jpg',
      'img4.jpg',
      'img5.jpg',
      'img6.jpg',
    ]);

    // Between attempts the folder changes; the re-run keeps the list it started with.
    writeFileSync(path.join(input, 'img0.jpg'), readFileSync(path.join(input, 'img1.jpg')));
    rmSync(path.join(input, 'img5.jpg'));
    // A crash after storing img4's files but before its rows: the re-run must not mind.
    const img4 = await ingestImage(path.join(input, 'img4.jpg'));
    if (!img4.ok) throw new Error(img4.reason);
    await t.library.storeImageFiles(img4.value);
    const second = await runImport({ dataset: 'Rex', paths: [input] }, { jobId, checkpoint });
    expect(second.error).toBeNull();
    expect(second.ctx.saved).toBeNull(); // the list was not expanded again
    expect(brief(t.library.importResults(jobId))).toEqual([
      'img1.jpg: accepted',
      'img2.jpg: accepted',
      'img3.jpg: accepted',
      'img4.jpg: accepted',
      'img5.jpg: rejected (not found)',
      'img6.jpg: accepted',
    ]);
    expect(second.result).toMatchObject({ accepted: 5, duplicates: 0, rejected: 1 });
    const counts = t.db
      .prepare('SELECT COUNT(*) AS n, COUNT(DISTINCT idx) AS d FROM import_results WHERE job_id = ?')
      .get(jobId) as { n: number; d: number };
    expect(counts).toEqual({ n: 6, d: 6 });
    expect(t.library.datasetImages(t.library.listDatasets()[0]!.id, undefined, 100).total).toBe(5);
    // Progress still covers the whole list; the skipped files were not re-imported.
    expect(second.ctx.progressCalls.map((p) => p.step)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('skips files recorded by an earlier attempt that died without saving more than its results', async () => {
    const a = await writeImage(input, 'a.jpg', { seed: 30 });
    const b = await writeImage(input, 'b.jpg', { seed: 31 });
    const jobId = insertJob(t.db);
    const checkpoint: ImportCheckpoint = {
      files: [
        { file: a, path: a },
        { file: b, path: b },
      ],
    };
    // As if SIGKILL struck right after file 0 was committed.
    t.db
      .prepare(
        `INSERT INTO import_results (job_id, idx, file, status, reason) VALUES (?, 0, ?, 'rejected', 'from attempt 1')`,
      )
      .run(jobId, a);
    const run = await runImport({ dataset: 'Rex', paths: [a, b] }, { jobId, checkpoint });
    expect(brief(t.library.importResults(jobId))).toEqual([`${a}: rejected (from attempt 1)`, `${b}: accepted`]);
    expect(run.result).toMatchObject({ accepted: 1, rejected: 1 });
  });

  it('deletes the upload folder when the job ends, and shows uploads by file name', async () => {
    const batch = path.join(t.home.uploads, 'upload_test1');
    mkdirSync(batch, { recursive: true });
    await writeImage(batch, 'Rex at the beach.jpg', { seed: 40 });
    writeFileSync(path.join(batch, 'Rex at the beach.txt'), 'rex, beach');
    writeFileSync(path.join(batch, 'notes.pdf'), '%PDF-1.4 not really');
    const run = await runImport({ dataset: 'Rex', paths: [batch], cleanup: batch });
    expect(brief(t.library.importResults(run.jobId))).toEqual([
      'notes.pdf: rejected (not an image, or a format Pinhole cannot read)',
      'Rex at the beach.jpg: accepted',
    ]);
    expect(existsSync(batch)).toBe(false);
    expect(handler().title({ dataset: 'Rex', paths: [batch], cleanup: batch })).toBe(
      'Import uploaded files into "Rex"',
    );
  });

  it('deletes the upload folder on cancel, but keeps it when the process shuts down (the job runs again)', async () => {
    const batch = path.join(t.home.uploads, 'upload_test2');
    mkdirSync(batch, { recursive: true });
    await writeImage(batch, 'a.jpg', { seed: 41 });
    const canceled = await runImport({ dataset: 'Rex', paths: [batch], cleanup: batch }, { cancelAfterChecks: 0 });
    expect((canceled.error as PinholeError).code).toBe('CANCELED');
    expect(existsSync(batch)).toBe(false);

    mkdirSync(batch, { recursive: true });
    await writeImage(batch, 'a.jpg', { seed: 41 });
    const h = handler();
    const jobId = insertJob(t.db);
    const ctx = fakeContext<ImportCheckpoint>(jobId);
    ctx.controller.abort(new PinholeError('INTERRUPTED', 'Shutting down'));
    await expect(h.run(ctx, h.params.parse({ dataset: 'Rex', paths: [batch], cleanup: batch }))).rejects.toMatchObject({
      code: 'INTERRUPTED',
    });
    expect(existsSync(path.join(batch, 'a.jpg'))).toBe(true);
  });
});
