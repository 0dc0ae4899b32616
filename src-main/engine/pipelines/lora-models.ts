import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import path from 'node:path';
import { PinholeError } from '../../../src-shared/errors';
import { saveModel, type Model, type Tensor } from '../graph';
import {
  loraComponentOf,
  matchLoraModules,
  mergeCheckHooks,
  mergedWeightSource,
  mergeLoras,
  readLora,
  unmatchedError,
  type LoraComponent,
  type WeightedLora,
} from '../lora';
import { buildClipTextModel, buildUNet, safetensorsWeights } from '../models';
import { fileStamp, type DerivedModel, type FileStamp } from '../runtime';
import { SafetensorsFile } from '../weights';
import { embeddingHashesInfotext, planEmbeddings, type EmbeddingPlan, type TextComponent } from './embedding-plan';
import { parseComponentConfig, readComponentSources, type ComponentWeightFiles } from './component-weights';
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
 * weight; LoRAs at weight 0 are checked but change nothing, so they build nothing. Textual-inversion embeddings
 * a prompt uses go into the same text-encoder builds as extra token rows (`embedding-plan.ts`; the key then names
 * them too); without LoRAs or embeddings the folder's ONNX models run unchanged.
 */

/** Bump when the merged builds change: cached models built by older code are then not reused. */
export const LORA_MODEL_BUILD_VERSION = 1;

