/**
 * Imports one model file into the library: checks it is a model (the engine's inspection, which
 * executes nothing), copies it byte-identical into models/<kind>/ while hashing, and records it.
 * A duplicate (same SHA-256) or a rejected file leaves nothing behind: the copy goes to a
 * temporary file first and only a committed row renames it into place.
 */
import { renameSync, rmSync } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { ModelImportOutcome, ModelKind, PredictionType } from '../../src-shared/api';
import { PinholeError } from '../../src-shared/errors';
import type { DataHome } from '../platform/data-home';
import { newId } from '../platform/ids';
import { copyHashed, ensureFreeSpace } from './copy-hashed';
import {
  KIND_FOLDERS,
  MODEL_EXTENSIONS,
  modelExtension,
  nameFromFile,
  type ModelFileInfo,
  type ModelInspector,
} from './model-file-info';
import type { ModelRecord, ModelStore } from './model-store';

export type ImportModelDeps = { store: ModelStore; home: DataHome; inspect: ModelInspector; now?: () => number };

export type ImportModelInput = {
  /** The file on disk. */
  path: string;
  /** The file as the user named it (reported back in the outcome). */
  file: string;
  source: ModelRecord['source'];
  /** The original path or URL recorded with the model. */
  origin: string;
  /** The library name to give it; by default the file's name without extension (made unique). */
  name?: string | undefined;
  /** Stored with a checkpoint (other kinds ignore it): what it predicts, overriding what its weights suggest. */
  prediction?: PredictionType | undefined;
  /** The temporary file's path (the caller's, so a re-run can clean up after a crash). */
  tmp: string;
  signal?: AbortSignal | undefined;
  onProgress?: ((bytesDone: number, bytesTotal: number) => void) | undefined;
};

/** The stored file of a library model, relative to the data home (forward slashes). */
export function storedPathFor(kind: ModelKind, name: string, ext: string): string {
  return `models/${KIND_FOLDERS[kind]}/${name}${ext}`;
}

/** `base`, or `base-2`, `base-3`… : the first name not taken in `kind`. */
export function uniqueName(store: ModelStore, kind: ModelKind, base: string): string {
  if (!store.byName(kind, base)) return base;
  for (let i = 2; ; i++) {
    const candidate = `${base.slice(0, 114)}-${i}`;
    if (!store.byName(kind, candidate)) return candidate;
  }
}

const rejected = (file: string, reason: string): ModelImportOutcome => ({ file, status: 'rejected', reason });

type Checked = { ext: string; size: number; info: ModelFileInfo & { kind: ModelKind } };

