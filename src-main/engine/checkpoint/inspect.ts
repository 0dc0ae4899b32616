/**
 * What a model file or folder is, for the models library: read from headers only where the format
 * allows (safetensors), from the pickle's structure otherwise (never the tensor bytes, except the one
 * small tensor SD 2.x's v-prediction heuristic reads).
 */
import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import path from 'node:path';
import { PinholeError } from '../../../src-shared/errors';
import { singleFileComponents } from './components';
import { isDiffusersFolder, diffusersComponents } from './diffusers-folder';
import { dominantPrecision, stateDictKind, type PredictionType } from './family';
import { embeddingFamily, loraFamily, vaeFamily, type NetworkFamily } from './network-family';
import { openStateDict } from './state-dict';
import { cachedSha256, sha256File } from './convert';

export type ModelFileInfo = {
  kind: 'checkpoint' | 'lora' | 'vae' | 'embedding' | 'diffusers-folder' | 'onnx-folder';
  /**
   * The family the weights are for (see network-family.ts for LoRAs, VAEs and embeddings); `sd1/sd2/sdxl` for a
   * VAE, whose architecture all three share; absent when the shapes and metadata cannot tell.
   */
  family?: NetworkFamily;
  /** 'inpaint' (9-channel UNet), 'v-prediction'. */
  variants?: ('inpaint' | 'v-prediction')[];
  prediction?: PredictionType;
  /** Native image size in pixels. */
  nativeResolution?: number;
  /** Most common float dtype of the weights. */
  precision?: 'float32' | 'float16' | 'bfloat16';
  /** 'safetensors' or 'pickle' for files. */
  format?: 'safetensors' | 'pickle';
  /** File size in bytes (0 for folders). */
  bytes: number;
  tensorCount?: number;
};

/**
 * Inspects a model file or folder.
 * @throws PinholeError `NOT_FOUND` for a missing path; `IMPORT_REJECTED` naming the file for anything that is not
 *   a model (corrupt, truncated, a refused pickle, an unknown architecture).
 */
export async function inspectModelFile(file: string): Promise<ModelFileInfo> {
  const resolved = path.resolve(file);
  let info;
  try {
    info = await stat(resolved);
  } catch (error) {
    throw new PinholeError('NOT_FOUND', `Model not found: ${resolved}`, { cause: error });
  }
  if (info.isDirectory()) {
    if (existsSync(path.join(resolved, 'unet', 'model.onnx'))) return { kind: 'onnx-folder', bytes: 0 };
    if (!isDiffusersFolder(resolved)) {
      throw new PinholeError('IMPORT_REJECTED', `${resolved} is neither a diffusers folder nor an ONNX model folder`);
    }
    const { components } = await diffusersComponents(resolved);
    return {
      kind: 'diffusers-folder',
      family: components.family,
      ...variantsOf(components.inpainting, components.prediction),
      nativeResolution: components.nativeResolution,
      precision: dominantPrecision(components.unet.weights.values()),
      bytes: 0,
    };
  }
  const dict = await openStateDict(resolved);
  const names = [...dict.tensors.keys()];
  const kind = stateDictKind(names);
  const base = {
    bytes: info.size,
    format: dict.format,
    tensorCount: names.length,
    precision: dominantPrecision(dict.tensors.values()),
  };
  switch (kind) {
    case 'checkpoint': {
      const c = singleFileComponents(dict);
      return {
        kind,
        family: c.family,
        ...variantsOf(c.inpainting, c.prediction),
        nativeResolution: c.nativeResolution,
        ...base,
      };
    }
    case 'lora':
      return { kind, ...familyField(loraFamily(dict.tensors, dict.metadata)), ...base };
    case 'vae':
      return { kind, ...familyField(vaeFamily(dict.tensors)), ...base };
    case 'embedding':
      return { kind, ...familyField(embeddingFamily(dict.tensors)), ...base };
    case 'unknown':
      throw new PinholeError(
        'IMPORT_REJECTED',
        `${resolved} is not a model file this studio knows (no known weight names)`,
      );
  }
}

/** `{ family }`, or nothing when it is unknown (the field stays absent, as `exactOptionalPropertyTypes` asks). */
function familyField(family: NetworkFamily | undefined): Pick<ModelFileInfo, 'family'> {
  return family === undefined ? {} : { family };
}

function variantsOf(inpainting: boolean, prediction: PredictionType): Pick<ModelFileInfo, 'variants' | 'prediction'> {
  const variants: ('inpaint' | 'v-prediction')[] = [];
  if (inpainting) variants.push('inpaint');
  if (prediction === 'v_prediction') variants.push('v-prediction');
  return { variants, prediction };
}

/**
 * A1111's short model hash: the first 10 hex digits of the file's SHA-256 (as the PNG `parameters` chunk writes it).
 * With `cacheRoot`, the hash is computed once per file version and remembered there (as `convertModel` does).
 */
export async function a1111ShortHash(file: string, cacheRoot?: string): Promise<string> {
  return (cacheRoot ? await cachedSha256(file, cacheRoot) : await sha256File(file)).slice(0, 10);
}
