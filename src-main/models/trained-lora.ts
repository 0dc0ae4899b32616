/**
 * A LoRA the studio trained, kept in the library as kind `lora`, source `trained`, so the Generate
 * page's picker and `<lora:NAME>` find it. One library model per run output: `origin` is the run's
 * output file, and saving the same output again (a resumed run, "use this one" on a checkpoint)
 * replaces that model's file and keeps its name, rather than adding a model per save.
 *
 * The library owns its copy (renaming or removing the model never touches a file the user asked
 * for with `--out`); a file that is already the studio's own (a Train-page run's output in the data
 * home) is moved instead, so nothing is stored twice.
 */
import { renameSync, rmSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { PinholeError } from '../../src-shared/errors';
import { newId } from '../platform/ids';
import { copyHashed } from './copy-hashed';
import { storedPathFor, uniqueName, type ImportModelDeps } from './import-model-file';
import { KIND_FOLDERS } from './model-file-info';
import type { ModelRecord } from './model-store';

export type TrainedLoraInput = {
  /** The `.safetensors` the run (or its chosen checkpoint) wrote. */
  file: string;
  /** The run's output file: which library model this is (absolute path). */
  origin: string;
  /** The name a new library model gets (made unique and file-safe); an existing one keeps its own. */
  name: string;
  /** Move `file` into the library instead of copying it (it must be on the data home's volume). */
  move: boolean;
};

/** A library name from free text (a dataset name, a file name): what a file name cannot hold replaced. */
export function trainedLoraName(text: string): string {
  const clean = text
    // eslint-disable-next-line no-control-regex
    .replace(/[\u0000-\u001f<>:"/\\|?*]/g, '_')
    .trim()
    .replace(/^[.\s]+|[.\s]+$/g, '');
  return (clean || 'lora').slice(0, 110);
}

/**
 * Keeps `input.file` in the library and returns the model. The same bytes as a model already there
 * (of any source) return that model and store nothing. `file` is gone afterwards when `move`.
 */
export async function saveTrainedLora(deps: ImportModelDeps, input: TrainedLoraInput): Promise<ModelRecord> {
  const { store, home } = deps;
  const now = deps.now ?? Date.now;
  await mkdir(home.tmp, { recursive: true });
  await mkdir(path.join(home.models, KIND_FOLDERS.lora), { recursive: true });
  // Hashed while copied; a moved file is copied too, to the same volume, then the original goes: one read
  // either way, and the rename into place below stays inside the transaction.
  const tmp = path.join(home.tmp, `${newId('trained')}.safetensors`);
  const info = await deps.inspect(input.file).catch(() => null);
  if (info !== null && info.kind !== 'lora') {
    throw new PinholeError('INTERNAL', `${input.file} is not a LoRA (${info.kind}); the trained file is damaged.`);
  }
  const copy = await copyHashed(input.file, tmp);
  try {
    const record = store.transaction((): ModelRecord => {
      const same = store.bySha256(copy.sha256);
      if (same) return same;
      const existing = store.trainedFrom(input.origin);
      const facts = { bytes: copy.bytes, sha256: copy.sha256, shortHash: copy.sha256.slice(0, 10), addedAt: now() };
      if (existing) {
        store.replaceFile(existing.id, facts);
        // Inside the transaction: if the rename fails, the row keeps the old file's facts.
        renameSync(tmp, path.join(home.root, existing.storedPath));
        return { ...existing, ...facts };
      }
      const name = uniqueName(store, 'lora', trainedLoraName(input.name));
      const record: ModelRecord = {
        id: newId('model'),
        name,
        kind: 'lora',
        family: info?.family ?? null,
        variant: null,
        nativeResolution: info?.nativeResolution ?? null,
        ...facts,
        source: 'trained',
        origin: input.origin,
        storedPath: storedPathFor('lora', name, '.safetensors'),
        lastUsedAt: null,
        isDefault: false,
        prediction: null,
      };
      store.insert(record);
      renameSync(tmp, path.join(home.root, record.storedPath));
      return record;
    });
    if (input.move) rmSync(input.file, { force: true });
    return record;
  } finally {
    rmSync(tmp, { force: true });
  }
}
