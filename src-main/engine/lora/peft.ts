/**
 * diffusers / PEFT LoRA files, read into kohya modules so that one merge path serves both formats.
 *
 * Key layouts (the component prefix says which model: `unet.`, `text_encoder.`, `text_encoder_2.`):
 * - PEFT (diffusers ≥ 0.21): `unet.<module path>.lora_A.weight` (down) / `.lora_B.weight` (up), optionally with an
 *   adapter name (`.lora_A.default.weight`);
 * - diffusers' older LoRA layers: `<module path>.lora.down.weight` / `.lora.up.weight`,
 *   `<module path>.lora_linear_layer.down.weight`, and attention processors
 *   `<attention>.processor.to_q_lora.down.weight` (`to_out_lora` is `to_out.0`).
 *
 * Scale: `alpha / rank` as kohya's, where alpha is a module's own `.alpha` tensor when present, else `lora_alpha`
 * from the file's `lora_adapter_metadata` or from a PEFT `adapter_config.json` beside the file (scaled by
 * `√rank` with `use_rslora`); without any, the scale is 1 (diffusers' default for such files).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { PinholeError } from '../../../src-shared/errors';
import { tensorToFloat32, type Tensor } from '../graph';
import { type SafetensorsFile } from '../weights';
import { type LoraModule, type LoraWeights } from './file';

type PeftComponent = 'unet' | 'text_encoder' | 'text_encoder_2';

const KOHYA_PREFIX: Readonly<Record<PeftComponent, string>> = {
  unet: 'lora_unet_',
  text_encoder: 'lora_te_',
  text_encoder_2: 'lora_te2_',
};

/** One PEFT / diffusers LoRA tensor key, parsed. */
export type PeftKey = { component: PeftComponent; module: string; tensor: 'down' | 'up' | 'alpha' };

const COMPONENT = /^(unet|text_encoder_2|text_encoder|base_model\.model)\.(.+)$/;
const TENSOR_FORMS: readonly [RegExp, 'down' | 'up' | 'alpha'][] = [
  [/^(.+)\.lora_A(?:\.[^.]+)?\.weight$/, 'down'],
  [/^(.+)\.lora_B(?:\.[^.]+)?\.weight$/, 'up'],
  [/^(.+)\.(?:lora|lora_linear_layer)\.down\.weight$/, 'down'],
  [/^(.+)\.(?:lora|lora_linear_layer)\.up\.weight$/, 'up'],
  [/^(.+)\.alpha$/, 'alpha'],
];

/** The component, module path and tensor of a diffusers / PEFT LoRA key, or undefined for other keys. */
export function peftKeyOf(key: string): PeftKey | undefined {
  const m = COMPONENT.exec(key);
  if (!m) return undefined;
  let rest = m[2]!;
  // Attention processors: `attn1.processor.to_q_lora.down.weight` → `attn1.to_q.lora.down.weight`.
  rest = rest.replace(/\.processor\.(to_q|to_k|to_v|to_out)_lora\./, (_, p: string) =>
    p === 'to_out' ? '.to_out.0.lora.' : `.${p}.lora.`,
  );
  for (const [re, tensor] of TENSOR_FORMS) {
    const t = re.exec(rest);
    if (!t) continue;
    const module = t[1]!;
    // A raw PEFT save of one model (`base_model.model.…`): a text encoder's paths start at `text_model`.
    const component: PeftComponent =
      m[1] === 'base_model.model'
        ? module.startsWith('text_model.')
          ? 'text_encoder'
          : 'unet'
        : (m[1] as PeftComponent);
    return { component, module, tensor };
  }
  return undefined;
}

/** kohya's module name for a PEFT module (`lora_unet_down_blocks_0_…`, `lora_te_…`, `lora_te2_…`). */
export function peftKohyaName(key: Pick<PeftKey, 'component' | 'module'>): string {
  return KOHYA_PREFIX[key.component] + key.module.replace(/\./g, '_');
}

/** What a file's metadata or adapter config says about alpha: per component (or for all, key ''). */
type AlphaConfig = Map<string, { alpha: number; rslora: boolean }>;

function alphaEntry(value: Record<string, unknown>): { alpha: number; rslora: boolean } | undefined {
  const alpha = value['lora_alpha'];
  if (typeof alpha !== 'number' || !Number.isFinite(alpha)) return undefined;
  return { alpha, rslora: value['use_rslora'] === true };
}

