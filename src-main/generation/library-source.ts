/**
 * What a generate request's `model` names, turned into what the engine runs: a library name
 * (or a library file's path) becomes its stored file, with the SHA-256 the infotext records as
 * A1111's `Model hash` and the library name as `Model`; a single-file checkpoint is then
 * converted into a cached model folder by `convert`; a model folder is used as it is.
 */
import { existsSync } from 'node:fs';
import { PinholeError } from '../../src-shared/errors';
import type { ModelLibrary } from '../models';

/** The engine's view of a request's model. */
export type ResolvedModelSource = {
  /** The model folder the engine loads. */
  folder: string;
  /** Hex SHA-256 of the checkpoint file (its first 10 digits become `Model hash:`); absent for folders. */
  modelHash?: string | undefined;
  /** `Model:` in the infotext (the library name). */
  modelName?: string | undefined;
};

/** How far a conversion is: its stage ("unet", …) and the fraction done (0 … 1). */
export type ConversionProgress = (stage: string, fraction: number) => void;

export type ResolveOptions = { signal?: AbortSignal | undefined; onProgress?: ConversionProgress | undefined };

/** A single-file checkpoint (or a folder, returned as it is) → the model folder the engine runs. */
export type ModelConverter = (fileOrFolder: string, options: ResolveOptions) => Promise<string>;

export type ModelSourceResolver = (model: string, options: ResolveOptions) => Promise<ResolvedModelSource>;

export function createModelSourceResolver(models: ModelLibrary, convert: ModelConverter): ModelSourceResolver {
  return async (model, options) => {
    const entry = models.resolve(model, 'checkpoint');
    if (!entry) {
      if (!existsSync(model)) {
        throw new PinholeError('NOT_FOUND', `No model "${model}": it is neither a library name nor a file or folder.`);
      }
      return { folder: await convert(model, options) };
    }
    models.markUsed(entry.record.id);
    return {
      folder: await convert(entry.file, options),
      modelHash: entry.record.sha256,
      modelName: entry.record.name,
    };
  };
}
