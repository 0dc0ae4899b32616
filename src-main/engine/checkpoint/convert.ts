/**
 * `convertModel`: any model a creator has → a folder the engine runs, cached on disk.
 *
 * - Sources: a single-file checkpoint (`.safetensors`, `.ckpt`, `.pt`), a diffusers folder, or an optimum ONNX
 *   folder (returned as it is unless a separate VAE is swapped in).
 * - Cache: `<cacheRoot>/<key>/`, key = SHA-256 of (the source's content hash, the options, `CHECKPOINT_BUILD_VERSION`).
 *   A file's SHA-256 is computed once and remembered by its stamp (real path, size, mtime) in `<cacheRoot>/hashes/`,
 *   so a second call costs a `stat` and a directory check. Diffusers folders are keyed by their files' stamps.
 * - Safety: free space is checked (`statfs`) against an estimate from the tensor sizes before anything is written;
 *   the folder is written under a temporary name beside its final place and renamed at the end, so a failure or a
 *   cancellation leaves nothing half-written.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, readFile, rename, rm, stat, statfs, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { PinholeError } from '../../../src-shared/errors';
import { fileStamp } from '../runtime';
import { singleFileComponents, vaeComponent, type ModelComponents } from './components';
import { diffusersComponents, diffusersFolderFiles, isDiffusersFolder } from './diffusers-folder';
import { defaultResourcesDir } from './family-files';
import type { PredictionType } from './family';
import { openStateDict } from './state-dict';
import { estimateFolderBytes, writeModelFolder, type ConvertProgress } from './write-folder';

/** Bump when the converted folders change: older cache entries are then not reused. */
export const CHECKPOINT_BUILD_VERSION = 1;

export type ConvertOptions = {
  onProgress?: (progress: ConvertProgress) => void;
  signal?: AbortSignal;
  /** Weight dtype of the UNet and text-encoder graphs: float32 (default; the CPU provider) or float16 (GPU providers). */
  precision?: 'float32' | 'float16';
  /** A separate VAE (single-file or diffusers `AutoencoderKL` weights) that replaces the model's own. */
  vae?: string;
  /** Overrides the inferred prediction type. */
  prediction?: PredictionType;
  /** The resources folder (CLIP vocabulary, scheduler defaults). Default `defaultResourcesDir()`. */
  resources?: string;
};

/** SHA-256 of a file's bytes (hex), streamed. */
export async function sha256File(file: string, signal?: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  await new Promise<void>((resolve, reject) => {
    const stream = createReadStream(file, { highWaterMark: 4 << 20 });
    signal?.addEventListener('abort', () => stream.destroy(new PinholeError('CANCELED', 'Cancelled while hashing')), {
      once: true,
    });
    stream
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', resolve);
  });
  return hash.digest('hex');
}

/** A file's SHA-256, computed once per file version and remembered under `cacheRoot`. */
export async function cachedSha256(file: string, cacheRoot: string, signal?: AbortSignal): Promise<string> {
  const stamp = await fileStamp(file);
  const memo = path.join(cacheRoot, 'hashes', createHash('sha256').update(JSON.stringify(stamp)).digest('hex'));
  try {
    const known = (await readFile(memo, 'utf8')).trim();
    if (/^[0-9a-f]{64}$/.test(known)) return known;
  } catch {
    // Not hashed yet.
  }
  const digest = await sha256File(file, signal);
  await mkdir(path.dirname(memo), { recursive: true });
  await writeFile(memo, digest);
  return digest;
}

async function sourceIdentity(
  source: string,
  isDir: boolean,
  cacheRoot: string,
  signal?: AbortSignal,
): Promise<unknown> {
  if (!isDir) return { sha256: await cachedSha256(source, cacheRoot, signal) };
  return { stamps: await Promise.all(diffusersFolderFiles(source).map((f) => fileStamp(f))) };
}

