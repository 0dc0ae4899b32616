import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { PinholeError } from '../../../src-shared/errors';
import { readConvertedSource } from '../checkpoint';
import { detectTraits, type ModelTraits } from './family';

/**
 * A Stable Diffusion model in the folder layout Hugging Face optimum writes for ONNX:
 * ```
 * model_index.json              scheduler/scheduler_config.json
 * text_encoder/model.onnx       tokenizer/{vocab.json,merges.txt,…}
 * text_encoder_2/model.onnx     tokenizer_2/…              (SDXL)
 * unet/model.onnx (+config.json)
 * vae_decoder/model.onnx (+config.json)   vae_encoder/model.onnx   (img2img, inpainting)
 * vae/{config.json,diffusion_pytorch_model[.fp16].safetensors}      (optional: diffusers weights)
 * ```
 * Loading reads and checks the configs and that the files exist; sessions are created later, on first use.
 */

/** The VAE settings the pipelines need. */
export interface VaeSettings {
  /** Latents are `scaling_factor × (VAE latents − shift_factor)`. */
  readonly scalingFactor: number;
  readonly shiftFactor: number;
  /** Image pixels per latent pixel: 2^(VAE levels − 1), 8 for every released model. */
  readonly scaleFactor: number;
  readonly latentChannels: number;
  /** The config the settings came from, or undefined when defaults were used. */
  readonly configFile: string | undefined;
}

/** diffusers' `AutoencoderKL` config and weights (`vae/`), which export folders often carry beside the ONNX. */
export interface VaeWeightFiles {
  /** `vae/config.json`. */
  readonly config: string;
  /** `vae/diffusion_pytorch_model.safetensors`, else its `.fp16.safetensors` variant. */
  readonly weights: string;
}

export interface ModelFiles {
  readonly textEncoder: string;
  readonly textEncoder2: string | undefined;
  readonly unet: string;
  readonly vaeDecoder: string;
  /** Absent in txt2img-only exports; img2img and inpainting need it. */
  readonly vaeEncoder: string | undefined;
  /**
   * The VAE's diffusers weights, when present: img2img and inpainting build the encoder from them when
   * `vaeEncoder` is absent or a legacy export that gives only one latent (see `vae-encoder-source.ts`).
   */
  readonly vaeWeights: VaeWeightFiles | undefined;
  readonly tokenizer: string;
  readonly tokenizer2: string | undefined;
}

/** A model folder, validated. */
export interface ModelFolder {
  readonly dir: string;
  /** The folder's name (the `Model:` of the infotext unless the caller names it). */
  readonly name: string;
  readonly modelIndex: Readonly<Record<string, unknown>>;
  readonly schedulerConfig: Readonly<Record<string, unknown>>;
  readonly unetConfig: Readonly<Record<string, unknown>>;
  readonly textEncoderConfig: Readonly<Record<string, unknown>>;
  readonly vae: VaeSettings;
  readonly traits: ModelTraits;
  readonly files: ModelFiles;
  /** The UNet's native resolution in pixels (`sample_size × scale factor`), the default image size. */
  readonly defaultSize: number;
  /**
   * For a folder our converter wrote: the checkpoint (or folder) it came from — its name without extension and
   * the file's SHA-256 — which the infotext records as `Model` and `Model hash`, as A1111 does for the file.
   */
  readonly source: { readonly name: string; readonly sha256: string | undefined } | undefined;
}

/** The `source` of a converted folder (see `ModelFolder.source`); undefined for other folders. */
function convertedFrom(root: string): ModelFolder['source'] {
  const converted = readConvertedSource(root);
  if (!converted) return undefined;
  return {
    name: path.basename(converted.source).replace(/\.(safetensors|ckpt|pt|pth|bin)$/i, ''),
    sha256: converted.sha256,
  };
}

async function exists(file: string): Promise<boolean> {
  try {
    await stat(file);
    return true;
  } catch {
    return false;
  }
}

/** Reads a JSON object; undefined when the file is absent and `optional`. */
async function readJson(file: string, optional: boolean): Promise<Record<string, unknown> | undefined> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    if (optional) return undefined;
    throw new PinholeError('IMPORT_REJECTED', `Model file missing: ${file}`, { cause: error });
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new PinholeError('IMPORT_REJECTED', `${file} is not valid JSON: ${reason}`, { cause: error });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new PinholeError('IMPORT_REJECTED', `${file} must hold a JSON object`);
  }
  return parsed as Record<string, unknown>;
}

async function requireFile(file: string, what: string): Promise<string> {
  if (!(await exists(file))) throw new PinholeError('IMPORT_REJECTED', `Model file missing: ${file} (${what})`);
  return file;
}

function positiveNumber(config: Record<string, unknown>, key: string, file: string, fallback: number): number {
  const value = config[key];
  if (value === undefined || value === null) return fallback;
  if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
    throw new PinholeError(
      'IMPORT_REJECTED',
      `${file}: "${key}" must be a positive number, got ${JSON.stringify(value)}`,
    );
  }
  return value;
}

