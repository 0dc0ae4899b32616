/**
 * What `--model` may name, resolved to a model folder the engine runs: an ONNX model folder as it is,
 * a single-file checkpoint (`.safetensors`, `.ckpt`, `.pt`) or a diffusers folder converted once into the
 * data home's cache (`cache/engine/checkpoints/`, safe to delete). The models library extends this with names.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { convertModel, type ConvertOptions } from '../engine';

/** Where converted models live in a data home. */
export function convertedModelsDir(dataHome: string): string {
  return path.join(dataHome, 'cache', 'engine', 'checkpoints');
}

/**
 * The model folder for a `--model` argument.
 * @throws PinholeError `NOT_FOUND` for a missing path; `IMPORT_REJECTED` naming the file and the reason for anything
 *   that cannot be converted.
 */
export async function resolveModelSource(arg: string, dataHome: string, options: ConvertOptions = {}): Promise<string> {
  const resolved = path.resolve(arg);
  if (existsSync(path.join(resolved, 'unet', 'model.onnx')) && !options.vae) return resolved;
  return convertModel(resolved, convertedModelsDir(dataHome), options);
}
