/**
 * The training cache in the data home: VAE latents keyed by (model identity, image content hash, bucket
 * size, flip) and text embeddings keyed by (model identity, caption text). Each entry is one file of raw
 * little-endian float32 named by the SHA-256 of its key, written under a temporary name and renamed, so a
 * crash never leaves a half entry; an entry of the wrong length is treated as a miss and rewritten.
 */
import { createHash } from 'node:crypto';
import { mkdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';

export type CacheKind = 'latents' | 'text';

export class TrainingCache {
  /** `dir` undefined: a cache that never hits and stores nothing. */
  constructor(private readonly dir: string | undefined) {}

  /** The entry for `key`, if cached with exactly `length` floats. */
  async get(kind: CacheKind, key: unknown, length: number): Promise<Float32Array | undefined> {
    if (this.dir === undefined) return undefined;
    const bytes = await readFile(this.file(kind, key)).catch(() => undefined);
    if (!bytes || bytes.byteLength !== length * 4) return undefined;
    const out = new Float32Array(length);
    new Uint8Array(out.buffer).set(bytes);
    return out;
  }

  async put(kind: CacheKind, key: unknown, data: Float32Array): Promise<void> {
    if (this.dir === undefined) return;
    const file = this.file(kind, key);
    await mkdir(path.dirname(file), { recursive: true });
    const tmp = `${file}.${process.pid}.tmp`;
    try {
      await writeFile(tmp, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      await rename(tmp, file);
    } catch (error) {
      await rm(tmp, { force: true });
      throw error;
    }
  }

  private file(kind: CacheKind, key: unknown): string {
    const hash = sha256(JSON.stringify(key));
    return path.join(this.dir!, kind, hash.slice(0, 2), `${hash}.f32`);
  }
}

export function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * A model part's identity for cache keys: its config text and its weight file's resolved path, size and
 * modification time (hashing gigabytes of weights on every run would cost more than the cache saves).
 */
export async function modelPartIdentity(configFile: string, weightsFile: string): Promise<string> {
  const [config, info] = await Promise.all([readFile(configFile, 'utf8'), stat(weightsFile)]);
  return sha256(JSON.stringify([config, path.resolve(weightsFile), info.size, info.mtimeMs]));
}
