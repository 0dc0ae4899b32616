/**
 * LoRAs merged into a model's base weights when its graph is built (generation: no per-step cost), with
 * kohya's math: `W' = W + multiplier · alpha / rank · up · down`, where `up · down` is
 * `up [out, r(, 1, 1)]` times `down [r, in(, k, k)]` reshaped to the base weight's shape (Linear [out, in],
 * 1×1 Conv [out, in, 1, 1], 3×3 Conv [out, in, 3, 3] for LoCon: a k×k conv then a 1×1 conv is one k×k conv).
 *
 * Which weight a module changes: the base model's `<module path>.weight` whose kohya name
 * (`lora_unet_` / `lora_te_` + the path with dots as underscores) is the module's — for the UNet also by its LDM
 * path (`input_blocks_4_1_…`, as kohya names SDXL LoRAs; see `ldm-names.ts`). A module that matches no
 * weight, or a weight that is not a Linear/Conv the builder runs through its hooks, is an error naming it.
 */
import { PinholeError } from '../../../src-shared/errors';
import { tensorToFloat32, type Tensor } from '../graph';
import { type ModuleHooks, type WeightSource } from '../models';
import { loraRank, type LoraModule, type LoraWeights } from './file';
import { layersPerBlockOf, ldmToDiffusersRest } from './ldm-names';

/** The model a LoRA module goes into. */
export type LoraComponent = 'unet' | 'text_encoder' | 'text_encoder_2';

/** kohya's prefixes per component (`lora_te1_` / `lora_te2_`: SDXL's two text encoders). */
export const LORA_COMPONENT_PREFIXES: Readonly<Record<LoraComponent, readonly string[]>> = {
  unet: ['lora_unet_'],
  text_encoder: ['lora_te_', 'lora_te1_'],
  text_encoder_2: ['lora_te2_'],
};

/** The component and the rest of the name (`down_blocks_1_…`) of a kohya module name, or undefined. */
export function loraComponentOf(name: string): { component: LoraComponent; rest: string } | undefined {
  for (const [component, prefixes] of Object.entries(LORA_COMPONENT_PREFIXES) as [LoraComponent, string[]][]) {
    for (const prefix of prefixes) {
      if (name.startsWith(prefix)) return { component, rest: name.slice(prefix.length) };
    }
  }
  return undefined;
}

/** kohya's scale of a module at a multiplier: `multiplier · alpha / rank`. */
export function loraScale(m: LoraModule, multiplier: number): number {
  return (multiplier * m.alpha) / loraRank(m);
}

function product(dims: readonly number[]): number {
  return dims.reduce((a, b) => a * b, 1);
}

/**
 * `base + scale · up · down` for one module, as a new float32 array shaped like `base` (accumulated in
 * float64, rounded once).
 * @throws PinholeError `IMPORT_REJECTED` naming the module when the shapes do not fit the base weight.
 */
export function mergeLoraModule(
  base: Float32Array,
  baseDims: readonly number[],
  m: LoraModule,
  multiplier: number,
): Float32Array {
  const rank = loraRank(m);
  const out = m.upDims[0]!;
  const upRest = product(m.upDims.slice(2));
  const inner = product(m.downDims.slice(1));
  const fits =
    (baseDims.length === 2 || baseDims.length === 4) &&
    baseDims[0] === out &&
    m.upDims[1] === rank &&
    upRest === 1 &&
    product(baseDims.slice(1)) === inner &&
    base.length === out * inner &&
    // A k×k down (LoCon) needs a base conv with that kernel; a 2-D or 1×1 one fits a Linear or a 1×1 conv.
    (product(m.downDims.slice(2)) === 1
      ? product(baseDims.slice(2)) === 1
      : baseDims.length === 4 && m.downDims.slice(2).join() === baseDims.slice(2).join());
  if (!fits) {
    throw new PinholeError(
      'IMPORT_REJECTED',
      `LoRA module ${m.name}: lora_down [${m.downDims.join(', ')}] and lora_up [${m.upDims.join(', ')}] do not fit the model's weight [${baseDims.join(', ')}]`,
    );
  }
  const scale = loraScale(m, multiplier);
  const merged = new Float32Array(base.length);
  const row = new Float64Array(inner);
  for (let o = 0; o < out; o++) {
    row.fill(0);
    for (let r = 0; r < rank; r++) {
      const u = m.up[o * rank + r]!;
      if (u === 0) continue;
      const d = r * inner;
      for (let i = 0; i < inner; i++) row[i]! += u * m.down[d + i]!;
    }
    const b = o * inner;
    for (let i = 0; i < inner; i++) merged[b + i] = base[b + i]! + scale * row[i]!;
  }
  return merged;
}

