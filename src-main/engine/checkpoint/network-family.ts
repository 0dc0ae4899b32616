/**
 * Which model family a LoRA, a separate VAE or a textual-inversion embedding is for, from tensor names and shapes
 * (and, for LoRAs, the trainer's metadata when the shapes cannot tell). Only the real families' widths count:
 * text width 768 is SD 1.x's CLIP ViT-L, 1024 SD 2.x's OpenCLIP ViT-H, 2048 SDXL's two encoders together.
 */
import type { Tensor } from '../graph';
import type { CheckpointFamily } from './family';

/**
 * What a separate VAE is for. SD 1.x, SD 2.x and SDXL VAEs share one architecture (4 latent channels, the same
 * shapes), so a file cannot say which latents it was trained on: the library labels it for all three.
 */
export const ANY_SD_FAMILY = 'sd1/sd2/sdxl';

/** The families a LoRA, VAE or embedding can be labelled with. */
export type NetworkFamily = CheckpointFamily | typeof ANY_SD_FAMILY;

/** The family whose text width (the UNet's cross-attention input, or the text encoder's width) is `width`. */
function familyOfContext(width: number | undefined): CheckpointFamily | undefined {
  return width === 768 ? 'sd1' : width === 1024 ? 'sd2' : width === 2048 ? 'sdxl' : undefined;
}

/** A LoRA "down" matrix (kohya `lora_down`, PEFT `lora_A`, diffusers' older `lora.down` / `_lora.down`). */
const DOWN = /(?:lora_down|lora_A(?:\.[^.]+)?|lora(?:_linear_layer)?\.down|_lora\.down)\.weight$/;
/** The UNet's cross-attention key projection, in kohya (underscored) or diffusers (dotted) module paths. */
const CROSS_ATTENTION_K = /attn2[._](?:processor[._])?to_k(?:_lora)?[._]/;
/** A text-encoder attention projection of SD 1.x / 2.x's one encoder (kohya `lora_te_`, PEFT `text_encoder.`). */
const TEXT_PROJ = /^(?:lora_te_|text_encoder\.).*(?:q_proj|k_proj|v_proj|out_proj)/;

/** kohya's `ss_base_model_version` / `ss_v2` and the model-spec architecture, as trainers write them. */
function familyFromMetadata(metadata: Readonly<Record<string, string>>): CheckpointFamily | undefined {
  const version = metadata['ss_base_model_version'] ?? '';
  const architecture = metadata['modelspec.architecture'] ?? '';
  if (/^sdxl/.test(version) || /^stable-diffusion-xl/.test(architecture)) return 'sdxl';
  if (/^sd_v2/.test(version) || metadata['ss_v2'] === 'True' || /^stable-diffusion-v2/.test(architecture)) return 'sd2';
  if (/^sd_v1/.test(version) || /^stable-diffusion-v1/.test(architecture)) return 'sd1';
  return undefined;
}

/**
 * A LoRA's family: SDXL when it has a second text encoder's modules (`lora_te1_` / `lora_te2_`,
 * `text_encoder_2.`); else the input width of a cross-attention `to_k` down matrix (768 / 1024 / 2048); else the
 * width of a text-encoder projection (768 / 1024); else what its training metadata says; undefined otherwise
 * (e.g. tiny test models, whose widths are no family's).
 */
export function loraFamily(
  tensors: ReadonlyMap<string, Tensor>,
  metadata: Readonly<Record<string, string>>,
): CheckpointFamily | undefined {
  const names = [...tensors.keys()];
  if (names.some((n) => /^lora_te[12]_|^text_encoder_2\./.test(n))) return 'sdxl';
  for (const [name, t] of tensors) {
    if (DOWN.test(name) && CROSS_ATTENTION_K.test(name)) {
      const family = familyOfContext(t.dims[1]);
      if (family) return family;
    }
  }
  for (const [name, t] of tensors) {
    if (DOWN.test(name) && TEXT_PROJ.test(name)) {
      const family = familyOfContext(t.dims[1]);
      if (family === 'sd1' || family === 'sd2') return family;
    }
  }
  return familyFromMetadata(metadata);
}

/**
 * An embedding's family: SDXL for a `clip_l` + `clip_g` pair; else the vector width of its one tensor
 * (`emb_params`, A1111's `string_to_param.*`; [vectors, width] or [width]): 768 → SD 1.x, 1024 → SD 2.x.
 */
export function embeddingFamily(tensors: ReadonlyMap<string, Tensor>): CheckpointFamily | undefined {
  if (tensors.has('clip_l') && tensors.has('clip_g')) return 'sdxl';
  const vectors = tensors.get('emb_params') ?? [...tensors].find(([n]) => n.startsWith('string_to_param.'))?.[1];
  if (!vectors) return undefined;
  const family = familyOfContext(vectors.dims[vectors.dims.length - 1]);
  return family === 'sd1' || family === 'sd2' ? family : undefined;
}

/**
 * A separate VAE's family: every SD family when it has their 4 latent channels (LDM `decoder.conv_in` or
 * diffusers' `decoder.conv_in`, optionally under `first_stage_model.`); undefined for other autoencoders.
 */
export function vaeFamily(tensors: ReadonlyMap<string, Tensor>): NetworkFamily | undefined {
  const convIn = tensors.get('decoder.conv_in.weight') ?? tensors.get('first_stage_model.decoder.conv_in.weight');
  return convIn?.dims[1] === 4 ? ANY_SD_FAMILY : undefined;
}
