/**
 * `convertModel`: any model a creator has → a folder the engine runs, cached on disk.
 *
 * - Sources: a single-file checkpoint (`.safetensors`, `.ckpt`, `.pt`), a diffusers folder, or an optimum ONNX
 *   folder (returned as it is unless a separate VAE is swapped in: then a folder that links its other parts, see
 *   `onnx-vae-overlay.ts`).
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
import { fileStamp, type ExecutionProviderName } from '../runtime';
import { singleFileComponents, vaeComponent, type ModelComponents } from './components';
import { diffusersComponents, diffusersFolderFiles, isDiffusersFolder } from './diffusers-folder';
import { readArchitectureConfigs } from './architecture-configs';
import { readConvertedSource, refreshConvertedSource } from './converted-source';
import { defaultResourcesDir } from './family-files';
import type { PredictionType } from './family';
import { overlayVaeComponent, writeOnnxVaeOverlay } from './onnx-vae-overlay';
import { openStateDict } from './state-dict';
import { estimateFolderBytes, estimateVaeFolderBytes, writeModelFolder, type ConvertProgress } from './write-folder';

/** Bump when the converted folders change: older cache entries are then not reused. */
export const CHECKPOINT_BUILD_VERSION = 1;

/** The share of a single file's conversion progress given to hashing it (reading is fast next to building). */
const HASH_SHARE = 0.1;

/** Weight dtype of converted UNet and text-encoder graphs (activations and the VAE stay float32). */
export type WeightPrecision = 'float32' | 'float16';

export type ConvertOptions = {
  onProgress?: (progress: ConvertProgress) => void;
  signal?: AbortSignal;
  /**
   * Weight dtype of the UNet and text-encoder graphs: float32 (default; the CPU provider) or float16 (GPU
   * providers); `precisionForProvider` says which.
   */
  precision?: WeightPrecision;
  /** A separate VAE (single-file or diffusers `AutoencoderKL` weights) that replaces the model's own. */
  vae?: string;
  /**
   * Overrides the prediction type a single-file checkpoint's weights suggest (or a diffusers folder's scheduler
   * config). An ONNX folder keeps its own: the engine's `GenerateRequest.predictionType` overrides it at run time.
   */
  prediction?: PredictionType;
  /** The resources folder (CLIP vocabulary, scheduler defaults). Default `defaultResourcesDir()`. */
  resources?: string;
};

/**
 * The weight precision to convert with for graphs that will run on `provider`. GPU providers get float16: half
 * the memory and bandwidth, and their kernels are at home in half precision. The CPU keeps float32: ONNX Runtime's
 * CPU kernels have no fast float16 path, so every weight would be cast back at each use (CONTRACTS: training
 * defaults say the same for base weights).
 */
export function precisionForProvider(provider: ExecutionProviderName): WeightPrecision {
  switch (provider) {
    case 'cpu':
      return 'float32';
    case 'cuda':
    case 'dml':
    case 'coreml':
    case 'webgpu':
      return 'float16';
  }
}

/** Bytes hashed so far of a file's total, as hashing goes. */
export type HashProgress = (done: number, total: number) => void;

/** SHA-256 of a file's bytes (hex), streamed. */
export async function sha256File(file: string, signal?: AbortSignal, onBytes?: HashProgress): Promise<string> {
  const hash = createHash('sha256');
  const total = onBytes ? (await stat(file)).size : 0;
  let done = 0;
  await new Promise<void>((resolve, reject) => {
    const stream = createReadStream(file, { highWaterMark: 4 << 20 });
    signal?.addEventListener('abort', () => stream.destroy(new PinholeError('CANCELED', 'Cancelled while hashing')), {
      once: true,
    });
    stream
      .on('data', (chunk) => {
        hash.update(chunk);
        done += chunk.length;
        onBytes?.(done, total);
      })
      .on('error', reject)
      .on('end', resolve);
  });
  return hash.digest('hex');
}

/** A file's SHA-256, computed once per file version and remembered under `cacheRoot`. */
export async function cachedSha256(
  file: string,
  cacheRoot: string,
  signal?: AbortSignal,
  onBytes?: HashProgress,
): Promise<string> {
  const stamp = await fileStamp(file);
  const memo = path.join(cacheRoot, 'hashes', createHash('sha256').update(JSON.stringify(stamp)).digest('hex'));
  try {
    const known = (await readFile(memo, 'utf8')).trim();
    if (/^[0-9a-f]{64}$/.test(known)) return known;
  } catch {
    // Not hashed yet.
  }
  const digest = await sha256File(file, signal, onBytes);
  await mkdir(path.dirname(memo), { recursive: true });
  await writeFile(memo, digest);
  return digest;
}

