/**
 * What the library needs to know about a model file before it keeps it, and where each kind is
 * stored. The inspection itself is the engine's (it reads headers, never runs anything in a
 * file); the studio passes it in, so this layer and its tests do not depend on how it works.
 */
import path from 'node:path';
import type { ModelKind } from '../../src-shared/api';

/** What inspecting a model file (or folder) found. */
export type ModelFileInfo = {
  kind: ModelKind | 'diffusers-folder' | 'onnx-folder';
  /** e.g. "sd1", "sd2", "sdxl". */
  family?: string | undefined;
  /** e.g. "inpaint", "v-prediction". */
  variant?: string | undefined;
  /** The side in pixels the model was trained at. */
  nativeResolution?: number | undefined;
};

/**
 * Inspects a file without executing anything in it; throws (a PinholeError whose message names
 * the reason) for files that are not models, truncated or corrupt files, unknown architectures
 * and hostile pickles.
 */
export type ModelInspector = (file: string) => Promise<ModelFileInfo>;

/** The folder (under the data home's models/) each kind of library file is stored in. */
export const KIND_FOLDERS: Readonly<Record<ModelKind, string>> = {
  checkpoint: 'checkpoints',
  lora: 'loras',
  vae: 'vae',
  embedding: 'embeddings',
};

/** Extensions of the model files the library keeps (the stored file keeps its original's). */
export const MODEL_EXTENSIONS: readonly string[] = ['.safetensors', '.ckpt', '.pt', '.pth', '.bin'];

/** The file's model extension (lowercased), or null when it has none of MODEL_EXTENSIONS. */
export function modelExtension(file: string): string | null {
  const ext = path.extname(file).toLowerCase();
  return MODEL_EXTENSIONS.includes(ext) ? ext : null;
}

/**
 * A library name from a file name: the base name without its model extension, with characters
 * that cannot be in a file name replaced.
 */
export function nameFromFile(file: string): string {
  const base = path.basename(file.replace(/\\/g, '/'));
  const ext = path.extname(base).toLowerCase();
  const stem = MODEL_EXTENSIONS.includes(ext) ? base.slice(0, base.length - ext.length) : base;
  // eslint-disable-next-line no-control-regex
  const clean = stem.replace(/[\u0000-\u001f<>:"/\\|?*]/g, '_').replace(/^[.\s]+|[.\s]+$/g, '');
  return (clean || 'model').slice(0, 120);
}