/** Is `input.path` a model file the library can keep? The facts, or the rejection with its reason. */
async function checkModelFile(
  deps: ImportModelDeps,
  input: { path: string; file: string; name?: string | undefined; signal?: AbortSignal | undefined },
): Promise<Checked | ModelImportOutcome> {
  const { store, home, inspect } = deps;
  const { file } = input;
  let size: number;
  try {
    const stats = await stat(input.path);
    if (stats.isDirectory()) {
      return rejected(
        file,
        'a folder, not a model file: use a model folder with --model DIR, or put it in the models folder ' +
          `(${home.models}) where it is listed as it is`,
      );
    }
    if (!stats.isFile()) return rejected(file, 'not a regular file');
    size = stats.size;
  } catch (error) {
    return rejected(file, `cannot be read: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  // The name the user knows decides (a download arrives as a `.part` file).
  const ext = modelExtension(input.file);
  if (ext === null) return rejected(file, `not a model file: expected one of ${MODEL_EXTENSIONS.join(', ')}`);
  if (size === 0) return rejected(file, 'the file is empty');
  let info: ModelFileInfo;
  try {
    info = await inspect(input.path);
  } catch (error) {
    if (input.signal?.aborted) throw input.signal.reason;
    // The reason names the file as the user knows it (an upload's temporary path means nothing to them).
    return rejected(file, (error as Error).message.split(input.path).join(file));
  }
  if (info.kind === 'diffusers-folder' || info.kind === 'onnx-folder') {
    return rejected(file, 'a model folder: use it with --model DIR or put it in the models folder');
  }
  const kind = info.kind;
  if (input.name !== undefined && store.byName(kind, input.name)) {
    return rejected(file, `the name "${input.name}" is already used by another ${kind}`);
  }
  return { ext, size, info: { ...info, kind } };
}

/**
 * Records a checked file whose bytes are at `tmp` (on the data home's volume) and renames it into
 * models/<kind>/ in the same transaction; a duplicate leaves the library as it was. `tmp` is
 * always gone afterwards.
 */
async function recordModelFile(
  deps: ImportModelDeps,
  input: Pick<ImportModelInput, 'file' | 'source' | 'origin' | 'name' | 'prediction'>,
  checked: Checked,
  copy: { tmp: string; sha256: string; bytes: number },
): Promise<ModelImportOutcome> {
  const { store, home } = deps;
  const { file } = input;
  const { kind } = checked.info;
  const now = deps.now ?? Date.now;
  try {
    await mkdir(path.join(home.models, KIND_FOLDERS[kind]), { recursive: true });
    return store.transaction((): ModelImportOutcome => {
      const existing = store.bySha256(copy.sha256);
      if (existing) {
        return {
          file,
          status: 'duplicate',
          reason: `the same file as the ${existing.kind} "${existing.name}"`,
          name: existing.name,
          kind: existing.kind,
        };
      }
      if (input.name !== undefined && store.byName(kind, input.name)) {
        return rejected(file, `the name "${input.name}" is already used by another ${kind}`);
      }
      const name = input.name ?? uniqueName(store, kind, nameFromFile(input.file));
      const storedPath = storedPathFor(kind, name, checked.ext);
      store.insert({
        id: newId('model'),
        name,
        kind,
        family: checked.info.family ?? null,
        variant: checked.info.variant ?? null,
        nativeResolution: checked.info.nativeResolution ?? null,
        bytes: copy.bytes,
        sha256: copy.sha256,
        shortHash: copy.sha256.slice(0, 10),
        source: input.source,
        origin: input.origin,
        storedPath,
        addedAt: now(),
        lastUsedAt: null,
        isDefault: false,
        prediction: kind === 'checkpoint' ? (input.prediction ?? null) : null,
      });
      // Inside the transaction: if the rename fails, the row is rolled back with it.
      renameSync(copy.tmp, path.join(home.root, storedPath));
      return { file, status: 'imported', name, kind };
    });
  } finally {
    rmSync(copy.tmp, { force: true });
  }
}

/** Imports one file by copying it (the original stays where it is). */
export async function importModelFile(deps: ImportModelDeps, input: ImportModelInput): Promise<ModelImportOutcome> {
  const checked = await checkModelFile(deps, input);
  if ('status' in checked) return checked;
  await mkdir(path.dirname(input.tmp), { recursive: true });
  await ensureFreeSpace(path.dirname(input.tmp), checked.size);
  rmSync(input.tmp, { force: true });
  let copy: { sha256: string; bytes: number };
  try {
    copy = await copyHashed(input.path, input.tmp, {
      signal: input.signal,
      onProgress: input.onProgress && ((done) => input.onProgress!(done, checked.size)),
    });
  } catch (error) {
    // A file that cannot be read to the end is this file's problem, not the whole import's.
    if (error instanceof PinholeError && error.code === 'IMPORT_REJECTED') return rejected(input.file, error.message);
    throw error;
  }
  return recordModelFile(deps, input, checked, { tmp: input.tmp, ...copy });
}

/**
 * Takes a file whose SHA-256 is already known (a verified download on the data home's volume):
 * checked like an import, then moved into the library without a copy. The file is gone
 * afterwards whatever the outcome.
 */
export async function adoptModelFile(
  deps: ImportModelDeps,
  input: Pick<ImportModelInput, 'path' | 'file' | 'source' | 'origin' | 'name'> & { sha256: string; bytes: number },
): Promise<ModelImportOutcome> {
  const checked = await checkModelFile(deps, input);
  if ('status' in checked) {
    rmSync(input.path, { force: true });
    return checked;
  }
  return recordModelFile(deps, input, checked, { tmp: input.path, sha256: input.sha256, bytes: input.bytes });
}
