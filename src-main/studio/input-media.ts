/**
 * Init images and masks kept for img2img / inpainting re-runs (`<data home>/inputs/ab/<sha256>`, see
 * `generation/inline-images.ts`), served to the gallery by content hash only: the caller names a SHA-256, never
 * a path, and only files whose bytes are a PNG, JPEG or WebP image are answered (the folder holds nothing else,
 * but the content type must come from the bytes, not be guessed).
 */
import { closeSync, openSync, readSync } from 'node:fs';
import path from 'node:path';

const SHA256 = /^[0-9a-f]{64}$/;

/** The content type of an image file by its signature, or null for anything else. */
function sniffImageType(file: string): string | null {
  const head = Buffer.alloc(12);
  let fd: number;
  try {
    fd = openSync(file, 'r');
  } catch {
    return null;
  }
  try {
    if (readSync(fd, head, 0, head.length, 0) < head.length) return null;
  } finally {
    closeSync(fd);
  }
  if (head.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]))) return 'image/png';
  if (head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'image/jpeg';
  if (head.toString('latin1', 0, 4) === 'RIFF' && head.toString('latin1', 8, 12) === 'WEBP') return 'image/webp';
  return null;
}

/** The stored input image with this SHA-256 and its content type, or null (bad hash, missing, not an image). */
export function inputImageFile(inputsDir: string, sha256: string): { path: string; contentType: string } | null {
  if (!SHA256.test(sha256)) return null;
  const file = path.join(inputsDir, sha256.slice(0, 2), sha256);
  const contentType = sniffImageType(file);
  return contentType ? { path: file, contentType } : null;
}