/** A LoRA file's modules with the multiplier to merge them at, and a label for errors (its path). */
export type WeightedLora = { readonly lora: LoraWeights; readonly multiplier: number; readonly label: string };

/**
 * Which base weight each module of `component` changes, by kohya name; modules that match none are an error
 * naming them (and the LoRA file).
 * @param weightNames every weight name of the component's base model (its safetensors keys).
 * @returns module name → base weight name (`down_blocks.1.attentions.0.proj_in.weight`).
 */
export function matchLoraModules(
  moduleNames: Iterable<string>,
  component: LoraComponent,
  weightNames: Iterable<string>,
  label: string,
): Map<string, string> {
  const byRest = new Map<string, string>();
  for (const name of weightNames) {
    if (!name.endsWith('.weight')) continue;
    const rest = name.slice(0, -'.weight'.length).replace(/\./g, '_');
    if (!byRest.has(rest)) byRest.set(rest, name);
  }
  const matched = new Map<string, string>();
  const unmatched: string[] = [];
  let layersPerBlock: number | undefined;
  for (const name of moduleNames) {
    const part = loraComponentOf(name);
    if (!part || part.component !== component) continue;
    let weight = byRest.get(part.rest);
    if (!weight && component === 'unet') {
      // SDXL (and LDM-checkpoint) LoRAs name UNet modules by their LDM paths.
      layersPerBlock ??= layersPerBlockOf(byRest.values());
      const renamed = ldmToDiffusersRest(part.rest, layersPerBlock);
      if (renamed !== undefined) weight = byRest.get(renamed);
    }
    if (weight) matched.set(name, weight);
    else unmatched.push(name);
  }
  if (unmatched.length > 0) throw unmatchedError(label, unmatched, `the model's ${component}`);
  return matched;
}

/** The error for LoRA modules that match nothing in a model. */
export function unmatchedError(label: string, names: readonly string[], where: string): PinholeError {
  const shown = names.slice(0, 5).join(', ');
  const more = names.length > 5 ? ` and ${names.length - 5} more` : '';
  return new PinholeError(
    'IMPORT_REJECTED',
    `${label}: LoRA modules match nothing in ${where}: ${shown}${more} (is the LoRA for another model family?)`,
  );
}

/**
 * The merged weights of one component: every weight some module of `loras` changes, with all their deltas
 * added (in the order given).
 * @param read reads a base weight as float32.
 */
export async function mergeLoras(
  loras: readonly WeightedLora[],
  component: LoraComponent,
  weightNames: readonly string[],
  read: (name: string) => Promise<Tensor>,
): Promise<Map<string, Tensor>> {
  const merged = new Map<string, Tensor>();
  for (const { lora, multiplier, label } of loras) {
    const matched = matchLoraModules(lora.modules.keys(), component, weightNames, label);
    for (const [moduleName, weightName] of matched) {
      const base = merged.get(weightName) ?? (await read(weightName));
      const data = mergeLoraModule(tensorToFloat32(base), base.dims, lora.modules.get(moduleName)!, multiplier);
      merged.set(weightName, { name: weightName, dtype: 'float32', dims: [...base.dims], data });
    }
  }
  return merged;
}

/** `base` with the merged weights in place of the originals. */
export function mergedWeightSource(base: WeightSource, merged: ReadonlyMap<string, Tensor>): WeightSource {
  return {
    has: (name) => merged.has(name) || base.has(name),
    get: (name) => merged.get(name) ?? base.get(name),
    names: () => base.names(),
  };
}

/**
 * Hooks that record the module paths the builder runs as Linear/Conv, and a check, after the build, that
 * every merged weight belongs to one of them (a LoRA on a norm or an embedding is an error, not a no-op).
 */
export function mergeCheckHooks(merged: ReadonlyMap<string, Tensor>): { hooks: ModuleHooks; check(): void } {
  const modules = new Set<string>();
  return {
    hooks: {
      module: (call) => {
        modules.add(`${call.path}.weight`);
        return call.base();
      },
    },
    check: () => {
      const stray = [...merged.keys()].filter((name) => !modules.has(name));
      if (stray.length > 0) {
        throw new PinholeError(
          'IMPORT_REJECTED',
          `LoRA modules target weights that are not a Linear or Conv layer of the model: ${stray.slice(0, 5).join(', ')}`,
        );
      }
    },
  };
}