async function readVae(dir: string, family: ModelTraits['family']): Promise<VaeSettings> {
  const defaultScaling = family === 'sdxl' ? 0.13025 : 0.18215;
  for (const sub of ['vae_decoder', 'vae']) {
    const file = path.join(dir, sub, 'config.json');
    const config = await readJson(file, true);
    if (!config) continue;
    const blocks = config['block_out_channels'];
    if (blocks !== undefined && (!Array.isArray(blocks) || blocks.length === 0)) {
      throw new PinholeError('IMPORT_REJECTED', `${file}: "block_out_channels" must be a non-empty list`);
    }
    const shift = config['shift_factor'];
    return {
      scalingFactor: positiveNumber(config, 'scaling_factor', file, defaultScaling),
      shiftFactor: typeof shift === 'number' ? shift : 0,
      scaleFactor: Array.isArray(blocks) ? 2 ** (blocks.length - 1) : 8,
      latentChannels: positiveNumber(config, 'latent_channels', file, 4),
      configFile: file,
    };
  }
  return { scalingFactor: defaultScaling, shiftFactor: 0, scaleFactor: 8, latentChannels: 4, configFile: undefined };
}

/** Names diffusers gives the VAE's safetensors, in order of preference (full precision first). */
const VAE_WEIGHT_NAMES = ['diffusion_pytorch_model.safetensors', 'diffusion_pytorch_model.fp16.safetensors'];

/** `vae/config.json` and the first weights file present, or undefined when either is missing. */
async function findVaeWeights(root: string): Promise<VaeWeightFiles | undefined> {
  const config = path.join(root, 'vae', 'config.json');
  if (!(await exists(config))) return undefined;
  for (const name of VAE_WEIGHT_NAMES) {
    const weights = path.join(root, 'vae', name);
    if (await exists(weights)) return { config, weights };
  }
  return undefined;
}

/**
 * Reads and validates a model folder.
 * @throws PinholeError `NOT_FOUND` when `dir` is not a folder; `IMPORT_REJECTED` naming the file for a missing
 *   component or a malformed config.
 */
export async function loadModelFolder(dir: string): Promise<ModelFolder> {
  const root = path.resolve(dir);
  let isDir = false;
  try {
    isDir = (await stat(root)).isDirectory();
  } catch {
    // Reported below.
  }
  if (!isDir) throw new PinholeError('NOT_FOUND', `Model folder not found: ${root}`);

  const indexFile = path.join(root, 'model_index.json');
  const modelIndex = (await readJson(indexFile, false))!;
  const schedulerFile = path.join(root, 'scheduler', 'scheduler_config.json');
  const schedulerConfig = (await readJson(schedulerFile, false))!;
  const unetConfig = (await readJson(path.join(root, 'unet', 'config.json'), true)) ?? {};
  const textEncoderConfig = (await readJson(path.join(root, 'text_encoder', 'config.json'), true)) ?? {};

  const textEncoder2 = path.join(root, 'text_encoder_2', 'model.onnx');
  const hasSecondEncoder = await exists(textEncoder2);
  const traits = detectTraits({ modelIndex, schedulerConfig, unetConfig, textEncoderConfig, hasSecondEncoder });
  const sdxl = traits.family === 'sdxl';

  const tokenizer = path.join(root, 'tokenizer');
  for (const name of ['vocab.json', 'merges.txt']) await requireFile(path.join(tokenizer, name), 'the CLIP tokenizer');
  const tokenizer2 = sdxl ? path.join(root, 'tokenizer_2') : undefined;
  if (tokenizer2) {
    for (const name of ['vocab.json', 'merges.txt'])
      await requireFile(path.join(tokenizer2, name), "SDXL's second tokenizer");
  }
  const vaeEncoder = path.join(root, 'vae_encoder', 'model.onnx');
  const files: ModelFiles = {
    textEncoder: await requireFile(path.join(root, 'text_encoder', 'model.onnx'), 'the text encoder'),
    textEncoder2: sdxl ? await requireFile(textEncoder2, "SDXL's second text encoder") : undefined,
    unet: await requireFile(path.join(root, 'unet', 'model.onnx'), 'the UNet'),
    vaeDecoder: await requireFile(path.join(root, 'vae_decoder', 'model.onnx'), 'the VAE decoder'),
    vaeEncoder: (await exists(vaeEncoder)) ? vaeEncoder : undefined,
    vaeWeights: await findVaeWeights(root),
    tokenizer,
    tokenizer2,
  };
  const vae = await readVae(root, traits.family);
  const sampleSize = typeof unetConfig['sample_size'] === 'number' ? unetConfig['sample_size'] : undefined;
  const defaultSize = sampleSize ? sampleSize * vae.scaleFactor : sdxl ? 1024 : traits.family === 'sd2' ? 768 : 512;
  return {
    dir: root,
    name: path.basename(root),
    modelIndex,
    schedulerConfig,
    unetConfig,
    textEncoderConfig,
    vae,
    traits,
    files,
    defaultSize,
    source: convertedFrom(root),
  };
}
