/**
 * Gallery query time at 10,000 images: fills a data home through the library's own
 * write path (generated images with prompts), then times first pages, deep pages
 * reached by cursor, and full-text searches.
 */
import sharp from 'sharp';
import { Library } from '../../src-main/library';
import { openDataHome } from '../../src-main/platform/data-home';
import { openDatabase } from '../../src-main/storage/database';

const WORDS = [
  'portrait',
  'dog',
  'sunset',
  'forest',
  'studio',
  'neon',
  'city',
  'river',
  'castle',
  'robot',
  'cat',
  'beach',
];

export async function benchGallery(dataDir: string, count: number): Promise<Record<string, number>> {
  const home = openDataHome(dataDir);
  const db = openDatabase(home.database);
  const library = new Library({ db, home });
  const fillStart = performance.now();
  for (let i = 0; i < count; i++) {
    // 8×8 PNGs differing in their pixels: distinct content, cheap to encode.
    const pixels = Buffer.alloc(8 * 8 * 3);
    pixels.writeUInt32LE(i, 0);
    const png = await sharp(pixels, { raw: { width: 8, height: 8, channels: 3 } })
      .png()
      .toBuffer();
    const prompt = `${WORDS[i % WORDS.length]!} ${WORDS[(i * 7) % WORDS.length]!} number ${i}`;
    await library.addGeneratedImage({ png, prompt, metadata: { seed: i } });
  }
  const fillMs = performance.now() - fillStart;

  const time = (fn: () => void, runs: number) => {
    const samples: number[] = [];
    for (let r = 0; r < runs; r++) {
      const t = performance.now();
      fn();
      samples.push(performance.now() - t);
    }
    samples.sort((a, b) => a - b);
    return samples[Math.floor(samples.length / 2)]!;
  };
  const first = time(() => library.galleryQuery({ limit: 100 }), 50);
  // Walk to the middle of the gallery by cursor, then time the page there.
  let cursor: string | undefined;
  for (let p = 0; p < count / 200; p++) cursor = library.galleryQuery({ limit: 100, cursor }).nextCursor ?? undefined;
  const deep = time(() => library.galleryQuery({ limit: 100, cursor }), 50);
  const search = time(() => library.galleryQuery({ limit: 100, search: 'sunset cas' }), 50);
  const total = library.galleryQuery({ limit: 1 }).total;
  db.close();
  return { images: total, fillSeconds: fillMs / 1000, firstPageMs: first, deepPageMs: deep, searchPageMs: search };
}