async function sourceIdentity(
  source: string,
  isDir: boolean,
  cacheRoot: string,
  signal?: AbortSignal,
  onBytes?: HashProgress,
): Promise<{ sha256: string } | { stamps: unknown[] }> {
  if (!isDir) return { sha256: await cachedSha256(source, cacheRoot, signal, onBytes) };
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
  const vaeFile = options.vae ? path.resolve(options.vae) : undefined;
  if (onnxFolder && !vaeFile) return resolved;
  // An ONNX folder's own diffusers weights are not needed: its graphs are kept and only the VAE is rebuilt.
  if (isDir && !onnxFolder && !isDiffusersFolder(resolved)) {
    throw new PinholeError('IMPORT_REJECTED', `${resolved} is neither a diffusers folder nor an ONNX model folder`);
  }
  await mkdir(cacheRoot, { recursive: true });
  const precision = options.precision ?? 'float32';
  const vaeSha256 = vaeFile ? await cachedSha256(vaeFile, cacheRoot, options.signal) : null;
  // A `<name>.config.json` beside a single file describes what its weights cannot (architecture-configs.ts).
  const architecture = isDir ? undefined : await readArchitectureConfigs(resolved);
  // A single file is hashed before anything else (its hash keys the cache): several seconds for a real checkpoint,
  // reported as the first HASH_SHARE of the conversion; the folder's writing then fills the rest.
  const hashing: HashProgress | undefined = options.onProgress
    ? (done, total) => options.onProgress!({ stage: 'hashing', fraction: HASH_SHARE * (total > 0 ? done / total : 1) })
    : undefined;
  const identity = onnxFolder ? undefined : await sourceIdentity(resolved, isDir, cacheRoot, options.signal, hashing);
  // A single file's hash, recorded in the folder: the infotext's `Model hash` whoever converted the file.
  const sha256 = identity && 'sha256' in identity ? identity.sha256 : undefined;
  const key = createHash('sha256')
    .update(
      JSON.stringify(
        onnxFolder
          ? // The overlay links the folder's graphs, so it follows them: the folder's place is its identity.
            { version: CHECKPOINT_BUILD_VERSION, onnxFolder: resolved, vae: vaeSha256 }
          : {
              version: CHECKPOINT_BUILD_VERSION,
              source: identity,
              vae: vaeSha256,
              precision,
              prediction: options.prediction ?? null,
              // Only with a sidecar, so the keys of conversions without one stay as they were.
              ...(architecture ? { config: architecture } : {}),
            },
      ),
    )
    .digest('hex')
    .slice(0, 32);
  const target = path.join(cacheRoot, key);
  if (existsSync(path.join(target, 'model_index.json'))) {
    if (sha256) await refreshConvertedSource(target, resolved, sha256); // the file in use, its hash
    return target;
  }

  let write: (dir: string) => Promise<Record<string, unknown>>;
  let needed: number;
  if (onnxFolder) {
    const vae = await overlayVaeComponent(resolved, vaeFile!);
    needed = estimateVaeFolderBytes(vae);
    write = async (dir) => {
      await writeOnnxVaeOverlay(resolved, vae, dir, options);
      // A converted folder's own source stays the model's (the infotext's `Model`, `Model hash`).
      const base = readConvertedSource(resolved);
      return { source: base?.source ?? resolved, sha256: base?.sha256, overlayOf: resolved, vae: vaeFile, vaeSha256 };
    };
  } else {
    let components: ModelComponents;
    let schedulerConfig: Record<string, unknown> | undefined;
    if (isDir) {
      ({ components, schedulerConfig } = await diffusersComponents(resolved));
      if (options.prediction) {
        components = { ...components, prediction: options.prediction };
        schedulerConfig = { ...schedulerConfig, prediction_type: options.prediction };
      }
    } else {
      const dict = await openStateDict(resolved);
      components = singleFileComponents(dict, {
        ...(options.prediction ? { prediction: options.prediction } : {}),
        ...(architecture ? { architecture } : {}),
      });
    }
    if (vaeFile) components = { ...components, vae: vaeComponent(await openStateDict(vaeFile), components.family) };
    needed = estimateFolderBytes(components, precision);
    write = async (dir) => {
      const report = options.onProgress;
      const start = isDir ? 0 : HASH_SHARE;
      await writeModelFolder(components, dir, {
        resources: options.resources ?? defaultResourcesDir(),
        precision,
        schedulerConfig,
        onProgress: report && ((p) => report({ stage: p.stage, fraction: start + (1 - start) * p.fraction })),
        signal: options.signal,
      });
      const { family, prediction } = components;
      return {
        source: resolved,
        sha256,
        family,
        prediction,
        precision,
        ...(vaeFile ? { vae: vaeFile, vaeSha256 } : {}),
      };
    };
  }

  await checkFreeSpace(cacheRoot, needed, resolved);
  const tmp = path.join(cacheRoot, `.tmp-${key}-${process.pid}-${Date.now()}`);
  try {
    await mkdir(tmp, { recursive: true });
    const record = await write(tmp);
    await writeFile(path.join(tmp, 'pinhole-source.json'), JSON.stringify(record, null, 2));
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
