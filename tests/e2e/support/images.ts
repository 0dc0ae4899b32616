/**
 * Test photos made at test time with sharp: small distinct images, big noisy ones that take
 * real time to import, and broken files (random bytes, zero bytes).
 */
import { randomBytes } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import sharp from 'sharp';

/** Writes a small solid-colour image (a distinct colour per `seed` below 1280, so no two are duplicates). */
export async function writeSmallImage(
  dir: string,
  name: string,
  seed: number,
  size = { width: 320, height: 240 },
): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, name);
  // r cycles every 256 seeds; the seed's high bits shift g, so colours stay unique up to 256 × 5 seeds.
  const background = {
    r: (seed * 67) % 256,
    g: (seed * 131 + 40 + (seed >> 8) * 50) % 256,
    b: (seed * 199 + 90) % 256,
  };
  const image = sharp({ create: { ...size, channels: 3, background } });
  const encoded = name.endsWith('.png') ? image.png() : image.jpeg({ quality: 85 });
  await encoded.toFile(file);
  return file;
}

/** Writes a large JPEG of random noise: slow to decode and resize, and never a duplicate. */
export async function writeNoisyJpeg(dir: string, name: string, size = { width: 2048, height: 1536 }): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, name);
  await sharp({
    create: {
      ...size,
      channels: 3,
      background: { r: 0, g: 0, b: 0 },
      noise: { type: 'gaussian', mean: 128, sigma: 40 },
    },
  })
    .jpeg({ quality: 80 })
    .toFile(file);
  return file;
}

/** Writes random bytes under an image name: it must be rejected as undecodable. */
export async function writeCorruptFile(dir: string, name: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, name);
  await writeFile(file, randomBytes(4096));
  return file;
}

/** Writes a zero-byte file: it must be rejected as empty. */
export async function writeEmptyFile(dir: string, name: string): Promise<string> {
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, name);
  await writeFile(file, Buffer.alloc(0));
  return file;
}
