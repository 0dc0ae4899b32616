/**
 * The base model's hashes for a LoRA's `ss_sd_model_hash` and `ss_new_sd_model_hash`, computed as
 * kohya-ss's `train_util.model_hash` and `calculate_sha256` do on the file given as the base model:
 * the legacy A1111 hash (SHA-256 of the 64 KiB at offset 1 MiB, first 8 hex digits) and the SHA-256
 * of the whole file.
 *
 * Which file: the single-file checkpoint a run's model folder was converted from, when there is one
 * (the file A1111 and model sites know by these hashes); for a model folder (diffusers or ONNX with
 * diffusers weights, as training needs) the UNet's `unet/diffusion_pytorch_model.safetensors`, the
 * weights the LoRA adapts. kohya itself writes "IsADirectory" for a folder, which identifies nothing.
 *
 * Hashing a multi-gigabyte file takes seconds, so the result is cached in `cacheDir` keyed by the
 * file's path, size and modification time.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';

export type BaseModelHashes = {
  /** The file hashed. */
  file: string;
  /** kohya's `model_hash` (A1111's old short hash): 8 hex digits. */
  legacy: string;
  /** kohya's `calculate_sha256`: 64 hex digits. */
  sha256: string;
};

const LEGACY_OFFSET = 0x100000;
const LEGACY_LENGTH = 0x10000;

/** The file whose hashes describe `model` (a folder) or `baseModelFile` when given. */
export function baseModelFileOf(model: string, baseModelFile?: string): string {
  return baseModelFile ?? path.join(model, 'unet', 'diffusion_pytorch_model.safetensors');
}

/**
 * kohya's `model_hash`: SHA-256 of up to 64 KiB from offset 1 MiB, first 8 hex digits (a file shorter
 * than 1 MiB hashes nothing, as Python's seek past the end then read does).
 */
export async function legacyModelHash(file: string): Promise<string> {
  const handle = await open(file, 'r');
  try {
    const buffer = Buffer.alloc(LEGACY_LENGTH);
    let filled = 0;
    while (filled < LEGACY_LENGTH) {
      const { bytesRead } = await handle.read(buffer, filled, LEGACY_LENGTH - filled, LEGACY_OFFSET + filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return createHash('sha256').update(buffer.subarray(0, filled)).digest('hex').slice(0, 8);
  } finally {
    await handle.close();
  }
}

/** SHA-256 of the whole file, streamed. */
export async function fileSha256(file: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(file, { highWaterMark: 1024 * 1024 })) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

type CacheEntry = { file: string; size: number; mtimeMs: number; legacy: string; sha256: string };

/** Both hashes of `file`, from the cache in `cacheDir` when the file is unchanged. */
export async function baseModelHashes(file: string, cacheDir?: string): Promise<BaseModelHashes> {
  const absolute = path.resolve(file);
  const info = await stat(absolute);
  const cacheFile =
    cacheDir !== undefined
      ? path.join(cacheDir, 'model-hashes', `${createHash('sha256').update(absolute).digest('hex')}.json`)
      : undefined;
  if (cacheFile !== undefined) {
    const cached = await readFile(cacheFile, 'utf8')
      .then((text) => JSON.parse(text) as CacheEntry)
      .catch(() => null);
    if (cached && cached.file === absolute && cached.size === info.size && cached.mtimeMs === info.mtimeMs) {
      return { file: absolute, legacy: cached.legacy, sha256: cached.sha256 };
    }
  }
  const [legacy, sha256] = await Promise.all([legacyModelHash(absolute), fileSha256(absolute)]);
  if (cacheFile !== undefined) {
    const entry: CacheEntry = { file: absolute, size: info.size, mtimeMs: info.mtimeMs, legacy, sha256 };
    // A cache that cannot be written only costs the next run the hashing again.
    await mkdir(path.dirname(cacheFile), { recursive: true })
      .then(() => writeFile(cacheFile, JSON.stringify(entry)))
      .catch(() => undefined);
  }
  return { file: absolute, legacy, sha256 };
}