async function checkFreeSpace(dir: string, needed: number, source: string): Promise<void> {
  const info = await statfs(dir);
  const free = info.bavail * info.bsize;
  if (free < needed) {
    const gb = (n: number): string => (n / 1e9).toFixed(1);
    throw new PinholeError(
      'IMPORT_REJECTED',
      `Not enough disk space to convert ${source}: about ${gb(needed)} GB are needed in ${dir}, ${gb(free)} GB are free`,
    );
  }
}

/**
 * Converts `source` into a model folder under `cacheRoot` (or returns the cached one).
 * @returns the folder's path, ready for `loadModelFolder`.
 * @throws PinholeError `NOT_FOUND` for a missing source; `IMPORT_REJECTED` naming the file and the reason (corrupt,
 *   truncated, hostile pickle, a LoRA or VAE given as a checkpoint, unknown architecture, not enough disk space);
 *   `CANCELED` when `signal` aborts. Nothing is left in the cache after a failure.
 */
export async function convertModel(source: string, cacheRoot: string, options: ConvertOptions = {}): Promise<string> {
  const resolved = path.resolve(source);
  let isDir: boolean;
  try {
    isDir = (await stat(resolved)).isDirectory();
  } catch (error) {
    throw new PinholeError('NOT_FOUND', `Model not found: ${resolved}`, { cause: error });
  }
  const onnxFolder = isDir && existsSync(path.join(resolved, 'unet', 'model.onnx'));
  if (onnxFolder && !options.vae) return resolved;
  if (isDir && !isDiffusersFolder(resolved)) {
    throw new PinholeError(
      'IMPORT_REJECTED',
      onnxFolder
        ? `${resolved} is an ONNX model folder without diffusers weights: a separate VAE cannot be swapped into it`
        : `${resolved} is neither a diffusers folder nor an ONNX model folder`,
    );
  }
  await mkdir(cacheRoot, { recursive: true });
  const precision = options.precision ?? 'float32';
  const key = createHash('sha256')
    .update(
      JSON.stringify({
        version: CHECKPOINT_BUILD_VERSION,
        source: await sourceIdentity(resolved, isDir, cacheRoot, options.signal),
        vae: options.vae ? await cachedSha256(path.resolve(options.vae), cacheRoot, options.signal) : null,
        precision,
        prediction: options.prediction ?? null,
      }),
    )
    .digest('hex')
    .slice(0, 32);
  const target = path.join(cacheRoot, key);
  if (existsSync(path.join(target, 'model_index.json'))) return target;

  let components: ModelComponents;
  let schedulerConfig: Record<string, unknown> | undefined;
  if (isDir) {
    ({ components, schedulerConfig } = await diffusersComponents(resolved));
  } else {
    const dict = await openStateDict(resolved);
    components = singleFileComponents(dict, options.prediction ? { prediction: options.prediction } : {});
  }
  if (options.vae)
    components = {
      ...components,
      vae: vaeComponent(await openStateDict(path.resolve(options.vae)), components.family),
    };

  await checkFreeSpace(cacheRoot, estimateFolderBytes(components, precision), resolved);
  const tmp = path.join(cacheRoot, `.tmp-${key}-${process.pid}-${Date.now()}`);
  try {
    await mkdir(tmp, { recursive: true });
    await writeModelFolder(components, tmp, {
      resources: options.resources ?? defaultResourcesDir(),
      precision,
      schedulerConfig,
      onProgress: options.onProgress,
      signal: options.signal,
    });
    await writeFile(
      path.join(tmp, 'pinhole-source.json'),
      JSON.stringify(
        { source: resolved, family: components.family, prediction: components.prediction, precision },
        null,
        2,
      ),
    );
    try {
      await rename(tmp, target);
    } catch (error) {
      // Another process finished the same conversion first: use its copy.
      if (!existsSync(path.join(target, 'model_index.json'))) throw error;
      await rm(tmp, { recursive: true, force: true });
    }
  } catch (error) {
    await rm(tmp, { recursive: true, force: true });
    throw error;
  }
  return target;
}
