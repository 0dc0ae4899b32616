/**
 * A training run's LoRA in the models library: the finished file (and a checkpoint chosen with "use
 * this one") is kept as a `trained` LoRA, so the Generate page's picker and `<lora:NAME>` find it.
 *
 * A Train-page run's output is the studio's own file (`<data home>/loras/`): it moves into the library
 * (the library's file is then the run's result, stored once). A CLI run's `--out` file stays where the
 * user asked and the library keeps a copy: removing or renaming the model in the studio never touches
 * the user's file, and `pinhole train` followed by the studio finds the LoRA in both places.
 */
import path from 'node:path';
import type { ModelEntry } from '../../src-shared/api';
import type { TrainedLoraInput } from '../models';

/** Keeps a trained LoRA in the library (ModelLibrary.saveTrained); returns its library entry. */
export type TrainedLoraKeeper = (input: TrainedLoraInput) => Promise<ModelEntry>;

/** The library model a run's LoRA became (null when it could not be kept: `libraryError` says why). */
export type TrainedLora = { id: string; name: string; file: string };

type RunRequest = { out?: string | undefined; dataset?: string | undefined; images?: string | undefined };

/** The name a run's LoRA gets in the library: the `--out` file's name, else the dataset's (or folder's). */
export function trainedLoraNameFor(request: RunRequest): string {
  if (request.out !== undefined) return path.basename(request.out).replace(/\.safetensors$/i, '');
  return request.dataset ?? path.basename(request.images ?? '');
}

/**
 * Keeps `file` (the run's output, or a checkpoint of it) as the library model of the run's output
 * `out`. `own`: the file is the studio's (moved, not copied). Never throws: a finished run stays
 * finished when only the library step fails (disk full, say), with the reason instead.
 */
export async function keepTrainedLora(
  keep: TrainedLoraKeeper,
  request: RunRequest,
  file: string,
  out: string,
  own: boolean,
): Promise<{ lora: TrainedLora | null; libraryError?: string }> {
  try {
    const entry = await keep({ file, origin: path.resolve(out), name: trainedLoraNameFor(request), move: own });
    return { lora: { id: entry.id ?? '', name: entry.name, file: entry.path } };
  } catch (error) {
    return { lora: null, libraryError: `Not added to the models library: ${(error as Error).message}` };
  }
}
