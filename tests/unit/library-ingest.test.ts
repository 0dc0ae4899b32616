import { mkdtempSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_INGEST_LIMITS, ingestImage, type NormalizedImage } from '../../src-main/library';
import { isLosslessWebp, THUMB_SIZE } from '../../src-main/library/ingest-image';
import { sha256Hex } from '../../src-main/storage/content-store';
import { makeImage, writeImage } from './library-fixtures';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(path.join(tmpdir(), 'pinhole-ingest-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function write(name: string, bytes: Uint8Array | string): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, bytes);
  return file;
}

async function accepted(
  file: string,
  limits = DEFAULT_INGEST_LIMITS,
): Promise<NormalizedImage & { sourceSha256: string }> {
  const outcome = await ingestImage(file, limits);
  if (!outcome.ok) throw new Error(`expected ${file} to be accepted, got: ${outcome.reason}`);
  return outcome.value;
}

async function rejection(file: string, limits = DEFAULT_INGEST_LIMITS): Promise<string> {
  const outcome = await ingestImage(file, limits);
  if (outcome.ok) throw new Error(`expected ${file} to be rejected`);
  return outcome.reason;
}

describe('ingestImage rejects bad input', () => {
  it('rejects a zero-byte file', async () => {
    expect(await rejection(await write('empty.jpg', ''))).toBe('empty file');
  });

  it('rejects a missing file as not found', async () => {
    expect(await rejection(path.join(dir, 'nope.jpg'))).toBe('not found');
  });

  it('rejects a folder', async () => {
    expect(await rejection(dir)).toBe('is a folder');
  });

  it('rejects a text file named .jpg with a readable reason', async () => {
    const reason = await rejection(await write('notes.jpg', 'just some text, not a picture\n'));
    expect(reason).toBe('not an image, or a format Pinhole cannot read');
  });

  it('rejects a truncated JPEG (bytes cut in half) although its header reads fine', async () => {
    const jpeg = await makeImage({ width: 320, height: 240, format: 'jpeg', seed: 3 });
    const half = jpeg.subarray(0, Math.floor(jpeg.length / 2));
    expect((await sharp(half).metadata()).width).toBe(320); // metadata alone would trust it
    expect(await rejection(await write('half.jpg', half))).toMatch(/^damaged or truncated image/);
  });

  it('rejects a corrupt PNG', async () => {
    const png = Buffer.from(await makeImage({ width: 200, height: 150, format: 'png', seed: 4 }));
    for (let i = 120; i < Math.min(png.length - 20, 400); i++) png[i] = png[i]! ^ 0x5a;
    expect(await rejection(await write('corrupt.png', png))).toMatch(/^damaged or truncated image/);
  });

  it('rejects an image over the pixel limit, naming its size and the limit', async () => {
    const file = await writeImage(dir, 'big.png', { width: 400, height: 300, format: 'png' });
    const reason = await rejection(file, { ...DEFAULT_INGEST_LIMITS, maxPixels: 100_000 });
    expect(reason).toBe('image is 400×300 (0.1 megapixels), over the 0.1 megapixels limit');
    // The default limit is 100 megapixels.
    expect(DEFAULT_INGEST_LIMITS.maxPixels).toBe(100_000_000);
    expect((await accepted(file)).width).toBe(400);
  });

  it('rejects a file over the byte limit before reading it', async () => {
    const file = await writeImage(dir, 'heavy.png', { width: 300, height: 300, format: 'png' });
    const reason = await rejection(file, { ...DEFAULT_INGEST_LIMITS, maxBytes: 100 });
    expect(reason).toMatch(/^file is .* MB, over the .* MB limit$/);
  });

  it('rejects SVG (it can reference other files)', async () => {
    const svg = '<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"><rect width="10" height="10"/></svg>';
    expect(await rejection(await write('vector.png', svg))).toBe('unsupported format (svg)');
  });
});

describe('ingestImage normalizes accepted images', () => {
  it('applies EXIF orientation (orientation 6 swaps width and height) and drops the tag', async () => {
    const rotated = await sharp(await makeImage({ width: 120, height: 80, seed: 5 }))
      .withMetadata({ orientation: 6 })
      .jpeg()
      .toBuffer();
    const image = await accepted(await write('rotated.jpg', rotated));
    expect([image.width, image.height]).toEqual([80, 120]);
    const stored = await sharp(image.bytes).metadata();
    expect([stored.width, stored.height]).toEqual([80, 120]);
    expect(stored.orientation).toBeUndefined();
  });

  it('strips EXIF (GPS included) but keeps the ICC profile', async () => {
    const withGps = await sharp(await makeImage({ width: 100, height: 80, seed: 6 }))
      .withIccProfile('p3')
      .withExif({
        IFD0: { Make: 'TestCam', Model: 'Leaky 1' },
        IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '51/1 30/1 0/1', GPSLongitudeRef: 'W', GPSLongitude: '0/1 7/1 0/1' },
      })
      .jpeg()
      .toBuffer();
    const original = await sharp(withGps).metadata();
    expect(original.exif).toBeDefined();
    expect(original.exif!.toString('latin1')).toContain('TestCam');

    const image = await accepted(await write('gps.jpg', withGps));
    const stored = await sharp(image.bytes).metadata();
    expect(stored.exif).toBeUndefined();
    expect(stored.xmp).toBeUndefined();
    expect(stored.iptc).toBeUndefined();
    expect(image.bytes.includes(Buffer.from('TestCam'))).toBe(false);
    expect(stored.hasProfile).toBe(true);
    expect(stored.icc!.equals(original.icc!)).toBe(true);
  });

  it('adds no ICC profile to an image that had none', async () => {
    const image = await accepted(await writeImage(dir, 'plain.jpg', { seed: 7 }));
    expect((await sharp(image.bytes).metadata()).hasProfile).toBe(false);
  });

  it('re-encodes JPEG as JPEG with 4:4:4 chroma', async () => {
    const image = await accepted(await writeImage(dir, 'photo.jpg', { seed: 8 }));
    expect(image.format).toBe('jpeg');
    const stored = await sharp(image.bytes).metadata();
    expect(stored.format).toBe('jpeg');
    expect(stored.chromaSubsampling).toBe('4:4:4');
  });

  it('keeps PNG as PNG, pixel for pixel', async () => {
    const file = await writeImage(dir, 'flat.png', { format: 'png', seed: 9 });
    const image = await accepted(file);
    expect(image.format).toBe('png');
    const before = await sharp(file).raw().toBuffer();
    const after = await sharp(image.bytes).raw().toBuffer();
    expect(after.equals(before)).toBe(true);
  });

  it('keeps lossless WebP lossless and lossy WebP lossy', async () => {
    const lossless = await sharp(await makeImage({ format: 'png', seed: 10 }))
      .webp({ lossless: true })
      .toBuffer();
    const lossy = await makeImage({ format: 'webp', seed: 11 });
    expect(isLosslessWebp(lossless)).toBe(true);
    expect(isLosslessWebp(lossy)).toBe(false);
    const a = await accepted(await write('lossless.webp', lossless));
    const b = await accepted(await write('lossy.webp', lossy));
    expect([a.format, b.format]).toEqual(['webp', 'webp']);
    expect(isLosslessWebp(a.bytes)).toBe(true);
    expect(isLosslessWebp(b.bytes)).toBe(false);
  });

  it('stores GIF, TIFF and AVIF as PNG', async () => {
    for (const format of ['gif', 'tiff', 'avif'] as const) {
      const image = await accepted(await writeImage(dir, `other.${format}`, { format, seed: 12 }));
      expect(image.format).toBe('png');
      expect((await sharp(image.bytes).metadata()).format).toBe('png');
    }
  });

  it('identifies the image by the hash of the stored bytes and remembers the original hash', async () => {
    const file = await writeImage(dir, 'ids.jpg', { seed: 13 });
    const image = await accepted(file);
    expect(image.sha256).toBe(sha256Hex(image.bytes));
    const { readFile } = await import('node:fs/promises');
    expect(image.sourceSha256).toBe(sha256Hex(await readFile(file)));
    expect(image.sourceSha256).not.toBe(image.sha256);
    // Normalizing is deterministic, so the same original always gets the same id.
    expect((await accepted(file)).sha256).toBe(image.sha256);
  });

  it('makes a WebP thumbnail at most 384 on its longer side, oriented', async () => {
    const big = await accepted(await writeImage(dir, 'wide.jpg', { width: 1000, height: 500, seed: 14 }));
    const thumb = await sharp(big.thumbnail).metadata();
    expect(thumb.format).toBe('webp');
    expect([thumb.width, thumb.height]).toEqual([THUMB_SIZE, 192]);
    const small = await accepted(await writeImage(dir, 'small.jpg', { width: 40, height: 30, seed: 15 }));
    expect((await sharp(small.thumbnail).metadata()).width).toBe(40); // never enlarged
  });
});