/** `lora_adapter_metadata` (diffusers: `{"unet.lora_alpha": 8, "unet.r": 4, …}` or nested per component). */
function metadataAlphas(metadata: Readonly<Record<string, string>>, file: string): AlphaConfig {
  const out: AlphaConfig = new Map();
  const text = metadata['lora_adapter_metadata'];
  if (text === undefined) return out;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new PinholeError('IMPORT_REJECTED', `${file}: lora_adapter_metadata is not JSON`, { cause: error });
  }
  if (typeof parsed !== 'object' || parsed === null) return out;
  const record = parsed as Record<string, unknown>;
  const flat: Record<string, Record<string, unknown>> = {};
  for (const [key, value] of Object.entries(record)) {
    const dot = key.indexOf('.');
    if (typeof value === 'object' && value !== null && !Array.isArray(value)) {
      flat[key] = value as Record<string, unknown>;
    } else if (dot > 0) {
      (flat[key.slice(0, dot)] ??= {})[key.slice(dot + 1)] = value;
    } else {
      (flat[''] ??= {})[key] = value;
    }
  }
  for (const [component, value] of Object.entries(flat)) {
    const entry = alphaEntry(value);
    if (entry) out.set(component, entry);
  }
  return out;
}

/** PEFT's `adapter_config.json` beside the file (applies to every component), when there is one. */
async function adapterConfigAlpha(file: string): Promise<AlphaConfig> {
  const out: AlphaConfig = new Map();
  let text: string;
  try {
    text = await readFile(path.join(path.dirname(file), 'adapter_config.json'), 'utf8');
  } catch {
    return out;
  }
  try {
    const parsed: unknown = JSON.parse(text);
    const entry =
      typeof parsed === 'object' && parsed !== null ? alphaEntry(parsed as Record<string, unknown>) : undefined;
    if (entry) out.set('', entry);
  } catch (error) {
    throw new PinholeError('IMPORT_REJECTED', `${path.join(path.dirname(file), 'adapter_config.json')} is not JSON`, {
      cause: error,
    });
  }
  return out;
}

/**
 * Reads the diffusers / PEFT LoRA tensors of an open safetensors file into kohya modules.
 * @param keys every key of the file (all must be PEFT keys: the caller has sorted out the rest).
 * @throws PinholeError `IMPORT_REJECTED` for a module without down or up, or shapes that do not chain.
 */
export async function readPeftLora(
  file: SafetensorsFile,
  keys: readonly string[],
  label: string,
): Promise<LoraWeights> {
  const parts = new Map<string, { key: PeftKey; down?: Tensor; up?: Tensor; alpha?: Tensor }>();
  for (const name of keys) {
    const key = peftKeyOf(name);
    if (!key) throw new PinholeError('INTERNAL', `${name} is not a PEFT LoRA key`);
    const kohya = peftKohyaName(key);
    const entry = parts.get(kohya) ?? { key };
    entry[key.tensor] = await file.read(name, { dtype: 'float32' });
    parts.set(kohya, entry);
  }
  const alphas = metadataAlphas(file.metadata, label);
  if (alphas.size === 0) for (const [k, v] of await adapterConfigAlpha(label)) alphas.set(k, v);
  const modules = new Map<string, LoraModule>();
  for (const [name, p] of parts) {
    if (!p.down || !p.up) {
      throw new PinholeError(
        'IMPORT_REJECTED',
        `${label}: LoRA module ${p.key.module} lacks its ${p.down ? 'up (lora_B)' : 'down (lora_A)'} weight`,
      );
    }
    const rank = p.down.dims[0]!;
    if (p.down.dims.length < 2 || p.up.dims[1] !== rank) {
      throw new PinholeError(
        'IMPORT_REJECTED',
        `${label}: LoRA module ${p.key.module}: down [${p.down.dims.join(', ')}] and up [${p.up.dims.join(', ')}] do not chain`,
      );
    }
    let alpha = rank;
    if (p.alpha) alpha = tensorToFloat32(p.alpha)[0]!;
    else {
      const config = alphas.get(p.key.component) ?? alphas.get('');
      if (config) {
        // kohya's scale is alpha / rank; PEFT's is lora_alpha / r (or lora_alpha / √r with rsLoRA), r the module's.
        alpha = config.rslora ? (rank * config.alpha) / Math.sqrt(rank) : config.alpha;
      }
    }
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
}
