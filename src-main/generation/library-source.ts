/**
 * What a generate request's `model` and `vae` name, turned into what the engine runs: a library name
 * (or a library file's path) becomes its stored file, with the SHA-256 the infotext records as
 * A1111's `Model hash` / `VAE hash` and the library name as `Model` (the stored file's name as `VAE`,
 * as A1111 writes it); a single-file checkpoint is then converted, with the separate VAE swapped in,
 * into a cached model folder by `convert`; a model folder is used as it is (or, with a separate VAE, a
 * folder that links its other parts). Both library models are marked used.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import type { PredictionType } from '../../src-shared/api';
import { PinholeError } from '../../src-shared/errors';
import type { WeightPrecision } from '../engine';
import type { ModelLibrary } from '../models';

/** The engine's view of a request's model. */
export type ResolvedModelSource = {
  /** The model folder the engine loads. */
  folder: string;
  /** Hex SHA-256 of the checkpoint file (its first 10 digits become `Model hash:`); absent for folders. */
  modelHash?: string | undefined;
  /** `Model:` in the infotext (the library name). */
  modelName?: string | undefined;
  /** Hex SHA-256 of the separate VAE's file (`VAE hash:`); absent with the model's own VAE. */
  vaeHash?: string | undefined;
  /** `VAE:` in the infotext: the VAE file's name, as A1111 writes it. */
  vaeName?: string | undefined;
};

/** How far a conversion is: its stage ("unet", …) and the fraction done (0 … 1). */
export type ConversionProgress = (stage: string, fraction: number) => void;

export type ResolveOptions = { signal?: AbortSignal | undefined; onProgress?: ConversionProgress | undefined };

/** What a conversion is asked for besides the model: a separate VAE file, the prediction, the weight dtype. */
export type ConvertChoices = ResolveOptions & {
  vae?: string | undefined;
  prediction?: PredictionType | undefined;
  precision?: WeightPrecision | undefined;
};

/** A single-file checkpoint (or a folder, returned as it is unless a VAE is swapped in) → the model folder the engine runs. */
export type ModelConverter = (fileOrFolder: string, options: ConvertChoices) => Promise<string>;

/** The parts of a generate request that choose the model. */
export type ModelChoice = { model: string; vae?: string | undefined; prediction?: PredictionType | undefined };

export type ModelSourceResolver = (choice: ModelChoice, options: ResolveOptions) => Promise<ResolvedModelSource>;

export type ModelSourceResolverOptions = {
  /** The weight precision conversions use (the engine's provider decides); float32 when absent. */
  precision?: () => Promise<WeightPrecision>;
  /** A VAE file's hex SHA-256 (the studio's is remembered per file version: the conversion computed it). */
  hashFile?: (file: string, signal: AbortSignal | undefined) => Promise<string>;
};

/** A separate VAE, found in the library (by name or stored path) or as a file. */
type VaeSource = { file: string; name: string; sha256: string | undefined; id: string | undefined };

function findVae(models: ModelLibrary, ref: string): VaeSource {
  const entry = models.resolve(ref, 'vae');
  if (entry) {
    const { record, file } = entry;
    return { file, name: path.basename(file), sha256: record.sha256, id: record.id };
  }
  if (!existsSync(ref)) {
    throw new PinholeError('NOT_FOUND', `No VAE "${ref}": it is neither a library VAE nor a file.`);
  }
  return { file: path.resolve(ref), name: path.basename(ref), sha256: undefined, id: undefined };
}

export function createModelSourceResolver(
  models: ModelLibrary,
  convert: ModelConverter,
  resolverOptions: ModelSourceResolverOptions = {},
): ModelSourceResolver {
  return async (choice, options) => {
    const entry = models.resolve(choice.model, 'checkpoint');
    if (!entry && !existsSync(choice.model)) {
      throw new PinholeError(
        'NOT_FOUND',
        `No model "${choice.model}": it is neither a library name nor a file or folder.`,
      );
    }
    const vae = choice.vae === undefined ? undefined : findVae(models, choice.vae);
    if (entry) models.markUsed(entry.record.id);
    if (vae?.id !== undefined) models.markUsed(vae.id);
    const source = entry?.file ?? path.resolve(choice.model);
    const folder = await convert(source, {
      ...options,
      vae: vae?.file,
      prediction: choice.prediction,
      precision: await resolverOptions.precision?.(),
    });
    return {
      folder,
      // A file or folder outside the library: the engine names it from what the converted folder records.
      modelHash: entry?.record.sha256,
      modelName: entry?.record.name,
      vaeHash: vae ? (vae.sha256 ?? (await resolverOptions.hashFile?.(vae.file, options.signal))) : undefined,
      vaeName: vae?.name,
    };
  };
}
