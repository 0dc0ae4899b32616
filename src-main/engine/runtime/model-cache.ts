import { createHash, randomUUID } from 'node:crypto';
import { mkdir, readdir, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PinholeError } from '../../../src-shared/errors';

/**
 * ONNX models the engine derives from other files (today: a VAE encoder built from diffusers weights when a
 * folder's ONNX encoder is a legacy one), cached on disk so the build happens once per source, not once per
 * process.
 *
 * Layout: `<cacheDir>/<kind>/<key>/model.onnx` (+ `model.onnx.data` and a `source.json` saying what it was
 * built from), where `key` is a SHA-256 prefix of the kind, the builder's version and the identity of every
 * source file (resolved real path, size, mtime — see `fileStamp`) plus any other inputs the caller names.
 * Changing a source, or the builder's version, gives a new key; stale entries are simply never read again
 * (delete the folder to reclaim the space — everything in it can be rebuilt).
 *
 * The cache folder: `RuntimeOptions.cacheDir` (the studio passes its data home's cache folder), else
 * `$PINHOLE_ENGINE_CACHE`, else `<os.tmpdir()>/pinhole-engine-cache`.
 *
 * Writes are atomic: a model is written into a private temporary folder beside its final place, then that
 * folder is renamed into place, so concurrent builders (two engine processes) never see half a model; the
 * loser of a race discards its copy.
 */

/** The default cache folder (see the module comment). */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env['PINHOLE_ENGINE_CACHE'];
  return fromEnv ? path.resolve(fromEnv) : path.join(tmpdir(), 'pinhole-engine-cache');
}

/** What identifies a source file's content cheaply: its real path, size and modification time. */
export interface FileStamp {
  readonly path: string;
  readonly size: number;
  readonly mtimeMs: number;
}

/** The stamp of a source file (symlinks resolved, so two links to one file share cache entries). */
export async function fileStamp(file: string): Promise<FileStamp> {
  const real = await realpath(file);
  const info = await stat(real);
  return { path: real, size: info.size, mtimeMs: info.mtimeMs };
}

/** One derived model: what identifies it and how to write it. */
export interface DerivedModel {
  /** The kind of model, a folder name (`vae-encoder`). */
  readonly kind: string;
  /** The builder's version: bump it when the builder's output changes, so old entries are not reused. */
  readonly version: number;
  /** Everything else the model depends on (source stamps, config digests), JSON-serializable. */
  readonly sources: unknown;
  /** Writes the model as `model.onnx` (plus side files, if any) into the given empty folder. */
  readonly write: (dir: string) => Promise<void>;
}

const MODEL_FILE = 'model.onnx';

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}

/** The on-disk cache of derived models under one folder. */
export class ModelFileCache {
  private readonly building = new Map<string, Promise<string>>();

  constructor(readonly dir: string) {}

  /** The cache key of a derived model (a hex SHA-256 prefix). */
  static keyOf(model: Pick<DerivedModel, 'kind' | 'version' | 'sources'>): string {
    const text = JSON.stringify({ kind: model.kind, version: model.version, sources: model.sources });
    return createHash('sha256').update(text).digest('hex').slice(0, 32);
  }

  /** Where the model's entry lives (whether or not it exists yet). */
  entryDir(model: Pick<DerivedModel, 'kind' | 'version' | 'sources'>): string {
    if (!/^[a-z0-9][a-z0-9._-]*$/i.test(model.kind)) {
      throw new PinholeError('INTERNAL', `derived model kind "${model.kind}" is not a plain folder name`);
    }
    return path.join(this.dir, model.kind, ModelFileCache.keyOf(model));
  }

  /**
   * The model's `model.onnx`, built first when the cache lacks it (concurrent calls in this process share one
   * build; a failed build is not remembered).
   */
  async file(model: DerivedModel): Promise<string> {
    const dir = this.entryDir(model);
    const file = path.join(dir, MODEL_FILE);
    if (await exists(file)) return file;
    let pending = this.building.get(dir);
    if (!pending) {
      pending = this.build(model, dir).finally(() => this.building.delete(dir));
      this.building.set(dir, pending);
    }
    return pending;
  }

  /** Removes the model's entry (e.g. when it no longer loads), so the next `file` builds it again. */
  async remove(model: Pick<DerivedModel, 'kind' | 'version' | 'sources'>): Promise<void> {
    await rm(this.entryDir(model), { recursive: true, force: true });
  }

  /** The entries of one kind present on disk (their keys). */
  async keys(kind: string): Promise<string[]> {
    try {
      return (await readdir(path.join(this.dir, kind))).filter((name) => /^[0-9a-f]{32}$/.test(name));
    } catch {
      return [];
    }
  }

  private async build(model: DerivedModel, dir: string): Promise<string> {
    const parent = path.dirname(dir);
    try {
      await mkdir(parent, { recursive: true });
    } catch (error) {
      throw new PinholeError('UNAVAILABLE', `Cannot create the engine's cache folder ${parent}`, { cause: error });
    }
    const temp = `${dir}.tmp-${process.pid}-${randomUUID()}`;
    try {
      await mkdir(temp);
      await model.write(temp);
      if (!(await exists(path.join(temp, MODEL_FILE)))) {
        throw new PinholeError('INTERNAL', `the ${model.kind} builder wrote no ${MODEL_FILE}`);
      }
      await writeFile(
        path.join(temp, 'source.json'),
        `${JSON.stringify({ kind: model.kind, version: model.version, sources: model.sources }, null, 2)}\n`,
      );
      // An entry without its model (a temp cleaner took files from it) is in the way: clear it.
      if (!(await exists(path.join(dir, MODEL_FILE)))) await rm(dir, { recursive: true, force: true });
      try {
        await rename(temp, dir);
      } catch (error) {
        // Another builder won the race (the target exists and is not empty): use its copy.
        if (!(await exists(path.join(dir, MODEL_FILE)))) throw error;
      }
    } finally {
      await rm(temp, { recursive: true, force: true });
    }
    return path.join(dir, MODEL_FILE);
  }
}
