import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { PinholeError } from '../../../src-shared/errors';
import { saveModel, type Model } from '../graph';
import {
  loraComponentOf,
  matchLoraModules,
  mergeCheckHooks,
  mergedWeightSource,
  mergeLoras,
  readKohyaLora,
  unmatchedError,
  type LoraComponent,
  type WeightedLora,
} from '../lora';
import { buildClipTextModel, buildUNet, safetensorsWeights } from '../models';
import { fileStamp, type DerivedModel, type FileStamp } from '../runtime';
import { SafetensorsFile } from '../weights';
import type { ModelFolder } from './model-folder';

/**
 * Generation with LoRAs: the UNet and text encoders a request's LoRAs touch are built from the folder's
 * diffusers weights (`unet/config.json` + `unet/diffusion_pytorch_model.safetensors`,
 * `text_encoder/config.json` + `text_encoder/model.safetensors`, …) with the LoRA deltas merged into the base
 * weights at build time (`W' = W + multiplier · alpha / rank · up · down`, see `lora/merge.ts`), so a step costs
 * what it costs without LoRAs. Built models go into the runtime's on-disk cache like the VAE encoder
 * (`<cacheDir>/lora-unet/<key>/model.onnx`, …), keyed by the base weights' and config's identity, each LoRA
 * file's identity and weight, and `LORA_MODEL_BUILD_VERSION`; the pipeline runs them instead of the folder's
 * ONNX models. Every LoRA module must match a Linear/Conv of the model (else an error names it), whatever its
 * weight; LoRAs at weight 0 are checked but change nothing, so they build nothing.
 */

/** Bump when the merged builds change: cached models built by older code are then not reused. */
export const LORA_MODEL_BUILD_VERSION = 1;

/** One LoRA of a request: a kohya `.safetensors` file and its multiplier (A1111's weight). */
export interface LoraRequest {
  readonly path: string;
  readonly weight: number;
}

/** A component's diffusers config and weights. */
export interface ComponentWeightFiles {
  readonly config: string;
  readonly weights: string;
}

const WEIGHT_FILES: Readonly<Record<LoraComponent, { dir: string; names: readonly string[] }>> = {
  unet: {
    dir: 'unet',
    names: ['diffusion_pytorch_model.safetensors', 'diffusion_pytorch_model.fp16.safetensors'],
  },
  text_encoder: { dir: 'text_encoder', names: ['model.safetensors', 'model.fp16.safetensors'] },
  text_encoder_2: { dir: 'text_encoder_2', names: ['model.safetensors', 'model.fp16.safetensors'] },
};

const KINDS: Readonly<Record<LoraComponent, string>> = {
  unet: 'lora-unet',
  text_encoder: 'lora-text-encoder',
  text_encoder_2: 'lora-text-encoder-2',
};

async function exists(file: string): Promise<boolean> {
  try {
    return (await stat(file)).isFile();
  } catch {
    return false;
  }
}

/** `<dir>/<component>/config.json` and its first weights file present, or undefined when either is missing. */
export async function findComponentWeights(
  dir: string,
  component: LoraComponent,
): Promise<ComponentWeightFiles | undefined> {
  const { dir: sub, names } = WEIGHT_FILES[component];
  const config = path.join(dir, sub, 'config.json');
  if (!(await exists(config))) return undefined;
  for (const name of names) {
    const weights = path.join(dir, sub, name);
    if (await exists(weights)) return { config, weights };
  }
  return undefined;
}

/** What a LoRA file holds, read once per file version. */
export interface LoraInfo {
  readonly path: string;
  readonly stamp: FileStamp;
  /** The file name without `.safetensors` (A1111's alias). */
  readonly name: string;
  /** A1111's short hash: the first 12 hex digits of the SHA-256 of the tensor data (after the header). */
  readonly shortHash: string;
  /** kohya module names, by component. */
  readonly modules: ReadonlyMap<LoraComponent, readonly string[]>;
}

/**
 * A1111's LoRA hash (`addnet_hash_safetensors`): SHA-256 of a safetensors file's bytes after its header.
 */
export async function addnetHash(file: string): Promise<string> {
  const handle = await open(file, 'r');
  let start: number;
  try {
    const head = Buffer.alloc(8);
    await handle.read(head, 0, 8, 0);
    start = 8 + Number(head.readBigUInt64LE(0));
  } finally {
    await handle.close();
  }
  const hash = createHash('sha256');
  await new Promise<void>((resolve, reject) => {
    createReadStream(file, { start })
      .on('data', (chunk) => hash.update(chunk))
      .on('error', reject)
      .on('end', resolve);
  });
  return hash.digest('hex');
}

const infoCache = new Map<string, Promise<LoraInfo>>();

/**
 * Reads and checks a LoRA file (kohya format; other kinds are an error naming their keys), cached by the file's
 * identity.
 * @throws PinholeError `NOT_FOUND` for a missing file; `IMPORT_REJECTED` for unsupported keys or modules with no
 *   known prefix.
 */
export async function inspectLora(file: string): Promise<LoraInfo> {
  let stamp: FileStamp;
  try {
    stamp = await fileStamp(file);
  } catch (error) {
    throw new PinholeError('NOT_FOUND', `LoRA file not found: ${file}`, { cause: error });
  }
  const key = JSON.stringify(stamp);
  let pending = infoCache.get(key);
  if (!pending) {
    pending = readInfo(file, stamp);
    infoCache.set(key, pending);
    pending.catch(() => infoCache.delete(key));
    if (infoCache.size > 64) infoCache.delete(infoCache.keys().next().value!);
  }
  return pending;
}