/** One LoRA of a request: a kohya or diffusers/PEFT `.safetensors` file and its multiplier (A1111's weight). */
export interface LoraRequest {
  readonly path: string;
  /** The multiplier (A1111's `te` multiplier: the text encoders', and the UNet's unless `unetWeight` is given). */
  readonly weight: number;
  /** The UNet's multiplier when it differs (`<lora:NAME:TE:UNET>`). */
  readonly unetWeight?: number;
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
 * Reads and checks a LoRA file (kohya or diffusers/PEFT, see `readLora`; other kinds are an error naming their
 * keys), cached by the file's identity.
 * @throws PinholeError `NOT_FOUND` for a missing file; `IMPORT_REJECTED` for unsupported keys or modules with no
 *   known prefix.
 */
export async function inspectLora(file: string): Promise<LoraInfo> {
  let stamp: FileStamp;
  try {
    stamp = await fileStamp(file);
  } catch (error) {
    throw new PinholeError(
      'NOT_FOUND',
      `LoRA file not found: ${file} (to use a LoRA by its name, write <lora:NAME:WEIGHT> in the prompt)`,
      { cause: error },
    );
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
    lora = await readLora(file);
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

/** One LoRA of a plan: what its file holds and its multipliers. */
export interface PlannedLora {
  readonly info: LoraInfo;
  /** The text encoders' multiplier (A1111's weight). */
  readonly weight: number;
  /** The UNet's multiplier (equal to `weight` unless the request split them). */
  readonly unetWeight: number;
}

/**
 * What a request's LoRAs and embeddings need: the LoRAs and embeddings (for the infotext), and one merged build
 * per component they touch.
 */
export interface LoraPlan {
  readonly loras: readonly PlannedLora[];
  readonly embeddings: EmbeddingPlan;
  readonly builds: ReadonlyMap<LoraComponent, DerivedModel>;
}

const multiplierOf = (lora: PlannedLora, component: LoraComponent): number =>
  component === 'unet' ? lora.unetWeight : lora.weight;

async function weightNames(file: string): Promise<string[]> {
  const source = await SafetensorsFile.open(file);
  try {
    return source.names;
  } finally {
    await source.close();
  }
}

/**
 * Checks a request's LoRAs against a model, picks the embeddings its prompts use, and describes the merged models
 * to build.
 * @param networks the request's embedding table (name → file) and its prompts.
 * @throws PinholeError `IMPORT_REJECTED` when a module matches nothing in the model, when an embedding does not
 *   fit it, or when the folder lacks the diffusers weights of a component to build.
 */
export async function planLoras(
  model: ModelFolder,
  loras: readonly LoraRequest[],
  networks: {
    readonly embeddings: ReadonlyMap<string, string>;
    readonly prompts: readonly string[];
    /** The first encoder's tokenizer: an embedding counts as used when its name's tokens are in a prompt. */
    readonly tokenizer?: { encode(text: string): number[] };
  } = { embeddings: new Map(), prompts: [] },
): Promise<LoraPlan> {
  const planned: PlannedLora[] = [];
  for (const lora of loras) {
    planned.push({
      info: await inspectLora(lora.path),
      weight: lora.weight,
      unetWeight: lora.unetWeight ?? lora.weight,
    });
  }
  const files = new Map<LoraComponent, ComponentWeightFiles>();
  const names = new Map<LoraComponent, string[]>();
  const weightsOf = async (component: LoraComponent, user: string): Promise<ComponentWeightFiles> => {
    let found = files.get(component);
    if (!found) {
      found = await findComponentWeights(model.dir, component);
      if (!found) throw missingWeights(model, component, user);
      files.set(component, found);
      names.set(component, await weightNames(found.weights));
    }
    return found;
  };
  for (const { info } of planned) {
    for (const [component, modules] of info.modules) {
      await weightsOf(component, info.path);
      matchLoraModules(modules, component, names.get(component)!, info.path);
    }
  }
  let embeddings: EmbeddingPlan = { embeddings: [], rows: new Map() };
  if (networks.embeddings.size > 0) {
    const textWeights = new Map<TextComponent, string | undefined>();
    const components: TextComponent[] = model.files.textEncoder2
      ? ['text_encoder', 'text_encoder_2']
      : ['text_encoder'];
    for (const component of components) {
      textWeights.set(component, (await findComponentWeights(model.dir, component))?.weights);
    }
    embeddings = await planEmbeddings(networks.embeddings, networks.prompts, textWeights, networks.tokenizer);
    for (const component of embeddings.rows.keys()) await weightsOf(component, 'an embedding');
  }
  const builds = new Map<LoraComponent, DerivedModel>();
  for (const [component, weights] of files) {
    const used = planned.filter((l) => multiplierOf(l, component) !== 0 && l.info.modules.has(component));
    const rows = component === 'unet' ? undefined : embeddings.rows.get(component);
    if (used.length > 0 || rows) {
      builds.set(component, await mergedBuild(component, weights, used, rows, embeddings));
    }
  }
  return { loras: planned, embeddings, builds };
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
  loras: readonly PlannedLora[],
  rows: Tensor | undefined,
  embeddings: EmbeddingPlan,
): Promise<DerivedModel> {
  const { configText, weights, config } = await readComponentSources(component, files);
  const sources = {
    weights,
    config,
    loras: loras.map((l) => ({ ...l.info.stamp, weight: multiplierOf(l, component) })),
    // Only when there are rows, so builds without embeddings keep the keys they had.
    ...(rows
      ? { embeddings: embeddings.embeddings.map((e) => ({ ...e.stamp, ids: e.ids.get(component as TextComponent) })) }
      : {}),
  };
  return {
    kind: KINDS[component],
    version: LORA_MODEL_BUILD_VERSION,
    sources,
    write: (dir) => writeMerged(component, files, configText, loras, rows, path.join(dir, 'model.onnx')),
  };
}

async function writeMerged(
  component: LoraComponent,
  files: ComponentWeightFiles,
  configText: string,
  loras: readonly PlannedLora[],
  rows: Tensor | undefined,
  out: string,
): Promise<void> {
  const config = parseComponentConfig<Record<string, unknown>>(files.config, configText, component);
  const weighted: WeightedLora[] = [];
  for (const lora of loras) {
    weighted.push({
      lora: await readLora(lora.info.path),
      multiplier: multiplierOf(lora, component),
      label: lora.info.path,
    });
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
        : buildClipTextModel(config, weights, { hooks: checker.hooks, ...(rows ? { extraTokens: rows } : {}) });
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

/** The infotext fields of a plan: `Lora hashes` and `TI hashes` (A1111's), each when there is something to list. */
export function networkInfotext(plan: LoraPlan | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (plan && plan.loras.length > 0) out['Lora hashes'] = loraHashesInfotext(plan);
  if (plan && plan.embeddings.embeddings.length > 0) out['TI hashes'] = embeddingHashesInfotext(plan.embeddings);
  return out;
}
