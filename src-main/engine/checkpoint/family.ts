/**
 * What a state dict is, from its key names and tensor shapes only (never the file name): a
 * single-file checkpoint of which family, a LoRA, a VAE, an embedding, or none of those.
 */
import { type Tensor } from '../graph';

export type CheckpointFamily = 'sd1' | 'sd2' | 'sdxl';
export type PredictionType = 'epsilon' | 'v_prediction';

/** What kind of file a state dict is. */
export type StateDictKind = 'checkpoint' | 'lora' | 'vae' | 'embedding' | 'unknown';

/** Text-encoder key prefixes per family (CONTRACTS: "Single-file checkpoints"). */
export const TEXT_PREFIXES = {
  sd1: 'cond_stage_model.transformer.',
  sd2: 'cond_stage_model.model.',
  sdxl1: 'conditioner.embedders.0.transformer.',
  sdxl2: 'conditioner.embedders.1.model.',
} as const;

function hasPrefix(names: Iterable<string>, prefix: string): boolean {
  for (const n of names) if (n.startsWith(prefix)) return true;
  return false;
}

/** The kind, from key names. */
export function stateDictKind(names: readonly string[]): StateDictKind {
  if (names.some((n) => n.startsWith('model.diffusion_model.'))) return 'checkpoint';
  if (names.some((n) => /^lora_(unet|te\d?)_|\.lora_(down|up|A|B)\.|\.alpha$/.test(n))) return 'lora';
  // A VAE alone: LDM names (bare, or under a checkpoint's `first_stage_model.` as some extracted VAEs keep them) or
  // diffusers' `AutoencoderKL` names.
  const set = new Set(names.map((n) => (n.startsWith('first_stage_model.') ? n.slice(18) : n)));
  if (
    (set.has('encoder.down.0.block.0.conv1.weight') && set.has('decoder.conv_in.weight')) ||
    (set.has('encoder.down_blocks.0.resnets.0.conv1.weight') && set.has('decoder.conv_in.weight'))
  ) {
    return 'vae';
  }
  if (set.has('string_to_param.*') || set.has('emb_params') || (set.has('clip_l') && set.has('clip_g')))
    return 'embedding';
  if (names.length > 0 && names.some((n) => n.startsWith('string_to_param.'))) return 'embedding';
  return 'unknown';
}

/** The family of a checkpoint, from which text encoder it carries; undefined when it has none we know. */
export function checkpointFamily(names: readonly string[]): CheckpointFamily | undefined {
  if (hasPrefix(names, TEXT_PREFIXES.sdxl2) && hasPrefix(names, TEXT_PREFIXES.sdxl1)) return 'sdxl';
  if (hasPrefix(names, TEXT_PREFIXES.sd2)) return 'sd2';
  if (hasPrefix(names, TEXT_PREFIXES.sd1)) return 'sd1';
  return undefined;
}

/** Population standard deviation of a small tensor's values. */
function std(values: Float32Array): number {
  let mean = 0;
  for (const v of values) mean += v;
  mean /= Math.max(values.length, 1);
  let sq = 0;
  for (const v of values) sq += (v - mean) ** 2;
  return Math.sqrt(sq / Math.max(values.length, 1));
}

/**
 * SD 2.x: v-prediction (the 768-px models) or epsilon (512-px base, inpainting). A `v_pred` key decides
 * when present; otherwise the heuristic ComfyUI and A1111 use: the last output attention's `norm1.bias`
 * has a standard deviation over 0.09 in the v models. Inpainting models are epsilon.
 */
export function sd2Prediction(
  names: ReadonlySet<string>,
  read: (name: string) => Float32Array,
  inChannels: number,
): PredictionType {
  if (names.has('v_pred')) return 'v_prediction';
  if (inChannels !== 4) return 'epsilon';
  const key = 'model.diffusion_model.output_blocks.11.1.transformer_blocks.0.norm1.bias';
  return names.has(key) && std(read(key)) > 0.09 ? 'v_prediction' : 'epsilon';
}

/** Most common floating dtype among the tensors (what the library shows as the file's precision). */
export function dominantPrecision(tensors: Iterable<Tensor>): 'float32' | 'float16' | 'bfloat16' | undefined {
  const counts = new Map<string, number>();
  for (const t of tensors) {
    const d = ArrayBuffer.isView(t.data) ? t.dtype : (t.data.sourceDtype ?? t.dtype);
    if (d === 'float32' || d === 'float16' || d === 'bfloat16') counts.set(d, (counts.get(d) ?? 0) + 1);
  }
  let best: string | undefined;
  for (const [d, n] of counts) if (best === undefined || n > counts.get(best)!) best = d;
  return best as 'float32' | 'float16' | 'bfloat16' | undefined;
}
