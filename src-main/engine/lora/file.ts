/**
 * kohya-format LoRA files: reading into modules by kohya name, and writing them back (F32 tensors,
 * each `alpha` a 0-d F32 tensor, `ss_*` metadata as strings), as kohya's `save_weights` does.
 */
import { PinholeError } from '../../../src-shared/errors';
import { convertArray, tensorToFloat32, type Tensor } from '../graph';
import { SafetensorsFile, writeSafetensors } from '../weights';
import { kohyaKeys, kohyaModuleOf } from './naming';

/** One LoRA module: `down` [r, in(, k, k)], `up` [out, r(, 1, 1)], float32, row-major. */
export type LoraModule = {
  /** kohya module name (`lora_unet_…`, `lora_te_…`). */
  name: string;
  down: Float32Array;
  downDims: number[];
  up: Float32Array;
  upDims: number[];
  /** kohya's alpha; the scale is alpha / rank (alpha = rank when a file has none). */
  alpha: number;
};

/** A LoRA: its modules in file order, and the file's metadata. */
export type LoraWeights = {
  modules: Map<string, LoraModule>;
  metadata: Record<string, string>;
};

export const loraRank = (m: LoraModule): number => m.downDims[0]!;

/** A deep copy (training updates the arrays in place). */
export function cloneLora(lora: LoraWeights): LoraWeights {
  const modules = new Map<string, LoraModule>();
  for (const [k, m] of lora.modules) {
    modules.set(k, { ...m, down: m.down.slice(), up: m.up.slice(), downDims: [...m.downDims], upDims: [...m.upDims] });
  }
  return { modules, metadata: { ...lora.metadata } };
}

/**
 * Reads a kohya LoRA. Every tensor must be a module's `lora_down.weight`, `lora_up.weight` or
 * `alpha`; anything else (LoHa, LoKr, diffusers/PEFT keys) is an error naming the keys.
 * @throws PinholeError `IMPORT_REJECTED` for unknown keys, a module without down or up, or shapes
 *   that do not chain (down [r, in…], up [out, r…]).
 */
export async function readKohyaLora(path: string): Promise<LoraWeights> {
  const file = await SafetensorsFile.open(path);
  try {
    const parts = new Map<string, { down?: Tensor; up?: Tensor; alpha?: Tensor }>();
    const unknown: string[] = [];
    for (const key of file.names) {
      const m = kohyaModuleOf(key);
      if (!m) {
        unknown.push(key);
        continue;
      }
      const entry = parts.get(m.name) ?? {};
      entry[m.tensor] = await file.read(key, { dtype: 'float32' });
      parts.set(m.name, entry);
    }
    if (unknown.length > 0) {
      throw new PinholeError(
        'IMPORT_REJECTED',
        `${path}: ${unsupportedKind(unknown)}not kohya LoRA tensors: ${unknown.slice(0, 5).join(', ')}${unknown.length > 5 ? ` and ${unknown.length - 5} more` : ''}`,
      );
    }
    const modules = new Map<string, LoraModule>();
    for (const [name, p] of parts) {
      if (!p.down || !p.up) {
        throw new PinholeError(
          'IMPORT_REJECTED',
          `${path}: LoRA module ${name} lacks lora_${p.down ? 'up' : 'down'}.weight`,
        );
      }
      const rank = p.down.dims[0];
      if (p.down.dims.length < 2 || p.up.dims[1] !== rank) {
        throw new PinholeError(
          'IMPORT_REJECTED',
          `${path}: LoRA module ${name}: lora_down [${p.down.dims.join(', ')}] and lora_up [${p.up.dims.join(', ')}] do not chain`,
        );
      }
      const alpha = p.alpha ? tensorToFloat32(p.alpha)[0]! : rank!;
      modules.set(name, {
        name,
        down: tensorToFloat32(p.down),
        downDims: [...p.down.dims],
        up: tensorToFloat32(p.up),
        upDims: [...p.up.dims],
        alpha,
      });
    }
    return { modules, metadata: { ...file.metadata } };
  } finally {
    await file.close();
  }
}