async function readInfo(file: string, stamp: FileStamp): Promise<LoraInfo> {
  let lora;
  try {
    lora = await readKohyaLora(file);
  } catch (error) {
    if (error instanceof PinholeError) throw error;
    const reason = error instanceof Error ? error.message : String(error);
    throw new PinholeError('IMPORT_REJECTED', `${file} is not a LoRA file: ${reason}`, { cause: error });
  }
  const modules = new Map<LoraComponent, string[]>();
  const unknown: string[] = [];
  for (const name of lora.modules.keys()) {
    const part = loraComponentOf(name);
    if (!part) unknown.push(name);
    else modules.set(part.component, [...(modules.get(part.component) ?? []), name]);
  }
  if (unknown.length > 0) {
    throw unmatchedError(file, unknown, 'any model part (kohya prefixes lora_unet_, lora_te_, lora_te1_, lora_te2_)');
  }
  if (modules.size === 0) throw new PinholeError('IMPORT_REJECTED', `${file}: the LoRA has no modules`);
  const name = path.basename(file).replace(/\.safetensors$/i, '');
  return { path: file, stamp, name, shortHash: (await addnetHash(file)).slice(0, 12), modules };
}

/** What a request's LoRAs need: the infos (for the infotext) and one merged build per component touched. */
export interface LoraPlan {
  readonly loras: readonly { readonly info: LoraInfo; readonly weight: number }[];
  readonly builds: ReadonlyMap<LoraComponent, DerivedModel>;
}

async function weightNames(file: string): Promise<string[]> {
  const source = await SafetensorsFile.open(file);
  try {
    return source.names;
  } finally {
    await source.close();
  }
}

/**
 * Checks a request's LoRAs against a model and describes the merged models to build.
 * @throws PinholeError `IMPORT_REJECTED` when a module matches nothing in the model, or when the folder lacks the
 *   diffusers weights of a component the LoRAs change.
 */
export async function planLoras(model: ModelFolder, loras: readonly LoraRequest[]): Promise<LoraPlan> {
  const infos = [];
  for (const lora of loras) infos.push({ info: await inspectLora(lora.path), weight: lora.weight });
  const files = new Map<LoraComponent, ComponentWeightFiles>();
  const names = new Map<LoraComponent, string[]>();
  for (const { info } of infos) {
    for (const [component, modules] of info.modules) {
      if (!files.has(component)) {
        const found = await findComponentWeights(model.dir, component);
        if (!found) throw missingWeights(model, component, info.path);
        files.set(component, found);
        names.set(component, await weightNames(found.weights));
      }
      matchLoraModules(modules, component, names.get(component)!, info.path);
    }
  }
  const builds = new Map<LoraComponent, DerivedModel>();
  for (const [component, weights] of files) {
    const used = infos.filter(({ info, weight }) => weight !== 0 && info.modules.has(component));
    if (used.length > 0) builds.set(component, await mergedBuild(component, weights, used));
  }
  return { loras: infos, builds };
}

function missingWeights(model: ModelFolder, component: LoraComponent, lora: string): PinholeError {
  const { dir, names } = WEIGHT_FILES[component];
  return new PinholeError(
    'IMPORT_REJECTED',
    `${lora} changes the ${component}, so the model needs its diffusers weights for LoRAs: ${model.dir} has no ${dir}/config.json + ${dir}/${names[0]}`,
  );
}

async function mergedBuild(
  component: LoraComponent,
  files: ComponentWeightFiles,
  loras: readonly { readonly info: LoraInfo; readonly weight: number }[],
): Promise<DerivedModel> {
  let configText: string;
  let sources: unknown;
  try {
    configText = await readFile(files.config, 'utf8');
    sources = {
      weights: await fileStamp(files.weights),
      config: { ...(await fileStamp(files.config)), sha256: createHash('sha256').update(configText).digest('hex') },
      loras: loras.map(({ info, weight }) => ({ ...info.stamp, weight })),
    };
  } catch (error) {
    throw new PinholeError('NOT_FOUND', `Cannot read the ${component} weights ${files.weights}`, { cause: error });
  }
  return {
    kind: KINDS[component],
    version: LORA_MODEL_BUILD_VERSION,
    sources,
    write: (dir) => writeMerged(component, files, configText, loras, path.join(dir, 'model.onnx')),
  };
}

async function writeMerged(
  component: LoraComponent,
  files: ComponentWeightFiles,
  configText: string,
  loras: readonly { readonly info: LoraInfo; readonly weight: number }[],
  out: string,
): Promise<void> {
  let config: Record<string, unknown>;
  try {
    const parsed: unknown = JSON.parse(configText);
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('not an object');
    config = parsed as Record<string, unknown>;
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new PinholeError('IMPORT_REJECTED', `${files.config} is not a ${component} config: ${reason}`, {
      cause: error,
    });
  }
  const weighted: WeightedLora[] = [];
  for (const { info, weight } of loras) {
    weighted.push({ lora: await readKohyaLora(info.path), multiplier: weight, label: info.path });
  }
  const source = await SafetensorsFile.open(files.weights);
  try {
    const merged = await mergeLoras(weighted, component, source.names, (name) =>
      source.read(name, { dtype: 'float32' }),
    );
    const weights = mergedWeightSource(safetensorsWeights(source, 'float32'), merged);
    const checker = mergeCheckHooks(merged);
    const model: Model =
      component === 'unet'
        ? buildUNet(config, weights, { hooks: checker.hooks })
        : buildClipTextModel(config, weights, { hooks: checker.hooks });
    checker.check();
    await saveModel(model, out);
  } finally {
    await source.close();
  }
}

/** A1111's `Lora hashes` infotext value: `name: hash, name: hash` (names without `:` and `,`). */
export function loraHashesInfotext(plan: LoraPlan): string {
  return plan.loras.map(({ info }) => `${info.name.replace(/[:,]/g, '')}: ${info.shortHash}`).join(', ');
}
