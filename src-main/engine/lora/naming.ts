/**
 * kohya-ss LoRA naming (`networks/lora.py`): a module's diffusers / transformers path with dots as
 * underscores, prefixed `lora_unet_` or `lora_te_`; tensors `<name>.lora_down.weight`,
 * `<name>.lora_up.weight` and `<name>.alpha`.
 */
import { type ModuleCall } from '../models';

/** `te` for SD 1.x/2.x's one text encoder, `te1` / `te2` for SDXL's two (kohya's prefixes). */
export type LoraPart = 'unet' | 'te' | 'te1' | 'te2';

/** kohya's module name: `lora_unet_down_blocks_1_attentions_0_proj_in` for `down_blocks.1.attentions.0.proj_in`. */
export function kohyaName(part: LoraPart, modulePath: string): string {
  return `lora_${part}_${modulePath.replace(/\./g, '_')}`;
}

/** The three tensor keys of one kohya module. */
export function kohyaKeys(name: string): { down: string; up: string; alpha: string } {
  return { down: `${name}.lora_down.weight`, up: `${name}.lora_up.weight`, alpha: `${name}.alpha` };
}

/** The module name of a kohya tensor key (`….lora_down.weight` → `…`), or undefined for other keys. */
export function kohyaModuleOf(key: string): { name: string; tensor: 'down' | 'up' | 'alpha' } | undefined {
  const m = /^(.+)\.(lora_down\.weight|lora_up\.weight|alpha)$/.exec(key);
  if (!m) return undefined;
  const tensor = m[2] === 'alpha' ? 'alpha' : m[2] === 'lora_down.weight' ? 'down' : 'up';
  return { name: m[1]!, tensor };
}

/**
 * kohya's default UNet targets: every Linear and 1×1 Conv inside a `Transformer2DModel`
 * (`….attentions.N.…`, `proj_in` and `proj_out` included). With `conv3x3` (LoCon, kohya's
 * `conv_dim`), kohya adds `ResnetBlock2D`, `Downsample2D` and `Upsample2D` to the target modules,
 * so every Linear and Conv inside those is a target too: the 3×3 convs (at the conv rank) and
 * also `time_emb_proj` and the 1×1 `conv_shortcut` (at the ordinary rank).
 */
export function isUNetTarget(call: Pick<ModuleCall, 'path' | 'kind' | 'kernel'>, conv3x3 = false): boolean {
  if (/(^|\.)attentions\.\d+\./.test(call.path)) return true;
  return conv3x3 && /(^|\.)(resnets\.\d+|downsamplers\.\d+|upsamplers\.\d+)\./.test(call.path);
}

/** Whether a target gets the conv rank (kohya: Conv2d with a kernel other than 1×1). */
export function isConv3x3Target(target: { kind: 'linear' | 'conv'; kernel?: number }): boolean {
  return target.kind === 'conv' && (target.kernel ?? 1) !== 1;
}

/** kohya's text-encoder targets: every Linear inside a CLIP attention (`self_attn`) or MLP block. */
export function isTextEncoderTarget(call: Pick<ModuleCall, 'path' | 'kind'>): boolean {
  return call.kind === 'linear' && /\.(self_attn|mlp)\./.test(call.path);
}