/** A LyCORIS kind named by its keys (`hada_w1_a`: LoHa, `lokr_w1`: LoKr, …), as the start of an error message. */
function unsupportedKind(keys: readonly string[]): string {
  const kinds: [RegExp, string][] = [
    [/\.hada_/, 'LoHa'],
    [/\.lokr_/, 'LoKr'],
    [/\.(oft_|oft_blocks)/, 'OFT'],
    [/\.(diff|diff_b)$/, 'full-weight difference (LyCORIS "full")'],
    [/\.(b1|w_norm|b_norm)$/, 'norm (LyCORIS)'],
    [/\.(lora_A|lora_B)\./, 'diffusers/PEFT'],
  ];
  const found = kinds.filter(([re]) => keys.some((k) => re.test(k))).map(([, name]) => name);
  return found.length > 0 ? `unsupported LoRA kind (${found.join(', ')}): ` : '';
}

/** dtype of a LoRA file's down/up tensors (kohya's `--save_precision`); alphas stay F32 as kohya's. */
export type LoraSaveDtype = 'float32' | 'float16' | 'bfloat16';

/** The file's tensors in kohya's order per module: down, up (in `dtype`, default float32), alpha (0-d F32). */
export function kohyaTensors(lora: LoraWeights, dtype: LoraSaveDtype = 'float32'): Tensor[] {
  const out: Tensor[] = [];
  const cast = (data: Float32Array) => (dtype === 'float32' ? data.slice() : convertArray(data, 'float32', dtype));
  for (const m of lora.modules.values()) {
    const keys = kohyaKeys(m.name);
    out.push({ name: keys.down, dtype, dims: [...m.downDims], data: cast(m.down) });
    out.push({ name: keys.up, dtype, dims: [...m.upDims], data: cast(m.up) });
    out.push({ name: keys.alpha, dtype: 'float32', dims: [], data: Float32Array.of(m.alpha) });
  }
  return out;
}

/** What kohya's trainers put in `ss_*` metadata; values are written as strings. */
export type KohyaMetadata = {
  baseModelName?: string;
  /** kohya's `model_hash` of the base model (A1111's legacy 8-digit hash): `ss_sd_model_hash`. */
  baseModelHash?: string;
  /** SHA-256 of the base model file: `ss_new_sd_model_hash`. */
  baseModelSha256?: string;
  resolution?: number;
  steps?: number;
  triggerWord?: string;
  datasetSize?: number;
  /** Other `ss_*` (or any) keys, written as they are. */
  extra?: Record<string, string>;
};

/** `ss_*` metadata for a LoRA: rank and alpha from its modules, the rest from `meta`. */
export function kohyaMetadata(lora: LoraWeights, meta: KohyaMetadata = {}): Record<string, string> {
  const first = lora.modules.values().next().value;
  const out: Record<string, string> = {
    ss_network_module: 'networks.lora',
    ss_network_dim: first ? String(loraRank(first)) : '0',
    ss_network_alpha: first ? String(first.alpha) : '0',
  };
  if (meta.baseModelName !== undefined) out['ss_sd_model_name'] = meta.baseModelName;
  if (meta.baseModelHash !== undefined) out['ss_sd_model_hash'] = meta.baseModelHash;
  if (meta.baseModelSha256 !== undefined) out['ss_new_sd_model_hash'] = meta.baseModelSha256;
  if (meta.resolution !== undefined) out['ss_resolution'] = `(${meta.resolution}, ${meta.resolution})`;
  if (meta.steps !== undefined) out['ss_max_train_steps'] = String(meta.steps);
  if (meta.triggerWord !== undefined) out['ss_tag_frequency'] = JSON.stringify({ trigger: { [meta.triggerWord]: 1 } });
  if (meta.datasetSize !== undefined) out['ss_num_train_images'] = String(meta.datasetSize);
  return { ...out, ...meta.extra };
}

/** Writes `lora` as a kohya file with `metadata` (e.g. from `kohyaMetadata`). */
export async function writeKohyaLora(
  path: string,
  lora: LoraWeights,
  metadata: Record<string, string> = lora.metadata,
  dtype: LoraSaveDtype = 'float32',
): Promise<void> {
  await writeSafetensors(path, kohyaTensors(lora, dtype), metadata);
}
