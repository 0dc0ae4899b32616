import sharp from 'sharp';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';

/** Writes a distinct noise image (so no two are duplicates) and returns its path. */
export async function writeNoiseImage(
  dir: string,
  name: string,
  options: { width?: number; height?: number; format?: 'jpeg' | 'png' | 'webp' } = {},
): Promise<string> {
  const { width = 64, height = 48, format = 'jpeg' } = options;
  const img = sharp({
    create: { width, height, channels: 3, background: '#000', noise: { type: 'gaussian', mean: 128, sigma: 40 } },
  });
  const bytes = await (
    format === 'png' ? img.png() : format === 'webp' ? img.webp() : img.jpeg({ quality: 90 })
  ).toBuffer();
  const file = path.join(dir, name);
  await writeFile(file, bytes);
  return file;
}
